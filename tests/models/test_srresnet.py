import numpy as np
import pytest

from esrgan_tf.models.srresnet import SRResNet


def conv_params(cin, cout, k):
    return k * k * cin * cout + cout


def expected_srresnet_params(num_feat=64, num_block=16, num_up=2, use_bn=True):
    # SRGAN Fig. 4: k9n64 + PReLU; B x (k3n64-BN-PReLU-k3n64-BN); k3n64-BN;
    # num_up x (k3n256, pixel shuffle x2, PReLU); k9n3. BN has 4 weights per channel
    # (gamma, beta, moving mean, moving variance); PReLU one slope per channel.
    bn = 4 * num_feat if use_bn else 0
    block = 2 * conv_params(num_feat, num_feat, 3) + 2 * bn + num_feat
    up = conv_params(num_feat, 4 * num_feat, 3) + num_feat
    return (
        conv_params(3, num_feat, 9)
        + num_feat
        + num_block * block
        + conv_params(num_feat, num_feat, 3)
        + bn
        + num_up * up
        + conv_params(num_feat, 3, 9)
    )


def test_full_size_parameter_count():
    model = SRResNet()
    model(np.zeros((1, 4, 4, 3), np.float32))
    assert model.count_params() == expected_srresnet_params() == 1_554_883


def test_without_bn_has_no_batch_norm():
    model = SRResNet(use_bn=False, num_block=2, num_feat=8)
    model(np.zeros((1, 4, 4, 3), np.float32))
    assert not any("batch_normalization" in w.path or "/bn" in w.path for w in model.weights)
    assert model.count_params() == expected_srresnet_params(8, 2, use_bn=False)


@pytest.mark.parametrize("scale", [2, 3, 4, 8])
def test_output_shapes(scale):
    model = SRResNet(scale=scale, num_block=1, num_feat=8)
    assert model(np.random.rand(2, 5, 6, 3).astype(np.float32)).shape == (
        2,
        5 * scale,
        6 * scale,
        3,
    )


def test_inference_is_deterministic_and_training_uses_batch_statistics():
    model = SRResNet(num_block=1, num_feat=8)
    x = np.random.rand(2, 6, 6, 3).astype(np.float32)
    np.testing.assert_array_equal(model(x, training=False), model(x, training=False))
    # In training mode BN normalises with batch statistics, so outputs differ from
    # the moving-average (inference) path on a fresh model.
    assert not np.allclose(model(x, training=True), model(x, training=False))


def test_prelu_starts_at_quarter_slope():
    model = SRResNet(num_block=1, num_feat=8)
    model(np.zeros((1, 4, 4, 3), np.float32))
    np.testing.assert_array_equal(model.act_first.alpha.numpy(), 0.25)


def test_bad_scale():
    with pytest.raises(ValueError, match="scale"):
        SRResNet(scale=5)
