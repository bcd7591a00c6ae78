import numpy as np
import pytest
import tensorflow as tf

from esrgan_tf.models.rrdbnet import NearestUpsample, ResidualDenseBlock, RRDBNet

# Two blocks, so that parameter counts check the repetition of the RRDBs too.
SMALL = dict(num_feat=8, num_block=2, num_grow_ch=4)


def conv_params(cin, cout, k=3):
    return k * k * cin * cout + cout


def expected_rrdbnet_params(
    num_in_ch=3, num_out_ch=3, num_feat=64, num_block=23, num_grow_ch=32, num_up=2
):
    # Counted from the paper's description (ESRGAN §3.1, Fig. 4): a dense block has
    # 4 convs growing by num_grow_ch and a 5th back to num_feat.
    rdb = sum(conv_params(num_feat + i * num_grow_ch, num_grow_ch) for i in range(4))
    rdb += conv_params(num_feat + 4 * num_grow_ch, num_feat)
    return (
        conv_params(num_in_ch, num_feat)
        + num_block * 3 * rdb
        + conv_params(num_feat, num_feat) * (1 + num_up + 1)  # body, ups, hr
        + conv_params(num_feat, num_out_ch)
    )


@pytest.mark.slow
def test_full_size_parameter_count_matches_official_x4():
    model = RRDBNet()
    model(np.zeros((1, 4, 4, 3), np.float32))
    # 16,697,987: the parameter count of the official RRDB_ESRGAN_x4.pth.
    assert model.count_params() == 16_697_987
    assert expected_rrdbnet_params() == 16_697_987


@pytest.mark.parametrize("unshuffle,scale", [(False, 4), (True, 2)])
def test_first_call_runs_each_dense_block_once(monkeypatch, unshuffle, scale):
    # Building must not trace `call`: Keras builds a layer without build() that way, and
    # nested (dense block, RRDB, the body's Sequential, the model) it ran every conv four
    # times, 20 s of loading a 23-block model.
    calls = []
    original = ResidualDenseBlock.call
    monkeypatch.setattr(
        ResidualDenseBlock, "call", lambda self, x: calls.append(x.shape) or original(self, x)
    )
    model = RRDBNet(scale=scale, unshuffle=unshuffle, **SMALL)
    y = model(np.zeros((1, 8, 8, 3), np.float32))
    assert y.shape == (1, 8 * scale, 8 * scale, 3)
    feat = 8 * scale // 4
    assert calls == [(1, feat, feat, SMALL["num_feat"])] * (3 * SMALL["num_block"])


@pytest.mark.slow
@pytest.mark.parametrize("scale,num_up", [(2, 1), (3, 1), (4, 2), (8, 3)])
def test_shapes_and_param_counts_per_scale(scale, num_up):
    model = RRDBNet(scale=scale, **SMALL)
    y = model(np.random.rand(2, 5, 7, 3).astype(np.float32))
    assert y.shape == (2, 5 * scale, 7 * scale, 3)
    assert model.count_params() == expected_rrdbnet_params(num_up=num_up, **SMALL)


@pytest.mark.slow
def test_dynamic_shapes_under_tf_function():
    model = RRDBNet(**SMALL)
    fn = tf.function(model, input_signature=[tf.TensorSpec([None, None, None, 3])])
    for h, w in [(3, 4), (9, 6)]:
        x = np.random.rand(1, h, w, 3).astype(np.float32)
        np.testing.assert_allclose(fn(x), model(x), atol=1e-6)
        assert fn(x).shape == (1, 4 * h, 4 * w, 3)


def test_nearest_upsample_is_pixel_repetition():
    x = np.random.rand(2, 3, 5, 4).astype(np.float32)
    for factor in (2, 3):
        expected = np.repeat(np.repeat(x, factor, axis=1), factor, axis=2)
        np.testing.assert_array_equal(NearestUpsample(factor)(x), expected)


def test_nearest_upsample_gradient_is_tfs_own_and_compiles_with_xla():
    x = tf.constant(np.random.rand(2, 3, 5, 4), tf.float32)
    dy = tf.constant(np.random.rand(2, 9, 15, 4), tf.float32)

    def gradient(upsample):
        with tf.GradientTape() as tape:
            tape.watch(x)
            y = upsample(x)
        return tape.gradient(y, x, output_gradients=dy)

    # TF's registered gradient of the same resize (ResizeNearestNeighborGrad).
    expected = gradient(lambda v: tf.image.resize(v, [9, 15], method="nearest"))
    layer = NearestUpsample(3)
    np.testing.assert_allclose(gradient(layer), expected, rtol=1e-6)
    compiled = tf.function(lambda: gradient(layer), jit_compile=True)
    np.testing.assert_allclose(compiled(), expected, rtol=1e-6)


def test_dense_block_matches_equation():
    block = ResidualDenseBlock(num_feat=6, num_grow_ch=3, res_scale=0.2)
    x = np.random.rand(1, 5, 5, 6).astype(np.float32)
    out = block(x).numpy()

    def lrelu(v):
        return np.where(v >= 0, v, 0.2 * v)

    def conv(layer, v):  # 'same' 3x3 conv written out with numpy
        k, b = (w.numpy() for w in layer.weights)
        p = np.pad(v, ((0, 0), (1, 1), (1, 1), (0, 0)))
        h, w = v.shape[1:3]
        cols = np.stack([p[:, i : i + h, j : j + w] for i in range(3) for j in range(3)], -2)
        return np.einsum("nhwkc,kco->nhwo", cols, k.reshape(9, *k.shape[2:])) + b

    feats = [x]
    for layer in (block.conv1, block.conv2, block.conv3, block.conv4):
        feats.append(lrelu(conv(layer, np.concatenate(feats, -1))))
    expected = x + 0.2 * conv(block.conv5, np.concatenate(feats, -1))
    np.testing.assert_allclose(out, expected, atol=1e-5)


def _kurtosis(w):
    w = w - w.mean()
    return float((w**4).mean() / (w**2).mean() ** 2)


def test_init_of_every_conv_kind_biases_zero():
    # The paper's widths (64 features, growth 32), so the fan-ins are the full model's.
    model = RRDBNet(num_block=1, scale=4)
    model(np.zeros((1, 4, 4, 3), np.float32))
    dense = [
        getattr(rdb, f"conv{i}")
        for rrdb in model.body.layers
        for rdb in (rrdb.rdb1, rrdb.rdb2, rrdb.rdb3)
        for i in range(1, 6)
    ]
    other = [model.conv_first, model.conv_body, *model.up_convs, model.conv_hr, model.conv_last]
    assert len(dense) == 15 and len(other) == 6
    for conv in dense + other:
        # Every bias starts at zero (rrdbnet.torch_default_init says why for non-dense convs).
        np.testing.assert_array_equal(conv.bias.numpy(), 0.0, err_msg=conv.name)
        kernel = conv.kernel.numpy().ravel()
        n = kernel.size
        fan_in = 3 * 3 * conv.kernel.shape[2]
        if conv in dense:
            # ESRGAN supplementary: MSRA normal, std sqrt(2 / fan_in), times 0.1 (BasicSR's
            # default_init_weights(..., 0.1) = kaiming_normal_ x 0.1).
            std, kurtosis = 0.1 * np.sqrt(2.0 / fan_in), 3.0
        else:
            # PyTorch's default: U(+-1/sqrt(fan_in)), std 1/sqrt(3 fan_in), kurtosis 1.8.
            std, kurtosis = 1.0 / np.sqrt(3.0 * fan_in), 1.8
            assert np.abs(kernel).max() <= 1.0 / np.sqrt(fan_in), conv.name
        # Within 4 standard errors: of the sample std, sqrt((kurtosis - 1) / 4n) relative,
        # and of the mean, std / sqrt(n).
        assert abs(kernel.std() / std - 1) < 4 * np.sqrt((kurtosis - 1) / (4 * n)), conv.name
        assert abs(kernel.mean()) < 4 * std / np.sqrt(n), conv.name
        # Normal (3) and uniform (1.8) kernels tell apart by their kurtosis.
        assert abs(_kurtosis(kernel) - kurtosis) < 0.5, conv.name


@pytest.mark.parametrize("kwargs", [dict(scale=5), dict(num_block=0), dict(num_feat=-1)])
def test_bad_arguments_raise(kwargs):
    with pytest.raises(ValueError):
        RRDBNet(**kwargs)


@pytest.mark.slow
def test_pixel_unshuffle_x2plus_parameter_count_and_shapes():
    # RealESRGAN_x2plus.pth: the x4 net with conv_first on 12 channels (Real-ESRGAN's
    # release): 16,697,987 + 9 * 64 * (12 - 3) = 16,703,171 parameters.
    model = RRDBNet(scale=2, unshuffle=True)
    y = model(np.zeros((1, 8, 12, 3), np.float32))
    assert y.shape == (1, 16, 24, 3) and model.count_params() == 16_703_171
    assert model.conv_first.kernel.shape == (3, 3, 12, 64)
    x1 = RRDBNet(num_feat=8, num_block=1, num_grow_ch=4, scale=1, unshuffle=True)
    assert x1(np.zeros((1, 8, 4, 3), np.float32)).shape == (1, 8, 4, 3)
    assert x1.conv_first.kernel.shape == (3, 3, 48, 8)
    with pytest.raises(ValueError, match="unshuffle has scale 1 or 2"):
        RRDBNet(scale=4, unshuffle=True)


def test_own_x1_has_no_upsampling():
    model = RRDBNet(num_feat=8, num_block=1, num_grow_ch=4, scale=1)
    assert model(np.zeros((1, 5, 7, 3), np.float32)).shape == (1, 5, 7, 3)
    assert model.up_convs == [] and model.count_params() == expected_rrdbnet_params(
        num_feat=8, num_block=1, num_grow_ch=4, num_up=0
    )
