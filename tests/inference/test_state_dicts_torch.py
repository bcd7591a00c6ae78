"""Converts a PyTorch RRDBNet written here from the ESRGAN paper and compares outputs.

Skipped when torch is not installed (`pip install torch`); the rest of the suite
does not need it.
"""

import io
import os
import zipfile

import keras
import numpy as np
import pytest

torch = pytest.importorskip("torch")
from torch import nn  # noqa: E402
from torch.nn import functional as F  # noqa: E402

from esrgan_tf.inference import state_dicts as convert_lib  # noqa: E402

NF, NB, GC = 8, 2, 4  # num_feat, num_block, num_grow_ch


# ---- PyTorch RRDBNet, ESRGAN §3.1 / Fig. 4, with the original release's names ----


class DenseBlock(nn.Module):
    """Five 3x3 convs, each seeing the block input and all earlier outputs."""

    def __init__(self, nf, gc):
        super().__init__()
        self.conv1 = nn.Conv2d(nf, gc, 3, padding=1)
        self.conv2 = nn.Conv2d(nf + gc, gc, 3, padding=1)
        self.conv3 = nn.Conv2d(nf + 2 * gc, gc, 3, padding=1)
        self.conv4 = nn.Conv2d(nf + 3 * gc, gc, 3, padding=1)
        self.conv5 = nn.Conv2d(nf + 4 * gc, nf, 3, padding=1)

    def forward(self, x):
        feats = [x]
        for conv in (self.conv1, self.conv2, self.conv3, self.conv4):
            feats.append(F.leaky_relu(conv(torch.cat(feats, 1)), 0.2))
        return x + 0.2 * self.conv5(torch.cat(feats, 1))  # residual scaling β = 0.2


class RRDBlock(nn.Module):
    def __init__(self, nf, gc):
        super().__init__()
        self.RDB1, self.RDB2, self.RDB3 = (DenseBlock(nf, gc) for _ in range(3))

    def forward(self, x):
        return x + 0.2 * self.RDB3(self.RDB2(self.RDB1(x)))


class TorchRRDBNet(nn.Module):
    def __init__(self, in_nc=3, out_nc=3, nf=NF, nb=NB, gc=GC, num_up=2):
        super().__init__()
        self.num_up = num_up
        self.conv_first = nn.Conv2d(in_nc, nf, 3, padding=1)
        self.RRDB_trunk = nn.Sequential(*(RRDBlock(nf, gc) for _ in range(nb)))
        self.trunk_conv = nn.Conv2d(nf, nf, 3, padding=1)
        for u in range(1, num_up + 1):
            setattr(self, f"upconv{u}", nn.Conv2d(nf, nf, 3, padding=1))
        self.HRconv = nn.Conv2d(nf, nf, 3, padding=1)
        self.conv_last = nn.Conv2d(nf, out_nc, 3, padding=1)

    def forward(self, x):
        fea = self.conv_first(x)
        fea = fea + self.trunk_conv(self.RRDB_trunk(fea))
        for u in range(1, self.num_up + 1):
            up = F.interpolate(fea, scale_factor=2, mode="nearest")
            fea = F.leaky_relu(getattr(self, f"upconv{u}")(up), 0.2)
        return self.conv_last(F.leaky_relu(self.HRconv(fea), 0.2))


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


def torch_net(seed, num_up=2):
    torch.manual_seed(seed)
    return TorchRRDBNet(num_up=num_up).eval()


@pytest.mark.parametrize("layout,num_up", [("esrgan", 2), ("basicsr", 2), ("esrgan", 3)])
def test_keras_output_matches_pytorch(tmp_path, layout, num_up):
    net = torch_net(0, num_up)
    state = net.state_dict()
    if layout == "basicsr":
        # As Real-ESRGAN releases it: EMA weights next to (here different) raw weights.
        state = {
            "params_ema": to_basicsr(state),
            "params": to_basicsr(torch_net(1, num_up).state_dict()),
        }
    torch.save(state, tmp_path / "net.pth")

    model = convert_lib.convert(str(tmp_path / "net.pth"), str(tmp_path / "net.weights.h5"))
    assert model.scale == 2**num_up and model.num_block == NB
    assert model.count_params() == sum(p.numel() for p in net.parameters())

    x = np.random.default_rng(0).uniform(size=(1, 12, 12, 3)).astype(np.float32)
    with torch.no_grad():
        expected = net(torch.from_numpy(x.transpose(0, 3, 1, 2))).numpy().transpose(0, 2, 3, 1)
    reloaded = type(model)(
        **{
            k: getattr(model, k)
            for k in ("num_in_ch", "num_out_ch", "num_feat", "num_block", "num_grow_ch", "scale")
        }
    )
    reloaded(x)
    reloaded.load_weights(str(tmp_path / "net.weights.h5"))
    for keras_model in (model, reloaded):
        actual = keras.ops.convert_to_numpy(keras_model(x))
        assert actual.shape == expected.shape
        assert np.max(np.abs(actual - expected)) <= 1e-4


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
def test_half_precision_checkpoints(tmp_path, dtype):
    state = {k: v.to(dtype) for k, v in to_basicsr(torch_net(0).state_dict()).items()}
    torch.save(state, tmp_path / "half.pth")
    model = convert_lib.convert(str(tmp_path / "half.pth"), str(tmp_path / "half.weights.h5"))
    np.testing.assert_array_equal(
        model.conv_hr.kernel.numpy(), state["conv_hr.weight"].float().numpy().transpose(2, 3, 1, 0)
    )


def zip_not_torch():
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("readme.txt", "hello")
    return buffer.getvalue()


@pytest.mark.parametrize("content", [os.urandom(256), b"plain text\n", b"", zip_not_torch()])
def test_garbage_pth(tmp_path, content):
    (tmp_path / "bad.pth").write_bytes(content)
    with pytest.raises(ValueError, match="bad.pth"):
        convert_lib.convert(str(tmp_path / "bad.pth"), str(tmp_path / "o.weights.h5"))
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
