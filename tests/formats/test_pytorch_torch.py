"""PyTorch networks written here and in benchmarks/torch_reference.py (ESRGAN's RRDBNet in
its three layouts and BasicSR's pixel-unshuffle variant, Real-ESRGAN's SRVGGNetCompact)
against their converted Keras models.

Skipped when torch is not installed (`pip install torch`); the rest of the suite
does not need it.
"""

import io
import os
import re
import zipfile

import keras
import numpy as np
import pytest

torch = pytest.importorskip("torch")
from torch import nn  # noqa: E402
from torch.nn import functional as F  # noqa: E402

from benchmarks.speed import torch_reference  # noqa: E402
from esrgan_tf.formats import generators  # noqa: E402
from esrgan_tf.formats import pytorch as convert_lib  # noqa: E402
from esrgan_tf.models.builders import built_generator  # noqa: E402
from esrgan_tf.models.config import ModelConfig  # noqa: E402

NF, NB, GC = 8, 2, 4  # num_feat, num_block, num_grow_ch


# ---- PyTorch RRDBNet, ESRGAN §3.1 / Fig. 4, with the original release's names: the one
# that benchmarks/torch_reference.py times, at this file's tiny size ----


class TorchRRDBNet(torch_reference.TorchRRDBNet):
    def __init__(self, in_nc=3, out_nc=3, nf=NF, nb=NB, gc=GC, num_up=2):
        super().__init__(in_nc, out_nc, nf, nb, gc, num_up)


def to_basicsr(state_dict):
    """Original ESRGAN key names -> BasicSR key names, by plain string edits."""
    renamed = {}
    for key, value in state_dict.items():
        for old, new in (
            ("RRDB_trunk.", "body."),
            (".RDB1.", ".rdb1."),
            (".RDB2.", ".rdb2."),
            (".RDB3.", ".rdb3."),
            ("trunk_conv.", "conv_body."),
            ("upconv", "conv_up"),
            ("HRconv.", "conv_hr."),
        ):
            key = key.replace(old, new)
        renamed[key] = value
    return renamed


class UnshuffleRRDBNet(TorchRRDBNet):
    """BasicSR's x2 / x1 RRDBNet: pixel-unshuffle the input by 4 / scale, then the x4 net."""

    def __init__(self, scale, nb=NB):
        super().__init__(in_nc=3 * (4 // scale) ** 2, nb=nb, num_up=2)
        self.factor = 4 // scale

    def forward(self, x):
        return super().forward(F.pixel_unshuffle(x, self.factor))


# ---- The old ESRGAN architecture of the community models, as its modules nest ----


class OldDenseBlock(nn.Module):
    """conv1..conv4 are Sequential(conv, LeakyReLU), conv5 Sequential(conv): keys convk.0."""

    def __init__(self, nf, gc):
        super().__init__()
        act = nn.LeakyReLU(0.2)
        for k in range(1, 5):
            setattr(self, f"conv{k}", nn.Sequential(nn.Conv2d(nf + (k - 1) * gc, gc, 3, 1, 1), act))
        self.conv5 = nn.Sequential(nn.Conv2d(nf + 4 * gc, nf, 3, 1, 1))

    def forward(self, x):
        feats = [x]
        for k in range(1, 5):
            feats.append(getattr(self, f"conv{k}")(torch.cat(feats, 1)))
        return x + 0.2 * self.conv5(torch.cat(feats, 1))


class OldRRDB(nn.Module):
    def __init__(self, nf, gc):
        super().__init__()
        self.RDB1, self.RDB2, self.RDB3 = (OldDenseBlock(nf, gc) for _ in range(3))

    def forward(self, x):
        return x + 0.2 * self.RDB3(self.RDB2(self.RDB1(x)))


class Shortcut(nn.Module):
    def __init__(self, sub):
        super().__init__()
        self.sub = sub

    def forward(self, x):
        return x + self.sub(x)


def old_arch_net(num_up, nb=NB):
    """model = [conv, Shortcut([RRDBs, conv]), (upsample, conv, lrelu) x num_up, conv, lrelu,
    conv], so the keys are model.0, model.1.sub.*, model.3, 6, ..., model.<3u+2>, <3u+4>."""
    layers = [
        nn.Conv2d(3, NF, 3, 1, 1),
        Shortcut(nn.Sequential(*(OldRRDB(NF, GC) for _ in range(nb)), nn.Conv2d(NF, NF, 3, 1, 1))),
    ]
    for _ in range(num_up):
        layers += [
            nn.Upsample(scale_factor=2, mode="nearest"),
            nn.Conv2d(NF, NF, 3, 1, 1),
            nn.LeakyReLU(0.2),
        ]
    layers += [nn.Conv2d(NF, NF, 3, 1, 1), nn.LeakyReLU(0.2), nn.Conv2d(NF, 3, 3, 1, 1)]

    class OldArch(nn.Module):
        def __init__(self):
            super().__init__()
            self.model = nn.Sequential(*layers)

        def forward(self, x):
            return self.model(x)

    return OldArch()


# ---- Real-ESRGAN's SRVGGNetCompact, as its release describes it ----


class TorchSRVGG(nn.Module):
    def __init__(self, nf=NF, num_conv=3, scale=4):
        super().__init__()
        body = [nn.Conv2d(3, nf, 3, 1, 1), nn.PReLU(num_parameters=nf)]
        for _ in range(num_conv):
            body += [nn.Conv2d(nf, nf, 3, 1, 1), nn.PReLU(num_parameters=nf)]
        body.append(nn.Conv2d(nf, 3 * scale * scale, 3, 1, 1))
        self.body = nn.ModuleList(body)
        self.scale = scale

    def forward(self, x):
        out = x
        for layer in self.body:
            out = layer(out)
        out = F.pixel_shuffle(out, self.scale)
        return out + F.interpolate(x, scale_factor=self.scale, mode="nearest")


def randomised(net, seed):
    """`net` in eval mode with random weights (PReLU slopes too, so they matter)."""
    torch.manual_seed(seed)
    with torch.no_grad():
        for p in net.parameters():
            p.uniform_(-0.3, 0.3)
    return net.eval()


def torch_net(seed, num_up=2):
    torch.manual_seed(seed)
    return TorchRRDBNet(num_up=num_up).eval()


def compare(net, state, tmp_path, size=(12, 16)):
    """Saves `state` as a .pth, converts it, and compares the Keras output with `net`'s."""
    torch.save(state, tmp_path / "net.pth")
    loaded = generators.convert(str(tmp_path / "net.pth"), str(tmp_path / "net.weights.h5"))
    model, config = loaded.model, loaded.config
    assert model.count_params() == sum(p.numel() for p in net.parameters())
    x = np.random.default_rng(0).uniform(size=(1, *size, 3)).astype(np.float32)
    with torch.no_grad():
        expected = net(torch.from_numpy(x.transpose(0, 3, 1, 2))).numpy().transpose(0, 2, 3, 1)
    reloaded = built_generator(config)  # the written file, not the in-memory model
    reloaded.load_weights(str(tmp_path / "net.weights.h5"))
    for keras_model in (model, reloaded):
        actual = keras.ops.convert_to_numpy(keras_model(x))
        assert actual.shape == expected.shape
        assert np.max(np.abs(actual - expected)) <= 1e-4
    return config


@pytest.mark.slow
@pytest.mark.parametrize("layout,num_up", [("esrgan", 2), ("basicsr", 2), ("esrgan", 3)])
def test_rrdbnet_matches_pytorch(tmp_path, layout, num_up):
    net = torch_net(0, num_up)
    state = net.state_dict()
    if layout == "basicsr":
        # As Real-ESRGAN releases it: EMA weights next to (here different) raw weights.
        state = {
            "params_ema": to_basicsr(state),
            "params": to_basicsr(torch_net(1, num_up).state_dict()),
        }
    config = compare(net, state, tmp_path)
    assert config.scale == 2**num_up and config.num_block == NB


@pytest.mark.slow
def test_six_block_rrdbnet_like_x4plus_anime(tmp_path):
    torch.manual_seed(2)
    net = TorchRRDBNet(nb=6).eval()
    assert compare(net, {"params_ema": to_basicsr(net.state_dict())}, tmp_path).num_block == 6


@pytest.mark.slow
@pytest.mark.parametrize("scale", [2, 1])
def test_pixel_unshuffle_x2plus_and_x1_match_pytorch(tmp_path, scale):
    net = randomised(UnshuffleRRDBNet(scale), 3)
    config = compare(net, {"params_ema": to_basicsr(net.state_dict())}, tmp_path, (16, 24))
    assert config.unshuffle and config.scale == scale


@pytest.mark.slow
@pytest.mark.parametrize("num_up", [0, 1, 2, 3])
def test_old_arch_matches_pytorch(tmp_path, num_up):
    net = randomised(old_arch_net(num_up), 4)
    assert "model.1.sub.0.RDB1.conv1.0.weight" in net.state_dict()
    config = compare(net, net.state_dict(), tmp_path)
    assert config.scale == 2**num_up and not config.unshuffle


@pytest.mark.parametrize("scale", [4, 2])
def test_srvgg_compact_matches_pytorch(tmp_path, scale):
    net = randomised(TorchSRVGG(scale=scale), 5)
    assert "body.1.weight" in net.state_dict()  # the PReLU slopes
    config = compare(net, {"params": net.state_dict()}, tmp_path)
    assert config.generator == "srvgg" and config.num_conv == 3 and config.scale == scale


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
def test_half_precision_checkpoints(tmp_path, dtype):
    state = {k: v.to(dtype) for k, v in to_basicsr(torch_net(0).state_dict()).items()}
    torch.save(state, tmp_path / "half.pth")
    model = generators.convert(str(tmp_path / "half.pth"), str(tmp_path / "half.weights.h5")).model
    np.testing.assert_array_equal(
        model.conv_hr.kernel.numpy(), state["conv_hr.weight"].float().numpy().transpose(2, 3, 1, 0)
    )


def zip_not_torch():
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("readme.txt", "hello")
    return buffer.getvalue()


@pytest.mark.parametrize(
    "content",
    [os.urandom(256), b"plain text\n", b"", zip_not_torch()],
    ids=["random", "text", "empty", "zip"],  # fixed ids: the same tests in every xdist worker
)
def test_garbage_pth(tmp_path, content):
    (tmp_path / "bad.pth").write_bytes(content)
    with pytest.raises(ValueError, match="bad.pth"):
        generators.convert(str(tmp_path / "bad.pth"), str(tmp_path / "o.weights.h5"))
    assert os.listdir(tmp_path) == ["bad.pth"]


def test_pickled_module_is_refused(tmp_path):
    # A whole pickled nn.Module would run arbitrary code to load; weights_only refuses.
    torch.save(torch_net(0), tmp_path / "module.pth")
    with pytest.raises(ValueError, match="module.pth"):
        convert_lib.load_state_dict(str(tmp_path / "module.pth"))


@pytest.mark.parametrize(
    "obj",
    [
        [torch.zeros(3)],
        {"params": [torch.zeros(3)]},
        {"conv_first.weight": torch.zeros(3), "iter": 5},
    ],
)
def test_not_a_state_dict(tmp_path, obj):
    torch.save(obj, tmp_path / "odd.pth")
    with pytest.raises(ValueError, match="odd.pth"):
        convert_lib.load_state_dict(str(tmp_path / "odd.pth"))


# ---- Written .pth files in PyTorch: what chaiNNer, ComfyUI and BasicSR load ----


def from_basicsr(state_dict):
    """BasicSR key names -> the ESRGAN release's (TorchRRDBNet's)."""
    rules = (
        (r"^body\.(\d+)\.rdb(\d)\.", r"RRDB_trunk.\1.RDB\2."),
        (r"^conv_body\.", "trunk_conv."),
        (r"^conv_up(\d)\.", r"upconv\1."),
        (r"^conv_hr\.", "HRconv."),
    )
    renamed = {}
    for key, value in state_dict.items():
        for pattern, replacement in rules:
            key = re.sub(pattern, replacement, key)
        renamed[key] = value
    return renamed


WRITTEN = {
    "rrdbnet x4 basicsr": (lambda: TorchRRDBNet(), {}, "basicsr"),
    "x2plus basicsr": (lambda: UnshuffleRRDBNet(2), {"scale": 2, "unshuffle": True}, "basicsr"),
    "rrdbnet x2 old_arch": (lambda: old_arch_net(1), {"scale": 2}, "old_arch"),
    "srvgg x4 basicsr": (lambda: TorchSRVGG(), {"generator": "srvgg", "num_conv": 3}, "basicsr"),
}


@pytest.mark.parametrize("case", list(WRITTEN))
def test_written_pth_runs_in_pytorch_as_in_keras(tmp_path, case):
    make_net, architecture, layout = WRITTEN[case]
    config = ModelConfig(num_feat=NF, num_block=NB, num_grow_ch=GC, **architecture)
    keras.utils.set_random_seed(9)
    model = built_generator(config)
    for variable in model.weights:  # larger than the init, so every tensor matters
        variable.assign(
            np.random.default_rng(len(variable.path)).uniform(-0.3, 0.3, variable.shape)
        )
    convert_lib.save(model, str(tmp_path / "out.pth"), layout)
    state = torch.load(tmp_path / "out.pth", weights_only=True)
    if layout == "basicsr":
        assert list(state) == ["params_ema"]
        state = state["params_ema"]
        if config.generator == "rrdbnet":
            state = from_basicsr(state)
    net = make_net().eval()
    net.load_state_dict(state, strict=True)
    x = np.random.default_rng(0).uniform(size=(1, 16, 24, 3)).astype(np.float32)
    with torch.no_grad():
        expected = net(torch.from_numpy(x.transpose(0, 3, 1, 2))).numpy().transpose(0, 2, 3, 1)
    actual = keras.ops.convert_to_numpy(model(x))
    assert actual.shape == expected.shape
    assert np.std(expected) > 0.01
    assert np.max(np.abs(actual - expected)) <= 1e-4
