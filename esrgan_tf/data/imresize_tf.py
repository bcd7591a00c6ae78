"""MATLAB-exact ``imresize(image, scale, 'bicubic')`` as TensorFlow ops, for `tf.data` map
functions and `tf.function` graphs: the algorithm of `esrgan_tf.data.imresize` (its docstring
says what MATLAB does), on [H, W, C] or [N, H, W, C] tensors whose H and W may be known only at
run time.
"""

import tensorflow as tf

from esrgan_tf.data.imresize import check_scale, kernel_width_and_taps, output_size


# Keys (1981) cubic with a = -0.5, as `imresize._cubic_np`.
def _cubic(x):
    ax = tf.abs(x)
    ax2, ax3 = ax * ax, ax * ax * ax
    near = 1.5 * ax3 - 2.5 * ax2 + 1.0
    far = -0.5 * ax3 + 2.5 * ax2 - 4.0 * ax + 2.0
    return tf.where(ax <= 1.0, near, tf.where(ax <= 2.0, far, tf.zeros_like(ax)))


def _contributions_tf(in_size, scale):
    """Tap indices [out, taps] (int32, 0-based, mirrored) and weights [out, taps] (float64).

    ``in_size`` is a Python int when static (the result then has a static shape) or a scalar
    int32 tensor when H or W are only known at run time.
    """
    width, taps = kernel_width_and_taps(scale)
    if isinstance(in_size, int):
        out_size = output_size(in_size, scale)
    else:
        out_size = tf.cast(tf.math.ceil(tf.cast(in_size, tf.float64) * scale), tf.int32)
    u = (tf.range(1, out_size + 1, dtype=tf.float64) / scale) + 0.5 * (1.0 - 1.0 / scale)
    idx = tf.floor(u - width / 2.0)[:, None] + tf.range(taps, dtype=tf.float64)[None, :]
    dist = u[:, None] - idx
    if scale < 1:
        weights = scale * _cubic(scale * dist)
    else:
        weights = _cubic(dist)
    weights /= tf.reduce_sum(weights, axis=1, keepdims=True)
    period = 2 * in_size
    idx = tf.math.floormod(tf.cast(idx, tf.int32) - 1, period)
    idx = tf.where(idx < in_size, idx, period - 1 - idx)
    return idx, weights


def _resize_axis_tf(image, axis, scale):
    in_size = image.shape[axis]
    if in_size is None:
        in_size = tf.shape(image)[axis]
    idx, weights = _contributions_tf(in_size, scale)
    # A gather and a weighted sum rather than a dense [out, in] matmul: memory stays linear in
    # the image, and no matmul means no TF32 rounding on Ampere GPUs (~1e-3, too coarse here).
    gathered = tf.gather(image, idx, axis=axis)  # axis → (out, taps)
    trailing = image.shape.rank - 1 - axis
    weights = tf.cast(weights, image.dtype)[(Ellipsis,) + (None,) * trailing]
    return tf.reduce_sum(gathered * weights, axis=axis + 1)


def imresize_tf(image, scale):
    """MATLAB-exact bicubic resize with TF ops, for tf.data map functions and tf.function graphs.

    Args:
      image: float tensor [H, W, C] or [N, H, W, C]; H and W may be unknown until run time.
      scale: Python number, e.g. 1/4 to downscale by 4. Output size is ceil(scale * size).

    Returns:
      The resized tensor, same rank and dtype. Agrees with ``imresize`` to float32 rounding.
    """
    image = tf.convert_to_tensor(image)
    scale = check_scale(scale)
    rank = image.shape.rank
    if rank not in (3, 4):
        raise ValueError(f"image must be [H, W, C] or [N, H, W, C], got shape {image.shape}")
    if not image.dtype.is_floating:
        raise ValueError(f"image must be a float tensor, got {image.dtype.name}")
    h_axis = rank - 3
    static_hw = image.shape[h_axis : h_axis + 2]
    if any(n == 0 for n in static_hw):
        raise ValueError(f"image is empty, got shape {image.shape}")
    if not static_hw.is_fully_defined():
        tf.debugging.assert_positive(
            tf.shape(image)[h_axis : h_axis + 2], message="imresize_tf: image H and W must be > 0"
        )
    # One scale for both dimensions: MATLAB's stable sort resizes rows first.
    resized = _resize_axis_tf(image, h_axis, scale)
    return _resize_axis_tf(resized, h_axis + 1, scale)
