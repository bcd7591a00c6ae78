"""SavedModels for TensorFlow Serving: signatures, metadata, and loading them back.

An exported model is a Keras `ExportArchive` (a plain `tf.Module` saved with
`tf.saved_model.save` fails under the session-based loader that `saved_model_cli run`
and TF Serving use unless every variable is tracked) with three signatures:

* ``serving_default``: ``images`` float32 [N, H, W, 3] in [0, 1] -> ``sr`` float32
  [N, sH, sW, 3], clipped to [0, 1];
* ``upscale_uint8``: ``images`` uint8 -> ``sr`` uint8, rounded half up as
  `esrgan_tf.metrics.to_uint8` (and MATLAB's im2uint8);
* ``upscale_image_bytes``: ``images_bytes`` string [N] of encoded PNG / JPEG / BMP
  -> ``sr_bytes`` string [N] of 8-bit RGB PNGs. The names end in ``_bytes`` so that the
  Serving REST API takes and returns them as ``{"b64": ...}``. Gray and palette images
  become RGB, alpha is dropped, 16-bit images are read as 8-bit. Images may differ in
  size: each goes through the model on its own. Other formats are refused: their size
  cannot be checked before decoding (WebP, which `decode_image` also reads) or does not
  bound the decoder's memory (GIF: every frame is decoded, whatever the screen size).

N, H and W are dynamic. A request with more than ``max_pixels`` LR pixels (N*H*W for the
array signatures; H*W per image for the bytes one, read from the file header *before*
decoding, so a decompression bomb is refused without allocating it) fails with an
InvalidArgumentError that says so, instead of exhausting the server's memory. A wrong rank
or channel count fails the same way, by checks in the graph (the signatures declare an
unknown shape so that those checks run); a wrong dtype is refused by the signature.

``assets.extra/esrgan_tf.json`` records the architecture, scale, limits and precision;
`esrgan_tf.formats.saved_model` reads it, so `evaluate` and `upscale` accept exported
models.
"""

import datetime
import os

import keras
import tensorflow as tf

from esrgan_tf import atomic, console, files
from esrgan_tf.deploy.config import DEFAULT_MAX_PIXELS
from esrgan_tf.formats.saved_model import METADATA_FILE

SIGNATURES = ("serving_default", "upscale_uint8", "upscale_image_bytes")

_PNG = b"\x89PNG\r\n\x1a\n"


# ---------------------------------------------------------------------------------------
# Graph pieces of the signatures
# ---------------------------------------------------------------------------------------


def _refuse(checks, template):
    """A `tf.cond` branch that fails with the first of `checks` ((ok, message, data)) that
    does not hold; `template` is returned only to give the branch its output structure.

    Only one check may fail for any input (later checks are written to pass when an
    earlier one fails), so the error is always the same for the same input.
    """
    asserts = [tf.debugging.Assert(ok, [message, *data]) for ok, message, data in checks]
    with tf.control_dependencies(asserts):
        return tf.nest.map_structure(tf.identity, template)


def _guarded(checks, run, template):
    """`run()` if every check holds, else an error; `tf.cond` makes the order certain.

    Checks made with control dependencies are not enough: grappler reorders them, and a
    shape op downstream of an assertion was seen failing first with an unrelated message.
    Here `run` (the model, or an image decoder) never executes on a refused input: a
    rank-3 input reaching the convolutions aborts the process (a oneDNN CHECK failure),
    and decoding a decompression bomb exhausts memory, before any assertion could fire.
    """
    ok = tf.reduce_all(tf.stack([c[0] for c in checks]))
    return tf.cond(ok, run, lambda: _refuse(checks, template))


def _batch_checks(images, max_pixels):
    """Checks that `images` is [N, H, W, 3] with at most `max_pixels` pixels N*H*W."""
    shape = tf.shape(images, out_type=tf.int64)
    dims = tf.concat([shape, tf.zeros([4], tf.int64)], axis=0)[:4]  # safe for any rank
    shape_ok = tf.logical_and(tf.equal(tf.size(shape), 4), tf.equal(dims[3], 3))
    pixels = dims[0] * dims[1] * dims[2]
    return [
        (shape_ok, "images must be [N, H, W, 3] (RGB); got shape", [shape]),
        (
            tf.logical_or(tf.logical_not(shape_ok), pixels <= max_pixels),
            _too_many(max_pixels, "the request (N*H*W)"),
            [pixels],
        ),
    ]


def _too_many(max_pixels, what):
    return (
        f"{what} has more LR pixels than this model's limit of {max_pixels} "
        "(--max_pixels at export); send smaller tiles. Pixels:"
    )


def to_uint8_tf(images):
    """Float in [0, 1] -> uint8 rounded half up, in float64 exactly as `metrics.to_uint8`."""
    scaled = tf.clip_by_value(tf.cast(images, tf.float64), 0.0, 1.0) * 255.0
    return tf.cast(tf.floor(scaled + 0.5), tf.uint8)


def _uint(head, start, length, big_endian):
    """Unsigned integer of `length` bytes at `start` of a uint8 vector, as int64."""
    order = range(length) if big_endian else reversed(range(length))
    value = tf.constant(0, tf.int64)
    for i in order:
        value = value * 256 + tf.cast(head[start + i], tf.int64)
    return value


def header_pixels(data):
    """Pixels an encoded image declares in its header (PNG, JPEG, BMP); -1 for any other
    format (which the signature refuses).

    Reads at most the first 32 bytes (JPEG: `tf.io.extract_jpeg_shape`, which parses the
    markers without decoding), so it costs nothing whatever the image's size.
    """
    head = tf.io.decode_raw(tf.strings.substr(data, 0, 32), tf.uint8)
    head = tf.pad(head, [[0, 32 - tf.shape(head)[0]]])

    def starts_with(signature):
        return tf.reduce_all(
            tf.equal(head[: len(signature)], tf.constant(list(signature), tf.uint8))
        )

    def bmp_pixels():
        width = _uint(head, 18, 4, big_endian=False)
        height = _uint(head, 22, 4, big_endian=False)
        height = tf.where(height >= 2**31, 2**32 - height, height)  # top-down BMPs
        return width * height

    def jpeg_pixels():
        shape = tf.io.extract_jpeg_shape(data, output_type=tf.int32)
        return tf.cast(shape[0], tf.int64) * tf.cast(shape[1], tf.int64)

    png = _uint(head, 16, 4, big_endian=True) * _uint(head, 20, 4, big_endian=True)
    return tf.case(
        [
            (starts_with(_PNG), lambda: png),
            (starts_with(b"BM"), bmp_pixels),
            (starts_with(b"\xff\xd8"), jpeg_pixels),
        ],
        default=lambda: tf.constant(-1, tf.int64),
    )


class _Signatures:
    """The signature functions of one generator (a plain class: nothing here is saved)."""

    def __init__(self, generator, max_pixels):
        self.generator = generator
        self.max_pixels = int(max_pixels)

    def _sr(self, images):
        """float32 NHWC [0, 1] -> float32 SR clipped to [0, 1], at the model's precision."""
        sr = self.generator(tf.cast(images, self.generator.compute_dtype))
        return tf.clip_by_value(tf.cast(sr, tf.float32), 0.0, 1.0)

    def _batch(self, images, run, out_dtype):
        """`run` on a checked [N, H, W, 3] batch (see `_batch_checks`)."""

        def checked():
            return tf.ensure_shape(
                run(tf.ensure_shape(images, [None, None, None, 3])), [None, None, None, 3]
            )

        return _guarded(
            _batch_checks(images, self.max_pixels), checked, tf.zeros([0, 0, 0, 3], out_dtype)
        )

    def serving_default(self, images):
        return {"sr": self._batch(images, self._sr, tf.float32)}

    def upscale_uint8(self, images):
        def run(pixels):
            return to_uint8_tf(self._sr(tf.cast(pixels, tf.float32) / 255.0))

        return {"sr": self._batch(images, run, tf.uint8)}

    def upscale_image_bytes(self, images_bytes):
        def one(data):
            def run():
                pixels = tf.io.decode_image(
                    data, channels=3, dtype=tf.uint8, expand_animations=False
                )
                sr = self._sr(tf.cast(pixels, tf.float32)[None] / 255.0)[0]
                return tf.io.encode_png(to_uint8_tf(sr))

            declared = header_pixels(data)
            known = declared >= 0
            checks = [
                (
                    known,
                    "images_bytes must hold PNG, JPEG or BMP images; got one starting with",
                    [tf.strings.substr(data, 0, 8)],
                ),
                (
                    tf.logical_or(tf.logical_not(known), declared <= self.max_pixels),
                    _too_many(self.max_pixels, "an image"),
                    [declared],
                ),
            ]
            return _guarded(checks, run, tf.constant(b""))

        def run_all():
            vector = tf.reshape(images_bytes, [-1])  # a vector: checked below
            return tf.map_fn(one, vector, fn_output_signature=tf.TensorSpec([], tf.string))

        checks = [
            (
                tf.equal(tf.rank(images_bytes), 1),
                "images_bytes must be a vector [N] of encoded images; got shape",
                [tf.shape(images_bytes)],
            )
        ]
        return {"sr_bytes": _guarded(checks, run_all, tf.constant([], tf.string))}

    def specs(self):
        # Unknown shapes: checked at run time (see `_guarded`); dtypes are checked
        # by the signature itself.
        return {
            "serving_default": tf.TensorSpec(None, tf.float32, name="images"),
            "upscale_uint8": tf.TensorSpec(None, tf.uint8, name="images"),
            "upscale_image_bytes": tf.TensorSpec(None, tf.string, name="images_bytes"),
        }


# ---------------------------------------------------------------------------------------
# Writing
# ---------------------------------------------------------------------------------------


def write_saved_model(generator, path, max_pixels=DEFAULT_MAX_PIXELS, metadata=None):
    """Writes `generator` as a SavedModel with the three signatures to `path`.

    Args:
        generator: a built Keras generator (NHWC in [0, 1] -> SR), any precision.
        path: the SavedModel directory (for Serving, `<base>/<version>`).
        max_pixels: LR pixels per request (see the module docstring).
        metadata: JSON-able dict written to `assets.extra/esrgan_tf.json` (must hold
            "scale"); the signature names and `max_pixels` are added.
    """
    if max_pixels < 1:
        raise ValueError(f"max_pixels must be positive, got {max_pixels}")
    signatures = _Signatures(generator, max_pixels)
    archive = keras.export.ExportArchive()
    archive.track(generator)
    for name, spec in signatures.specs().items():
        archive.add_endpoint(name, tf.function(getattr(signatures, name)), input_signature=[spec])
    with console.quiet_tf_logs():
        archive.write_out(path, verbose=False)
    metadata = {
        **(metadata or {}),
        "max_pixels": int(max_pixels),
        "signatures": list(SIGNATURES),
        "exported": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
    }
    os.makedirs(os.path.join(path, os.path.dirname(METADATA_FILE)), exist_ok=True)
    atomic.write_json(os.path.join(path, METADATA_FILE), metadata)
    return path


def next_version(base_path):
    """1 + the largest numeric child of a Serving base path (1 for a new one)."""
    if not files.isdir(base_path):
        return 1
    versions = [int(n) for n in files.listdir(base_path) if n.isdigit()]
    return max(versions, default=0) + 1
