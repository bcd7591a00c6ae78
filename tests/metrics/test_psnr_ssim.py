"""Tests for esrgan_tf.metrics: golden values from scikit-image and from hand arithmetic."""

import math

import numpy as np
import pytest
import skimage.color
import skimage.data
import skimage.metrics
import tensorflow as tf

from esrgan_tf.metrics import psnr_ssim


def _photo(name):
    """A real photo as float32 RGB in [0, 1], mod-cropped to 4."""
    img = getattr(skimage.data, name)()
    h, w = img.shape[0] // 4 * 4, img.shape[1] // 4 * 4
    return img[:h, :w].astype(np.float32) / 255.0


def _degrade(hr, kind):
    """A plausible SR output: x4 box down + nearest up, or HR plus Gaussian noise (float32)."""
    if kind == "blur":
        h, w, c = hr.shape
        lr = hr.reshape(h // 4, 4, w // 4, 4, c).mean(axis=(1, 3))
        return np.repeat(np.repeat(lr, 4, axis=0), 4, axis=1).astype(np.float32)
    noise = np.random.default_rng(0).normal(0.0, 0.03, hr.shape)
    # Leave values outside [0, 1] in place: the metric must clip them like a saved image.
    return (hr + noise).astype(np.float32)


def _saved(img):
    # Independent of psnr_ssim.to_uint8: numpy's half-to-even rounding of the exact product (x * 255
    # of a float32 x is exact in float64 and never a tie, so half-up and half-even agree).
    return np.round(np.clip(img.astype(np.float64), 0.0, 1.0) * 255.0).astype(np.uint8)


def _skimage_ssim(x, y, channel_axis=None):
    """Literature SSIM from skimage: its full map, averaged only where the 11x11 window fits."""
    _, ssim_map = skimage.metrics.structural_similarity(
        x,
        y,
        gaussian_weights=True,
        sigma=1.5,
        use_sample_covariance=False,
        data_range=255,
        channel_axis=channel_axis,
        full=True,
    )
    return ssim_map[5:-5, 5:-5].mean()


# ---------------------------------------------------------------- against scikit-image


@pytest.mark.slow
@pytest.mark.parametrize("name", ["astronaut", "chelsea"])
@pytest.mark.parametrize("kind", ["blur", "noise"])
@pytest.mark.parametrize("crop", [0, 4])
def test_psnr_ssim_match_skimage_on_photos(name, kind, crop):
    hr = _photo(name)
    sr = _degrade(hr, kind)
    hr8, sr8 = _saved(hr), _saved(sr)
    if crop:
        hr8, sr8 = hr8[crop:-crop, crop:-crop], sr8[crop:-crop, crop:-crop]
    hr_y = skimage.color.rgb2ycbcr(hr8)[..., 0]
    sr_y = skimage.color.rgb2ycbcr(sr8)[..., 0]

    want_psnr_rgb = skimage.metrics.peak_signal_noise_ratio(
        hr8.astype(np.float64), sr8.astype(np.float64), data_range=255
    )
    want_psnr_y = skimage.metrics.peak_signal_noise_ratio(hr_y, sr_y, data_range=255)
    want_ssim_rgb = _skimage_ssim(hr8.astype(np.float64), sr8.astype(np.float64), channel_axis=-1)
    want_ssim_y = _skimage_ssim(hr_y, sr_y)

    assert psnr_ssim.psnr(sr, hr, crop, False) == pytest.approx(want_psnr_rgb, abs=1e-4)
    assert psnr_ssim.psnr(sr, hr, crop, True) == pytest.approx(want_psnr_y, abs=1e-4)
    assert psnr_ssim.ssim(sr, hr, crop, False) == pytest.approx(want_ssim_rgb, abs=1e-5)
    assert psnr_ssim.ssim(sr, hr, crop, True) == pytest.approx(want_ssim_y, abs=1e-5)
    # Sanity: the degradations are real, not near-identical images.
    assert 15.0 < want_psnr_y < 40.0 and 0.3 < want_ssim_y < 0.99


def test_ssim_border_convention():
    # With gaussian_weights skimage (0.26) filters with 'reflect' padding and then averages its map
    # cropped by 5 px -- the valid windows, like ours. Its uncropped map mean (reflected
    # windows included) is a different number: the convention matters.
    hr = _photo("chelsea")[:64, :64]
    sr = _degrade(hr, "blur")
    y_hr = skimage.color.rgb2ycbcr(_saved(hr))[..., 0]
    y_sr = skimage.color.rgb2ycbcr(_saved(sr))[..., 0]
    ours = psnr_ssim.ssim(sr, hr)
    mssim, ssim_map = skimage.metrics.structural_similarity(
        y_sr,
        y_hr,
        gaussian_weights=True,
        sigma=1.5,
        use_sample_covariance=False,
        data_range=255,
        full=True,
    )
    assert ours == pytest.approx(ssim_map[5:-5, 5:-5].mean(), abs=1e-10)
    assert ours == pytest.approx(mssim, abs=1e-10)
    assert abs(ours - ssim_map.mean()) > 1e-3


# ---------------------------------------------------------------- rgb_to_y


def test_rgb_to_y_hand_values():
    pixels = np.array(
        [[255, 255, 255], [0, 0, 0], [255, 0, 0], [0, 255, 0], [0, 0, 255], [128, 64, 32]], np.uint8
    )
    want = [
        16 + 65.481 + 128.553 + 24.966,  # white: 16 + 219 = 235
        16.0,  # black
        16 + 65.481,  # red
        16 + 128.553,  # green
        16 + 24.966,  # blue
        # 8381.568 + 8227.392 + 798.912 = 17407.872; / 255 = 68.26616471; + 16 = 84.26616471
        16 + (65.481 * 128 + 128.553 * 64 + 24.966 * 32) / 255,
    ]
    got = psnr_ssim.rgb_to_y(pixels)
    np.testing.assert_allclose(got, want, rtol=0, atol=1e-9)
    assert got[0] == pytest.approx(235.0, abs=1e-9)
    assert got[5] == pytest.approx(84.26616471, abs=1e-8)
    assert got.dtype == np.float64


def test_rgb_to_y_is_not_rounded_and_accepts_float255():
    y = psnr_ssim.rgb_to_y(np.array([[1.0, 2.0, 3.0]]))
    assert y[0] == pytest.approx(16 + (65.481 + 2 * 128.553 + 3 * 24.966) / 255, abs=1e-12)
    assert y[0] != round(y[0])


def test_rgb_to_y_matches_skimage_rgb2ycbcr_on_photo():
    img = skimage.data.astronaut()
    np.testing.assert_allclose(
        psnr_ssim.rgb_to_y(img), skimage.color.rgb2ycbcr(img)[..., 0], rtol=0, atol=1e-9
    )


# ---------------------------------------------------------------- hand-computed values


def test_psnr_hand_computed_rgb():
    a = np.zeros((2, 2, 3), np.uint8)
    b = a.copy()
    b[1, 1, 2] = 5
    # MSE = 5^2 / 12 values = 25/12; PSNR = 10 log10(65025 * 12 / 25) = 10 log10(31212)
    # = 10 * 4.494321598 = 44.94321598 dB.
    assert psnr_ssim.psnr(a, b, test_y_channel=False) == pytest.approx(44.94321598, abs=1e-7)


def test_psnr_hand_computed_y():
    a = np.zeros((2, 2, 3), np.uint8)
    b = a.copy()
    b[0, 0] = (255, 0, 0)
    # Y differs by 65.481 at one of 4 pixels: MSE = 4287.761361 / 4 = 1071.94034025;
    # PSNR = 10 log10(65025 / 1071.94034025) = 10 log10(60.66034...) = 17.82909746 dB.
    assert psnr_ssim.psnr(a, b) == pytest.approx(17.82909746, abs=1e-7)


def test_ssim_hand_computed_constant_images():
    # Constant images have zero (co)variance: SSIM = (2 mu_a mu_b + C1) / (mu_a^2 + mu_b^2 + C1)
    # with C1 = 2.55^2 = 6.5025: (22000 + 6.5025) / (10000 + 12100 + 6.5025) = 0.99547644409.
    a = np.full((16, 16), 100, np.uint8)
    b = np.full((16, 16), 110, np.uint8)
    assert psnr_ssim.ssim(a, b) == pytest.approx(0.99547644409, abs=1e-10)


def test_identical_images():
    img = _photo("astronaut")[:40, :40]
    assert psnr_ssim.psnr(img, img) == math.inf
    assert psnr_ssim.psnr(img, img, test_y_channel=False) == math.inf
    assert psnr_ssim.ssim(img, img) == pytest.approx(1.0, abs=1e-12)
    assert psnr_ssim.ssim(img, img, test_y_channel=False) == pytest.approx(1.0, abs=1e-12)


def test_grey_images_hxw_and_hxwx1_agree():
    rng = np.random.default_rng(1)
    a, b = rng.random((20, 24)), rng.random((20, 24))
    assert psnr_ssim.psnr(a, b) == psnr_ssim.psnr(a[..., None], b[..., None])
    assert psnr_ssim.ssim(a, b) == psnr_ssim.ssim(a[..., None], b[..., None])
    assert psnr_ssim.ssim(a, b) < 0.5


# ---------------------------------------------------------------- crop_border


def test_crop_border_removes_exactly_the_border():
    rng = np.random.default_rng(2)
    a = rng.random((32, 30, 3)).astype(np.float32)
    b = a.copy()
    b[:4] = 0.0  # errors only in the 4-pixel border, on every edge
    b[-4:] = 1.0
    b[:, :4] = rng.random((32, 4, 3))
    b[:, -4:] = 0.5
    assert psnr_ssim.psnr(a, b, crop_border=4) == math.inf
    assert psnr_ssim.ssim(a, b, crop_border=4) == pytest.approx(1.0, abs=1e-12)
    assert psnr_ssim.psnr(a, b, crop_border=3) < 30.0
    # An error one pixel inside the border is kept.
    c = a.copy()
    c[4, 10] = 1.0 - c[4, 10]
    assert math.isfinite(psnr_ssim.psnr(a, c, crop_border=4))


# ---------------------------------------------------------------- uint8 rounding convention


def test_floats_that_round_to_the_same_uint8_give_inf():
    rng = np.random.default_rng(3)
    levels = rng.integers(0, 256, (12, 12, 3))
    a = ((levels + 0.45) / 255).astype(np.float32)
    b = ((levels - 0.45) / 255).astype(np.float32)
    assert psnr_ssim.psnr(a, b, test_y_channel=False) == math.inf
    assert psnr_ssim.psnr(a, levels.astype(np.uint8)) == math.inf
    assert psnr_ssim.ssim(a, b, test_y_channel=False) == pytest.approx(1.0, abs=1e-12)
    # Out-of-range values are clipped as when saving.
    assert psnr_ssim.psnr(a * 0 + 1.3, a * 0 + 1.0) == math.inf
    assert psnr_ssim.psnr(a * 0 - 0.2, a * 0) == math.inf
    # ...but 0.45 and 0.55 of a level apart round to different values.
    c = ((levels + 0.55) / 255).astype(np.float32)
    assert math.isfinite(psnr_ssim.psnr(a, c, test_y_channel=False))


def test_to_uint8_rounds_half_up():
    x = np.array([0.0, 0.49, 0.51, 1.5, 127.4999, 254.5001, 255.0]) / 255
    np.testing.assert_array_equal(psnr_ssim.to_uint8(x), [0, 0, 1, 2, 127, 255, 255])
    # A float32 near a tie rounds by its exact value: float32(197.5 / 255) * 255 = 197.4999958,
    # float32(122.5 / 255) * 255 = 122.5000003. (BasicSR multiplies in float32, lands exactly on
    # 197.5 and 122.5, and rounds half to even: 198 and 122. Box or bicubic filters of uint8
    # images hit such ties often; network outputs almost never.)
    ties = np.array([197.5 / 255, 122.5 / 255], np.float32)
    np.testing.assert_array_equal(psnr_ssim.to_uint8(ties), [197, 123])
    u = np.arange(256, dtype=np.uint8)
    assert psnr_ssim.to_uint8(u) is u
    np.testing.assert_array_equal(psnr_ssim.to_uint8(u.astype(np.float32) / 255), u)


# ---------------------------------------------------------------- evaluate_pair, psnr_tf


def test_evaluate_pair_defaults_crop_to_scale():
    hr = _photo("chelsea")[:48, :64]
    sr = _degrade(hr, "blur")
    got = psnr_ssim.evaluate_pair(sr, hr, scale=4)
    assert set(got) == {"psnr_rgb", "ssim_rgb", "psnr_y", "ssim_y"}
    assert got["psnr_y"] == psnr_ssim.psnr(sr, hr, 4, True)
    assert got["psnr_rgb"] == psnr_ssim.psnr(sr, hr, 4, False)
    assert got["ssim_y"] == psnr_ssim.ssim(sr, hr, 4, True)
    assert got["ssim_rgb"] == psnr_ssim.ssim(sr, hr, 4, False)
    assert got["psnr_y"] != psnr_ssim.psnr(sr, hr, 0, True)
    assert psnr_ssim.evaluate_pair(sr, hr, scale=4, crop_border=0)["psnr_y"] == psnr_ssim.psnr(
        sr, hr
    )


@pytest.mark.parametrize("test_y_channel", [True, False])
def test_psnr_tf_matches_numpy(test_y_channel):
    hr = np.stack([_photo("astronaut")[:32, :40], _photo("chelsea")[:32, :40]])
    sr = np.stack([_degrade(hr[0], "noise"), hr[1]])  # second pair identical -> inf
    want = [psnr_ssim.psnr(s, h, 2, test_y_channel) for s, h in zip(sr, hr)]
    eager = psnr_ssim.psnr_tf(sr, hr, 2, test_y_channel).numpy()
    graph = tf.function(lambda s, h: psnr_ssim.psnr_tf(s, h, 2, test_y_channel))(sr, hr).numpy()
    np.testing.assert_allclose(eager, want, rtol=0, atol=1e-9)
    np.testing.assert_allclose(graph, want, rtol=0, atol=1e-9)
    assert eager[1] == math.inf


# ---------------------------------------------------------------- bad input


@pytest.mark.parametrize("fn", [psnr_ssim.psnr, psnr_ssim.ssim])
def test_bad_input_raises(fn):
    img = np.zeros((16, 16, 3), np.float32)
    with pytest.raises(ValueError, match="shape"):
        fn(img, np.zeros((16, 15, 3), np.float32))
    with pytest.raises(ValueError, match="HxW"):
        fn(img[None], img[None])
    with pytest.raises(ValueError, match="HxW"):
        fn(img[0, 0], img[0, 0])
    with pytest.raises(ValueError, match="HxW"):
        fn(img[..., :2], img[..., :2])
    with pytest.raises(ValueError, match="non-negative"):
        fn(img, img, crop_border=-1)
    with pytest.raises(ValueError, match="leaves nothing"):
        fn(img, img, crop_border=8)
    with pytest.raises(ValueError, match="dtype"):
        fn(img.astype(np.int16), img.astype(np.int16))
    nan = img.copy()
    nan[3, 3, 0] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        fn(nan, img)


def test_ssim_too_small_after_crop_raises():
    img = np.zeros((16, 16), np.uint8)
    assert psnr_ssim.ssim(img, img, crop_border=2) == 1.0
    with pytest.raises(ValueError, match="11x11"):
        psnr_ssim.ssim(img, img, crop_border=3)


def test_rgb_to_y_and_psnr_tf_bad_input():
    with pytest.raises(ValueError, match="RGB"):
        psnr_ssim.rgb_to_y(np.zeros((4, 4)))
    with pytest.raises(ValueError, match=r"\[N, H, W, 3\]"):
        psnr_ssim.psnr_tf(np.zeros((4, 4, 3), np.float32), np.zeros((4, 4, 3), np.float32))
    with pytest.raises(ValueError, match="non-negative"):
        x = np.zeros((1, 4, 4, 3), np.float32)
        psnr_ssim.psnr_tf(x, x, crop_border=-1)
    with pytest.raises(ValueError, match="leaves nothing"):
        psnr_ssim.psnr_tf(x, x, crop_border=2)
