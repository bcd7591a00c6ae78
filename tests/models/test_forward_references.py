"""Numeric forward references: SRResNet (with and without BN), the two VGG-style
discriminators and the U-Net discriminator, as test_rrdbnet / test_state_dicts_torch have
for RRDBNet.

Each tiny Keras model, with random non-trivial weights (and BN moving statistics), is
compared with
  * an independent NumPy forward pass written from the papers' layer lists with
    PyTorch's conventions: explicit symmetric zero padding (Conv2d's `padding=`),
    bilinear x2 with align_corners=False, spectral norm W / (u^T W v) with PyTorch's
    power iteration; always run;
  * PyTorch modules written here, with the Keras weights copied in (skipped without
    torch).
Layer lists: SRGAN Fig. 4 (generator; discriminator with 3x3 strided convs and a
1024-unit dense layer), ESRGAN's discriminator_VGG_128 as BasicSR's VGGStyleDiscriminator
(4x4 stride-2 convs with padding 1, 100 units), Real-ESRGAN's UNetDiscriminatorSN (4x4
stride-2 convs with padding 1, spectral norm on conv1..conv8, no bias on them).
"""

import keras
import numpy as np
import pytest

from esrgan_tf.models.discriminators import UNetDiscriminatorSN, VGGStyleDiscriminator
from esrgan_tf.models.srresnet import SRResNet

KerasSpectralNormalization = keras.layers.SpectralNormalization

# Keras padding='same' on a 3x3 stride-2 conv of an even input would pad 0 rows/columns at
# the top/left and 1 at the bottom/right, where PyTorch's Conv2d(3, stride=2, padding=1)
# pads 1 on each side: the references here pad the PyTorch way, which the models follow.


def assert_close(actual, expected, rtol=1e-5):
    """max |actual - expected| <= rtol * max |expected| (relative to the array's scale)."""
    actual, expected = np.asarray(actual, np.float64), np.asarray(expected, np.float64)
    assert actual.shape == expected.shape
    error = np.abs(actual - expected).max() / np.abs(expected).max()
    assert error <= rtol, f"relative error {error:.2e} > {rtol:.0e}"


# ---- NumPy layers, PyTorch semantics, NHWC and Keras kernel layouts -----------------------


def conv(x, kernel, bias=None, stride=1, padding=0):
    """torch's Conv2d(k, stride, padding): zero-pad `padding` on every side, then a valid
    strided correlation. kernel: [k, k, in, out]."""
    k = kernel.shape[0]
    x = np.pad(x, ((0, 0), (padding, padding), (padding, padding), (0, 0)))
    oh, ow = (x.shape[1] - k) // stride + 1, (x.shape[2] - k) // stride + 1
    windows = [
        x[:, i : i + stride * (oh - 1) + 1 : stride, j : j + stride * (ow - 1) + 1 : stride]
        for i in range(k)
        for j in range(k)
    ]
    y = np.einsum("nhwkc,kco->nhwo", np.stack(windows, 3), kernel.reshape(k * k, *kernel.shape[2:]))
    return y if bias is None else y + bias


def lrelu(x):
    return np.where(x >= 0, x, 0.2 * x)


def prelu(x, alpha):
    return np.where(x >= 0, x, alpha.reshape(-1) * x)  # one slope per channel


def batch_norm(x, gamma, beta, mean, variance, eps=1e-5):
    """Inference-mode BN with the moving statistics (torch's BatchNorm2d.eval, eps 1e-5)."""
    return (x - mean) / np.sqrt(variance + eps) * gamma + beta


def pixel_shuffle(x, r):
    """out[y*r + dy, x*r + dx, c] = in[y, x, (dy*r + dx)*C + c]: TF's depth_to_space order.

    PyTorch's PixelShuffle reads channel c*r*r + dy*r + dx instead: the same layer up to a
    permutation of the preceding conv's output channels (`torch_shuffle_order`).
    """
    n, h, w, channels = x.shape
    c = channels // (r * r)
    return x.reshape(n, h, w, r, r, c).transpose(0, 1, 3, 2, 4, 5).reshape(n, h * r, w * r, c)


def upsample_bilinear_x2(x):
    """torch's F.interpolate(scale_factor=2, mode='bilinear', align_corners=False)."""

    def taps(n):
        # Source coordinate of output i: (i + 0.5) / 2 - 0.5, negative ones clamped to 0.
        src = np.maximum((np.arange(2 * n) + 0.5) / 2 - 0.5, 0.0)
        lo = np.floor(src).astype(int)
        return lo, np.minimum(lo + 1, n - 1), src - lo

    lo, hi, t = taps(x.shape[1])
    x = x[:, lo] * (1 - t)[None, :, None, None] + x[:, hi] * t[None, :, None, None]
    lo, hi, t = taps(x.shape[2])
    return x[:, :, lo] * (1 - t)[None, None, :, None] + x[:, :, hi] * t[None, None, :, None]


def torch_matrix(kernel):
    """[k, k, in, out] -> torch's weight.view(out, -1) (columns over in, kh, kw)."""
    return kernel.transpose(3, 2, 0, 1).reshape(kernel.shape[-1], -1)


def normalize(x, eps=1e-12):
    return x / max(np.linalg.norm(x), eps)


def power_iteration(kernel, u):
    """torch's spectral_norm in training mode: one step from the stored u -> (u, v)."""
    matrix = torch_matrix(kernel)
    v = normalize(matrix.T @ u)
    return normalize(matrix @ v), v


def spectrally_normalized(kernel, u, v):
    """torch's spectral_norm in eval mode: W / (u^T W v) with the stored u and v."""
    return kernel / (u @ torch_matrix(kernel) @ v)


# ---- NumPy forward passes ------------------------------------------------------------------


def srresnet_reference(x, p, use_bn):
    """SRGAN Fig. 4 generator: k9n64 + PReLU; B residual blocks (k3n64, [BN], PReLU, k3n64,
    [BN], + identity); k3n64, [BN], + the long skip; per x2: k3n256, PixelShuffler x2,
    PReLU; k9n3. Paddings keep the size (4 for 9x9, 1 for 3x3)."""
    feat = prelu(conv(x, *p["conv_first"], padding=4), p["prelu_first"])
    h = feat
    for block in p["blocks"]:
        y = conv(h, *block["conv1"], padding=1)
        if use_bn:
            y = batch_norm(y, *block["bn1"])
        y = conv(prelu(y, block["prelu"]), *block["conv2"], padding=1)
        if use_bn:
            y = batch_norm(y, *block["bn2"])
        h = h + y
    body = conv(h, *p["conv_body"], padding=1)
    if use_bn:
        body = batch_norm(body, *p["bn_body"])
    h = feat + body
    for up in p["ups"]:
        h = prelu(pixel_shuffle(conv(h, *up["conv"], padding=1), up["factor"]), up["prelu"])
    return conv(h, *p["conv_last"], padding=4)


def vgg_reference(x, p, num_stages, strided_kernel):
    """Stage i: conv3x3 stride 1 and conv (strided_kernel) stride 2, both padding 1 (BasicSR's
    VGGStyleDiscriminator; the usual PyTorch SRGAN discriminators), BN after every conv but
    the first, LeakyReLU 0.2; flatten, dense, LeakyReLU 0.2, dense(1)."""
    h = x
    for i in range(num_stages):
        for j, stride in enumerate((1, 2)):
            layer = p[f"conv{i}_{j}"]
            h = conv(h, layer["kernel"], layer.get("bias"), stride=stride, padding=1)
            if f"bn{i}_{j}" in p:
                h = batch_norm(h, *p[f"bn{i}_{j}"])
            h = lrelu(h)
    # Flattened in NHWC order as Keras's Flatten does; torch flattens NCHW, which is a
    # permutation of dense1's input rows (`torch_vgg` permutes them when copying).
    h = lrelu(h.reshape(h.shape[0], -1) @ p["dense1"][0] + p["dense1"][1])
    return h @ p["dense2"][0] + p["dense2"][1]


def unet_reference(x, p, skip_connection=True):
    """Real-ESRGAN's UNetDiscriminatorSN.forward; p holds W_sn for conv1..conv8."""
    x0 = lrelu(conv(x, *p["conv0"], padding=1))
    x1 = lrelu(conv(x0, p["conv1"], stride=2, padding=1))
    x2 = lrelu(conv(x1, p["conv2"], stride=2, padding=1))
    x3 = lrelu(conv(x2, p["conv3"], stride=2, padding=1))
    y = lrelu(conv(upsample_bilinear_x2(x3), p["conv4"], padding=1))
    if skip_connection:
        y = y + x2
    y = lrelu(conv(upsample_bilinear_x2(y), p["conv5"], padding=1))
    if skip_connection:
        y = y + x1
    y = lrelu(conv(upsample_bilinear_x2(y), p["conv6"], padding=1))
    if skip_connection:
        y = y + x0
    y = lrelu(conv(y, p["conv7"], padding=1))
    y = lrelu(conv(y, p["conv8"], padding=1))
    return conv(y, *p["conv9"], padding=1)


# ---- Keras models with random non-trivial weights, and their weights as NumPy --------------


def randomize(model, seed=0):
    """Random weights everywhere, BN moving statistics far from (0, 1), PReLU slopes
    per channel; kernels scaled by 1/sqrt(fan_in) so activations stay O(1)."""
    rng = np.random.default_rng(seed)
    for w in model.weights:
        shape = tuple(w.shape)
        name = w.path.rsplit("/", 1)[-1]
        if name == "kernel":
            value = rng.normal(size=shape) / np.sqrt(np.prod(shape[:-1]))
        elif name in ("gamma", "moving_variance"):
            value = rng.uniform(0.5, 2.0, size=shape)
        elif name == "alpha":
            value = rng.uniform(0.05, 0.5, size=shape)
        elif name in ("vector_u", "u", "v"):
            continue  # spectral norm state is set by the U-Net tests
        else:  # bias, beta, moving_mean
            value = 0.3 * rng.normal(size=shape)
        w.assign(value)


def numpy_of(layer):
    return [w.numpy().astype(np.float64) for w in layer.weights]


def bn_of(layer):
    # gamma, beta, moving mean, moving variance: Keras's weight order.
    return numpy_of(layer)


def srresnet_params(model):
    p = {"conv_first": numpy_of(model.conv_first), "prelu_first": numpy_of(model.act_first)[0]}
    p["blocks"] = [
        {
            "conv1": numpy_of(block.conv1),
            "bn1": bn_of(block.bn1) if block.use_bn else None,
            "prelu": numpy_of(block.act)[0],
            "conv2": numpy_of(block.conv2),
            "bn2": bn_of(block.bn2) if block.use_bn else None,
        }
        for block in model.body.layers
    ]
    p["conv_body"] = numpy_of(model.conv_body)
    p["bn_body"] = bn_of(model.bn_body) if model.use_bn else None
    p["ups"] = [
        {"conv": numpy_of(up.conv), "prelu": numpy_of(up.act)[0], "factor": up.factor}
        for up in model.upsamplers.layers
    ]
    p["conv_last"] = numpy_of(model.conv_last)
    return p


def vgg_params(model):
    p = {}
    for layer in model.features.layers:
        if layer.name.startswith("conv"):
            weights = numpy_of(layer)
            p[layer.name] = {
                "kernel": weights[0],
                **({"bias": weights[1]} if layer.use_bias else {}),
            }
        elif layer.name.startswith("bn"):
            p[layer.name] = bn_of(layer)
    p["dense1"], p["dense2"] = numpy_of(model.dense1), numpy_of(model.dense2)
    return p


SRRESNET_CASES = {"bn": True, "no_bn": False}
# (input size, strided kernel, dense units): ESRGAN's discriminator_VGG_128; SRGAN Fig. 4.
VGG_CASES = {
    "esrgan_4x4_100": (128, 4, 100),
    "srgan_3x3_1024": pytest.param((96, 3, 1024)),
}


def make_srresnet(use_bn):
    model = SRResNet(num_feat=4, num_block=2, scale=4, use_bn=use_bn)
    x = np.random.default_rng(1).random((2, 6, 5, 3))
    model(x.astype(np.float32))
    randomize(model)
    return model, x


def make_vgg(case):
    size, strided_kernel, dense_units = case
    model = VGGStyleDiscriminator(
        size, num_feat=2, strided_kernel=strided_kernel, dense_units=dense_units
    )
    x = np.random.default_rng(1).random((2, size, size, 3))
    model(x.astype(np.float32))
    randomize(model)
    return model, x


@pytest.mark.parametrize("use_bn", SRRESNET_CASES.values(), ids=SRRESNET_CASES.keys())
def test_srresnet_matches_numpy(use_bn):
    model, x = make_srresnet(use_bn)
    expected = srresnet_reference(x, srresnet_params(model), use_bn)
    assert expected.shape == (2, 24, 20, 3)
    assert_close(model(x.astype(np.float32), training=False), expected)


@pytest.mark.parametrize("case", VGG_CASES.values(), ids=VGG_CASES.keys())
def test_vgg_discriminator_matches_numpy(case):
    model, x = make_vgg(case)
    expected = vgg_reference(x, vgg_params(model), model.num_stages, model.strided_kernel)
    assert_close(model(x.astype(np.float32), training=False), expected)


# ---- the U-Net: spectral norm state ----------------------------------------------------------
# `set_sn_start` and `stored_u` are the only code that knows which wrapper the U-Net uses.
# keras.layers.SpectralNormalization (today) keeps u as `vector_u` [1, out], and a training
# call overwrites its kernel with W / sigma, which inference then uses as is; esrgan_tf's
# SpectralNorm keeps u [out] and v, its kernel stays W and inference divides by u^T W v.
# After one training call from the same W and u both give torch's W / sigma (and the same
# u), so the references below hold for both.

SN_CONVS = [f"conv{i}" for i in range(1, 9)]


def set_sn_start(layer, kernel, u):
    """The raw W and the stored u that the next training call iterates from."""
    layer.layer.kernel.assign(kernel)
    if isinstance(layer, KerasSpectralNormalization):
        layer.vector_u.assign(u[None])
    else:
        layer.u.assign(u)


def stored_u(layer):
    if isinstance(layer, KerasSpectralNormalization):
        return layer.vector_u.numpy()[0]
    return layer.u.numpy()


def make_unet(seed=0):
    """A tiny U-Net with random weights; its SN convs' raw W and starting u (float64)."""
    model = UNetDiscriminatorSN(num_feat=4)
    x = np.random.default_rng(1).random((2, 16, 24, 3))
    model(x.astype(np.float32))
    randomize(model, seed)
    rng = np.random.default_rng(seed + 1)
    start = {}
    for name in SN_CONVS:
        layer = getattr(model, name)
        # A plain normal W: sigma far from 1, so a missing normalisation shows.
        kernel = rng.normal(size=tuple(layer.layer.kernel.shape))
        u = normalize(rng.normal(size=kernel.shape[-1]))
        set_sn_start(layer, kernel, u)
        start[name] = (kernel, u)
    return model, x, start


def unet_params(model, sn_weights):
    return {
        "conv0": numpy_of(model.conv0),
        "conv9": numpy_of(model.conv9),
        **sn_weights,
    }


def test_unet_discriminator_matches_numpy():
    model, x, start = make_unet()
    # A training call: one power iteration per SN conv from the stored u, then W / sigma.
    trained = model(x.astype(np.float32), training=True).numpy()
    sn_weights = {}
    for name, (kernel, u) in start.items():
        u, v = power_iteration(kernel, u)
        assert_close(stored_u(getattr(model, name)), u)
        sn_weights[name] = spectrally_normalized(kernel, u, v)
        assert abs(u @ torch_matrix(kernel) @ v - 1) > 0.5  # sigma is far from 1
    expected = unet_reference(x, unet_params(model, sn_weights))
    assert expected.shape == (2, 16, 24, 1)
    assert_close(trained, expected)
    # Inference: the stored state (u and v, or Keras's normalised kernel), no iteration.
    assert_close(model(x.astype(np.float32), training=False), expected)


def test_unet_without_skip_connections_matches_numpy():
    model = UNetDiscriminatorSN(num_feat=4, skip_connection=False)
    x = np.random.default_rng(1).random((1, 8, 16, 3))
    model(x.astype(np.float32))
    randomize(model)
    sn_weights = {}
    for name in SN_CONVS:
        layer = getattr(model, name)
        kernel = layer.layer.kernel.numpy().astype(np.float64)
        u, v = power_iteration(kernel, stored_u(layer).astype(np.float64))
        sn_weights[name] = spectrally_normalized(kernel, u, v)
    expected = unet_reference(x, unet_params(model, sn_weights), skip_connection=False)
    assert_close(model(x.astype(np.float32), training=True), expected)


def test_numpy_layers_are_what_they_claim():
    # 'same' 3x3 stride 1 = padding 1; the bilinear taps at the borders and the middle.
    x = np.random.default_rng(0).random((1, 5, 4, 2))
    kernel = np.random.default_rng(1).random((3, 3, 2, 3))
    same = keras.layers.Conv2D(3, 3, padding="same", use_bias=False)
    same.build(x.shape)
    same.kernel.assign(kernel)
    assert_close(same(x.astype(np.float32)), conv(x, kernel, padding=1))
    row = np.array([0.0, 4.0, 8.0]).reshape(1, 3, 1, 1)
    expected = np.array([0.0, 1.0, 3.0, 5.0, 7.0, 8.0]).reshape(1, 6, 1, 1)
    np.testing.assert_allclose(upsample_bilinear_x2(row)[:, :, :1], expected)
    shuffled = pixel_shuffle(np.arange(8.0).reshape(1, 1, 1, 8), 2)
    np.testing.assert_array_equal(shuffled[0, :, :, 0], [[0, 2], [4, 6]])
    np.testing.assert_array_equal(shuffled[0, :, :, 1], [[1, 3], [5, 7]])


# ---- PyTorch ------------------------------------------------------------------------------------


def torch_lib():
    torch = pytest.importorskip("torch")
    torch.set_num_threads(1)
    return torch


def copy_conv(torch, module, weights, out_order=None):
    """Keras [k, k, in, out] (+ bias) into a torch Conv2d [out, in, k, k]."""
    kernel = weights[0].transpose(3, 2, 0, 1)
    bias = weights[1] if len(weights) > 1 else None
    if out_order is not None:
        kernel, bias = kernel[out_order], bias[out_order]
    with torch.no_grad():
        module.weight.copy_(torch.from_numpy(kernel.copy()))
        if bias is not None:
            module.bias.copy_(torch.from_numpy(bias.copy()))


def copy_bn(torch, module, weights):
    gamma, beta, mean, variance = weights
    with torch.no_grad():
        for tensor, value in zip(
            (module.weight, module.bias, module.running_mean, module.running_var),
            (gamma, beta, mean, variance),
        ):
            tensor.copy_(torch.from_numpy(value))


def torch_shuffle_order(channels, r):
    """torch output channel c*r*r + s of the pre-shuffle conv is Keras's channel s*C + c."""
    return np.array([(k % (r * r)) * channels + k // (r * r) for k in range(channels * r * r)])


def to_nchw(torch, x):
    return torch.from_numpy(np.ascontiguousarray(x.transpose(0, 3, 1, 2)))


def torch_srresnet(torch, p, use_bn):
    nn = torch.nn
    nf = p["conv_first"][0].shape[-1]

    class Block(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv1, self.conv2 = nn.Conv2d(nf, nf, 3, 1, 1), nn.Conv2d(nf, nf, 3, 1, 1)
            self.bn1 = nn.BatchNorm2d(nf) if use_bn else nn.Identity()
            self.bn2 = nn.BatchNorm2d(nf) if use_bn else nn.Identity()
            self.prelu = nn.PReLU(nf)

        def forward(self, x):
            return x + self.bn2(self.conv2(self.prelu(self.bn1(self.conv1(x)))))

    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv_first, self.prelu_first = nn.Conv2d(3, nf, 9, 1, 4), nn.PReLU(nf)
            self.blocks = nn.Sequential(*(Block() for _ in p["blocks"]))
            self.conv_body = nn.Conv2d(nf, nf, 3, 1, 1)
            self.bn_body = nn.BatchNorm2d(nf) if use_bn else nn.Identity()
            self.ups = nn.Sequential(
                *(
                    nn.Sequential(
                        nn.Conv2d(nf, nf * up["factor"] ** 2, 3, 1, 1),
                        nn.PixelShuffle(up["factor"]),
                        nn.PReLU(nf),
                    )
                    for up in p["ups"]
                )
            )
            self.conv_last = nn.Conv2d(nf, 3, 9, 1, 4)

        def forward(self, x):
            feat = self.prelu_first(self.conv_first(x))
            return self.conv_last(self.ups(feat + self.bn_body(self.conv_body(self.blocks(feat)))))

    net = Net().double().eval()

    def copy_prelu(module, alpha):
        with torch.no_grad():
            module.weight.copy_(torch.from_numpy(alpha.reshape(-1)))

    copy_conv(torch, net.conv_first, p["conv_first"])
    copy_prelu(net.prelu_first, p["prelu_first"])
    for block, b in zip(net.blocks, p["blocks"]):
        copy_conv(torch, block.conv1, b["conv1"])
        copy_conv(torch, block.conv2, b["conv2"])
        copy_prelu(block.prelu, b["prelu"])
        if use_bn:
            copy_bn(torch, block.bn1, b["bn1"])
            copy_bn(torch, block.bn2, b["bn2"])
    copy_conv(torch, net.conv_body, p["conv_body"])
    if use_bn:
        copy_bn(torch, net.bn_body, p["bn_body"])
    for (up_conv, _, up_prelu), up in zip(net.ups, p["ups"]):
        copy_conv(torch, up_conv, up["conv"], torch_shuffle_order(nf, up["factor"]))
        copy_prelu(up_prelu, up["prelu"])
    copy_conv(torch, net.conv_last, p["conv_last"])
    return net


def torch_vgg(torch, p, num_stages, strided_kernel, size):
    """BasicSR's VGGStyleDiscriminator, any depth and strided kernel (padding 1)."""
    nn = torch.nn
    layers = []
    cin = p["conv0_0"]["kernel"].shape[2]
    for i in range(num_stages):
        for j, (kernel, stride) in enumerate(((3, 1), (strided_kernel, 2))):
            conv_p = p[f"conv{i}_{j}"]
            cout = conv_p["kernel"].shape[-1]
            module = nn.Conv2d(cin, cout, kernel, stride, 1, bias="bias" in conv_p)
            copy_conv(torch, module, list(conv_p.values()))
            layers.append(module)
            if f"bn{i}_{j}" in p:
                layers.append(nn.BatchNorm2d(cout))
                copy_bn(torch, layers[-1], p[f"bn{i}_{j}"])
            layers.append(nn.LeakyReLU(0.2))
            cin = cout
    final = size // 2**num_stages
    (k1, b1), (k2, b2) = p["dense1"], p["dense2"]
    dense1, dense2 = nn.Linear(k1.shape[0], k1.shape[1]), nn.Linear(k2.shape[0], 1)
    # Keras flattens (h, w, c), torch (c, h, w): reorder dense1's input rows.
    rows = k1.reshape(final, final, cin, -1).transpose(2, 0, 1, 3).reshape(k1.shape)
    with torch.no_grad():
        dense1.weight.copy_(torch.from_numpy(rows.T.copy()))
        dense1.bias.copy_(torch.from_numpy(b1))
        dense2.weight.copy_(torch.from_numpy(k2.T.copy()))
        dense2.bias.copy_(torch.from_numpy(b2))
    net = nn.Sequential(*layers, nn.Flatten(), dense1, nn.LeakyReLU(0.2), dense2)
    return net.double().eval()


def torch_unet(torch, p, start, skip_connection=True):
    """Real-ESRGAN's UNetDiscriminatorSN with torch's spectral_norm; raw W and u copied."""
    nn, F, sn = torch.nn, torch.nn.functional, torch.nn.utils.spectral_norm
    nf = p["conv0"][0].shape[-1]

    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv0 = nn.Conv2d(3, nf, 3, 1, 1)
            self.conv1 = sn(nn.Conv2d(nf, nf * 2, 4, 2, 1, bias=False))
            self.conv2 = sn(nn.Conv2d(nf * 2, nf * 4, 4, 2, 1, bias=False))
            self.conv3 = sn(nn.Conv2d(nf * 4, nf * 8, 4, 2, 1, bias=False))
            self.conv4 = sn(nn.Conv2d(nf * 8, nf * 4, 3, 1, 1, bias=False))
            self.conv5 = sn(nn.Conv2d(nf * 4, nf * 2, 3, 1, 1, bias=False))
            self.conv6 = sn(nn.Conv2d(nf * 2, nf, 3, 1, 1, bias=False))
            self.conv7 = sn(nn.Conv2d(nf, nf, 3, 1, 1, bias=False))
            self.conv8 = sn(nn.Conv2d(nf, nf, 3, 1, 1, bias=False))
            self.conv9 = nn.Conv2d(nf, 1, 3, 1, 1)

        def forward(self, x):
            act = lambda t: F.leaky_relu(t, 0.2)
            up = lambda t: F.interpolate(t, scale_factor=2, mode="bilinear", align_corners=False)
            x0 = act(self.conv0(x))
            x1 = act(self.conv1(x0))
            x2 = act(self.conv2(x1))
            x3 = act(self.conv3(x2))
            y = act(self.conv4(up(x3)))
            y = y + x2 if skip_connection else y
            y = act(self.conv5(up(y)))
            y = y + x1 if skip_connection else y
            y = act(self.conv6(up(y)))
            y = y + x0 if skip_connection else y
            return self.conv9(act(self.conv8(act(self.conv7(y)))))

    net = Net().double()
    copy_conv(torch, net.conv0, p["conv0"])
    copy_conv(torch, net.conv9, p["conv9"])
    with torch.no_grad():
        for name, (kernel, u) in start.items():
            module = getattr(net, name)
            module.weight_orig.copy_(torch.from_numpy(kernel.transpose(3, 2, 0, 1).copy()))
            module.weight_u.copy_(torch.from_numpy(u))
    return net


@pytest.mark.parametrize("use_bn", SRRESNET_CASES.values(), ids=SRRESNET_CASES.keys())
def test_srresnet_matches_torch(use_bn):
    torch = torch_lib()
    model, x = make_srresnet(use_bn)
    net = torch_srresnet(torch, srresnet_params(model), use_bn)
    with torch.no_grad():
        expected = net(to_nchw(torch, x)).numpy().transpose(0, 2, 3, 1)
    assert_close(model(x.astype(np.float32), training=False), expected)


@pytest.mark.parametrize("case", VGG_CASES.values(), ids=VGG_CASES.keys())
def test_vgg_discriminator_matches_torch(case):
    torch = torch_lib()
    model, x = make_vgg(case)
    net = torch_vgg(torch, vgg_params(model), model.num_stages, model.strided_kernel, case[0])
    with torch.no_grad():
        expected = net(to_nchw(torch, x)).numpy()
    assert_close(model(x.astype(np.float32), training=False), expected)


def test_unet_discriminator_matches_torch():
    torch = torch_lib()
    model, x, start = make_unet()
    net = torch_unet(torch, unet_params(model, {}), start)
    net.train()  # one power iteration per SN conv, as a training step's forward
    with torch.no_grad():
        expected = net(to_nchw(torch, x)).numpy().transpose(0, 2, 3, 1)
    assert_close(model(x.astype(np.float32), training=True), expected)
    for name in SN_CONVS:
        assert_close(stored_u(getattr(model, name)), getattr(net, name).weight_u.numpy())
    net.eval()  # the stored u and v
    with torch.no_grad():
        expected = net(to_nchw(torch, x)).numpy().transpose(0, 2, 3, 1)
    assert_close(model(x.astype(np.float32), training=False), expected)
