"""PyTorch weights of every ESRGAN-family layout into Keras, without PyTorch.

State dicts are made with NumPy in every key layout from key tables written out here by
hand (BasicSR / Real-ESRGAN, the ESRGAN release, the old-arch community layout, and
SRVGGNetCompact), and the converted models are compared with NumPy forward passes of the
PyTorch networks (PyTorch's pixel (un)shuffle channel order included), written here
independently of the code under test. `test_state_dicts_torch.py` does the same against
PyTorch modules when torch is installed.
"""

import os
import sys

import numpy as np
import pytest
from safetensors import safe_open
from safetensors.numpy import load_file, save_file

from esrgan_tf.formats import generators
from esrgan_tf.formats import pytorch as convert_lib
from esrgan_tf.models.builders import built_generator
from esrgan_tf.models.config import ModelConfig
from esrgan_tf.models.rrdbnet import RRDBNet

NF, NB, GC = 8, 2, 4  # num_feat, num_block, num_grow_ch
STAGES = {1: 0, 2: 1, 4: 2, 8: 3}  # scale -> x2 upsampling stages


# ---- Key tables, by hand ----


def rrdb_specs(num_up=2, in_ch=3):
    """(BasicSR name, out channels, in channels) of every conv of a small RRDBNet."""
    specs = [("conv_first", NF, in_ch)]
    for i in range(NB):
        for j in (1, 2, 3):
            for k in (1, 2, 3, 4, 5):
                specs.append((f"body.{i}.rdb{j}.conv{k}", GC if k < 5 else NF, NF + (k - 1) * GC))
    specs.append(("conv_body", NF, NF))
    specs += [(f"conv_up{u}", NF, NF) for u in range(1, num_up + 1)]
    specs += [("conv_hr", NF, NF), ("conv_last", 3, NF)]
    return specs


def esrgan_name(name):
    """The ESRGAN release's name of a BasicSR conv name."""
    parts = name.split(".")
    if parts[0] == "body":
        return f"RRDB_trunk.{parts[1]}.RDB{parts[2][3:]}.{parts[3]}"
    table = {"conv_body": "trunk_conv", "conv_hr": "HRconv"}
    if name.startswith("conv_up"):
        return "upconv" + name[len("conv_up") :]
    return table.get(name, name)


def old_arch_name(name, num_up):
    """The old-arch name: model.0, model.1.sub.<i>.RDB<j>.conv<k>.0, model.1.sub.<NB>,
    upsampling convs at model.3, 6, 9, then HR convs at model.<3u + 2> and <3u + 4>."""
    parts = name.split(".")
    if parts[0] == "body":
        return f"model.1.sub.{parts[1]}.RDB{parts[2][3:]}.{parts[3]}.0"
    if name.startswith("conv_up"):
        return f"model.{3 * int(name[len('conv_up') :])}"
    table = {
        "conv_first": "model.0",
        "conv_body": f"model.1.sub.{NB}",
        "conv_hr": f"model.{3 * num_up + 2}",
        "conv_last": f"model.{3 * num_up + 4}",
    }
    return table[name]


def random_convs(specs, seed):
    rng = np.random.default_rng(seed)
    sd = {}
    for name, c_out, c_in in specs:
        # std 1/sqrt(fan_in) keeps activations O(1) through the network.
        sd[f"{name}.weight"] = (
            rng.standard_normal((c_out, c_in, 3, 3)) / np.sqrt(9 * c_in)
        ).astype(np.float32)
        sd[f"{name}.bias"] = (0.1 * rng.standard_normal(c_out)).astype(np.float32)
    return sd


def rrdb_state_dict(seed=0, num_up=2, in_ch=3, layout="basicsr"):
    sd = random_convs(rrdb_specs(num_up, in_ch), seed)
    rename = {
        "basicsr": lambda n: n,
        "esrgan": esrgan_name,
        "old_arch": lambda n: old_arch_name(n, num_up),
    }[layout]
    return {f"{rename(k.rsplit('.', 1)[0])}.{k.rsplit('.', 1)[1]}": v for k, v in sd.items()}


def srvgg_state_dict(seed=0, num_conv=2, scale=4):
    specs = [("body.0", NF, 3)]
    specs += [(f"body.{2 * i + 2}", NF, NF) for i in range(num_conv)]
    specs.append((f"body.{2 * num_conv + 2}", 3 * scale * scale, NF))
    sd = random_convs(specs, seed)
    rng = np.random.default_rng(seed + 100)
    for i in range(num_conv + 1):
        sd[f"body.{2 * i + 1}.weight"] = rng.uniform(-0.5, 0.5, NF).astype(np.float32)
    return sd


def write(path, state_dict):
    save_file(state_dict, str(path))
    return str(path)


# ---- NumPy references of the PyTorch forward passes (BasicSR names) ----


def np_conv(x, sd, name):
    """3x3 'same' cross-correlation of NHWC x with a PyTorch [out, in, 3, 3] weight."""
    w, b = sd[name + ".weight"].astype(np.float64), sd[name + ".bias"]
    _, h, wd, _ = x.shape
    padded = np.pad(x, ((0, 0), (1, 1), (1, 1), (0, 0)))
    out = np.zeros(x.shape[:3] + (w.shape[0],))
    for dy in range(3):
        for dx in range(3):
            out += np.einsum("nhwi,oi->nhwo", padded[:, dy : dy + h, dx : dx + wd], w[:, :, dy, dx])
    return out + b


def np_lrelu(x):
    return np.where(x >= 0, x, 0.2 * x)


def torch_pixel_unshuffle(x, r):
    """PyTorch's F.pixel_unshuffle on NHWC: out channel c*r*r + i*r + j = x[hr+i, wr+j, c]."""
    n, h, w, c = x.shape
    out = np.zeros((n, h // r, w // r, c * r * r))
    for ch in range(c):
        for i in range(r):
            for j in range(r):
                out[..., ch * r * r + i * r + j] = x[:, i::r, j::r, ch]
    return out


def torch_pixel_shuffle(x, r):
    """PyTorch's F.pixel_shuffle on NHWC: out[hr+i, wr+j, c] = x[h, w, c*r*r + i*r + j]."""
    n, h, w, cr2 = x.shape
    c = cr2 // (r * r)
    out = np.zeros((n, h * r, w * r, c))
    for ch in range(c):
        for i in range(r):
            for j in range(r):
                out[:, i::r, j::r, ch] = x[..., ch * r * r + i * r + j]
    return out


def np_rrdbnet(x, sd, num_up, unshuffle=1):
    if unshuffle > 1:
        x = torch_pixel_unshuffle(x, unshuffle)
    fea = np_conv(x, sd, "conv_first")
    trunk = fea
    for i in range(NB):
        rrdb_in = trunk
        for j in (1, 2, 3):
            feats = [trunk]
            for k in (1, 2, 3, 4):
                feats.append(
                    np_lrelu(np_conv(np.concatenate(feats, -1), sd, f"body.{i}.rdb{j}.conv{k}"))
                )
            trunk = trunk + 0.2 * np_conv(np.concatenate(feats, -1), sd, f"body.{i}.rdb{j}.conv5")
        trunk = rrdb_in + 0.2 * trunk
    fea = fea + np_conv(trunk, sd, "conv_body")
    for u in range(1, num_up + 1):
        fea = np.repeat(np.repeat(fea, 2, axis=1), 2, axis=2)
        fea = np_lrelu(np_conv(fea, sd, f"conv_up{u}"))
    return np_conv(np_lrelu(np_conv(fea, sd, "conv_hr")), sd, "conv_last")


def np_srvgg(x, sd, num_conv, scale):
    out = x
    for i in range(num_conv + 1):
        out = np_conv(out, sd, f"body.{2 * i}")
        slope = sd[f"body.{2 * i + 1}.weight"]
        out = np.where(out >= 0, out, slope * out)
    out = np_conv(out, sd, f"body.{2 * num_conv + 2}")
    return torch_pixel_shuffle(out, scale) + np.repeat(np.repeat(x, scale, 1), scale, 2)


def image(h=12, w=16, seed=2):
    return np.random.default_rng(seed).uniform(size=(1, h, w, 3)).astype(np.float32)


def assert_matches(model, x, expected):
    actual = np.asarray(model(x))
    assert actual.shape == expected.shape
    # A non-trivial output: it varies over the image (an all-bias output would not).
    assert np.std(expected, axis=(1, 2)).mean() > 0.01
    assert np.max(np.abs(actual - expected)) <= 1e-4


# ---- Every layout and architecture gives the PyTorch network's output ----


@pytest.mark.slow
@pytest.mark.parametrize(
    "layout,scale",
    [
        ("basicsr", 2),
        ("basicsr", 4),
        ("basicsr", 8),
        ("esrgan", 4),
        ("esrgan", 2),
        ("old_arch", 1),
        ("old_arch", 2),
        ("old_arch", 4),
        ("old_arch", 8),
    ],
)
def test_rrdbnet_of_every_layout_matches_the_reference(tmp_path, layout, scale):
    sd = rrdb_state_dict(seed=1, num_up=STAGES[scale], layout=layout)
    model, config, found_layout = convert_lib.load_generator(write(tmp_path / "m.safetensors", sd))
    assert config == ModelConfig(num_feat=NF, num_block=NB, num_grow_ch=GC, scale=scale)
    assert (
        found_layout
        == {
            "basicsr": convert_lib.LAYOUT_BASICSR,
            "esrgan": convert_lib.LAYOUT_ESRGAN,
            "old_arch": convert_lib.LAYOUT_OLD_ARCH,
        }[layout]
    )
    reference = rrdb_state_dict(seed=1, num_up=STAGES[scale])  # same weights, BasicSR names
    assert_matches(model, image(), np_rrdbnet(image().astype(np.float64), reference, STAGES[scale]))


@pytest.mark.parametrize("scale,in_ch", [(2, 12), (1, 48)])
def test_pixel_unshuffle_rrdbnet_x2plus_and_x1(tmp_path, scale, in_ch):
    sd = rrdb_state_dict(seed=3, num_up=2, in_ch=in_ch)
    model, config, _ = convert_lib.load_generator(write(tmp_path / "x2plus.safetensors", sd))
    assert config == ModelConfig(
        num_feat=NF, num_block=NB, num_grow_ch=GC, scale=scale, unshuffle=True
    )
    x = image(16, 24)
    assert_matches(model, x, np_rrdbnet(x.astype(np.float64), sd, 2, unshuffle=4 // scale))
    assert np.asarray(model(x)).shape == (1, 16 * scale, 24 * scale, 3)


@pytest.mark.parametrize("scale,num_conv", [(4, 2), (2, 3), (3, 1)])
def test_srvgg_compact_matches_the_reference(tmp_path, scale, num_conv):
    sd = srvgg_state_dict(seed=4, num_conv=num_conv, scale=scale)
    model, config, _ = convert_lib.load_generator(write(tmp_path / "compact.safetensors", sd))
    assert config == ModelConfig(generator="srvgg", num_feat=NF, num_conv=num_conv, scale=scale)
    assert_matches(model, image(), np_srvgg(image().astype(np.float64), sd, num_conv, scale))


def test_every_variable_comes_from_exactly_one_tensor(tmp_path):
    sd = rrdb_state_dict(seed=5)
    out = str(tmp_path / "model.weights.h5")
    generators.convert(write(tmp_path / "in.safetensors", sd), out)
    # Check the file, not the in-memory model: it is what users get.
    model = built_generator(ModelConfig(num_feat=NF, num_block=NB, num_grow_ch=GC))
    model.load_weights(out)
    by_name = {
        "conv_first": model.conv_first,
        "conv_body": model.conv_body,
        "conv_hr": model.conv_hr,
        "conv_last": model.conv_last,
        "conv_up1": model.up_convs[0],
        "conv_up2": model.up_convs[1],
    }
    for i, rrdb in enumerate(model.body.layers):
        for j, rdb in ((1, rrdb.rdb1), (2, rrdb.rdb2), (3, rrdb.rdb3)):
            for k in (1, 2, 3, 4, 5):
                by_name[f"body.{i}.rdb{j}.conv{k}"] = getattr(rdb, f"conv{k}")
    checked = set()
    for name, conv in by_name.items():
        np.testing.assert_array_equal(
            conv.kernel.numpy(), sd[name + ".weight"].transpose(2, 3, 1, 0), name
        )
        np.testing.assert_array_equal(conv.bias.numpy(), sd[name + ".bias"], name)
        checked |= {id(conv.kernel), id(conv.bias)}
    assert checked == {id(v) for v in model.weights} and len(checked) == len(sd)


# ---- The architecture read from the tensors ----


def test_agreeing_overrides_and_scale_3():
    sd = rrdb_state_dict(num_up=1, layout="esrgan")
    config = convert_lib.infer_model_config(sd, num_feat=NF, num_block=NB, num_grow_ch=GC, scale=2)
    assert config.scale == 2
    # One x3 stage has the same tensors as one x2 stage; only the user can tell.
    assert convert_lib.infer_model_config(sd, scale=3).scale == 3
    with pytest.raises(ValueError, match="scale=3"):  # not for an x4 file
        convert_lib.infer_model_config(rrdb_state_dict(), scale=3)


@pytest.mark.parametrize(
    "override,fragments",
    [
        (dict(num_feat=16), ["num_feat=16", "num_feat=8"]),
        (dict(num_grow_ch=8), ["num_grow_ch=8", "num_grow_ch=4"]),
        (dict(num_block=3), ["num_block=3", "num_block=2"]),
        (dict(scale=8), ["scale=8", "RRDBNet x4"]),
        (dict(generator="srvgg"), ["generator='srvgg'", "RRDBNet"]),
        (dict(unshuffle=True), ["unshuffle=True"]),
    ],
)
def test_disagreeing_override_fails_and_writes_nothing(tmp_path, override, fragments):
    path = write(tmp_path / "in.safetensors", rrdb_state_dict())
    out = tmp_path / "out.weights.h5"
    with pytest.raises(ValueError) as err:
        generators.convert(path, str(out), override)
    for fragment in fragments:
        assert fragment in str(err.value)
    assert not out.exists()


def test_pixel_shuffle_upsamplers_and_other_channels_are_refused():
    sd = rrdb_state_dict(layout="old_arch")
    sd["model.3.weight"] = np.zeros((4 * NF, NF, 3, 3), np.float32)
    with pytest.raises(ValueError, match="pixel-shuffle upsampler"):
        convert_lib.infer_model_config(sd)
    gray = rrdb_state_dict(in_ch=1)
    with pytest.raises(ValueError, match="1 input channels: only RGB"):
        convert_lib.infer_model_config(gray)


def test_srvgg_without_prelu_and_odd_layouts_are_refused():
    sd = srvgg_state_dict()
    del sd["body.1.weight"], sd["body.3.weight"], sd["body.5.weight"]
    with pytest.raises(ValueError, match="without PReLU"):
        convert_lib.infer_model_config(sd)
    sd = srvgg_state_dict()
    sd["body.10.weight"] = np.zeros((3, NF, 3, 3), np.float32)  # no conv at body.8
    with pytest.raises(ValueError, match="body.0, body.2, body.4, body.6, body.10"):
        convert_lib.infer_model_config(sd)


def test_not_an_esrgan_family_state_dict():
    with pytest.raises(ValueError, match="not an RRDBNet or SRVGGNetCompact"):
        convert_lib.infer_model_config({"features.0.weight": np.zeros((4, 3, 3, 3))})


# ---- Wrappers, prefixes, names in errors ----


def test_wrappers_prefer_params_ema():
    good, other = rrdb_state_dict(seed=0), rrdb_state_dict(seed=1)
    unwrapped = convert_lib.unwrap_state_dict({"params": other, "params_ema": good}, "f")
    assert all(unwrapped[k] is good[k] for k in good) and unwrapped.keys() == good.keys()
    unwrapped = convert_lib.unwrap_state_dict({"params": other}, "f")
    assert all(unwrapped[k] is other[k] for k in other)


@pytest.mark.parametrize(
    "raw", [[np.zeros(3)], {"params": [1]}, {"w": "text"}, {1: np.zeros(1)}, {}, {"params_ema": {}}]
)
def test_non_state_dicts_fail(raw):
    with pytest.raises(ValueError, match="ckpt.pth"):
        convert_lib.unwrap_state_dict(raw, "ckpt.pth")


def test_module_prefix_is_removed_and_names_are_kept_for_errors():
    sd = {"module." + k: v for k, v in rrdb_state_dict(layout="esrgan").items()}
    canonical = convert_lib.canonicalize(sd)
    assert canonical.layout == convert_lib.LAYOUT_ESRGAN
    assert canonical.state_dict.keys() == rrdb_state_dict().keys()
    assert canonical.file_name("conv_body.weight") == "trunk_conv.weight"


def broken(kind):
    sd = dict(rrdb_state_dict(layout="old_arch"))
    if kind == "missing":
        del sd["model.1.sub.1.RDB2.conv3.0.bias"]
    elif kind == "unexpected":
        sd["model.1.sub.0.RDB1.conv6.0.weight"] = np.zeros((4, 8, 3, 3), np.float32)
    elif kind == "shape":
        sd["model.8.weight"] = np.zeros((8, 8, 1, 1), np.float32)
    elif kind == "int":
        sd["model.8.bias"] = np.zeros(8, np.int32)
    return sd


@pytest.mark.parametrize(
    "kind,fragments",
    [
        ("missing", ["missing", "model.1.sub.1.RDB2.conv3.0.bias"]),
        ("unexpected", ["unexpected", "model.1.sub.0.RDB1.conv6.0.weight"]),
        ("shape", ["model.8.weight", "(8, 8, 1, 1)"]),
        ("int", ["model.8.bias", "int32"]),
    ],
)
def test_bad_state_dict_names_the_files_keys_and_writes_nothing(tmp_path, kind, fragments):
    out = tmp_path / "out.weights.h5"
    out.write_bytes(b"previous output")
    path = write(tmp_path / "in.safetensors", broken(kind))
    with pytest.raises(ValueError) as err:
        generators.convert(path, str(out))
    for fragment in fragments:
        assert fragment in str(err.value)
    assert out.read_bytes() == b"previous output"
    assert sorted(os.listdir(tmp_path)) == ["in.safetensors", "out.weights.h5"]


def test_mixed_layouts_are_refused():
    sd = rrdb_state_dict(layout="esrgan")
    sd["conv_body.weight"] = sd["trunk_conv.weight"]
    with pytest.raises(ValueError, match="mixes key layouts"):
        convert_lib.canonicalize(sd)


def test_load_is_all_or_nothing():
    model = built_generator(ModelConfig(num_feat=NF, num_block=NB, num_grow_ch=GC))
    before = [v.numpy().copy() for v in model.weights]
    sd = rrdb_state_dict(seed=3)
    sd["conv_last.weight"] = np.zeros((3, 8, 5, 5), np.float32)  # the very last conv
    with pytest.raises(ValueError, match="nothing was loaded"):
        convert_lib.load_into_generator(model, sd)
    for old, variable in zip(before, model.weights):
        np.testing.assert_array_equal(old, variable.numpy())


# ---- Files: failures leave no output ----


def assert_only(directory, *names):
    assert sorted(os.listdir(directory)) == sorted(names)


@pytest.mark.parametrize(
    "content", [os.urandom(256), b"just some text\n", b""], ids=["random", "text", "empty"]
)
def test_garbage_safetensors(tmp_path, content):
    (tmp_path / "bad.safetensors").write_bytes(content)
    with pytest.raises(ValueError, match="bad.safetensors"):
        generators.convert(str(tmp_path / "bad.safetensors"), str(tmp_path / "o.weights.h5"))
    assert_only(tmp_path, "bad.safetensors")


def test_pth_without_torch_says_how_to_fix(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "torch", None)  # makes `import torch` fail
    (tmp_path / "m.pth").write_bytes(b"PK\x03\x04 not really a zip")
    with pytest.raises(ImportError, match="pip install torch"):
        generators.convert(str(tmp_path / "m.pth"), str(tmp_path / "o.weights.h5"))
    assert_only(tmp_path, "m.pth")


def test_unknown_input_and_missing_file(tmp_path):
    write(tmp_path / "m.bin", rrdb_state_dict())
    with pytest.raises(FileNotFoundError, match=r"m\.bin' is neither a \.weights\.h5 file"):
        generators.convert(str(tmp_path / "m.bin"), str(tmp_path / "o.weights.h5"))
    with pytest.raises(FileNotFoundError):
        generators.convert(str(tmp_path / "nope.pth"), str(tmp_path / "o.weights.h5"))
    assert_only(tmp_path, "m.bin")


@pytest.mark.parametrize("output", ["model.h5", "model.keras", "model.weights", "model.pt"])
def test_output_ending_must_name_a_form(tmp_path, output):
    path = write(tmp_path / "in.safetensors", rrdb_state_dict())
    with pytest.raises(ValueError, match=r"\.weights\.h5, \.pth, \.safetensors \(the ending"):
        generators.convert(path, str(tmp_path / output))
    assert_only(tmp_path, "in.safetensors")


def test_output_is_the_input(tmp_path):
    path = write(tmp_path / "in.safetensors", rrdb_state_dict())
    before = (tmp_path / "in.safetensors").read_bytes()
    os.symlink(path, tmp_path / "alias.weights.h5")
    with pytest.raises(ValueError, match="same file"):
        generators.convert(path, str(tmp_path / "alias.weights.h5"))
    assert (tmp_path / "in.safetensors").read_bytes() == before


def test_failed_save_leaves_no_temporary(tmp_path, monkeypatch):
    def save_half_then_fail(self, path, *args, **kwargs):
        with open(path, "wb") as f:
            f.write(b"partial")
        raise OSError("disk full")

    monkeypatch.setattr(RRDBNet, "save_weights", save_half_then_fail)
    path = write(tmp_path / "in.safetensors", rrdb_state_dict())
    with pytest.raises(OSError, match="disk full"):
        generators.convert(path, str(tmp_path / "out.weights.h5"))
    assert_only(tmp_path, "in.safetensors")


def test_load_generator_reads_pytorch_files_directly(tmp_path):
    """upscale / evaluate / export take a .safetensors as they take a .weights.h5."""
    sd = srvgg_state_dict(seed=6)
    path = write(tmp_path / "compact.safetensors", sd)
    loaded = generators.load(path)
    model, config = loaded.model, loaded.config
    assert config.generator == "srvgg"
    assert generators.read_architecture(path) == config
    assert_matches(model, image(), np_srvgg(image().astype(np.float64), sd, 2, 4))
    with pytest.raises(ValueError, match="generator='rrdbnet' disagrees with the checkpoint"):
        generators.load(path, ModelConfig().architecture())


# ---- Writing: .safetensors / .pth in the layouts people load ----


WRITTEN = {
    "rrdbnet x4 basicsr": (lambda: rrdb_state_dict(7), "basicsr"),
    "rrdbnet x1 old_arch": (lambda: rrdb_state_dict(7, num_up=0, layout="old_arch"), "old_arch"),
    "rrdbnet x8 old_arch": (lambda: rrdb_state_dict(7, num_up=3, layout="old_arch"), "old_arch"),
    "x2plus basicsr": (lambda: rrdb_state_dict(7, in_ch=12), "basicsr"),
    "srvgg x4 basicsr": (lambda: srvgg_state_dict(7), "basicsr"),
}


@pytest.mark.parametrize("case", list(WRITTEN))
def test_written_state_dict_is_the_one_read_in_that_layout(tmp_path, case):
    # The hand-made tables of this file name and shape each tensor: reading one and
    # writing it back in its layout must give the same names and the same bits.
    make, layout = WRITTEN[case]
    sd = make()
    source = write(tmp_path / "in.safetensors", sd)
    generators.convert(source, str(tmp_path / "out.safetensors"), layout=layout)
    written = load_file(str(tmp_path / "out.safetensors"))
    assert sorted(written) == sorted(sd)
    for key, value in sd.items():
        assert written[key].dtype == np.float32
        np.testing.assert_array_equal(written[key], value, err_msg=key)
    # ... and what came from a Keras file goes out as it came in.
    generators.convert(source, str(tmp_path / "k.weights.h5"))
    generators.convert(str(tmp_path / "k.weights.h5"), str(tmp_path / "again.safetensors"),
                       architecture=generators.read_architecture(source).architecture(),
                       layout=layout)  # fmt: skip
    again = load_file(str(tmp_path / "again.safetensors"))
    assert all(np.array_equal(again[k], sd[k]) for k in sd)


def test_safetensors_header_says_what_the_model_is(tmp_path):
    source = write(tmp_path / "in.safetensors", srvgg_state_dict(seed=1))
    generators.convert(source, str(tmp_path / "out.safetensors"))
    with safe_open(str(tmp_path / "out.safetensors"), "np") as f:
        metadata = f.metadata()
    assert metadata["source"] == source
    assert metadata["architecture"].startswith("SRVGGNetCompact x4")


@pytest.mark.parametrize(
    "make,kind",
    [
        (lambda: srvgg_state_dict(seed=1), "SRVGGNetCompact"),
        (lambda: rrdb_state_dict(seed=1, in_ch=12), "pixel-unshuffle RRDBNet"),
    ],
)
def test_old_arch_of_other_networks_is_refused_and_nothing_is_written(tmp_path, make, kind):
    source = write(tmp_path / "in.safetensors", make())
    with pytest.raises(ValueError, match=f"the old-arch layout has no {kind}"):
        generators.convert(source, str(tmp_path / "out.safetensors"), layout="old_arch")
    assert_only(tmp_path, "in.safetensors")


def test_srresnet_has_no_pytorch_layout(tmp_path):
    model = built_generator(ModelConfig(generator="srresnet", num_feat=8, num_block=1))
    with pytest.raises(ValueError, match="SRResNet has no PyTorch layout here"):
        convert_lib.save(model, str(tmp_path / "srresnet.safetensors"))
    assert_only(tmp_path)


def test_pth_output_without_torch_says_safetensors_needs_none(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "torch", None)
    source = write(tmp_path / "in.safetensors", srvgg_state_dict(seed=1))
    with pytest.raises(ImportError, match=r"needs PyTorch .*\.safetensors does not"):
        generators.convert(source, str(tmp_path / "out.pth"))
    assert_only(tmp_path, "in.safetensors")


def test_a_growth_spandrel_cannot_build_is_written_with_a_warning(tmp_path, caplog):
    source = write(tmp_path / "in.safetensors", rrdb_state_dict(seed=1))  # growth GC = 4
    with caplog.at_level("WARNING"):
        generators.convert(source, str(tmp_path / "out.safetensors"))
    assert f"an RRDBNet with growth {GC}" in caplog.text
    assert "spandrel (chaiNNer, ComfyUI) builds growth 32" in caplog.text
    assert sorted(os.listdir(tmp_path)) == ["in.safetensors", "out.safetensors"]
