"""NIQE, the no-reference Natural Image Quality Evaluator, computed as BasicSR 1.4.2 does.

Reference: A. Mittal, R. Soundararajan and A. C. Bovik, "Making a 'completely blind' image
quality analyzer", IEEE Signal Processing Letters 20(3), 2013, and its MATLAB release
(``niqe_release.zip``: computequality.m, computefeature.m, estimateaggdparam.m and the pristine
model modelparameters.mat). Lower is better. Super-resolution work often reports it through
BasicSR's ``basicsr/metrics/niqe.py::calculate_niqe``, a port of the MATLAB release that scores
the Y channel; this module matches BasicSR 1.4.2 (see "Precision" for how closely).

The computation, for an image of at least two 96x96 blocks after cropping:

* the image is rounded to the uint8 values it would be saved as (``metrics.to_uint8``); RGB
  becomes the BT.601 luma Y of MATLAB's ``rgb2ycbcr`` on the [16, 235] scale (BasicSR's
  ``convert_to='y'``; the MATLAB release converts colour with ``rgb2gray`` instead), grey is
  used as it is;
* ``crop_border`` pixels are removed from every edge, then Y is rounded half to even
  (``np.round``, as BasicSR; MATLAB's ``round`` is half away from zero and differs on the few
  pixels whose float32 Y is exactly k + 0.5: 3 of astronaut's, 8 of stereo_motorcycle's, which
  moves NIQE by up to 1.4e-3 on scikit-image's photos);
* only the top-left ``floor(h / 96) x floor(w / 96)`` blocks are kept, before any filtering;
* at two scales -- the image, then the image downscaled by 2 with MATLAB's antialiased bicubic
  ``imresize`` (not rounded) -- the MSCN coefficients (paper eq. 1) are
  (I - mu) / (sigma + 1), mu and sigma^2 the local mean and variance under a 7x7 Gaussian
  window with replicated borders; each block (96x96, then 48x48) gives 18 features: the shape
  and mean scale of an asymmetric generalised Gaussian (AGGD) fitted to its MSCN, and the shape,
  mean and left/right scales of AGGDs fitted to the products of each coefficient with its
  neighbour in 4 orientations (circular shifts inside the block, MATLAB's ``circshift``);
* the 36 features of all blocks are fitted with a Gaussian (mean ignoring NaN, covariance over
  the NaN-free blocks) and NIQE is the distance
  sqrt((mu_p - mu)^T pinv((cov_p + cov) / 2) (mu_p - mu)) to the pristine model (mu_p, cov_p).

A block whose MSCN are all exactly 0 (a perfectly flat region) or all of one sign has NaN scales.
Its NaN features are left out of the mean and the whole block out of the covariance, but its AGGD
shapes (0.2, the first grid value, as MATLAB's ``min`` and numpy's ``argmin`` of NaNs give) count.

Precision. BasicSR computes in float32, and NIQE amplifies float32 rounding: the local variance
E[x^2] - mu^2 cancels on values up to 65025, which moves sigma by ~4e-3 where it is small. An
all-float64 implementation (MATLAB's precision) differs from BasicSR by up to 0.05 on photos and
by 0.73 on a photo with a flat region. This module therefore repeats BasicSR's float32 steps: the
same ``scipy.ndimage.convolve`` (float64 inside, one rounding to float32); float32 variance, MSCN
and AGGD moments (numpy's pairwise sums over the same 1-D arrays: the AGGD shape is the nearest
point of a 0.001 grid, so a last-bit change can move it); and BasicSR's torch float32 ``imresize``
down to the order in which it adds the 8 taps of each output pixel (``halve``). The result equals
BasicSR 1.4.2's (torch 2.13, MKL's AVX2 kernels) to the last bit on scikit-image's photos (the
59 golden cases of ``tests/metrics/test_niqe.py``). At the 1e-3 level BasicSR's own value
depends on the machine: MKL's summation order depends on its kernel (chosen per CPU) and on
memory alignment, and summing the taps left to right instead moves some photos by up to
3.1e-3 (a float64 ``imresize`` such as ``data.imresize``: up to 3.9e-3).

Speed: the AGGD shape grid is computed once (``_shape_grid``), not in each of the 250 fits of a
512x512 image as BasicSR does (timings: docs/metrics.md).
"""

import functools
import importlib.resources

import numpy as np
from scipy import ndimage, special

from esrgan_tf.metrics.psnr_ssim import to_uint8

# The pristine model of the MATLAB release (modelparameters.mat: mu_prisparam, cov_prisparam)
# and its 7x7 window, as BasicSR 1.4.2 ships them (Apache-2.0): basicsr/metrics/
# niqe_pris_params.npz of the PyPI sdist basicsr-1.4.2.tar.gz, whose sha256 is
#   b89b595a87ef964cda9913b4d99380ddb6554c965577c0c10cb7b78e31301e87;
# the npz (copied unchanged beside this module) has sha256
#   2a7c182a68c9e7f1b2e2e5ec723279d6f65d912b6fcaf37eb2bf03d7367c4296.
# It holds mu_pris_param [1, 36], cov_pris_param [36, 36] and gaussian_window [7, 7] (float64),
# the window being MATLAB's fspecial('gaussian', 7, 7 / 6) of computequality.m (to 1.4e-17):
# the paper's Gaussian "sampled out to 3 standard deviations", K = L = 3.
_PARAMS_FILE = "niqe_pris_params.npz"

# Block size of the MATLAB release (blocksizerow = blocksizecol = 96), the size the pristine
# model was fitted with; blocks do not overlap (blockrowoverlap = blockcoloverlap = 0).
_BLOCK = 96
# Stabilising constant of the MSCN denominator, sigma + C: paper eq. 1 and computequality.m.
_MSCN_C = 1.0
# Neighbours of the paired products (horizontal, vertical, main and secondary diagonal) as
# np.roll shifts (rows, columns): computefeature.m's circshift shifts [0 1; 1 0; 1 1; 1 -1].
_SHIFTS = ((0, 1), (1, 0), (1, 1), (1, -1))
# BT.601 luma of MATLAB's rgb2ycbcr for B, G, R in [0, 1] (BasicSR's bgr2ycbcr order, which is
# also the order of its float64 sum), on the [16, 235] scale.
_Y_WEIGHTS_BGR = np.array([24.966, 128.553, 65.481])
_Y_OFFSET = 16.0
# MATLAB's bicubic imresize by 1/2 with antialiasing (Keys cubic, a = -0.5, stretched to 8
# taps): every output k of an even-length signal is sum_t taps[t] * x[2k - 3 + t], mirrored at
# the edges. The weights are exact dyadic numbers (x / 256) that sum to 1.
_HALVE_TAPS = np.array([-3, -9, 29, 111, 111, 29, -9, -3], np.float32) / np.float32(256)
_HALVE_PAD = 3


class UndefinedError(ValueError):
    """NIQE is undefined for this image: fewer than two 96x96 blocks fit, or too few have texture.

    Reports show such an image's NIQE as missing instead of failing (`fits` tells the first
    case from the image size alone).
    """


def fits(height, width, crop_border=0):
    """Whether a `height` x `width` image holds NIQE's two 96x96 blocks after the crop."""
    rows, cols = ((n - 2 * int(crop_border)) // _BLOCK for n in (height, width))
    return rows >= 1 and cols >= 1 and rows * cols >= 2


@functools.cache
def pristine_model():
    """(mu_p [1, 36], cov_p [36, 36], window [7, 7]) float64, read once from the package."""
    resource = importlib.resources.files("esrgan_tf.metrics").joinpath(_PARAMS_FILE)
    with resource.open("rb") as f, np.load(f) as params:
        return tuple(params[key] for key in ("mu_pris_param", "cov_pris_param", "gaussian_window"))


@functools.cache
def _shape_grid():
    """The AGGD shapes tried, MATLAB's gam = 0.2:0.001:10, and r(gam) for each (float64).

    r(gam) = Gamma(2 / gam)^2 / (Gamma(1 / gam) Gamma(3 / gam)) rises strictly (0.063 to 0.741),
    so the nearest grid point of a ratio is found by bisection instead of over all 9801 points.
    """
    shapes = np.arange(0.2, 10.001, 0.001)
    inverse = np.reciprocal(shapes)
    ratios = np.square(special.gamma(inverse * 2)) / (
        special.gamma(inverse) * special.gamma(inverse * 3)
    )
    return shapes, ratios


def _nearest_shape(ratio):
    """gam[argmin((r(gam) - ratio)^2)]: the first minimum; gam[0] when ratio is NaN or inf."""
    shapes, ratios = _shape_grid()
    if not np.isfinite(ratio):
        return shapes[0]
    k = int(np.searchsorted(ratios, ratio))
    candidates = [i for i in (k - 1, k) if 0 <= i < ratios.size]
    errors = [(ratios[i] - ratio) ** 2 for i in candidates]
    return shapes[candidates[int(np.argmin(errors))]]


def _rms(x):
    """sqrt(mean(x^2)) in float32, NaN for an empty array (no warning)."""
    return np.sqrt(np.mean(x * x)) if x.size else np.float32(np.nan)


def _fit_aggd(x):
    """(shape, left scale, right scale) of an AGGD fitted to a flat float32 array by moments.

    The moment matching of Lasmar, Stitou and Berthoumieu (ICIP 2009) as the release's
    estimateaggdparam.m does it: the grid shape whose r is nearest to the ratio E[|x|]^2 / E[x^2]
    corrected for the asymmetry gammahat = sigma_left / sigma_right. Exact zeros are on neither
    side. The moments are float32 like BasicSR's, which decides near-ties between grid points.
    """
    left, right = _rms(x[x < 0]), _rms(x[x > 0])
    gammahat = left / right
    rhat = np.mean(np.abs(x)) ** 2 / np.mean(x * x)
    rhatnorm = (rhat * (gammahat**3 + 1) * (gammahat + 1)) / ((gammahat**2 + 1) ** 2)
    shape = _nearest_shape(rhatnorm)
    scale = np.sqrt(special.gamma(1 / shape) / special.gamma(3 / shape))
    return shape, left * scale, right * scale


def _block_features(block):
    """The 18 features of one block of MSCN coefficients (float32 [n, n])."""
    shape, left, right = _fit_aggd(block.ravel())
    features = [shape, (left + right) / 2]
    for shift in _SHIFTS:
        product = block * np.roll(block, shift, axis=(0, 1))
        shape, left, right = _fit_aggd(product.ravel())
        mean = (right - left) * (special.gamma(2 / shape) / special.gamma(1 / shape))
        features += [shape, mean, left, right]
    return features


def _mscn(image, window):
    """(I - mu) / (sigma + 1) of a float32 image, with BasicSR's float32 roundings.

    scipy's convolve accumulates in float64 and rounds once to the float32 of its input;
    'nearest' replicates the border (MATLAB's imfilter(..., 'replicate')). The variance is
    float32: its cancellation is where NIQE is most sensitive to precision (module docstring).
    """
    mu = ndimage.convolve(image, window, mode="nearest")
    mean_sq = ndimage.convolve(np.square(image), window, mode="nearest")
    sigma = np.sqrt(np.abs(mean_sq - np.square(mu)))
    return (image - mu) / (sigma + np.float32(_MSCN_C))


def _features(image, rows, cols, window):
    """[rows * cols, 18] features of the blocks of one scale, column by column as MATLAB."""
    mscn = _mscn(image, window)
    size = image.shape[0] // rows
    return np.array(
        [
            _block_features(mscn[i * size : (i + 1) * size, j * size : (j + 1) * size])
            for j in range(cols)
            for i in range(rows)
        ]
    )


def halve(image):
    """MATLAB's imresize(image, 0.5) (bicubic, antialiased) of a float32 image, as BasicSR's.

    BasicSR 1.4.2 resizes in torch float32, rows then columns, each output pixel an 8-tap dot
    product (``torch.mv``). The products are float32 and so are their sums, whose order is MKL's:
    along the rows a plain left-to-right sum; along the columns one of two trees, by the 16-byte
    alignment of the taps (measured on torch 2.13 with MKL's AVX2 kernels; in NIQE the padded
    width is 6 mod 96, so output column k uses tree k % 2). The trees were read off torch.mv
    by probing it with addends 2^k and +-2^40, which show the partial sums each addend joins,
    and they reproduce BasicSR's output bit for bit. Other orders move the output by ~1e-5,
    which the float32 variance turns into NIQE differences of up to 4e-3.
    """
    height, width = image.shape
    pad = _HALVE_PAD
    # Half-sample symmetric mirror: ... x1 x0 | x0 x1 ... (MATLAB's padarray 'symmetric').
    padded = np.pad(image, ((pad, pad), (0, 0)), mode="symmetric")
    rows = [padded[t : t + height : 2] * _HALVE_TAPS[t] for t in range(8)]
    out = rows[0]
    for t in range(1, 8):
        out = out + rows[t]

    padded = np.pad(out, ((0, 0), (pad, pad)), mode="symmetric")
    p = [padded[:, t : t + width : 2] * _HALVE_TAPS[t] for t in range(8)]
    even = ((p[0] + p[1] + p[2] + p[4]) + (p[3] + p[5]) + p[6]) + p[7]
    odd = (p[0] + p[1] + p[2] + p[3] + p[4] + p[6]) + (p[5] + p[7])
    out = even
    out[:, 1::2] = odd[:, 1::2]
    return out


def _luma(image):
    """The image as BasicSR scores it: float32 [H, W] on the [0, 255] scale, not rounded."""
    image = np.asarray(image)
    if image.ndim == 3 and image.shape[-1] == 1:
        image = image[..., 0]
    if image.ndim == 2:
        return to_uint8(image).astype(np.float32)
    if image.ndim != 3 or image.shape[-1] != 3:
        raise ValueError(f"Expected an HxW, HxWx1 or HxWx3 image, got shape {image.shape}.")
    # BasicSR's float32 path: x / 255 in float32, the dot product in float64, Y / 255 stored as
    # float32 and scaled back in float32 (which decides the rounding of near-ties).
    bgr = to_uint8(image)[..., ::-1].astype(np.float32) / np.float32(255)
    y = np.dot(bgr, _Y_WEIGHTS_BGR) + _Y_OFFSET
    return (y / 255.0).astype(np.float32) * np.float32(255)


def niqe(image, crop_border=0):
    """NIQE of an image (lower is better), as BasicSR 1.4.2's ``calculate_niqe(..., 'y')``.

    Args:
      image: HxWx3 RGB or HxW (HxWx1) grey, float in [0, 1] (rounded to uint8 first, like
        ``metrics.to_uint8``: NIQE is computed on the saved image) or uint8. RGB is scored on its
        BT.601 luma Y, grey as it is.
      crop_border: pixels removed from every edge before scoring.

    Returns:
      A Python float.

    Raises:
      UndefinedError (a ValueError): when fewer than two 96x96 blocks fit in the cropped image
        (it needs at least 96x192 or 192x96 pixels, `fits`; BasicSR fails there with an SVD or
        torch error), or when fewer than two blocks have texture (the covariance is undefined).
      ValueError: a bad shape or crop_border.
    """
    if int(crop_border) != crop_border or crop_border < 0:
        raise ValueError(f"crop_border must be a non-negative integer, got {crop_border}.")
    crop_border = int(crop_border)
    y = _luma(image)
    height, width = y.shape
    if crop_border:
        y = y[crop_border : height - crop_border, crop_border : width - crop_border]
    rows, cols = (n // _BLOCK for n in y.shape)
    if rows * cols < 2:
        raise UndefinedError(
            f"NIQE needs at least two {_BLOCK}x{_BLOCK} blocks, i.e. {_BLOCK}x{2 * _BLOCK} or "
            f"{2 * _BLOCK}x{_BLOCK} pixels, after removing crop_border={crop_border} pixels from "
            f"each edge; got {y.shape[0]}x{y.shape[1]} of a {height}x{width} image."
        )
    # np.round is half to even, as BasicSR ("consistent with MATLAB" except on exact ties).
    y = np.round(y[: rows * _BLOCK, : cols * _BLOCK])

    mu_p, cov_p, window = pristine_model()
    with np.errstate(divide="ignore", invalid="ignore"):
        scale_1 = _features(y, rows, cols, window)
        y_half = halve(y / np.float32(255)) * np.float32(255)
        scale_2 = _features(y_half, rows, cols, window)
    features = np.concatenate([scale_1, scale_2], axis=1)

    complete = features[~np.isnan(features).any(axis=1)]
    if len(complete) < 2:
        raise UndefinedError(
            f"NIQE is undefined for this image: only {len(complete)} of its {rows * cols} "
            f"{_BLOCK}x{_BLOCK} blocks have texture at both scales (flat blocks give NaN "
            "features), and the covariance needs two."
        )
    mu = np.nanmean(features, axis=0)
    cov = np.cov(complete, rowvar=False)
    diff = mu_p - mu
    quality = diff @ np.linalg.pinv((cov_p + cov) / 2) @ diff.T
    return float(np.sqrt(quality.item()))
