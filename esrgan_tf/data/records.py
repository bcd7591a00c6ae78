"""TFRecord schema of prepared HR sub-images: written by `prepare`, read by the input pipeline.

One ``tf.train.Example`` per sub-image:

  ==========  =====  ==========================================================================
  hr          bytes  PNG, RGB; 8-bit for 8-bit sources, 16-bit for 16-bit sources
  hr_height   int64  height of ``hr``
  hr_width    int64  width of ``hr``
  bit_depth   int64  8 or 16, of both PNGs
  source      bytes  the input's relative path, ``skimage/<name>`` or ``tfds:<name>/<split>/<i>``
  y, x        int64  top-left corner of the crop in the (upright) source image
  lr          bytes  optional: PNG of ``hr`` downscaled by ``lr_scale`` with MATLAB-exact bicubic,
                     rounded; absent (read as b"") when the data was prepared without LR images
  lr_scale    int64  0 when there is no ``lr``
  ==========  =====  ==========================================================================

`parse_example` returns float32 images in [0, 1] whatever the bit depth, so consumers never look
at ``bit_depth``.
"""

import struct

import tensorflow as tf

HR = "hr"
HR_HEIGHT = "hr_height"
HR_WIDTH = "hr_width"
BIT_DEPTH = "bit_depth"
SOURCE = "source"
Y = "y"
X = "x"
LR = "lr"
LR_SCALE = "lr_scale"

_FEATURES = {
    HR: tf.io.FixedLenFeature([], tf.string),
    HR_HEIGHT: tf.io.FixedLenFeature([], tf.int64),
    HR_WIDTH: tf.io.FixedLenFeature([], tf.int64),
    BIT_DEPTH: tf.io.FixedLenFeature([], tf.int64),
    SOURCE: tf.io.FixedLenFeature([], tf.string),
    Y: tf.io.FixedLenFeature([], tf.int64),
    X: tf.io.FixedLenFeature([], tf.int64),
    LR: tf.io.FixedLenFeature([], tf.string, default_value=b""),
    LR_SCALE: tf.io.FixedLenFeature([], tf.int64, default_value=0),
}


def png_header(png):
    """(height, width, bit_depth) of an RGB PNG, read from its IHDR chunk."""
    if png[:8] != b"\x89PNG\r\n\x1a\n" or png[12:16] != b"IHDR" or len(png) < 29:
        raise ValueError("not a PNG")
    width, height, bit_depth, colour_type = struct.unpack(">IIBB", png[16:26])
    if colour_type != 2 or bit_depth not in (8, 16):
        raise ValueError(
            f"expected an 8- or 16-bit RGB PNG, got colour type {colour_type} with {bit_depth} bits"
        )
    return height, width, bit_depth


def _int64(value):
    return tf.train.Feature(int64_list=tf.train.Int64List(value=[int(value)]))


def _bytes(value):
    return tf.train.Feature(bytes_list=tf.train.BytesList(value=[value]))


def make_example(hr_png, *, source, y, x, lr_png=None, lr_scale=0):
    """Builds the ``tf.train.Example`` of one sub-image.

    Args:
      hr_png: PNG bytes of the HR sub-image, 8- or 16-bit RGB (`image_io.encode_png`).
      source: str, where the sub-image comes from (relative path or dataset id).
      y, x: top-left corner of the crop in the source image.
      lr_png: optional PNG bytes of the LR sub-image: same bit depth, HR size / ``lr_scale``.
      lr_scale: the LR's scale factor; required with ``lr_png``, 0 without.

    Returns:
      A ``tf.train.Example``. Serialize it with ``SerializeToString(deterministic=True)`` where
      bytes must be reproducible: features are a protobuf map, written in hash order otherwise.
    """
    height, width, bit_depth = png_header(hr_png)
    features = {
        HR: _bytes(hr_png),
        HR_HEIGHT: _int64(height),
        HR_WIDTH: _int64(width),
        BIT_DEPTH: _int64(bit_depth),
        SOURCE: _bytes(source.encode("utf-8")),
        Y: _int64(y),
        X: _int64(x),
        LR_SCALE: _int64(lr_scale),
    }
    if (lr_png is None) != (lr_scale == 0):
        raise ValueError("give lr_png and a positive lr_scale together, or neither")
    if lr_png is not None:
        expected = (height // lr_scale, width // lr_scale, bit_depth)
        if height % lr_scale or width % lr_scale or png_header(lr_png) != expected:
            raise ValueError(
                f"LR PNG is {png_header(lr_png)} (height, width, bits); expected "
                f"{expected} for a {height}x{width} HR at scale {lr_scale}"
            )
        features[LR] = _bytes(lr_png)
    return tf.train.Example(features=tf.train.Features(feature=features))


def _decode(png, height, width):
    # dtype=uint16 also reads 8-bit PNGs, scaled by 257 (255 → 65535), so one division maps both
    # bit depths to [0, 1]. The reshape fails loudly if a PNG disagrees with its stored size.
    pixels = tf.io.decode_png(png, channels=3, dtype=tf.uint16)
    pixels = tf.reshape(pixels, tf.stack([height, width, 3]))
    return tf.cast(pixels, tf.float32) / 65535.0


def parse_example(serialized):
    """Parses one serialized Example (a scalar string tensor); usable eagerly and in tf.data.

    Returns:
      dict with ``hr``: float32 [hr_height, hr_width, 3] in [0, 1]; ``lr``: float32
      [hr_height / lr_scale, hr_width / lr_scale, 3], or [0, 0, 3] when the record has no LR
      (the key is always there so that tf.data sees one structure); ``source``: string; and the
      int64 scalars ``hr_height``, ``hr_width``, ``bit_depth``, ``y``, ``x``, ``lr_scale``.
    """
    features = tf.io.parse_single_example(serialized, _FEATURES)
    height, width, scale = features[HR_HEIGHT], features[HR_WIDTH], features[LR_SCALE]
    parsed = {key: value for key, value in features.items() if key not in (HR, LR)}
    parsed[HR] = _decode(features[HR], height, width)
    safe_scale = tf.maximum(scale, 1)
    parsed[LR] = tf.cond(
        scale > 0,
        lambda: _decode(features[LR], height // safe_scale, width // safe_scale),
        lambda: tf.zeros([0, 0, 3], tf.float32),
    )
    return parsed
