"""esrgan_tf.metrics.lpips: against PyTorch LPIPS, NumPy, and the properties of a distance.

torchvision's ImageNet weights cannot be downloaded here, so every test writes a backbone file
of the real structure (torchvision's `features.<i>.weight` / `.bias` keys and shapes, plus a
classifier entry that must be ignored) with seeded random weights, as `.pth` (torch) and `.npz`.
The lin weights are the real ones: ``esrgan_tf/lpips_v0.1_{alex,vgg}.npz`` hold
``lpips/weights/v0.1/{alex,vgg}.pth`` of the PyPI wheel lpips-0.1.4-py3-none-any.whl (sha256
fd537af5828b69d2e6ffc0a397bd506dbc28ca183543617690844c08e102ec5e; the two .pth have sha256
df73285e35b22355a2df87cdb6b70b343713b667eddbda73e1977e0c860835c0 and
a78928a0af1e5f0fcb1f3b9e8f8c3a2a5a3de244d830ad5c1feddc79b8432868), converted unchanged by
``lpips.convert_weights``; BSD-2-Clause, ``esrgan_tf/lpips_v0.1_LICENSE.txt``.

The PyTorch reference (``torch`` installed): the real ``lpips.LPIPS`` when the package is
installed (``pip install --no-deps lpips==0.1.4``) -- its backbone comes from torchvision, and
where torchvision does not import (PyPI's build does not beside the CPU torch here) the test
hands it the torchvision structure written out below; otherwise a PyTorch LPIPS written from
the paper and the package's source (``_TorchLPIPS``). The backbone is torchvision's own
``alexnet()`` / ``vgg16()`` when torchvision imports, else ``_torchvision_features``, a copy of
torchvision 0.28's ``AlexNet.features`` and ``make_layers(cfgs["D"])``.
"""

import importlib.machinery
import importlib.util
import os
import sys
import types

import keras
import numpy as np
import pytest
import skimage.data

from esrgan_tf.metrics import lpips

LIN_FILES = {net: lpips.bundled_lin_weights(net) for net in ("alex", "vgg")}
# The lin layers' input channels, `self.chns` of lpips/lpips.py::LPIPS.__init__ (0.1.4).
PUBLISHED_CHANNELS = {"alex": (64, 192, 384, 256, 256), "vgg": (64, 128, 256, 512, 512)}
# LPIPS reads the ReLU closing each of these slices of `features` (pretrained_networks.py).
TAPS = {"alex": (1, 4, 7, 9, 11), "vgg": (3, 8, 15, 22, 29)}
# |Keras - PyTorch|, both float32 (seen: 1.5e-8 on distances of 0.005 to 0.12).
TOLERANCE = 1e-5
SIZE = 64
# torchvision/models/vgg.py cfgs["D"] (VGG16): conv widths, "M" a 2x2 max-pool.
VGG16_CFG = [64, 64, "M", 128, 128, "M", 256, 256, 256, "M"] + [512, 512, 512, "M"] * 2


# ---------------------------------------------------------------------------------------
# Backbone files of torchvision's structure, with random weights
# ---------------------------------------------------------------------------------------


def _torchvision_convs(net):
    """{index in `features`: (out, in, kernel)}, transcribed from torchvision 0.28's source."""
    if net == "alex":
        # AlexNet.features: Conv(3, 64, 11, s4, p2), ReLU, MaxPool(3, 2), Conv(64, 192, 5, p2),
        # ReLU, MaxPool(3, 2), Conv(192, 384, 3, p1), ReLU, Conv(384, 256, 3, p1), ReLU,
        # Conv(256, 256, 3, p1), ReLU, MaxPool(3, 2).
        return {
            0: (64, 3, 11),
            3: (192, 64, 5),
            6: (384, 192, 3),
            8: (256, 384, 3),
            10: (256, 256, 3),
        }
    convs, index, channels = {}, 0, 3
    for v in VGG16_CFG:
        if v == "M":  # make_layers: a MaxPool2d, or a Conv2d and a ReLU
            index += 1
        else:
            convs[index], index, channels = (v, channels, 3), index + 2, v
    return convs


def _random_state_dict(net, seed=0):
    """He-normal random weights under torchvision's keys, and a classifier entry to ignore."""
    rng = np.random.default_rng(seed)
    state_dict = {}
    for index, (out, inp, k) in _torchvision_convs(net).items():
        std = np.sqrt(2.0 / (inp * k * k))
        state_dict[f"features.{index}.weight"] = (
            rng.standard_normal((out, inp, k, k)) * std
        ).astype(np.float32)
        state_dict[f"features.{index}.bias"] = rng.normal(0.0, 0.05, out).astype(np.float32)
    state_dict["classifier.6.bias"] = np.zeros(1000, np.float32)
    return state_dict


def _save_npz(path, state_dict):
    np.savez(path, **state_dict)
    return str(path)


def _save_pth(path, state_dict):
    torch = pytest.importorskip("torch")
    torch.save({k: torch.from_numpy(v) for k, v in state_dict.items()}, str(path))
    return str(path)


@pytest.fixture(scope="module")
def backbones(tmp_path_factory):
    """{net: (state dict, .npz path)} of random torchvision-structured weights."""
    folder = tmp_path_factory.mktemp("lpips_backbones")
    files = {}
    for seed, net in enumerate(("alex", "vgg")):
        state_dict = _random_state_dict(net, seed)
        files[net] = state_dict, _save_npz(folder / f"{net}.npz", state_dict)
    return files


@pytest.fixture(scope="module")
def alex(backbones):
    return lpips.LPIPS("alex", backbone_weights=backbones["alex"][1], lin_weights=LIN_FILES["alex"])


@pytest.fixture(scope="module")
def vgg(backbones):
    return lpips.LPIPS("vgg", backbone_weights=backbones["vgg"][1], lin_weights=LIN_FILES["vgg"])


def _photos(n=3, size=SIZE):
    """n pairs of [n, size, size, 3] float32 in [0, 1]: photo crops, and noisy / blurred ones."""
    photo = skimage.data.astronaut().astype(np.float32) / 255
    rng = np.random.default_rng(0)
    a = np.stack([photo[100 + 60 * i : 100 + 60 * i + size, 180 : 180 + size] for i in range(n)])
    blurred = (a + np.roll(a, 1, axis=1) + np.roll(a, 1, axis=2) + np.roll(a, (1, 1), (1, 2))) / 4
    b = np.clip(blurred + rng.normal(0.0, 0.05, a.shape).astype(np.float32), 0, 1)
    b[0] = a[0, ::-1]  # one pair far apart
    return a, b


# ---------------------------------------------------------------------------------------
# The PyTorch reference
# ---------------------------------------------------------------------------------------


def _torchvision_features(net):
    """torchvision's `alexnet().features` / `vgg16().features` (random init)."""
    torch = pytest.importorskip("torch")
    nn = torch.nn
    try:
        import torchvision

        model = torchvision.models.alexnet() if net == "alex" else torchvision.models.vgg16()
        return model.features
    except Exception:  # not installed, or a build that fails to import beside this torch
        pass
    if net == "alex":
        return nn.Sequential(
            nn.Conv2d(3, 64, kernel_size=11, stride=4, padding=2),
            nn.ReLU(inplace=True),
            nn.MaxPool2d(kernel_size=3, stride=2),
            nn.Conv2d(64, 192, kernel_size=5, padding=2),
            nn.ReLU(inplace=True),
            nn.MaxPool2d(kernel_size=3, stride=2),
            nn.Conv2d(192, 384, kernel_size=3, padding=1),
            nn.ReLU(inplace=True),
            nn.Conv2d(384, 256, kernel_size=3, padding=1),
            nn.ReLU(inplace=True),
            nn.Conv2d(256, 256, kernel_size=3, padding=1),
            nn.ReLU(inplace=True),
            nn.MaxPool2d(kernel_size=3, stride=2),
        )
    layers, channels = [], 3
    for v in VGG16_CFG:
        if v == "M":
            layers.append(nn.MaxPool2d(kernel_size=2, stride=2))
        else:
            layers += [nn.Conv2d(channels, v, kernel_size=3, padding=1), nn.ReLU(inplace=True)]
            channels = v
    return nn.Sequential(*layers)


def _loaded_features(net, state_dict):
    torch = pytest.importorskip("torch")
    features = _torchvision_features(net)
    prefix = "features."
    features.load_state_dict(
        {
            k[len(prefix) :]: torch.from_numpy(v)
            for k, v in state_dict.items()
            if k.startswith(prefix)
        }
    )
    return features.eval()


def _own_torch_lpips(net, state_dict, lin_state_dict):
    """LPIPS v0.1 in PyTorch from the paper and lpips 0.1.4's source, NCHW in [0, 1]."""
    torch = pytest.importorskip("torch")
    features = _loaded_features(net, state_dict)
    shift = torch.tensor([-0.030, -0.088, -0.188])[None, :, None, None]
    scale = torch.tensor([0.458, 0.448, 0.450])[None, :, None, None]
    lins = [torch.from_numpy(lin_state_dict[f"lin{k}.model.1.weight"]) for k in range(5)]

    def taps(x):
        outputs = []
        for i, layer in enumerate(features[: TAPS[net][-1] + 1]):
            x = layer(x)
            if i in TAPS[net]:
                outputs.append(x)
        return outputs

    def distance(in0, in1):
        f0, f1 = (taps(((2 * x - 1) - shift) / scale) for x in (in0, in1))
        total = 0
        for w, a, b in zip(lins, f0, f1):
            a = a / (torch.sqrt(torch.sum(a**2, dim=1, keepdim=True)) + 1e-10)
            b = b / (torch.sqrt(torch.sum(b**2, dim=1, keepdim=True)) + 1e-10)
            total = total + torch.nn.functional.conv2d((a - b) ** 2, w).mean([2, 3], keepdim=True)
        return total

    return distance


def _package_lpips(net, state_dict, monkeypatch):
    """The real lpips.LPIPS with the random backbone and its own bundled v0.1 lin weights."""
    torch = pytest.importorskip("torch")
    try:
        import torchvision  # noqa: F401

        stand_in = False
    except Exception:  # hand lpips the torchvision structure under torchvision's API
        stand_in = True
        models = types.SimpleNamespace(
            alexnet=lambda pretrained: types.SimpleNamespace(
                features=_torchvision_features("alex")
            ),
            vgg16=lambda pretrained: types.SimpleNamespace(features=_torchvision_features("vgg")),
        )
        monkeypatch.setitem(sys.modules, "torchvision", types.SimpleNamespace(models=models))
    import lpips as package

    # pnet_rand: no ImageNet download; pretrained: the lin weights of weights/v0.1/<net>.pth.
    model = package.LPIPS(net=net, version="0.1", pnet_rand=True, verbose=False).eval()
    if stand_in:  # no later import may see the package bound to the stand-in
        for name in [m for m in sys.modules if m == "lpips" or m.startswith("lpips.")]:
            del sys.modules[name]
    # The package's slices keep torchvision's indices: net.slice2.3.weight is features.3.weight.
    model.net.load_state_dict(
        {
            name: torch.from_numpy(state_dict["features." + name.split(".", 1)[1]])
            for name, _ in model.net.named_parameters()
        }
    )
    return lambda in0, in1: model(in0, in1, normalize=True)


def _reference(net, state_dict, monkeypatch):
    """(distance function, its name): NCHW torch tensors in [0, 1] -> [B, 1, 1, 1]."""
    if importlib.util.find_spec("lpips") is not None:
        return _package_lpips(net, state_dict, monkeypatch), "lpips package"
    return _own_torch_lpips(net, state_dict, dict(np.load(LIN_FILES[net]))), "own PyTorch LPIPS"


# ---------------------------------------------------------------------------------------
# Against PyTorch
# ---------------------------------------------------------------------------------------


@pytest.mark.slow
@pytest.mark.parametrize("net", ["alex", "vgg"])
def test_matches_pytorch_lpips(net, backbones, monkeypatch, request):
    torch = pytest.importorskip("torch")
    state_dict = backbones[net][0]
    model = request.getfixturevalue(net)  # from the .npz; a .pth reads the same (test below)
    a, b = _photos()
    ours = keras.ops.convert_to_numpy(model(a, b))

    reference, name = _reference(net, state_dict, monkeypatch)
    with torch.no_grad():
        nchw = [torch.from_numpy(x.transpose(0, 3, 1, 2).copy()) for x in (a, b)]
        theirs = reference(*nchw).numpy().reshape(-1)
    assert ours.shape == (3,)
    assert theirs.min() > 1e-3, (name, theirs)  # not a degenerate network
    np.testing.assert_allclose(ours, theirs, rtol=0, atol=TOLERANCE, err_msg=name)
    # Random backbones give small distances (~0.01), so relative agreement too.
    np.testing.assert_allclose(ours, theirs, rtol=1e-5, atol=0, err_msg=name)
    assert np.argmax(ours) == 0  # the flipped pair is the farthest


@pytest.mark.parametrize("net", ["alex", "vgg"])
def test_backbone_features_match_torchvision(net, backbones, request):
    """The five features themselves (a clearer failure than the distance's), at an odd size
    where every pool drops a row and a column."""
    torch = pytest.importorskip("torch")
    state_dict = backbones[net][0]
    model = request.getfixturevalue(net)
    x = np.random.default_rng(1).uniform(-2, 2, (1, SIZE + 3, SIZE + 11, 3)).astype(np.float32)
    ours = model.backbone(x)
    features = _loaded_features(net, state_dict)
    with torch.no_grad():
        h, theirs = torch.from_numpy(x.transpose(0, 3, 1, 2).copy()), []
        for i, layer in enumerate(features[: TAPS[net][-1] + 1]):
            h = layer(h)
            if i in TAPS[net]:
                theirs.append(h.numpy().transpose(0, 2, 3, 1))
    assert [f.shape[-1] for f in ours] == list(PUBLISHED_CHANNELS[net])
    for layer, mine, ref in zip(lpips.BACKBONES[net].layer_names, ours, theirs):
        mine = keras.ops.convert_to_numpy(mine)
        assert mine.shape == ref.shape, layer
        np.testing.assert_allclose(
            mine, ref, rtol=1e-4, atol=1e-4 * np.abs(ref).max(), err_msg=layer
        )


def test_pth_npz_and_converted_files_load_the_same_model(backbones, tmp_path):
    state_dict, npz = backbones["alex"]
    pth = _save_pth(tmp_path / "alexnet-owt-7be5be79.pth", state_dict)
    converted = str(tmp_path / "alex_features.npz")
    lpips.convert_weights(pth, converted)
    with np.load(converted) as arrays:
        assert sorted(arrays.files) == sorted(k for k in state_dict if k.startswith("features."))
    a, b = _photos()
    values = [
        keras.ops.convert_to_numpy(lpips.LPIPS("alex", path, LIN_FILES["alex"])(a, b))
        for path in (pth, npz, converted)
    ]
    np.testing.assert_array_equal(values[0], values[1])
    np.testing.assert_array_equal(values[0], values[2])


def test_safetensors_and_npz_load_the_same_model(backbones, tmp_path):
    safetensors_numpy = pytest.importorskip("safetensors.numpy")
    state_dict, npz = backbones["alex"]
    path = str(tmp_path / "alex.safetensors")
    safetensors_numpy.save_file(state_dict, path)
    a, b = _photos()
    values = [
        keras.ops.convert_to_numpy(lpips.LPIPS("alex", p, LIN_FILES["alex"])(a, b))
        for p in (path, npz)
    ]
    np.testing.assert_array_equal(values[0], values[1])
    broken = tmp_path / "broken.npz"
    broken.write_bytes(b"not a zip")
    with pytest.raises(ValueError, match="not a readable .npz"):
        lpips.LPIPS("alex", str(broken), LIN_FILES["alex"])


def test_shipped_lin_weights_equal_the_lpips_wheels(backbones, tmp_path):
    """The shipped .npz are the lpips 0.1.4 wheel's weights/v0.1 files, unchanged (checked
    against the wheel's .pth when the lpips package is installed)."""
    spec = importlib.util.find_spec("lpips")
    if spec is not None and spec.submodule_search_locations:
        torch = pytest.importorskip("torch")
        pth = os.path.join(spec.submodule_search_locations[0], "weights", "v0.1", "alex.pth")
        wheel = torch.load(pth, map_location="cpu", weights_only=True)
        for key, value in np.load(LIN_FILES["alex"]).items():
            np.testing.assert_array_equal(wheel[key].numpy(), value)
    model = lpips.LPIPS("alex", backbones["alex"][1])  # lin_weights="bundled"
    reference = lpips.LPIPS("alex", backbones["alex"][1], LIN_FILES["alex"])
    a, b = _photos()
    np.testing.assert_array_equal(
        keras.ops.convert_to_numpy(model(a, b)), keras.ops.convert_to_numpy(reference(a, b))
    )


# ---------------------------------------------------------------------------------------
# Against NumPy, and the properties of a distance (no torch needed)
# ---------------------------------------------------------------------------------------


def test_lin_weights_have_the_published_shapes():
    for net, channels in PUBLISHED_CHANNELS.items():
        with np.load(LIN_FILES[net]) as arrays:
            assert sorted(arrays.files) == [f"lin{k}.model.1.weight" for k in range(5)]
            for k, c in enumerate(channels):
                w = arrays[f"lin{k}.model.1.weight"]
                assert w.shape == (1, c, 1, 1) and w.dtype == np.float32
                assert w.min() >= 0 and w.max() > 0
        assert lpips.BACKBONES[net].channels == channels


def test_head_matches_numpy(alex):
    """Normalise, subtract, square, lin, average, sum -- in float64 NumPy on given features."""
    rng = np.random.default_rng(2)
    shapes = [(2, 7 - k, 5 + k) for k in range(5)]
    fa = [
        rng.normal(size=s + (c,)).astype(np.float32)
        for s, c in zip(shapes, PUBLISHED_CHANNELS["alex"])
    ]
    fb = [np.maximum(f + rng.normal(0, 0.5, f.shape), 0).astype(np.float32) for f in fa]
    fb[4][0, 0, 0] = 0.0  # an all-zero feature vector: the eps keeps it finite
    expected = np.zeros(2)
    with np.load(LIN_FILES["alex"]) as arrays:
        for k, (a, b) in enumerate(zip(fa, fb)):
            w = arrays[f"lin{k}.model.1.weight"].astype(np.float64).reshape(-1)
            a, b = a.astype(np.float64), b.astype(np.float64)
            na = a / (np.sqrt((a**2).sum(-1, keepdims=True)) + 1e-10)
            nb = b / (np.sqrt((b**2).sum(-1, keepdims=True)) + 1e-10)
            expected += (((na - nb) ** 2) @ w).mean(axis=(1, 2))
    ours = keras.ops.convert_to_numpy(alex.compare(fa, fb))
    assert ours.shape == (2,)
    np.testing.assert_allclose(ours, expected, rtol=1e-5)


def test_distance_properties(alex):
    a, b = _photos()
    d_ab = keras.ops.convert_to_numpy(alex(a, b))
    assert d_ab.shape == (3,) and d_ab.dtype == np.float32
    assert (d_ab > 0).all()
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(alex(a, a)), np.zeros(3))
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(alex(b, a)), d_ab)
    # Each pair is scored on its own: a batch equals its images one at a time.
    single = [keras.ops.convert_to_numpy(alex(a[i : i + 1], b[i : i + 1]))[0] for i in range(3)]
    np.testing.assert_allclose(single, d_ab, rtol=1e-6)


def test_vgg_distance_properties(vgg):
    a, b = _photos(n=2, size=32)
    d_ab = keras.ops.convert_to_numpy(vgg(a, b))
    assert d_ab.shape == (2,) and (d_ab > 0).all()
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(vgg(a, a)), np.zeros(2))
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(vgg(b, a)), d_ab)


def test_lpips_distance_of_images(alex):
    a, b = _photos()
    value = lpips.lpips_distance(a[1], b[1], alex)
    assert isinstance(value, float)
    # Scored on the saved (uint8) images; a uint8 input is that image itself.
    a8, b8 = (np.floor(x[1].astype(np.float64) * 255 + 0.5).astype(np.uint8) for x in (a, b))
    assert lpips.lpips_distance(a8, b8, alex) == value
    direct = alex(a8[None].astype(np.float32) / 255, b8[None].astype(np.float32) / 255)
    assert value == pytest.approx(float(keras.ops.convert_to_numpy(direct)[0]), abs=1e-7)
    assert lpips.lpips_distance(b[1], a[1], alex) == value
    assert lpips.lpips_distance(a[1], a[1], alex) == 0.0
    cropped = lpips.lpips_distance(a[1], b[1], alex, crop_border=4)
    inner = alex(
        a8[None, 4:-4, 4:-4].astype(np.float32) / 255, b8[None, 4:-4, 4:-4] / np.float32(255)
    )
    assert cropped == pytest.approx(float(keras.ops.convert_to_numpy(inner)[0]), abs=1e-7)


def test_minimum_size_is_tight(alex, vgg):
    """31x31 leaves AlexNet's relu5 one pixel; 30x30 is refused with the size in the message."""
    x = np.full((31, 31, 3), 0.5, np.float32)
    assert [tuple(f.shape[1:3]) for f in alex.features(x[None])][-1] == (1, 1)
    assert lpips.lpips_distance(x, x[::-1], alex) >= 0
    with pytest.raises(ValueError, match="at least 31x31"):
        lpips.lpips_distance(x[:30, :30], x[:30, :30], alex)
    with pytest.raises(ValueError, match="at least 31x31"):
        lpips.lpips_distance(x, x, alex, crop_border=1)
    assert [tuple(f.shape[1:3]) for f in vgg.features(x[None, :16, :16])][-1] == (1, 1)
    with pytest.raises(ValueError, match="at least 16x16"):
        lpips.lpips_distance(x[:15, :15], x[:15, :15], vgg)


def test_lpips_distance_rejects_bad_shapes(alex):
    a = np.zeros((40, 40, 3), np.float32)
    for b in (np.zeros((40, 41, 3), np.float32), np.zeros((40, 40), np.float32)):
        with pytest.raises(ValueError, match="HxWx3"):
            lpips.lpips_distance(a, b, alex)


def test_config_round_trip_and_keras_save(alex, tmp_path):
    config = alex.get_config()
    assert {config[k] for k in ("net", "lin_weights")} == {"alex", LIN_FILES["alex"]}
    a, b = _photos()
    expected = keras.ops.convert_to_numpy(alex(a, b))
    again = lpips.LPIPS.from_config(config)
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(again(a, b)), expected)
    path = str(tmp_path / "lpips.keras")
    alex.save(path)
    loaded = keras.saving.load_model(path)
    assert isinstance(loaded, lpips.LPIPS) and not loaded.trainable_weights
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(loaded(a, b)), expected)


# ---------------------------------------------------------------------------------------
# Clear errors
# ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("net", ["alex", "vgg"])
def test_missing_backbone_weights_say_where_to_get_them(net, tmp_path):
    spec = lpips.BACKBONES[net]
    missing = str(tmp_path / spec.file_name)
    for given in (None, missing):
        with pytest.raises(FileNotFoundError) as error:
            lpips.LPIPS(net, backbone_weights=given, lin_weights=LIN_FILES[net])
        message = str(error.value)
        for part in (spec.url, spec.file_name, "backbone_weights=PATH", "--lpips_weights=PATH"):
            assert part in message
        assert (missing in message) == (given is not None)
    assert lpips.backbone_help(net) in message


def test_mismatched_files_are_clear_errors(backbones, tmp_path):
    vgg_for_alex = backbones["vgg"][1]
    with pytest.raises(ValueError, match=r"'features\.0\.weight' has shape \(64, 3, 3, 3\)"):
        lpips.LPIPS("alex", vgg_for_alex, LIN_FILES["alex"])
    lin = dict(np.load(LIN_FILES["alex"]))
    del lin["lin3.model.1.weight"]
    with pytest.raises(ValueError, match="no 'lin3.model.1.weight'"):
        lpips.LPIPS("alex", backbones["alex"][1], _save_npz(tmp_path / "lin.npz", lin))
    with pytest.raises(ValueError, match=r"'lin1\.model\.1\.weight' has shape \(1, 192, 1, 1\)"):
        lpips.LPIPS("vgg", backbones["vgg"][1], LIN_FILES["alex"])
    negative = dict(np.load(LIN_FILES["alex"]))
    negative["lin2.model.1.weight"] = -negative["lin2.model.1.weight"]
    with pytest.raises(ValueError, match="negative"):
        lpips.LPIPS("alex", backbones["alex"][1], _save_npz(tmp_path / "neg.npz", negative))
    with pytest.raises(ValueError, match="unknown net"):
        lpips.LPIPS("squeeze", backbones["alex"][1], LIN_FILES["alex"])
    bad = tmp_path / "bad.h5"
    bad.write_bytes(b"not weights")
    with pytest.raises(ValueError, match="unknown extension"):
        lpips.LPIPS("alex", str(bad), LIN_FILES["alex"])


def test_pth_without_torch_says_how_to_convert(tmp_path, monkeypatch):
    path = tmp_path / "alexnet-owt-7be5be79.pth"
    path.write_bytes(b"a pickle")
    monkeypatch.setitem(sys.modules, "torch", None)
    with pytest.raises(ImportError, match=r"needs PyTorch.*convert_weights\(PTH, OUT\.npz\)"):
        lpips.LPIPS("alex", str(path), LIN_FILES["alex"])
