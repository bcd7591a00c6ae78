"""Tests of Real-ESRGAN's degradation model (`esrgan_tf.data.degradations`).

Golden values come from outside the module: the kernel formulas re-derived here in NumPy/SciPy
(Real-ESRGAN §3.1), SciPy's multivariate normal, OpenCV (Gaussian kernel, JPEG) and BasicSR 1.4.2
itself, the code Real-ESRGAN trains with, whose outputs are recorded in
tests/golden/basicsr_1.4.2_degradations.npz (made by tests/golden/make_basicsr_degradations.py;
provenance in the .json beside it).
"""

import math
import os

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view
import pytest
import scipy.special
import scipy.stats
import skimage.data
import tensorflow as tf

from esrgan_tf.data import degradations as deg

SCALE = 4
HR = 128  # >= minimum_hr_size(4) = 74


@pytest.fixture(scope="module")
def photo():
    """A 128x128 and a 128x96 float32 crop of a real photo."""
    image = skimage.data.astronaut().astype(np.float32) / 255.0
    return image[120 : 120 + HR, 150 : 150 + HR], image[200 : 200 + HR, 40:136]


def _seed(a, b=0):
    return tf.constant([a, b], tf.int64)


# ---------------------------------------------------------------------------------------
# BasicSR 1.4.2 as an oracle
# ---------------------------------------------------------------------------------------

GOLDEN = os.path.join(
    os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
    "golden",
    "basicsr_1.4.2_degradations.npz",
)


@pytest.fixture(scope="module")
def basicsr():
    """BasicSR 1.4.2's outputs (tests/golden/make_basicsr_degradations.py)."""
    with np.load(GOLDEN) as golden:
        return dict(golden)


# ---------------------------------------------------------------------------------------
# Kernels against their formulas
# ---------------------------------------------------------------------------------------


def _grid(size):
    """Offsets from the centre: x along columns, y along rows (Real-ESRGAN §3.1)."""
    t = (size - 1) // 2
    y, x = np.mgrid[-t : t + 1, -t : t + 1].astype(np.float64)
    return x, y


def _quadratic_form(size, sigma_x, sigma_y, theta):
    """C^T Sigma^-1 C with Sigma = R diag(sigma_x^2, sigma_y^2) R^T, inverted numerically."""
    rotation = np.array([[math.cos(theta), -math.sin(theta)], [math.sin(theta), math.cos(theta)]])
    sigma = rotation @ np.diag([sigma_x**2, sigma_y**2]) @ rotation.T
    x, y = _grid(size)
    c = np.stack([x, y], -1)
    return np.einsum("...i,ij,...j->...", c, np.linalg.inv(sigma), c)


def _np_kernel(kind, size, sigma_x, sigma_y, theta, beta):
    q = _quadratic_form(size, sigma_x, sigma_y, theta)
    kernel = np.exp(-0.5 * q**beta) if kind == "generalized" else 1.0 / (1.0 + q**beta)
    return kernel / kernel.sum()


def _np_sinc(size, omega_c):
    x, y = _grid(size)
    r = np.hypot(x, y)
    with np.errstate(invalid="ignore", divide="ignore"):
        kernel = omega_c * scipy.special.j1(omega_c * r) / (2 * np.pi * r)
    kernel[r == 0] = omega_c**2 / (4 * np.pi)  # the limit: J1(z) ~ z / 2
    return kernel / kernel.sum()


def _pad(kernel, to):
    p = (to - kernel.shape[0]) // 2
    return np.pad(kernel, p)


KERNEL_CASES = [  # size, sigma_x, sigma_y (None: isotropic), theta, beta
    (7, 0.2, None, 0.0, 0.5),
    (7, 1.3, None, 0.0, 2.0),
    (13, 2.1, 0.6, 0.7, 1.5),
    (15, 0.4, 3.0, -2.9, 0.8),
    (21, 3.0, 1.1, math.pi / 2, 4.0),
]


@pytest.mark.parametrize("size,sigma_x,sigma_y,theta,beta", KERNEL_CASES)
def test_gaussian_kernel_is_the_normalised_multivariate_normal(size, sigma_x, sigma_y, theta, beta):
    del beta
    sy = sigma_x if sigma_y is None else sigma_y
    rotation = np.array([[math.cos(theta), -math.sin(theta)], [math.sin(theta), math.cos(theta)]])
    cov = rotation @ np.diag([sigma_x**2, sy**2]) @ rotation.T
    x, y = _grid(size)
    pdf = scipy.stats.multivariate_normal(mean=[0, 0], cov=cov).pdf(np.stack([x, y], -1))
    got = deg.gaussian_kernel(size, sigma_x, sigma_y, theta if sigma_y else 0.0).numpy()
    assert got.shape == (size, size) and got.dtype == np.float32
    np.testing.assert_allclose(got, pdf / pdf.sum(), rtol=1e-5, atol=1e-7)


@pytest.mark.parametrize("size,sigma_x,sigma_y,theta,beta", KERNEL_CASES)
@pytest.mark.parametrize("kind", ["generalized", "plateau"])
def test_shaped_kernels_match_their_formulas(kind, size, sigma_x, sigma_y, theta, beta):
    fn = deg.generalized_gaussian_kernel if kind == "generalized" else deg.plateau_kernel
    sy, th = (sigma_x, 0.0) if sigma_y is None else (sigma_y, theta)
    expected = _np_kernel(kind, size, sigma_x, sy, th, beta)
    np.testing.assert_allclose(fn(size, sigma_x, sigma_y, th, beta).numpy(), expected, atol=1e-7)
    padded = fn(size, sigma_x, sigma_y, th, beta, pad_to=21).numpy()
    np.testing.assert_allclose(padded, _pad(expected, 21), atol=1e-7)


def test_isotropic_gaussian_is_an_outer_product_of_1d_gaussians():
    g = np.exp(-(np.arange(-5, 6) ** 2) / (2 * 1.7**2))
    g /= g.sum()
    np.testing.assert_allclose(deg.gaussian_kernel(11, 1.7).numpy(), np.outer(g, g), atol=1e-8)


def test_shaped_kernels_with_beta_1_and_rotation_invariance():
    # beta = 1: generalized Gaussian is the Gaussian; plateau is 1 / (1 + r^2 / sigma^2).
    np.testing.assert_allclose(
        deg.generalized_gaussian_kernel(9, 1.4, 0.7, 0.3, 1.0).numpy(),
        deg.gaussian_kernel(9, 1.4, 0.7, 0.3).numpy(),
        atol=1e-8,
    )
    x, y = _grid(9)
    plateau = 1.0 / (1.0 + (x * x + y * y) / 1.5**2)
    np.testing.assert_allclose(
        deg.plateau_kernel(9, 1.5, beta=1.0).numpy(), plateau / plateau.sum(), atol=1e-8
    )
    # Rotating by pi / 2 swaps the axes: the kernel transposes.
    a = deg.gaussian_kernel(15, 2.5, 0.5, 0.0).numpy()
    b = deg.gaussian_kernel(15, 2.5, 0.5, math.pi / 2).numpy()
    np.testing.assert_allclose(b, a.T, atol=1e-8)
    assert a[7, 14] > a[14, 7]  # sigma_x = 2.5 spreads along the columns (x)


@pytest.mark.parametrize(
    "size,omega_c,pad_to", [(7, math.pi / 3, 21), (13, 1.1, 0), (21, math.pi, 21)]
)
def test_sinc_kernel_matches_the_bessel_formula(size, omega_c, pad_to):
    expected = _np_sinc(size, omega_c)
    got = deg.sinc_kernel(size, omega_c, pad_to=pad_to).numpy()
    np.testing.assert_allclose(got, _pad(expected, pad_to) if pad_to else expected, atol=1e-7)
    assert got.sum() == pytest.approx(1.0, abs=1e-6)


def test_kernel_arguments_are_checked():
    with pytest.raises(ValueError, match="odd"):
        deg.gaussian_kernel(8, 1.0)
    with pytest.raises(ValueError, match="pad_to"):
        deg.sinc_kernel(23, 1.0, pad_to=21)


def test_kernels_match_basicsr(basicsr):
    for i, (size, sigma_x, sigma_y, theta, beta) in enumerate(basicsr["kernel_cases"]):
        size, sigma_y = int(size), None if np.isnan(sigma_y) else sigma_y
        theta = 0.0 if sigma_y is None else theta
        for kind, ours in (
            ("gaussian", deg.gaussian_kernel(size, sigma_x, sigma_y, theta)),
            ("generalized", deg.generalized_gaussian_kernel(size, sigma_x, sigma_y, theta, beta)),
            ("plateau", deg.plateau_kernel(size, sigma_x, sigma_y, theta, beta)),
        ):
            np.testing.assert_allclose(ours.numpy(), basicsr[f"{kind}_{i}"], atol=1e-7)
    for i, (size, omega_c, pad_to) in enumerate(basicsr["sinc_cases"]):
        np.testing.assert_allclose(
            deg.sinc_kernel(int(size), omega_c, int(pad_to)).numpy(),
            basicsr[f"sinc_{i}"],
            atol=1e-7,
        )


# ---------------------------------------------------------------------------------------
# The kernel sampler
# ---------------------------------------------------------------------------------------

N_SAMPLES = 4000


@pytest.fixture(scope="module")
def samples():
    """sample_degradation over N_SAMPLES seeds (inside tf.data), as NumPy."""
    ds = tf.data.Dataset.range(N_SAMPLES).map(
        lambda i: deg.sample_degradation(tf.stack([tf.constant(11, tf.int64), i])),
        num_parallel_calls=2,
    )
    return tf.nest.map_structure(lambda t: t.numpy(), next(iter(ds.batch(N_SAMPLES))))


def _assert_frequency(hits, p):
    """The frequency of `hits` (bools) is p within 4.5 binomial standard deviations."""
    n = hits.size
    assert abs(hits.mean() - p) <= 4.5 * math.sqrt(p * (1 - p) / n) + 1e-12, (hits.mean(), p)


@pytest.mark.slow
@pytest.mark.parametrize("stage,sigma_range", [("kernel1", (0.2, 3.0)), ("kernel2", (0.2, 1.5))])
def test_stage_kernels_follow_real_esrgan_x4plus(samples, stage, sigma_range):
    k = samples[stage]
    kind, size = k["kind"], k["size"]
    # sinc_prob 0.1, then kernel_prob [0.45, 0.25, 0.12, 0.03, 0.12, 0.03].
    _assert_frequency(kind == deg.SINC, 0.1)
    for index, p in enumerate([0.45, 0.25, 0.12, 0.03, 0.12, 0.03]):
        _assert_frequency(kind == index, 0.9 * p)
    assert not np.any(kind == deg.PULSE)
    # Sizes 7, 9, ..., 21, uniform.
    assert set(np.unique(size)) == set(range(7, 22, 2))
    for s in range(7, 22, 2):
        _assert_frequency(size == s, 1 / 8)
    blur = ~(kind == deg.SINC)
    lo, hi = sigma_range
    assert np.all((k["sigma_x"][blur] >= lo) & (k["sigma_x"][blur] <= hi))
    assert np.all((k["sigma_y"][blur] >= lo) & (k["sigma_y"][blur] <= hi))
    assert k["sigma_x"][blur].min() < lo + 0.05 and k["sigma_x"][blur].max() > hi - 0.05
    iso = np.isin(kind, [0, 2, 4])
    np.testing.assert_array_equal(k["sigma_y"][iso], k["sigma_x"][iso])
    assert np.all(k["theta"][iso] == 0)
    aniso = np.isin(kind, [1, 3, 5])
    assert np.all(np.abs(k["theta"][aniso]) <= math.pi) and k["theta"][aniso].min() < -2.5
    # beta: Gaussians 1; else half uniform in [low, 1], half in [1, high].
    assert np.all(k["beta"][np.isin(kind, [0, 1])] == 1.0)
    generalized = k["beta"][np.isin(kind, [2, 3])]
    assert np.all((generalized >= 0.5) & (generalized <= 4.0))
    _assert_frequency(generalized < 1.0, 0.5)
    plateau = k["beta"][np.isin(kind, [4, 5])]
    assert np.all((plateau >= 1.0) & (plateau <= 2.0))
    _assert_frequency(plateau == 1.0, 0.5)  # uniform(betap_range[0] = 1, 1)
    # sinc: omega_c in [pi/3, pi] below size 13, else [pi/5, pi].
    sinc = kind == deg.SINC
    omega = k["omega_c"]
    small = sinc & (size < 13)
    assert np.all((omega[small] >= math.pi / 3) & (omega[small] <= math.pi))
    large = sinc & (size >= 13)
    assert np.all((omega[large] >= math.pi / 5) & (omega[large] <= math.pi))
    assert omega[large].min() < math.pi / 3
    # The kernels: 21x21, sum 1, zero outside the size x size centre.
    kernels = k["kernel"]
    assert kernels.shape == (N_SAMPLES, 21, 21)
    np.testing.assert_allclose(kernels.sum((1, 2)), 1.0, atol=1e-5)
    ring = np.abs(np.arange(21) - 10)
    outside = np.maximum(ring[:, None], ring[None, :])[None] > (size[:, None, None] - 1) // 2
    assert np.all(kernels[np.broadcast_to(outside, kernels.shape)] == 0)


def test_sampled_kernels_are_their_formulas(samples):
    k = samples["kernel1"]
    for kind in range(7):
        i = int(np.flatnonzero(k["kind"] == kind)[0])
        size, sx, sy, theta, beta = (
            k[n][i] for n in ("size", "sigma_x", "sigma_y", "theta", "beta")
        )
        if kind == deg.SINC:
            expected = _np_sinc(size, k["omega_c"][i])
        else:
            shape = "plateau" if kind in (4, 5) else "generalized"
            expected = _np_kernel(shape, size, sx, sy, theta, beta)
        np.testing.assert_allclose(k["kernel"][i], _pad(expected, 21), atol=1e-7)


def test_the_other_draws_follow_real_esrgan_x4plus(samples):
    final = samples["final_sinc"]
    _assert_frequency(final["kind"] == deg.SINC, 0.8)  # final_sinc_prob
    assert set(np.unique(final["kind"])) == {deg.SINC, deg.PULSE}
    sinc = final["kind"] == deg.SINC
    assert np.all((final["omega_c"][sinc] >= math.pi / 3) & (final["omega_c"][sinc] <= math.pi))
    pulse = final["kernel"][~sinc]
    assert np.all(pulse[:, 10, 10] == 1) and np.all(pulse.sum((1, 2)) == 1)
    _assert_frequency(samples["blur2"], 0.8)  # second_blur_prob
    _assert_frequency(samples["resize_sinc_first"], 0.5)
    for name, probs, (lo, hi) in [
        ("resize1", (0.2, 0.7, 0.1), (0.15, 1.5)),
        ("resize2", (0.3, 0.4, 0.3), (0.3, 1.2)),
    ]:
        r = samples[name]
        for direction, p in enumerate(probs):
            _assert_frequency(r["direction"] == direction, p)
        up, down, keep = (r["scale"][r["direction"] == i] for i in range(3))
        assert np.all((up >= 1) & (up <= hi)) and np.all((down >= lo) & (down <= 1))
        assert np.all(keep == 1) and down.min() < lo + 0.01 and up.max() > hi - 0.01
        for mode in range(3):
            _assert_frequency(r["mode"] == mode, 1 / 3)
    for mode in range(3):
        _assert_frequency(samples["final_mode"] == mode, 1 / 3)
    for name, (lo, hi), (plo, phi) in [
        ("noise1", (1, 30), (0.05, 3.0)),
        ("noise2", (1, 25), (0.05, 2.5)),
    ]:
        n = samples[name]
        _assert_frequency(n["gaussian"], 0.5)
        _assert_frequency(n["gray"], 0.4)
        assert np.all((n["sigma"] >= lo) & (n["sigma"] <= hi))
        assert np.all((n["poisson_scale"] >= plo) & (n["poisson_scale"] <= phi))
    for name in ("jpeg1", "jpeg2"):
        assert set(np.unique(samples[name])) == set(range(30, 96))


def test_sampling_is_a_function_of_the_seed():
    a = deg.sample_degradation(_seed(3, 4))
    b = deg.sample_degradation(_seed(3, 4))
    c = deg.sample_degradation(_seed(3, 5))
    flat = [tf.nest.flatten(x) for x in (a, b, c)]
    assert all(np.array_equal(x, y) for x, y in zip(flat[0], flat[1]))
    assert not all(np.array_equal(x, y) for x, y in zip(flat[0], flat[2]))


# ---------------------------------------------------------------------------------------
# Filtering and USM
# ---------------------------------------------------------------------------------------


def _np_filter2d(image, kernel):
    """Correlation with PyTorch's 'reflect' padding (NumPy 'reflect': edge not repeated)."""
    r = kernel.shape[0] // 2
    padded = np.pad(image.astype(np.float64), ((r, r), (r, r), (0, 0)), mode="reflect")
    windows = sliding_window_view(padded, kernel.shape, axis=(0, 1))  # [H, W, C, k, k]
    return np.einsum("hwcij,ij->hwc", windows, kernel.astype(np.float64))


def test_filter2d_is_reflect_padded_correlation(photo):
    image = photo[1][:40, :50]
    kernel = np.random.RandomState(0).rand(21, 21).astype(np.float32)  # not symmetric
    kernel /= kernel.sum()
    got = deg.filter2d(tf.constant(image), tf.constant(kernel)).numpy()
    np.testing.assert_allclose(got, _np_filter2d(image, kernel), atol=2e-6)


def test_filter2d_matches_basicsr(basicsr):
    got = deg.filter2d(
        tf.constant(basicsr["filter_input"]), tf.constant(basicsr["filter_kernel"])
    ).numpy()
    np.testing.assert_allclose(got, basicsr["filter_output"], atol=2e-6)


def test_usm_kernel_is_opencvs_gaussian():
    cv2 = pytest.importorskip("cv2")
    g = cv2.getGaussianKernel(51, 0)
    np.testing.assert_allclose(deg.usm_kernel(50).numpy(), g @ g.T, atol=1e-9)
    # sigma 0.3 * ((51 - 1) / 2 - 1) + 0.8 = 8: OpenCV's rule for sigma <= 0.
    x = np.arange(51) - 25
    g8 = np.exp(-(x**2) / (2 * 8.0**2))
    np.testing.assert_allclose(deg.usm_kernel(50).numpy()[25], g8 / g8.sum() * (g8[25] / g8.sum()))


def _np_usm(image, weight=0.5, threshold=10):
    x = np.arange(51) - 25
    g = np.exp(-(x**2) / (2 * 8.0**2))
    kernel = np.outer(g, g) / g.sum() ** 2
    blur = _np_filter2d(image, kernel)
    residual = image - blur
    mask = (np.abs(residual) * 255 > threshold).astype(np.float64)
    soft = _np_filter2d(mask, kernel)
    sharp = np.clip(image + weight * residual, 0, 1)
    return soft * sharp + (1 - soft) * image


def test_usm_sharpen_matches_numpy(photo):
    image = photo[1]
    got = deg.usm_sharpen(tf.constant(image)).numpy()
    expected = _np_usm(image.astype(np.float64))
    # A residual within float32 rounding of the threshold may flip one mask pixel.
    assert np.mean(np.abs(got - expected) > 1e-5) < 1e-3
    np.testing.assert_allclose(np.median(np.abs(got - expected)), 0, atol=1e-6)
    assert np.abs(got - image).max() > 0.05  # it does sharpen
    assert got.min() >= 0 and got.max() <= 1


def test_usm_sharpen_matches_basicsr(basicsr):
    got = deg.usm_sharpen(tf.constant(basicsr["usm_input"])).numpy()
    np.testing.assert_allclose(got, basicsr["usm_output"], atol=1e-5)
    assert np.abs(got - basicsr["usm_input"]).max() > 0.05  # the case does sharpen


# ---------------------------------------------------------------------------------------
# Noise
# ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("gray", [False, True])
def test_gaussian_noise_has_sigma_over_255(gray):
    image = tf.fill([96, 96, 3], 0.5)
    out = deg.add_gaussian_noise(image, _seed(1), 20.0, tf.constant(gray)).numpy()
    noise = out - 0.5
    n = noise.size
    assert abs(noise.mean()) < 5 * (20 / 255) / math.sqrt(n)
    assert noise.std() == pytest.approx(20 / 255, rel=0.03)
    correlation = np.corrcoef(noise[..., 0].ravel(), noise[..., 1].ravel())[0, 1]
    if gray:
        np.testing.assert_array_equal(noise[..., 0], noise[..., 1])
        np.testing.assert_array_equal(noise[..., 0], noise[..., 2])
    else:
        assert abs(correlation) < 0.05
    again = deg.add_gaussian_noise(image, _seed(1), 20.0, tf.constant(gray)).numpy()
    other = deg.add_gaussian_noise(image, _seed(2), 20.0, tf.constant(gray)).numpy()
    np.testing.assert_array_equal(out, again)
    assert not np.array_equal(out, other)


def test_gaussian_noise_is_clipped():
    out = deg.add_gaussian_noise(tf.fill([32, 32, 3], 0.98), _seed(1), 30.0, tf.constant(False))
    assert out.numpy().max() == 1.0 and out.numpy().min() >= 0.0


def _levels_image(num_levels, flat_level=100, rows=64, width=256):
    """Row 0 holds 8-bit levels 0..num_levels-1 (repeated), the rest is flat_level: the
    image has exactly num_levels distinct levels when flat_level < num_levels."""
    image = np.full((rows, width, 3), flat_level, np.float32)
    image[0] = (np.arange(width) % num_levels)[:, None]
    return image / 255.0


@pytest.mark.parametrize("num_levels,vals", [(128, 128), (129, 256), (256, 256), (101, 128)])
def test_poisson_noise_variance_is_intensity_over_vals(num_levels, vals):
    # vals = 2 ** ceil(log2(number of distinct 8-bit levels)); Var = x / vals * scale^2.
    image = _levels_image(num_levels)
    scale = 1.0
    out = deg.add_poisson_noise(tf.constant(image), _seed(5), scale, tf.constant(False)).numpy()
    noise = (out - image)[1:]
    x = 100 / 255
    assert noise.var() == pytest.approx(x / vals * scale**2, rel=0.05)
    assert abs(noise.mean()) < 5 * math.sqrt(x / vals / noise.size)
    # Poisson(x * vals) / vals: the noisy values lie on the 1/vals grid.
    np.testing.assert_allclose((out[1:] * vals) % 1, 0, atol=2e-3)
    half = deg.add_poisson_noise(tf.constant(image), _seed(5), 0.5, tf.constant(False)).numpy()
    np.testing.assert_allclose((half - image)[1:], 0.5 * noise, atol=1e-6)  # no clipping there


def test_gray_poisson_noise_is_the_lumas_in_every_channel():
    image = np.zeros((64, 256, 3), np.float32)
    image[0] = (np.arange(256) / 255.0)[:, None]  # 256 gray levels: vals = 256
    image[1:] = (0.6, 0.5, 0.4)  # 9 standard deviations from clipping
    out = deg.add_poisson_noise(tf.constant(image), _seed(6), 1.0, tf.constant(True)).numpy()
    noise = (out - image)[1:]
    np.testing.assert_allclose(noise[..., 0], noise[..., 1], atol=1e-6)
    np.testing.assert_allclose(noise[..., 0], noise[..., 2], atol=1e-6)
    luma = round((0.2989 * 0.6 + 0.587 * 0.5 + 0.114 * 0.4) * 255) / 255  # torchvision weights
    assert noise[..., 0].var() == pytest.approx(luma / 256, rel=0.05)
    # Colour noise is independent per channel.
    color = deg.add_poisson_noise(tf.constant(image), _seed(6), 1.0, tf.constant(False)).numpy()
    assert (
        abs(np.corrcoef((color - image)[1:, :, 0].ravel(), (color - image)[1:, :, 1].ravel())[0, 1])
        < 0.05
    )


@pytest.mark.parametrize("gray", [0, 1])
def test_noise_statistics_match_basicsr(basicsr, gray):
    left, right, gaussian = basicsr["noise_std"][gray]
    image = _levels_image(129)  # vals = 256
    image[1:, 128:] = (0.8, 0.4, 0.2)
    ours = deg.add_poisson_noise(tf.constant(image), _seed(7), 1.5, tf.constant(bool(gray)))
    ours = ours.numpy() - image
    assert ours[1:, :128].std() == pytest.approx(left, rel=0.06)
    assert ours[1:, 128:].std() == pytest.approx(right, rel=0.06)
    ours = deg.add_gaussian_noise(
        tf.fill([64, 256, 3], 0.5), _seed(8), 12.0, tf.constant(bool(gray))
    )
    assert (ours.numpy() - 0.5).std() == pytest.approx(gaussian, rel=0.03)


# ---------------------------------------------------------------------------------------
# JPEG and resize
# ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("quality", [30, 61, 95])
def test_jpeg_is_opencvs_jpeg(photo, quality):
    cv2 = pytest.importorskip("cv2")
    pixels = np.round(photo[1] * 255).astype(np.uint8)
    _, encoded = cv2.imencode(".jpg", pixels[..., ::-1], [cv2.IMWRITE_JPEG_QUALITY, quality])
    expected = cv2.imdecode(encoded, cv2.IMREAD_COLOR)[..., ::-1]
    got = deg.jpeg(tf.constant(photo[1]), tf.constant(quality)).numpy()
    np.testing.assert_array_equal(np.round(got * 255), expected)  # BasicSR add_jpg_compression


def test_jpeg_rounds_and_clips_its_input():
    image = tf.constant(np.full((16, 16, 3), 0.5 / 255 + 1e-4, np.float32) + [[[0.0, 2.0, -1.0]]])
    got = np.round(deg.jpeg(image, tf.constant(95)).numpy() * 255)
    # Level round(0.5255) = 1 (adjust_jpeg_quality's x * 255.5 would truncate it to 0); 2.0
    # and -1.0 clip to 255 and 0. JPEG of the flat colour (1, 255, 0) is exact to a level.
    np.testing.assert_allclose(got, np.broadcast_to([1, 255, 0], got.shape), atol=1)
    assert np.mean(got[..., 0]) > 0.5


@pytest.mark.parametrize("mode", range(3))
def test_resize_is_tf_image_resize(photo, mode):
    image = tf.constant(photo[0])
    got = deg.resize(image, tf.constant([45, 70]), tf.constant(mode))
    expected = tf.image.resize(image, [45, 70], method=deg.RESIZE_MODES[mode])
    np.testing.assert_array_equal(got.numpy(), expected.numpy())


# ---------------------------------------------------------------------------------------
# The whole degradation
# ---------------------------------------------------------------------------------------


def _reference(hr, params, scale, sharpened=True):
    """Real-ESRGAN's feed_data order, composed here from the step functions with the output
    sizes computed in Python as PyTorch does."""
    h, w = hr.shape[:2]
    p = tf.nest.map_structure(lambda t: t.numpy(), params)

    def noise(image, n):
        if n["gaussian"]:
            return deg.add_gaussian_noise(image, n["seed"], n["sigma"], tf.constant(n["gray"]))
        return deg.add_poisson_noise(image, n["seed"], n["poisson_scale"], tf.constant(n["gray"]))

    def resize(image, size, mode):
        return tf.image.resize(image, size, method=deg.RESIZE_MODES[mode])

    out = deg.usm_sharpen(tf.constant(hr)) if sharpened else tf.constant(hr)
    out = deg.filter2d(out, tf.constant(p["kernel1"]["kernel"]))
    s = p["resize1"]["scale"]
    out = resize(out, [math.floor(h * s), math.floor(w * s)], p["resize1"]["mode"])
    out = deg.jpeg(noise(out, p["noise1"]), tf.constant(p["jpeg1"]))
    if p["blur2"]:
        out = deg.filter2d(out, tf.constant(p["kernel2"]["kernel"]))
    s = p["resize2"]["scale"]
    out = resize(out, [int(h / scale * s), int(w / scale * s)], p["resize2"]["mode"])
    out = noise(out, p["noise2"])

    def resize_and_sinc(image):
        image = resize(image, [h // scale, w // scale], p["final_mode"])
        if p["final_sinc"]["kind"] == deg.PULSE:
            return image
        return deg.filter2d(image, tf.constant(p["final_sinc"]["kernel"]))

    if p["resize_sinc_first"]:
        out = deg.jpeg(resize_and_sinc(out), tf.constant(p["jpeg2"]))
    else:
        out = resize_and_sinc(deg.jpeg(out, tf.constant(p["jpeg2"])))
    return np.clip(np.round(out.numpy() * 255), 0, 255) / 255


@pytest.mark.slow
def test_degrade_follows_real_esrgans_order(photo):
    # Seeds until every branch has been taken: both final orders with and without the final
    # sinc, no second blur, and both noise types in both stages.
    wanted = {("order", a, b) for a in (False, True) for b in (deg.SINC, deg.PULSE)}
    wanted |= {("blur2", False)} | {(n, g) for n in ("noise1", "noise2") for g in (False, True)}
    covered = set()
    for i in range(60):
        p = deg.sample_degradation(_seed(i, 1))
        keys = {
            ("order", bool(p["resize_sinc_first"]), int(p["final_sinc"]["kind"])),
            ("blur2", bool(p["blur2"])),
            ("noise1", bool(p["noise1"]["gaussian"])),
            ("noise2", bool(p["noise2"]["gaussian"])),
        }
        if not (keys & wanted) - covered:
            continue
        covered |= keys & wanted
        lr, _ = deg.degrade(photo[1], _seed(i, 1), SCALE)
        np.testing.assert_array_equal(lr.numpy(), _reference(photo[1], p, SCALE))
    assert covered == wanted


def test_degrade_of_the_plain_ground_truth(photo):
    config = deg.DegradationConfig(degrade_sharpened=False)
    params = deg.sample_degradation(_seed(3), config)
    lr, hr_usm = deg.apply_degradation(photo[0], params, SCALE, config)
    np.testing.assert_array_equal(lr.numpy(), _reference(photo[0], params, SCALE, sharpened=False))
    np.testing.assert_allclose(hr_usm.numpy(), deg.usm_sharpen(tf.constant(photo[0])).numpy())


@pytest.mark.parametrize("which", [0, 1])
def test_degrade_shapes_range_and_quantisation(photo, which):
    hr = photo[which]
    for i in range(4):
        lr, hr_usm = deg.degrade(hr, _seed(i, 2), SCALE)
        assert lr.shape == (hr.shape[0] // SCALE, hr.shape[1] // SCALE, 3)
        assert hr_usm.shape == hr.shape and lr.dtype == tf.float32
        lr = lr.numpy()
        assert lr.min() >= 0 and lr.max() <= 1
        np.testing.assert_allclose(lr * 255, np.round(lr * 255), atol=1e-4)
        np.testing.assert_allclose(hr_usm.numpy(), deg.usm_sharpen(tf.constant(hr)).numpy())


def test_degrade_is_deterministic_and_seeded(photo):
    a = deg.degrade(photo[0], _seed(9), SCALE)[0].numpy()
    b = deg.degrade(photo[0], _seed(9), SCALE)[0].numpy()
    c = deg.degrade(photo[0], _seed(10), SCALE)[0].numpy()
    np.testing.assert_array_equal(a, b)
    assert np.mean(np.abs(a - c)) > 1 / 255


@pytest.mark.slow
def test_degrade_eagerly_equals_inside_tf_data(photo):
    hrs = [photo[0], photo[0], photo[0][:, :96]]
    seeds = [_seed(20, 3), _seed(21, 3), _seed(22, 3)]
    eager = [deg.degrade(hr, seed, SCALE) for hr, seed in zip(hrs, seeds)]
    ds = tf.data.Dataset.from_generator(
        lambda: zip(hrs, [s.numpy() for s in seeds]),
        output_signature=(
            tf.TensorSpec([HR, None, 3], tf.float32),
            tf.TensorSpec([2], tf.int64),
        ),
    )
    ds = ds.map(lambda hr, s: deg.degrade(hr, s, SCALE), num_parallel_calls=2, deterministic=True)
    in_data = list(ds)
    for (lr_a, usm_a), (lr_b, usm_b) in zip(eager, in_data):
        np.testing.assert_array_equal(lr_a.numpy(), lr_b.numpy())
        np.testing.assert_array_equal(usm_a.numpy(), usm_b.numpy())
    assert in_data[0][0].shape == (32, 32, 3) and in_data[2][0].shape == (32, 24, 3)


@pytest.mark.slow
@pytest.mark.parametrize(
    "fn",
    [
        lambda x, s: deg.usm_sharpen(x),
        lambda x, s: deg.filter2d(x, deg.sample_kernel(s, deg.FIRST_STAGE.blur)),
        lambda x, s: deg.add_noise(x, deg.sample_degradation(s)["noise1"]),
        lambda x, s: deg.add_poisson_noise(x, s, 1.0, tf.constant(True)),
        lambda x, s: deg.jpeg(x, deg.sample_degradation(s)["jpeg1"]),
        lambda x, s: deg.resize(x, tf.constant([50, 40]), deg.sample_degradation(s)["final_mode"]),
    ],
    ids=["usm", "filter2d", "noise", "gray_poisson", "jpeg", "resize"],
)
def test_map_functions_eagerly_equal_inside_tf_data(photo, fn):
    seeds = [_seed(30 + i) for i in range(3)]
    eager = [fn(tf.constant(photo[0]), s).numpy() for s in seeds]
    ds = tf.data.Dataset.from_tensor_slices(tf.stack(seeds)).map(lambda s: fn(photo[0], s))
    for a, b in zip(eager, ds):
        np.testing.assert_array_equal(a, b.numpy())


def test_degrade_of_a_batch_is_per_example_with_split_seeds(photo):
    batch = tf.stack([photo[0], photo[0][::-1]])
    lr, hr_usm = deg.degrade(batch, _seed(40), SCALE)
    assert lr.shape == (2, 32, 32, 3) and hr_usm.shape == (2, HR, HR, 3)
    seeds = tf.random.experimental.stateless_split(_seed(40), 2)
    for i in range(2):
        single, _ = deg.degrade(batch[i], seeds[i], SCALE)
        np.testing.assert_array_equal(lr[i].numpy(), single.numpy())


def test_degrade_refuses_images_too_small_to_pad(photo):
    assert deg.minimum_hr_size(4) == 74  # floor(74 * 0.15) = 11 > 10, the 21x21 kernels' pad
    with pytest.raises(ValueError, match="at least 74"):
        deg.degrade(photo[0][:64, :64], _seed(0), SCALE)


def test_configs_are_validated():
    with pytest.raises(ValueError, match="kernel_probs"):
        deg.BlurConfig(kernel_probs=(0.5, 0.5))
    with pytest.raises(ValueError, match="kernel_sizes"):
        deg.BlurConfig(kernel_sizes=(7, 8))
    with pytest.raises(ValueError, match="kernel_types"):
        deg.BlurConfig(kernel_types=("iso", "skew"), kernel_probs=(0.5, 0.5))
    with pytest.raises(ValueError, match="resize_range"):
        deg.StageConfig(resize_range=(1.1, 1.5))
    with pytest.raises(ValueError, match="jpeg_range"):
        deg.StageConfig(jpeg_range=(30.0, 95.0))
    with pytest.raises(ValueError, match="final_sinc_prob"):
        deg.DegradationConfig(final_sinc_prob=1.5)
    assert deg.REAL_ESRGAN_X4PLUS.second.blur.sigma_range == (0.2, 1.5)
