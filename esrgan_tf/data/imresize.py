"""MATLAB-exact ``imresize(image, scale, 'bicubic')`` in NumPy (TensorFlow ops: `imresize_tf`).

Super-resolution benchmarks (SRCNN onwards, ESRGAN included) make their low-resolution images
with MATLAB's antialiased bicubic ``imresize``. ``tf.image.resize(..., 'bicubic', antialias=True)``
uses the same kernel but differs in two ways that cost PSNR when a model is trained on one kind of
LR image and tested on the other:

* at the border MATLAB mirrors the input (``padarray(..., 'symmetric')``), TF drops the taps that
  fall outside and renormalises the rest, so the outer ~2 output pixels differ;
* MATLAB keeps the requested scale when the size is not divisible by it (17 px at 1/4 → 5 px,
  sampled with scale 0.25); TF resamples with out/in = 5/17, which shifts every pixel.

The algorithm, from MATLAB's documentation of ``imresize`` (each dimension separately):

* Keys cubic kernel with a = -0.5, support [-2, 2];
* downscaling (scale < 1) antialiases by stretching it: h(x) = scale * cubic(scale * x),
  width 4 / scale;
* output size ceil(scale * in_size); output pixel u (1-based) samples the input at
  x = u / scale + 0.5 * (1 - 1 / scale), from taps floor(x - width / 2) + [0, ceil(width) + 2);
* tap weights are normalised to sum 1 per output pixel *before* out-of-range taps are mirrored;
* dimensions are resized in order of increasing scale (rows first on ties).

Images are HxW or HxWxC, RGB in [0, 1] by convention. No TensorFlow here: data preparation's
worker processes use this module and must not pay for importing it.
"""

import math

import numpy as np

# Support of the unstretched cubic kernel, in input pixels.
_KERNEL_WIDTH = 4.0


# Keys (1981), "Cubic convolution interpolation for digital image processing", with a = -0.5:
# the value MATLAB's imresize uses (and the only a for which the kernel is third-order accurate).
def _cubic_np(x):
    ax = np.abs(x)
    ax2, ax3 = ax * ax, ax * ax * ax
    near = 1.5 * ax3 - 2.5 * ax2 + 1.0
    far = -0.5 * ax3 + 2.5 * ax2 - 4.0 * ax + 2.0
    return np.where(ax <= 1.0, near, np.where(ax <= 2.0, far, 0.0))


def kernel_width_and_taps(scale):
    width = _KERNEL_WIDTH / scale if scale < 1 else _KERNEL_WIDTH
    # MATLAB takes two taps more than the support spans, so it is covered whatever the sub-pixel
    # offset; taps beyond the support get zero weight.
    return width, int(math.ceil(width)) + 2


def output_size(in_size, scale):
    """MATLAB's output length for one dimension: ceil(scale * in_size)."""
    return int(math.ceil(in_size * scale))


def check_scale(scale):
    if (
        isinstance(scale, bool)
        or not isinstance(scale, (int, float, np.floating, np.integer))
        or not math.isfinite(scale)
        or scale <= 0
    ):
        raise ValueError(f"scale must be a positive finite number, got {scale!r}")
    return float(scale)


# ----------------------------------------------------------------------------------------------
# NumPy
# ----------------------------------------------------------------------------------------------


def resize_matrix(in_size, out_size, scale):
    """Dense [out_size, in_size] float64 matrix M with resized = M @ signal along one dimension.

    Mirrored taps are accumulated, so a border pixel that a tap reaches twice (once directly and
    once through the mirror) gets the sum of both weights, as MATLAB's index mapping does.
    """
    width, taps = kernel_width_and_taps(scale)
    u = np.arange(1, out_size + 1, dtype=np.float64) / scale + 0.5 * (1.0 - 1.0 / scale)
    idx = np.floor(u - width / 2.0)[:, None] + np.arange(taps)[None, :]
    dist = u[:, None] - idx
    if scale < 1:
        weights = scale * _cubic_np(scale * dist)
    else:
        weights = _cubic_np(dist)
    weights /= weights.sum(axis=1, keepdims=True)
    matrix = np.zeros((out_size, in_size), dtype=np.float64)
    rows = np.broadcast_to(np.arange(out_size)[:, None], idx.shape)
    np.add.at(matrix, (rows, _mirror_np(idx.astype(np.int64) - 1, in_size)), weights)
    return matrix


def _mirror_np(idx, size):
    """0-based symmetric mirroring (edge pixel repeated), periodic with period 2 * size."""
    idx = np.mod(idx, 2 * size)
    return np.where(idx < size, idx, 2 * size - 1 - idx)


def imresize(image, scale=None, output_shape=None):
    """Resizes an HxW or HxWxC array exactly like MATLAB's ``imresize(image, ..., 'bicubic')``.

    Args:
      image: HxW or HxWxC array, float (any range; [0, 1] by convention) or unsigned integer.
      scale: resize factor, e.g. 1/4 to downscale by 4 or 2 to upscale by 2. Output size is
        ceil(scale * size) and the sampling grid uses ``scale`` itself, as in MATLAB.
      output_shape: (out_h, out_w) instead of ``scale``; each dimension then uses out/in.

    Returns:
      The resized array. Float input is computed in float64 and returned in its own dtype.
      Unsigned-integer input is rounded and clipped after *each* dimension, because MATLAB's
      resampling kernel returns the input's class between the two passes.
    """
    image = np.asarray(image)
    if image.ndim not in (2, 3):
        raise ValueError(f"image must be HxW or HxWxC, got shape {image.shape}")
    if image.size == 0:
        raise ValueError(f"image is empty, got shape {image.shape}")
    is_float = np.issubdtype(image.dtype, np.floating)
    if not (is_float or np.issubdtype(image.dtype, np.unsignedinteger)):
        raise ValueError(f"image dtype must be float or unsigned integer, got {image.dtype}")
    in_shape = image.shape[:2]
    if (scale is None) == (output_shape is None):
        raise ValueError("give exactly one of scale and output_shape")
    if scale is not None:
        scales = (check_scale(scale),) * 2
        out_shape = tuple(output_size(n, scales[0]) for n in in_shape)
    else:
        out_shape = tuple(output_shape)
        if len(out_shape) != 2 or not all(
            isinstance(n, (int, np.integer)) and n > 0 for n in out_shape
        ):
            raise ValueError(f"output_shape must be two positive ints, got {output_shape!r}")
        scales = tuple(o / n for o, n in zip(out_shape, in_shape))

    result = image.astype(np.float64)
    # Stable sort: MATLAB resizes the smaller-scale dimension first, rows first on ties.
    for axis in np.argsort(scales, kind="stable"):
        matrix = resize_matrix(in_shape[axis], out_shape[axis], scales[axis])
        result = np.moveaxis(np.tensordot(matrix, result, axes=([1], [axis])), 0, axis)
        if not is_float:
            limit = np.iinfo(image.dtype).max
            # MATLAB's double → integer conversion: saturate, round half away from zero.
            result = np.floor(np.clip(result, 0, limit) + 0.5)
    return result.astype(image.dtype)
