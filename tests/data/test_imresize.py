"""MATLAB-exact bicubic imresize: hand-derived goldens, an independent loop reference, TF parity."""

import math

import numpy as np
import pytest
import skimage.data
import tensorflow as tf

from esrgan_tf.data.imresize import imresize, output_size
from esrgan_tf.data.imresize_tf import imresize_tf

SCALES = [1 / 2, 1 / 3, 1 / 4, 2, 4]
# Non-integer factors: here the stretched kernel's weights no longer sum to 1 on their own, so
# the per-pixel normalisation (and, for 0.3, a kernel width that is not an integer) is exercised.
GENERAL_SCALES = [0.3, 0.7, 1.5]
SHAPES = [(17, 23), (32, 32), (30, 45)]


# ----------------------------------------------------------------------------------------------
# Independent reference: per-output-pixel loops over an explicitly padded input. It shares no
# code with the module: Keys' kernel in its general-a form, np.pad(mode="symmetric") for the
# border (MATLAB's padarray 'symmetric': the edge pixel is repeated), taps found by support.
# ----------------------------------------------------------------------------------------------


def _keys(x, a=-0.5):
    x = abs(x)
    if x <= 1:
        return (a + 2) * x**3 - (a + 3) * x**2 + 1
    if x < 2:
        return a * x**3 - 5 * a * x**2 + 8 * a * x - 4 * a
    return 0.0


def _reference_1d(signal, out_len, scale):
    """Resizes axis 0 of `signal` (any trailing axes) with explicit loops."""
    stretch = min(scale, 1.0)  # antialiasing only when shrinking
    half = 2.0 / stretch
    pad = 2 * int(math.ceil(half)) + 2  # generous: the last centre lies beyond the edge
    padded = np.pad(signal, [(pad, pad)] + [(0, 0)] * (signal.ndim - 1), mode="symmetric")
    out = np.zeros((out_len,) + signal.shape[1:])
    for o in range(out_len):
        # 0-based centre of output pixel o in input coordinates (pixel centres at integers).
        centre = (o + 0.5) / scale - 0.5
        taps = [
            k
            for k in range(int(math.floor(centre - half)), int(math.ceil(centre + half)) + 1)
            if abs(centre - k) < half
        ]
        weights = np.array([stretch * _keys(stretch * (centre - k)) for k in taps])
        weights /= weights.sum()
        for k, w in zip(taps, weights):
            out[o] += w * padded[k + pad]
    return out


def _reference(image, scale_h, scale_w, out_h, out_w):
    image = np.asarray(image, np.float64)
    rows = _reference_1d(image, out_h, scale_h)
    return np.swapaxes(_reference_1d(np.swapaxes(rows, 0, 1), out_w, scale_w), 0, 1)


# ----------------------------------------------------------------------------------------------
# (a) Golden values derived by hand from the documented formula.
# ----------------------------------------------------------------------------------------------

# Every row of RAMP is 0..7, so resizing along H (weights sum to 1) keeps each row as is and the
# result along W is the 1-D resize of the ramp. Away from the border a cubic reproduces a ramp
# exactly (value = u - 1 at sample point u); near the border mirrored taps read a folded ramp,
# and out[o] = (u - 1) + sum_k w_k * (mirrored value_k - ramp value_k).
RAMP = np.tile(np.arange(8, dtype=np.float64), (8, 1))


def test_golden_ramp_downscale_by_2():
    # scale 1/2: h(x) = cubic(x/2)/2, taps at distances ±0.5, ±1.5, ±2.5, ±3.5 from u carry
    # 0.43359375, 0.11328125, -0.03515625, -0.01171875 (cubic(0.25)=0.8671875, cubic(0.75)=
    # 0.2265625, cubic(1.25)=-0.0703125, cubic(1.75)=-0.0234375, halved; they sum to 1).
    # u = 2o - 0.5 → 1.5, 3.5, 5.5, 7.5.
    # o=1: taps -2..5; -2,-1,0 mirror to 3,2,1 (values 2,1,0 instead of -3,-2,-1):
    #   0.5 + 5*(-0.01171875) + 3*(-0.03515625) + 1*0.11328125 = 0.44921875
    # o=2: tap 0 mirrors to 1 (value 0 instead of -1): 2.5 - 0.01171875 = 2.48828125
    # o=3, o=4: mirror images of o=2, o=1: 7 - 2.48828125, 7 - 0.44921875.
    expected = [0.44921875, 2.48828125, 4.51171875, 6.55078125]
    out = imresize(RAMP, scale=1 / 2)
    np.testing.assert_allclose(out, np.tile(expected, (4, 1)), atol=1e-12)
    np.testing.assert_allclose(
        imresize(RAMP.T, scale=1 / 2), np.tile(expected, (4, 1)).T, atol=1e-12
    )


def test_golden_ramp_downscale_by_4():
    # scale 1/4: h(x) = cubic(x/4)/4; u = 4o - 1.5 → 2.5, 6.5. For o=1 the weights of the taps at
    # distance 2.5, 3.5, 4.5, 5.5, 6.5, 7.5 are cubic(d/4)/4 = 0.097412109375, 0.022705078125,
    # -0.011962890625, -0.018310546875, -0.010986328125, -0.001708984375.
    # Left taps 0..-5 mirror to 1..6: value error +1, +3, +5, +7, +9, +11 at d = 2.5..7.5;
    # right taps 9, 10 mirror to 8, 7: error -1, -3 at d = 6.5, 7.5.
    #   1.5 + (0.097412109375 + 3*0.022705078125 - 5*0.011962890625 - 7*0.018310546875
    #          - 9*0.010986328125 - 11*0.001708984375) + (0.010986328125 + 3*0.001708984375)
    #   = 1.5 - 0.14013671875 + 0.01611328125 = 1.3759765625;  o=2 by symmetry: 7 - that.
    expected = [1.3759765625, 5.6240234375]
    out = imresize(RAMP, scale=1 / 4)
    np.testing.assert_allclose(out, np.tile(expected, (2, 1)), atol=1e-12)


def test_golden_ramp_upscale_by_2():
    # scale 2: plain cubic (no stretching), u = o/2 + 0.25 on the ramp 0..3.
    # o=1, u=0.75: taps -1 (d=1.75) and 0 (d=0.75) mirror to 2 and 1 (value 1, 0 vs -2, -1):
    #   -0.25 + 3*cubic(1.75) + 1*cubic(0.75) = -0.25 - 0.0703125 + 0.2265625 = -0.09375
    # o=2, u=1.25: tap 0 (d=1.25) mirrors to 1: 0.25 + cubic(1.25) = 0.25 - 0.0703125 = 0.1796875
    # o=3, u=1.75: tap 0 (d=1.75) still reaches the mirror: 0.75 + cubic(1.75) = 0.7265625
    # o=4, u=2.25: the nearest outside tap is at d=2.25, beyond the support: exact ramp, 1.25.
    # o=5..8 mirror o=4..1 about the ramp's centre: 3 - out[8 - o].
    out = imresize(np.tile(np.arange(4.0), (4, 1)), scale=2)
    expected = [-0.09375, 0.1796875, 0.7265625, 1.25, 1.75, 2.2734375, 2.8203125, 3.09375]
    np.testing.assert_allclose(out, np.tile(expected, (8, 1)), atol=1e-12)


# ----------------------------------------------------------------------------------------------
# (b) The module against the independent reference.
# ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("scale", SCALES + GENERAL_SCALES, ids=lambda s: f"scale{s:.3f}")
@pytest.mark.parametrize("shape", SHAPES, ids=lambda s: f"{s[0]}x{s[1]}")
def test_matches_reference(shape, scale):
    image = np.random.default_rng(sum(shape)).random(shape + (3,))
    out = imresize(image, scale=scale)
    expected = _reference(image, scale, scale, *out.shape[:2])
    assert out.shape == expected.shape
    np.testing.assert_allclose(out, expected, rtol=0, atol=1e-6)


def test_output_shape_matches_reference_with_per_dimension_scales():
    image = np.random.default_rng(1).random((17, 23))
    out = imresize(image, output_shape=(5, 40))
    np.testing.assert_allclose(out, _reference(image, 5 / 17, 40 / 23, 5, 40), rtol=0, atol=1e-6)


def test_float32_in_float32_out_and_grayscale():
    image = np.random.default_rng(2).random((30, 45)).astype(np.float32)
    out = imresize(image, scale=1 / 3)
    assert out.dtype == np.float32 and out.shape == (10, 15)
    np.testing.assert_allclose(out, _reference(image, 1 / 3, 1 / 3, 10, 15), atol=1e-6)


def test_uint8_rounds_and_saturates_instead_of_wrapping():
    # A 0 → 255 step: bicubic overshoots below 0 and above 255 next to the edge; a naive
    # astype(uint8) would wrap those to ~255 / ~0.
    step = np.zeros((8, 16), np.uint8)
    step[:, 8:] = 255
    out = imresize(step, scale=2)
    assert out.dtype == np.uint8
    as_float = _reference(step, 2, 2, 16, 32)
    assert as_float.min() < -1 and as_float.max() > 256  # the overshoot is really there
    np.testing.assert_array_less(np.abs(out - np.clip(np.round(as_float), 0, 255)), 1.01)
    assert out[:, :14].max() < 10 and out[:, 18:].min() > 245


def test_constant_image_stays_constant():
    np.testing.assert_allclose(imresize(np.full((13, 7, 3), 0.3), scale=1 / 3), 0.3, atol=1e-12)


# ----------------------------------------------------------------------------------------------
# (c) Why not tf.image.resize.
# ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("size,factor", [(32, 2), (30, 3), (32, 4)])
def test_tf_image_resize_differs_only_at_the_border_when_divisible(size, factor):
    image = np.random.default_rng(3).random((size, size, 3)).astype(np.float32)
    ours = imresize(image, scale=1 / factor)
    theirs = tf.image.resize(image, ours.shape[:2], "bicubic", antialias=True).numpy()
    diff = np.abs(ours - theirs)
    # Same kernel and sampling grid: the interior agrees to float32 rounding. The outer 2 output
    # pixels read taps beyond the edge (kernel half-width 2 output pixels), which MATLAB mirrors
    # and TF drops and renormalises.
    assert diff[2:-2, 2:-2].max() < 1e-5
    assert diff[0].mean() > 3e-3 and diff[:, -1].mean() > 3e-3


def test_tf_image_resize_differs_everywhere_when_not_divisible():
    # 30 px at 1/4 → ceil(7.5) = 8 px. MATLAB samples with scale 0.25, TF with 8/30.
    image = np.random.default_rng(4).random((30, 30, 3)).astype(np.float32)
    ours = imresize(image, scale=1 / 4)
    theirs = tf.image.resize(image, ours.shape[:2], "bicubic", antialias=True).numpy()
    assert np.abs(ours - theirs)[2:-2, 2:-2].max() > 1e-2


# ----------------------------------------------------------------------------------------------
# (d) The TF op eagerly, in tf.data and in a tf.function with unknown H and W.
# ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("scale", SCALES + GENERAL_SCALES, ids=lambda s: f"scale{s:.3f}")
def test_tf_eager_matches_numpy(scale):
    image = np.random.default_rng(5).random((17, 23, 3)).astype(np.float32)
    expected = imresize(image, scale=scale)
    out = imresize_tf(image, scale)
    assert out.dtype == tf.float32 and out.shape == expected.shape
    np.testing.assert_allclose(out.numpy(), expected, rtol=0, atol=1e-5)
    batched = imresize_tf(np.stack([image, image[::-1]]), scale).numpy()
    np.testing.assert_allclose(batched[0], expected, rtol=0, atol=1e-5)
    np.testing.assert_allclose(batched[1], imresize(image[::-1], scale=scale), rtol=0, atol=1e-5)


def test_tf_data_map_with_varying_sizes_matches_numpy():
    rng = np.random.default_rng(6)
    images = [rng.random(shape + (3,)).astype(np.float32) for shape in SHAPES]
    dataset = tf.data.Dataset.from_generator(
        lambda: iter(images), output_signature=tf.TensorSpec([None, None, 3], tf.float32)
    )
    dataset = dataset.map(lambda image: imresize_tf(image, 1 / 4))
    assert dataset.element_spec.shape.as_list() == [None, None, 3]
    for image, out in zip(images, dataset):
        np.testing.assert_allclose(out.numpy(), imresize(image, scale=1 / 4), rtol=0, atol=1e-5)


def test_tf_data_map_with_static_size_keeps_static_shape():
    image = np.random.default_rng(7).random((2, 32, 32, 3)).astype(np.float32)
    dataset = tf.data.Dataset.from_tensor_slices(image).map(lambda x: imresize_tf(x, 1 / 3))
    assert dataset.element_spec.shape.as_list() == [11, 11, 3]
    for x, out in zip(image, dataset):
        np.testing.assert_allclose(out.numpy(), imresize(x, scale=1 / 3), rtol=0, atol=1e-5)


@pytest.mark.parametrize("scale", [1 / 2, 1 / 3, 1 / 4, 2])
def test_tf_function_with_unknown_height_and_width(scale):
    resize = tf.function(
        lambda x: imresize_tf(x, scale),
        input_signature=[tf.TensorSpec([None, None, None, 3], tf.float32)],
    )
    rng = np.random.default_rng(8)
    for shape in SHAPES:
        batch = rng.random((2,) + shape + (3,)).astype(np.float32)
        out = resize(batch).numpy()
        for x, y in zip(batch, out):
            np.testing.assert_allclose(y, imresize(x, scale=scale), rtol=0, atol=1e-5)
    assert resize.experimental_get_tracing_count() == 1


def test_gradient_flows():
    image = tf.random.uniform([1, 16, 16, 3])
    with tf.GradientTape() as tape:
        tape.watch(image)
        loss = tf.reduce_sum(imresize_tf(image, 1 / 4))
    # Each output pixel's weights sum to 1, so d(sum)/d(input) sums to the output pixel count.
    np.testing.assert_allclose(
        tf.reduce_sum(tape.gradient(loss, image)).numpy(), 4 * 4 * 3, rtol=1e-5
    )


def test_real_photo_numpy_and_tf_agree():
    photo = skimage.data.astronaut().astype(np.float32) / 255.0  # 512x512x3
    ours = imresize(photo, scale=1 / 4)
    assert ours.shape == (128, 128, 3)
    np.testing.assert_allclose(imresize_tf(photo, 1 / 4).numpy(), ours, rtol=0, atol=1e-5)
    np.testing.assert_allclose(ours, _reference(photo, 1 / 4, 1 / 4, 128, 128), rtol=0, atol=1e-6)
    # A photo is smooth enough that a 4x bicubic round trip is close, but not identical.
    restored = imresize(ours, scale=4)
    mse = np.mean((restored - photo) ** 2)
    assert 20 < 10 * np.log10(1 / mse) < 40


# ----------------------------------------------------------------------------------------------
# (e) Output sizes: MATLAB's ceil rule.
# ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "size,scale,expected",
    [
        (17, 1 / 4, 5),
        (17, 1 / 3, 6),
        (17, 1 / 2, 9),
        (30, 1 / 4, 8),
        (30, 1 / 3, 10),
        (2040, 1 / 4, 510),
        (1356, 1 / 3, 452),
        (7, 2, 14),
        (5, 1.5, 8),
    ],
)
def test_output_size_uses_ceil(size, scale, expected):
    assert output_size(size, scale) == expected
    image = np.zeros((size, 3), np.float32)
    assert imresize(image, scale=scale).shape == (expected, output_size(3, scale))
    dynamic = tf.function(
        lambda x: imresize_tf(x, scale),
        input_signature=[tf.TensorSpec([None, None, 1], tf.float32)],
    )
    assert tuple(dynamic(image[..., None]).shape) == (expected, output_size(3, scale), 1)


# ----------------------------------------------------------------------------------------------
# (f) Bad input.
# ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "kwargs,match",
    [
        (dict(image=np.zeros(5), scale=0.5), "HxW"),
        (dict(image=np.zeros((1, 4, 4, 3)), scale=0.5), "HxW"),
        (dict(image=np.zeros((0, 4)), scale=0.5), "empty"),
        (dict(image=np.zeros((4, 4)), scale=0), "positive"),
        (dict(image=np.zeros((4, 4)), scale=-0.5), "positive"),
        (dict(image=np.zeros((4, 4)), scale=float("nan")), "positive"),
        (dict(image=np.zeros((4, 4))), "exactly one"),
        (dict(image=np.zeros((4, 4)), scale=0.5, output_shape=(2, 2)), "exactly one"),
        (dict(image=np.zeros((4, 4)), output_shape=(2, 0)), "output_shape"),
        (dict(image=np.zeros((4, 4), np.int8), scale=0.5), "dtype"),
    ],
)
def test_numpy_bad_input(kwargs, match):
    with pytest.raises(ValueError, match=match):
        imresize(**kwargs)


@pytest.mark.parametrize(
    "image,scale,match",
    [
        (np.zeros((4, 4), np.float32), 0.5, "H, W, C"),
        (np.zeros((1, 1, 4, 4, 3), np.float32), 0.5, "H, W, C"),
        (np.zeros((0, 4, 3), np.float32), 0.5, "empty"),
        (np.zeros((4, 4, 3), np.float32), 0.0, "positive"),
        (np.zeros((4, 4, 3), np.uint8), 0.5, "float"),
    ],
)
def test_tf_bad_input(image, scale, match):
    with pytest.raises(ValueError, match=match):
        imresize_tf(image, scale)


def test_tf_empty_image_with_unknown_shape_fails_at_run_time():
    resize = tf.function(
        lambda x: imresize_tf(x, 0.5), input_signature=[tf.TensorSpec([None, None, 3], tf.float32)]
    )
    with pytest.raises(tf.errors.InvalidArgumentError, match="H and W must be > 0"):
        resize(np.zeros((0, 4, 3), np.float32))
