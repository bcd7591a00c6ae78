"""PSNR and SSIM with the conventions of the super-resolution literature.

Papers from SRCNN to ESRGAN report numbers from MATLAB scripts (and later BasicSR, which mimics
them), so a metric is only comparable when every convention matches:

* images are compared as they would be saved: float images are clipped to [0, 1] and rounded to
  uint8 first (see ``to_uint8``), then everything is computed in float64 on the [0, 255] scale;
* ``crop_border`` pixels are removed from every edge (the literature uses crop = scale);
* by default only the luma channel Y of BT.601 YCbCr is compared (``rgb_to_y``);
* SSIM is Wang et al. 2004 with an 11x11 Gaussian window, sigma 1.5, averaged over the windows
  that lie fully inside the (cropped) image -- MATLAB's ``ssim_index`` and BasicSR's ``_ssim``.
  scikit-image averages over a differently cropped map, so its ``structural_similarity`` is
  not the literature's number even with Gaussian weights.

Images are HxW, HxWx1 (grey) or HxWx3 (RGB), float in [0, 1] (the library convention) or uint8.
``psnr_tf`` is the batched TensorFlow counterpart of ``psnr`` for use inside training loops.
"""

import numpy as np
import tensorflow as tf

# ITU-R BT.601 luma for R, G, B in [0, 1] on the [16, 235] scale, as MATLAB's rgb2ycbcr.
_Y_WEIGHTS = (65.481, 128.553, 24.966)
_Y_OFFSET = 16.0
# Wang, Bovik, Sheikh, Simoncelli 2004, "Image quality assessment: from error visibility to
# structural similarity", §III-C: 11x11 circular-symmetric Gaussian, sigma 1.5, K1 0.01, K2 0.03.
_SSIM_WINDOW = 11
_SSIM_SIGMA = 1.5
_SSIM_C1 = (0.01 * 255.0) ** 2
_SSIM_C2 = (0.03 * 255.0) ** 2


def to_uint8(img):
    """Rounds an image to the uint8 values it would be saved as; uint8 passes through unchanged.

    Float images are clipped to [0, 1], scaled by 255 in float64 and rounded half up (= half away
    from zero, as MATLAB's ``im2uint8``). For float32 input the float64 product is exact and never
    a tie, so this is the correct rounding of the stored value. BasicSR (``tensor2img``) instead
    multiplies in float32, which can land exactly on k + 0.5, then rounds half to even: it differs
    from this by one level on such pixels -- common for box/bicubic filters of uint8 images, rare
    for network outputs. ``tf.image.convert_image_dtype`` truncates x * 255.5, which moves about
    half of all pixels by one level: save images with this function so they equal what is scored.
    """
    img = np.asarray(img)
    if img.dtype == np.uint8:
        return img
    if not np.issubdtype(img.dtype, np.floating):
        raise ValueError(f"Expected a float image in [0, 1] or uint8, got dtype {img.dtype}.")
    if not np.all(np.isfinite(img)):
        raise ValueError("Image contains NaN or infinite values.")
    scaled = np.clip(img.astype(np.float64), 0.0, 1.0) * 255.0
    return np.floor(scaled + 0.5).astype(np.uint8)


def rgb_to_y(img):
    """BT.601 luma Y of an RGB image on the [0, 255] scale, as float64, NOT rounded.

    Y = 16 + (65.481 R + 128.553 G + 24.966 B) / 255 for R, G, B in [0, 255]: MATLAB's
    ``rgb2ycbcr`` Y row (white -> 235, black -> 16) without its final rounding to uint8, which is
    what BasicSR's metrics use (``bgr2ycbcr(img / 255, y_only=True) * 255``).

    Args:
      img: [..., 3] array, uint8 or float on the [0, 255] scale (not [0, 1]).
    """
    img = np.asarray(img)
    if img.ndim < 1 or img.shape[-1] != 3:
        raise ValueError(f"rgb_to_y needs a [..., 3] RGB array, got shape {img.shape}.")
    return img.astype(np.float64) @ (np.array(_Y_WEIGHTS) / 255.0) + _Y_OFFSET


def _prepare(a, b, crop_border, test_y_channel):
    """Validates a pair, rounds to uint8, crops, converts; returns float64 [H, W, C] arrays."""
    a, b = np.asarray(a), np.asarray(b)
    if a.shape != b.shape:
        raise ValueError(f"Images differ in shape: {a.shape} vs {b.shape}.")
    if a.ndim not in (2, 3) or (a.ndim == 3 and a.shape[-1] not in (1, 3)):
        raise ValueError(f"Expected an HxW, HxWx1 or HxWx3 image, got shape {a.shape}.")
    if int(crop_border) != crop_border or crop_border < 0:
        raise ValueError(f"crop_border must be a non-negative integer, got {crop_border}.")
    crop_border = int(crop_border)
    height, width = a.shape[:2]
    if 2 * crop_border >= min(height, width):
        raise ValueError(f"crop_border={crop_border} leaves nothing of a {height}x{width} image.")
    out = []
    for img in (a, b):
        img = to_uint8(img)
        if crop_border:
            img = img[crop_border:-crop_border, crop_border:-crop_border]
        if img.ndim == 2:
            img = img[..., None]
        if test_y_channel and img.shape[-1] == 3:
            img = rgb_to_y(img)[..., None]
        out.append(img.astype(np.float64))
    return out


def psnr(a, b, crop_border=0, test_y_channel=True):
    """Peak signal-to-noise ratio in dB, 10 log10(255^2 / MSE); inf for identical images.

    Args:
      a, b: images of equal shape, HxW[x1|x3], float in [0, 1] or uint8 (see ``to_uint8``).
      crop_border: pixels removed from every edge before comparing.
      test_y_channel: compare the BT.601 luma (``rgb_to_y``) of RGB images instead of RGB.
        Grey images are compared as they are.
    """
    a, b = _prepare(a, b, crop_border, test_y_channel)
    mse = np.mean((a - b) ** 2)
    if mse == 0:
        return float("inf")
    return float(10.0 * np.log10(255.0**2 / mse))


def float_psnr(a, b, peak=1.0):
    """PSNR in dB of two float arrays as they are (no rounding, crop or colour conversion).

    For comparing two runtimes' outputs of the same model (export parity), where the
    literature's `psnr` would hide every difference below half a uint8 level. inf when
    the arrays are equal.
    """
    mse = float(np.mean((np.asarray(a, np.float64) - np.asarray(b, np.float64)) ** 2))
    return float("inf") if mse == 0 else float(10.0 * np.log10(peak**2 / mse))


def _gaussian_window():
    x = np.arange(_SSIM_WINDOW, dtype=np.float64) - (_SSIM_WINDOW - 1) / 2
    g = np.exp(-(x**2) / (2.0 * _SSIM_SIGMA**2))
    return g / g.sum()


def _filter_valid(img, g):
    """Separable correlation with the symmetric 1-D window g, keeping only full windows."""
    rows = np.lib.stride_tricks.sliding_window_view(img, g.size, axis=0) @ g
    return np.lib.stride_tricks.sliding_window_view(rows, g.size, axis=1) @ g


def _ssim_channel(x, y):
    g = _gaussian_window()
    mu_x, mu_y = _filter_valid(x, g), _filter_valid(y, g)
    var_x = _filter_valid(x * x, g) - mu_x**2
    var_y = _filter_valid(y * y, g) - mu_y**2
    cov = _filter_valid(x * y, g) - mu_x * mu_y
    ssim_map = ((2 * mu_x * mu_y + _SSIM_C1) * (2 * cov + _SSIM_C2)) / (
        (mu_x**2 + mu_y**2 + _SSIM_C1) * (var_x + var_y + _SSIM_C2)
    )
    return ssim_map.mean()


def ssim(a, b, crop_border=0, test_y_channel=True):
    """Structural similarity (Wang et al. 2004), mean over all full 11x11 windows.

    Same arguments as ``psnr``. RGB images (``test_y_channel=False``) give the mean of the three
    per-channel SSIMs. The cropped image must be at least 11x11.
    """
    a, b = _prepare(a, b, crop_border, test_y_channel)
    if min(a.shape[:2]) < _SSIM_WINDOW:
        raise ValueError(
            f"SSIM needs at least {_SSIM_WINDOW}x{_SSIM_WINDOW} pixels after cropping, "
            f"got {a.shape[0]}x{a.shape[1]}."
        )
    return float(np.mean([_ssim_channel(a[..., c], b[..., c]) for c in range(a.shape[-1])]))


def evaluate_pair(sr, hr, scale, crop_border=None):
    """PSNR and SSIM of an SR image against its HR reference, on RGB and on Y.

    Args:
      sr, hr: HxWx3 images, float in [0, 1] or uint8; hr already mod-cropped to sr's size.
      scale: the upscaling factor; the default ``crop_border`` (the literature's convention).
      crop_border: pixels removed from every edge; None means ``scale``.

    Returns:
      {"psnr_rgb", "ssim_rgb", "psnr_y", "ssim_y"} as Python floats.
    """
    crop = scale if crop_border is None else crop_border
    return {
        "psnr_rgb": psnr(sr, hr, crop, test_y_channel=False),
        "ssim_rgb": ssim(sr, hr, crop, test_y_channel=False),
        "psnr_y": psnr(sr, hr, crop, test_y_channel=True),
        "ssim_y": ssim(sr, hr, crop, test_y_channel=True),
    }


def psnr_tf(a, b, crop_border=0, test_y_channel=True):
    """Per-image PSNR of [N, H, W, 3] float batches in [0, 1], same conventions as ``psnr``.

    Rounds to the uint8 grid and computes in float64 so that it matches ``psnr`` exactly (float32
    would flip the rounding of a few pixels). Returns a float64 [N] tensor; inf where identical.
    """
    a, b = tf.convert_to_tensor(a), tf.convert_to_tensor(b)
    if a.shape.rank != 4 or b.shape.rank != 4 or a.shape[-1] != 3:
        raise ValueError(f"psnr_tf needs [N, H, W, 3] batches, got {a.shape} and {b.shape}.")
    if crop_border < 0:
        raise ValueError(f"crop_border must be non-negative, got {crop_border}.")
    if None not in a.shape[1:3] and 2 * crop_border >= min(a.shape[1:3]):
        raise ValueError(f"crop_border={crop_border} leaves nothing of {a.shape[1:3]} images.")

    def prepare(img):
        img = tf.clip_by_value(tf.cast(img, tf.float64), 0.0, 1.0)
        img = tf.floor(img * 255.0 + 0.5)
        if crop_border:
            img = img[:, crop_border:-crop_border, crop_border:-crop_border, :]
        if test_y_channel:
            weights = tf.constant(_Y_WEIGHTS, tf.float64) / 255.0
            img = tf.tensordot(img, weights, axes=[[3], [0]])[..., None] + _Y_OFFSET
        return img

    mse = tf.reduce_mean(tf.square(prepare(a) - prepare(b)), axis=[1, 2, 3])
    # 255^2 / 0 = inf, and log10(inf) = inf: identical images need no special case.
    return 10.0 * tf.math.log(255.0**2 / mse) / tf.math.log(tf.constant(10.0, tf.float64))
