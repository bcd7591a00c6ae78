import numpy as np
import pytest

from esrgan_tf.models.discriminators import UNetDiscriminatorSN, VGGStyleDiscriminator


def vgg128_trainable_params():
    # ESRGAN's discriminator_VGG_128: conv0_0 3->64 (3x3, bias); conv0_1 64->64 (4x4,
    # no bias) + BN; then stages 128, 256, 512, 512 with a 3x3 and a 4x4 conv each,
    # all without bias + BN; linear 512*4*4 -> 100 -> 1. BN: gamma and beta trainable.
    total = 3 * 3 * 3 * 64 + 64 + 4 * 4 * 64 * 64 + 2 * 64
    cin = 64
    for ch in (128, 256, 512, 512):
        total += 3 * 3 * cin * ch + 2 * ch + 4 * 4 * ch * ch + 2 * ch
        cin = ch
    return total + 512 * 4 * 4 * 100 + 100 + 100 + 1


def test_vgg128_matches_esrgan_discriminator():
    d = VGGStyleDiscriminator(128)
    logits = d(np.random.rand(2, 128, 128, 3).astype(np.float32))
    assert logits.shape == (2, 1)
    trainable = sum(int(np.prod(w.shape)) for w in d.trainable_weights)
    assert trainable == vgg128_trainable_params()


@pytest.mark.parametrize("size", [96, 192, 256])
def test_other_patch_sizes(size):
    d = VGGStyleDiscriminator(size, num_feat=4, dense_units=8)
    assert d(np.zeros((1, size, size, 3), np.float32)).shape == (1, 1)


def test_srgan_variant_uses_3x3_strided_convs_and_1024_dense():
    d = VGGStyleDiscriminator(96, strided_kernel=3, dense_units=1024, num_feat=8)
    d(np.zeros((1, 96, 96, 3), np.float32))
    assert d.features.get_layer("conv0_1").kernel.shape == (3, 3, 8, 8)
    assert d.dense1.kernel.shape == (8 * 8 * 6 * 6, 1024)


def test_vgg_wrong_patch_size_is_a_clear_error():
    d = VGGStyleDiscriminator(128, num_feat=4)
    with pytest.raises(ValueError, match="128x128"):
        d(np.zeros((1, 96, 96, 3), np.float32))
    with pytest.raises(ValueError, match="no default depth"):
        VGGStyleDiscriminator(100)


def test_unet_discriminator_per_pixel_logits():
    d = UNetDiscriminatorSN(num_feat=8)
    assert d(np.random.rand(2, 32, 24, 3).astype(np.float32)).shape == (2, 32, 24, 1)
    with pytest.raises(ValueError, match="divisible by 8"):
        d(np.zeros((1, 30, 32, 3), np.float32))


def test_unet_spectral_norm_bounds_the_largest_singular_value():
    d = UNetDiscriminatorSN(num_feat=8)
    x = np.random.rand(1, 16, 16, 3).astype(np.float32)
    d(x)
    kernel = d.conv4.layer.kernel.numpy()
    before = np.linalg.svd(kernel.reshape(-1, kernel.shape[-1]), compute_uv=False)[0]
    first_before = d.conv0.kernel.numpy()
    assert before > 1.2  # glorot init of a 3x3x32->32 conv: well above 1
    for _ in range(30):  # power iteration converges over training calls
        d(x, training=True)
    kernel = d.conv4.normalized_kernel().numpy()  # W / sigma; the variable stays W
    sigma = np.linalg.svd(kernel.reshape(-1, kernel.shape[-1]), compute_uv=False)[0]
    # One power iteration per call estimates sigma from below, so it settles near 1.
    assert sigma == pytest.approx(1.0, abs=0.05)
    # The first conv is not spectrally normalised: training calls leave it alone.
    np.testing.assert_array_equal(d.conv0.kernel.numpy(), first_before)
