"""Tests for esrgan_tf.inference.state_dicts without PyTorch.

State dicts are made with numpy in both key layouts. The expected key -> layer
mapping and a reference forward pass are written out here by hand, independently
of the code under test.
"""

import os
import sys

import keras
import numpy as np
import pytest
from safetensors.numpy import save_file

from esrgan_tf.inference import state_dicts as convert_lib
from esrgan_tf.models.rrdbnet import RRDBNet

NF, NB, GC = 8, 2, 4  # num_feat, num_block, num_grow_ch


def conv_specs(num_in_ch=3, num_out_ch=3, num_up=2):
    """(original ESRGAN name, BasicSR name, out channels, in channels) per conv."""
    specs = [("conv_first", "conv_first", NF, num_in_ch)]
    for i in range(NB):
        for j in (1, 2, 3):
            for k in (1, 2, 3, 4, 5):
                specs.append(
                    (
                        f"RRDB_trunk.{i}.RDB{j}.conv{k}",
                        f"body.{i}.rdb{j}.conv{k}",
                        GC if k < 5 else NF,
                        NF + (k - 1) * GC,
                    )
                )
    specs.append(("trunk_conv", "conv_body", NF, NF))
    specs += [(f"upconv{u}", f"conv_up{u}", NF, NF) for u in range(1, num_up + 1)]
    specs += [("HRconv", "conv_hr", NF, NF), ("conv_last", "conv_last", num_out_ch, NF)]
    return specs


def make_state_dicts(seed=0, **spec_kwargs):
    """The same random weights as {"esrgan": state dict, "basicsr": state dict}."""
    rng = np.random.default_rng(seed)
    esrgan, basicsr = {}, {}
    for old, new, c_out, c_in in conv_specs(**spec_kwargs):
        # std 1/sqrt(fan_in) keeps activations O(1) through the network.
        w = (rng.standard_normal((c_out, c_in, 3, 3)) / np.sqrt(9 * c_in)).astype(np.float32)
        b = (0.1 * rng.standard_normal(c_out)).astype(np.float32)
        esrgan[old + ".weight"], esrgan[old + ".bias"] = w, b
        basicsr[new + ".weight"], basicsr[new + ".bias"] = w, b
    return {"esrgan": esrgan, "basicsr": basicsr}


def keras_convs(model):
    """BasicSR name -> Conv2D of an RRDBNet, spelled out by hand."""
    convs = {
        "conv_first": model.conv_first,
        "conv_body": model.conv_body,
        "conv_hr": model.conv_hr,
        "conv_last": model.conv_last,
    }
    for i, rrdb in enumerate(model.body.layers):
        for j, rdb in ((1, rrdb.rdb1), (2, rrdb.rdb2), (3, rrdb.rdb3)):
            for k, conv in (
                (1, rdb.conv1),
                (2, rdb.conv2),
                (3, rdb.conv3),
                (4, rdb.conv4),
                (5, rdb.conv5),
            ):
                convs[f"body.{i}.rdb{j}.conv{k}"] = conv
    for u, conv in enumerate(model.up_convs, start=1):
        convs[f"conv_up{u}"] = conv
    return convs


def write(path, state_dict):
    save_file(state_dict, str(path))
    return str(path)


def build(num_in_ch=3, **kwargs):
    model = RRDBNet(num_in_ch=num_in_ch, **kwargs)
    model(np.zeros((1, 8, 8, num_in_ch), np.float32))
    return model


# ---- NumPy reference of the official ESRGAN forward pass (original key names) ----


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


def np_rrdbnet(x, sd, num_up):
    fea = np_conv(x, sd, "conv_first")
    trunk = fea
    for i in range(NB):
        rrdb_in = trunk
        for j in (1, 2, 3):
            feats = [trunk]
            for k in (1, 2, 3, 4):
                feats.append(
                    np_lrelu(
                        np_conv(np.concatenate(feats, -1), sd, f"RRDB_trunk.{i}.RDB{j}.conv{k}")
                    )
                )
            trunk = trunk + 0.2 * np_conv(
                np.concatenate(feats, -1), sd, f"RRDB_trunk.{i}.RDB{j}.conv5"
            )
        trunk = rrdb_in + 0.2 * trunk
    fea = fea + np_conv(trunk, sd, "trunk_conv")
    for u in range(1, num_up + 1):
        fea = np.repeat(np.repeat(fea, 2, axis=1), 2, axis=2)
        fea = np_lrelu(np_conv(fea, sd, f"upconv{u}"))
    return np_conv(np_lrelu(np_conv(fea, sd, "HRconv")), sd, "conv_last")


# ---- Successful conversion ----


@pytest.mark.parametrize("layout", ["esrgan", "basicsr"])
def test_every_variable_is_the_transposed_tensor(tmp_path, layout):
    sds = make_state_dicts()
    out = str(tmp_path / "model.weights.h5")
    convert_lib.convert(write(tmp_path / "in.safetensors", sds[layout]), out)

    # Check the file, not the in-memory model: it is what users get.
    model = build(num_feat=NF, num_block=NB, num_grow_ch=GC, scale=4)
    model.load_weights(out)
    checked = set()
    for name, conv in keras_convs(model).items():
        w, b = sds["basicsr"][name + ".weight"], sds["basicsr"][name + ".bias"]
        np.testing.assert_array_equal(conv.kernel.numpy(), w.transpose(2, 3, 1, 0), name)
        np.testing.assert_array_equal(conv.bias.numpy(), b, name)
        checked |= {id(conv.kernel), id(conv.bias)}
    assert checked == {id(v) for v in model.weights}
    assert len(checked) == len(sds[layout])


@pytest.mark.parametrize("layout,num_up", [("esrgan", 2), ("basicsr", 2), ("esrgan", 1)])
def test_output_matches_numpy_reference(tmp_path, layout, num_up):
    sds = make_state_dicts(seed=1, num_up=num_up)
    model = convert_lib.convert(
        write(tmp_path / "in.safetensors", sds[layout]), str(tmp_path / "out.weights.h5")
    )
    x = np.random.default_rng(2).uniform(size=(1, 12, 12, 3)).astype(np.float32)
    expected = np_rrdbnet(x.astype(np.float64), sds["esrgan"], num_up)
    actual = keras.ops.convert_to_numpy(model(x))
    assert actual.shape == (1, 12 * 2**num_up, 12 * 2**num_up, 3)
    assert np.std(expected) > 0.1  # A non-trivial output, not all-bias.
    assert np.max(np.abs(actual - expected)) <= 1e-4


@pytest.mark.parametrize("layout", ["esrgan", "basicsr"])
@pytest.mark.parametrize("num_up,num_in_ch,num_out_ch", [(1, 3, 3), (2, 1, 1), (3, 4, 3)])
def test_infer_config(layout, num_up, num_in_ch, num_out_ch):
    sd = make_state_dicts(num_in_ch=num_in_ch, num_out_ch=num_out_ch, num_up=num_up)[layout]
    assert convert_lib.infer_config(sd) == dict(
        num_in_ch=num_in_ch,
        num_out_ch=num_out_ch,
        num_feat=NF,
        num_block=NB,
        num_grow_ch=GC,
        scale=2**num_up,
    )


def test_agreeing_overrides_and_scale_3():
    sd = make_state_dicts(num_up=1)["esrgan"]
    config = convert_lib.infer_config(
        sd, num_feat=NF, num_block=NB, num_grow_ch=GC, num_in_ch=3, num_out_ch=3, scale=2
    )
    assert config["scale"] == 2
    # One x3 stage has the same tensors as one x2 stage; only the user can tell.
    assert convert_lib.infer_config(sd, scale=3)["scale"] == 3


@pytest.mark.parametrize(
    "override,fragments",
    [
        (dict(num_feat=16), ["num_feat=16", "conv_first.weight", "(8, 3, 3, 3)", "(16, 3, 3, 3)"]),
        (dict(num_grow_ch=8), ["body.0.rdb1.conv1.weight", "(4, 8, 3, 3)", "(8, 8, 3, 3)"]),
        (dict(num_out_ch=1), ["conv_last.weight", "(3, 8, 3, 3)", "(1, 8, 3, 3)"]),
        (dict(num_block=3), ["num_block=3", "2 RRDBs"]),
        (dict(scale=8), ["scale=8", "2 upsampling"]),
    ],
)
def test_disagreeing_override_fails(tmp_path, override, fragments):
    path = write(tmp_path / "in.safetensors", make_state_dicts()["basicsr"])
    out = tmp_path / "out.weights.h5"
    with pytest.raises(ValueError) as err:
        convert_lib.convert(path, str(out), **override)
    for fragment in fragments:
        assert fragment in str(err.value)
    assert not out.exists()


def test_wrappers_prefer_params_ema():
    good = make_state_dicts(seed=0)["basicsr"]
    other = make_state_dicts(seed=1)["basicsr"]
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


def test_module_prefix_is_removed():
    sd = {"module." + k: v for k, v in make_state_dicts()["esrgan"].items()}
    renamed, layout = convert_lib.canonicalize(sd)
    assert layout == convert_lib.LAYOUT_ESRGAN
    assert renamed.keys() == make_state_dicts()["basicsr"].keys()


# ---- Failures leave no output ----


def assert_only(directory, *names):
    assert sorted(os.listdir(directory)) == sorted(names)


@pytest.mark.parametrize("content", [os.urandom(256), b"just some text\n", b""])
def test_garbage_safetensors(tmp_path, content):
    (tmp_path / "bad.safetensors").write_bytes(content)
    with pytest.raises(ValueError, match="bad.safetensors"):
        convert_lib.convert(str(tmp_path / "bad.safetensors"), str(tmp_path / "o.weights.h5"))
    assert_only(tmp_path, "bad.safetensors")


def test_pth_without_torch_says_how_to_fix(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "torch", None)  # makes `import torch` fail.
    (tmp_path / "m.pth").write_bytes(b"PK\x03\x04 not really a zip")
    with pytest.raises(ImportError, match="pip install torch"):
        convert_lib.convert(str(tmp_path / "m.pth"), str(tmp_path / "o.weights.h5"))
    assert_only(tmp_path, "m.pth")


def test_unknown_input_extension_and_missing_file(tmp_path):
    write(tmp_path / "m.bin", make_state_dicts()["basicsr"])
    with pytest.raises(ValueError, match="extension"):
        convert_lib.convert(str(tmp_path / "m.bin"), str(tmp_path / "o.weights.h5"))
    with pytest.raises(FileNotFoundError):
        convert_lib.convert(str(tmp_path / "nope.pth"), str(tmp_path / "o.weights.h5"))
    assert_only(tmp_path, "m.bin")


@pytest.mark.parametrize("output", ["model.h5", "model.keras", "model.weights"])
def test_output_must_end_with_weights_h5(tmp_path, output):
    path = write(tmp_path / "in.safetensors", make_state_dicts()["basicsr"])
    with pytest.raises(ValueError, match=r"\.weights\.h5"):
        convert_lib.convert(path, str(tmp_path / output))
    assert_only(tmp_path, "in.safetensors")


def test_output_is_the_input(tmp_path):
    path = write(tmp_path / "in.safetensors", make_state_dicts()["basicsr"])
    before = (tmp_path / "in.safetensors").read_bytes()
    os.symlink(path, tmp_path / "alias.weights.h5")
    with pytest.raises(ValueError, match="same file"):
        convert_lib.convert(path, str(tmp_path / "alias.weights.h5"))
    assert (tmp_path / "in.safetensors").read_bytes() == before


def broken(kind):
    sd = dict(make_state_dicts()["esrgan"])
    if kind == "missing":
        del sd["RRDB_trunk.1.RDB2.conv3.bias"]
    elif kind == "unexpected":
        sd["RRDB_trunk.0.RDB1.conv6.weight"] = np.zeros((4, 8, 3, 3), np.float32)
    elif kind == "shape":
        sd["HRconv.weight"] = np.zeros((8, 8, 1, 1), np.float32)
    elif kind == "mixed":
        sd["body.0.rdb1.conv1.weight"] = sd["RRDB_trunk.0.RDB1.conv1.weight"]
    return sd


@pytest.mark.parametrize(
    "kind,fragments",
    [
        ("missing", ["missing", "RRDB_trunk.1.RDB2.conv3.bias"]),
        ("unexpected", ["unexpected", "RRDB_trunk.0.RDB1.conv6.weight"]),
        ("shape", ["HRconv.weight", "(8, 8, 1, 1)", "(8, 8, 3, 3)"]),
        ("mixed", ["mixes", "body.0.rdb1.conv1.weight"]),
    ],
)
def test_bad_state_dict_fails_and_writes_nothing(tmp_path, kind, fragments):
    out = tmp_path / "out.weights.h5"
    out.write_bytes(b"previous output")
    path = write(tmp_path / "in.safetensors", broken(kind))
    with pytest.raises(ValueError) as err:
        convert_lib.convert(path, str(out))
    for fragment in fragments:
        assert fragment in str(err.value)
    assert out.read_bytes() == b"previous output"
    assert_only(tmp_path, "in.safetensors", "out.weights.h5")


def test_load_is_all_or_nothing():
    model = build(num_feat=NF, num_block=NB, num_grow_ch=GC, scale=4)
    before = [v.numpy().copy() for v in model.weights]
    sd = make_state_dicts(seed=3)["basicsr"]
    sd["conv_last.weight"] = np.zeros((3, 8, 5, 5), np.float32)  # the very last conv.
    with pytest.raises(ValueError, match="nothing was loaded"):
        convert_lib.load_into_rrdbnet(model, sd)
    for old, variable in zip(before, model.weights):
        np.testing.assert_array_equal(old, variable.numpy())


@pytest.mark.parametrize("factor,scale", [(4, 2), (16, 1)])
def test_pixel_unshuffle_variant_is_refused(tmp_path, factor, scale):
    sd = make_state_dicts(num_in_ch=3 * factor)["basicsr"]
    with pytest.raises(NotImplementedError, match=f"pixel-unshuffle.*scale {scale}"):
        convert_lib.infer_config(sd)
    path = write(tmp_path / "x2plus.safetensors", sd)
    with pytest.raises(NotImplementedError):
        convert_lib.convert(path, str(tmp_path / "o.weights.h5"))
    assert_only(tmp_path, "x2plus.safetensors")


def test_not_an_rrdbnet(tmp_path):
    path = write(tmp_path / "vgg.safetensors", {"features.0.weight": np.zeros((4, 3, 3, 3))})
    with pytest.raises(ValueError, match="conv_first.weight"):
        convert_lib.convert(path, str(tmp_path / "o.weights.h5"))


def test_failed_save_leaves_no_temporary(tmp_path, monkeypatch):
    def save_half_then_fail(self, path, *args, **kwargs):
        with open(path, "wb") as f:
            f.write(b"partial")
        raise OSError("disk full")

    monkeypatch.setattr(RRDBNet, "save_weights", save_half_then_fail)
    path = write(tmp_path / "in.safetensors", make_state_dicts()["basicsr"])
    with pytest.raises(OSError, match="disk full"):
        convert_lib.convert(path, str(tmp_path / "out.weights.h5"))
    assert_only(tmp_path, "in.safetensors")
