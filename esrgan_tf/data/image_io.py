"""Image files: reading them into RGB arrays, and writing deterministic PNGs atomically.

The one image I/O module of the library: the extensions it recognises (`IMAGE_EXTENSIONS`),
the pixel limit that guards every decoder (`pixel_limit`), decoding (`decode`, `read_image`,
`read_alpha`) and encoding (`encode_png`, `write_png`).

`decode` turns the bytes of a PNG, JPEG, WebP, BMP or TIFF file into an HxWx3 uint8 or uint16
array (the I/O edge of the library: everything downstream works in float32 [0, 1]):

* alpha is dropped, palette and CMYK images go through Pillow's ``convert("RGB")``, gray is
  replicated to three channels; EXIF orientation is applied (``ImageOps.exif_transpose``);
* 16-bit images stay 16-bit. Pillow has no 16-bit RGB mode and silently keeps only the high byte
  of 16-bit colour PNGs and TIFFs, so those are decoded by ``tf.io.decode_png`` and ``tifffile``
  (a scikit-image dependency). Only Pillow's 16-bit gray modes (``I;16*``) are read by Pillow.

Anything that cannot become training data raises `UnusableImage` with a short reason whose first
word(s) before ":" name the kind of problem, so reports can count reasons by kind.

TensorFlow is imported only for 16-bit PNGs: data-preparation workers are separate processes, and
importing TF costs each of them seconds and hundreds of MB.
"""

import contextlib
import dataclasses
import io
import os
import struct
import warnings
import zlib

import numpy as np
from PIL import ExifTags, Image, ImageOps, UnidentifiedImageError

from esrgan_tf import atomic, files

# Every extension a folder listing picks up. GIF is listed so that a GIF in a folder is
# reported (animated ones are refused with their reason) rather than silently ignored.
IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".webp", ".bmp", ".tif", ".tiff", ".gif")
# Whole images read for validation and evaluation: refuse absurd sizes instead of
# exhausting memory.
MAX_READ_PIXELS = 100_000_000
_ALPHA_MODES = ("RGBA", "LA", "PA", "RGBa", "La")
_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_TIFF_BITS_PER_SAMPLE = 258
# Fixed zlib level: the same pixels must always give the same PNG bytes (deterministic shards).
PNG_COMPRESS_LEVEL = 6


class UnusableImage(Exception):
    """An input that cannot become training data; str(exception) is the reason."""


@dataclasses.dataclass(frozen=True)
class Header:
    """What the file header says, before any pixel is decoded.

    ``height`` and ``width`` are as stored, *before* EXIF orientation: finding the orientation of
    a PNG makes Pillow decode the whole image, and square crops do not need it (a 90° rotation
    does not change how many fit).
    """

    height: int
    width: int
    bit_depth: int


@contextlib.contextmanager
def pixel_limit(max_pixels):
    """Makes Pillow's decompression-bomb guard use our limit and fail instead of warning."""
    saved = Image.MAX_IMAGE_PIXELS
    Image.MAX_IMAGE_PIXELS = int(max_pixels)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            yield
    finally:
        Image.MAX_IMAGE_PIXELS = saved


def _open(data, max_pixels):
    """Opens image bytes (header only) with the checks every input needs."""
    if not data:
        raise UnusableImage("empty file")
    try:
        image = Image.open(io.BytesIO(data))
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as e:
        raise UnusableImage(f"too many pixels: {e}") from None
    except UnidentifiedImageError:
        raise UnusableImage("not an image: no supported image format recognised") from None
    except Exception as e:  # Pillow's plugins raise many types on malformed headers.
        raise UnusableImage(f"corrupt header: {type(e).__name__}: {e}") from None
    width, height = image.size
    if width * height > max_pixels:
        raise UnusableImage(
            f"too many pixels: {width}x{height} is more than --max_pixels={int(max_pixels)}"
        )
    if width == 0 or height == 0:
        raise UnusableImage(f"empty image: {width}x{height}")
    frames = getattr(image, "n_frames", 1)
    if frames > 1:
        raise UnusableImage(f"animated or multi-frame: {frames} frames")
    if image.mode == "F":
        raise UnusableImage("unsupported mode: floating-point pixels have no agreed range")
    return image


def _is_16bit_png(data):
    return data[:8] == _PNG_SIGNATURE and data[12:16] == b"IHDR" and data[24:25] == b"\x10"


def _is_16bit_tiff(image):
    return (
        image.format == "TIFF"
        and not image.mode.startswith("I;16")
        and max(image.tag_v2.get(_TIFF_BITS_PER_SAMPLE, (8,))) == 16
    )


def _bit_depth(data, image):
    sixteen = _is_16bit_png(data) or _is_16bit_tiff(image) or image.mode.startswith("I")
    return 16 if sixteen else 8


def probe(data, max_pixels):
    """Checks image bytes from their header alone; raises `UnusableImage`."""
    with pixel_limit(max_pixels):
        with _open(data, max_pixels) as image:
            width, height = image.size
            return Header(height=height, width=width, bit_depth=_bit_depth(data, image))


def decode(data, max_pixels):
    """Decodes image bytes to an HxWx3 uint8 or uint16 RGB array; raises `UnusableImage`."""
    with pixel_limit(max_pixels):
        with _open(data, max_pixels) as image:
            try:
                if _is_16bit_png(data):
                    import tensorflow as tf  # pylint: disable=import-outside-toplevel

                    pixels = tf.io.decode_png(data, channels=3, dtype=tf.uint16).numpy()
                    # Pillow's getexif() decodes a whole PNG just to look for an eXIf chunk.
                    return orient(pixels, _orientation(image) if b"eXIf" in data else 1)
                if _is_16bit_tiff(image):
                    import tifffile  # pylint: disable=import-outside-toplevel

                    return orient(to_rgb(tifffile.imread(io.BytesIO(data))), _orientation(image))
                image.load()  # Raises on truncated data (Pillow's LOAD_TRUNCATED_IMAGES is off).
                return _pil_to_rgb(ImageOps.exif_transpose(image))
            except UnusableImage:
                raise
            except Exception as e:  # Decoders raise many types on corrupt data; all mean "skip".
                raise UnusableImage(f"corrupt or truncated: {type(e).__name__}: {e}") from None


def _orientation(image):
    return image.getexif().get(ExifTags.Base.Orientation, 1)


def _pil_to_rgb(image):
    if image.mode.startswith("I;16"):
        return to_rgb(np.asarray(image).astype(np.uint16))
    if image.mode == "I":  # 32-bit signed; Pillow uses it for some 16-bit gray files.
        pixels = np.asarray(image)
        if pixels.min() < 0 or pixels.max() > 65535:
            raise UnusableImage("unsupported mode: 32-bit integer pixels outside 0..65535")
        return to_rgb(pixels.astype(np.uint16))
    if image.mode != "RGB":
        try:
            image = image.convert("RGB")
        except ValueError as e:
            raise UnusableImage(f"unsupported mode: {image.mode}: {e}") from None
    return np.asarray(image)


def to_rgb(pixels):
    """HxW, HxWx1..4 uint8/uint16 (or bool) array → HxWx3 RGB: gray replicated, alpha dropped."""
    pixels = np.asarray(pixels)
    if pixels.dtype == bool:
        pixels = pixels.astype(np.uint8) * 255
    if pixels.dtype not in (np.uint8, np.uint16):
        raise UnusableImage(f"unsupported dtype: {pixels.dtype} (expected uint8 or uint16)")
    if pixels.ndim == 2:
        pixels = pixels[:, :, None]
    if pixels.ndim != 3 or pixels.shape[2] not in (1, 2, 3, 4):
        raise UnusableImage(f"unsupported shape: {pixels.shape}")
    if pixels.shape[2] <= 2:  # gray or gray + alpha
        pixels = np.repeat(pixels[:, :, :1], 3, axis=2)
    return np.ascontiguousarray(pixels[:, :, :3])


# EXIF orientation tag → the array operation that shows the photo upright (the same table as
# Pillow's exif_transpose; tests check the two agree).
_ORIENTATIONS = {
    1: lambda a: a,
    2: lambda a: a[:, ::-1],
    3: lambda a: a[::-1, ::-1],
    4: lambda a: a[::-1],
    5: lambda a: a.swapaxes(0, 1),
    6: lambda a: np.rot90(a, -1),
    7: lambda a: np.rot90(a, 2).swapaxes(0, 1),
    8: lambda a: np.rot90(a, 1),
}


def orient(pixels, orientation):
    """Applies an EXIF orientation (1..8; anything else is treated as 1) to an HxWxC array."""
    return np.ascontiguousarray(_ORIENTATIONS.get(orientation, _ORIENTATIONS[1])(pixels))


def encode_png(pixels, alpha=None):
    """HxWx3 uint8 or uint16 array (and an optional HxW alpha of the same dtype) → PNG bytes.

    8- or 16-bit, RGB or RGBA; identical bytes for identical input (fixed zlib level).
    """
    pixels = np.ascontiguousarray(pixels)
    if pixels.ndim != 3 or pixels.shape[2] != 3:
        raise ValueError(f"expected an HxWx3 array, got shape {pixels.shape}")
    if pixels.dtype not in (np.uint8, np.uint16):
        raise ValueError(f"expected uint8 or uint16 pixels, got {pixels.dtype}")
    if alpha is not None:
        alpha = np.asarray(alpha)
        if alpha.shape != pixels.shape[:2] or alpha.dtype != pixels.dtype:
            raise ValueError(
                f"alpha {alpha.shape} {alpha.dtype} does not fit the "
                f"{pixels.shape} {pixels.dtype} image"
            )
        pixels = np.ascontiguousarray(np.dstack([pixels, alpha]))
    if pixels.dtype == np.uint8:
        buffer = io.BytesIO()
        Image.fromarray(pixels, "RGB" if alpha is None else "RGBA").save(
            buffer, format="PNG", compress_level=PNG_COMPRESS_LEVEL
        )
        return buffer.getvalue()
    # Pillow cannot write 16-bit RGB(A) PNGs.
    import tensorflow as tf  # pylint: disable=import-outside-toplevel

    return tf.io.encode_png(pixels, compression=PNG_COMPRESS_LEVEL).numpy()


def write_png(path, pixels, alpha=None):
    """`encode_png(pixels, alpha)` written to `path` atomically (never a truncated PNG)."""
    atomic.write_bytes(path, encode_png(pixels, alpha))


# ----------------------------------------------------------------------------------------------
# Whole image files (validation, evaluation, upscaling)
# ----------------------------------------------------------------------------------------------


def is_image_file(name):
    return name.lower().endswith(IMAGE_EXTENSIONS) and not os.path.basename(name).startswith(".")


def image_files(folder):
    """Sorted image files of a folder (not recursive); a clear error if there are none."""
    if not files.isdir(folder):
        raise FileNotFoundError(f"image folder {folder!r} does not exist")
    found = sorted(
        files.join(folder, n)
        for n in files.listdir(folder)
        if is_image_file(n) and files.isfile(files.join(folder, n))
    )
    if not found:
        raise FileNotFoundError(f"no images ({', '.join(IMAGE_EXTENSIONS)}) in {folder!r}")
    return found


def to_float(pixels):
    """uint8/uint16 pixels → float32 in [0, 1]."""
    return (pixels.astype(np.float32) / np.iinfo(pixels.dtype).max).astype(np.float32)


def read_image(path, max_pixels=MAX_READ_PIXELS):
    """Any supported image file → HxWx3 float32 RGB in [0, 1] (8- or 16-bit sources)."""
    return to_float(decode(files.read_bytes(path), max_pixels))


def read_alpha(data, sixteen_bit, max_pixels):
    """The EXIF-oriented alpha channel (HxW uint8 or uint16) of image bytes, or None.

    `decode` drops alpha. 16-bit transparency that is not an alpha channel (a tRNS colour
    key) is ignored.
    """
    with pixel_limit(max_pixels), Image.open(io.BytesIO(data)) as image:
        if image.mode not in _ALPHA_MODES and "transparency" not in image.info:
            return None
        orientation = image.getexif().get(ExifTags.Base.Orientation, 1)
        if sixteen_bit and image.format == "PNG":
            # Pillow reads 16-bit RGBA / LA PNGs as 8-bit.
            import tensorflow as tf  # pylint: disable=import-outside-toplevel

            pixels = tf.io.decode_png(data, channels=0, dtype=tf.uint16).numpy()
            if pixels.shape[2] not in (2, 4):
                return None
            alpha = pixels[..., -1]
        elif sixteen_bit:
            raise UnusableImage("unsupported mode: 16-bit non-PNG with alpha")
        else:
            alpha = np.asarray(image.convert("RGBA").getchannel("A"))
    return orient(alpha, orientation)


# ----------------------------------------------------------------------------------------------
# Output formats and metadata (upscaling)
# ----------------------------------------------------------------------------------------------

OUTPUT_FORMATS = ("png", "jpg", "webp")
_EXIF_ORIENTATION = 0x0112


@dataclasses.dataclass(frozen=True)
class Metadata:
    """What of an input file travels to its upscaled output.

    ``icc``: the ICC colour profile (bytes) or None; ``exif``: the EXIF block with its
    orientation reset to 1 (the pixels are already upright) or None.
    """

    icc: bytes = None
    exif: bytes = None


def read_metadata(data, max_pixels):
    """The `Metadata` of image bytes (header only; nothing is decoded)."""
    with pixel_limit(max_pixels), Image.open(io.BytesIO(data)) as image:
        icc = image.info.get("icc_profile") or None
        exif = image.getexif()
        if _EXIF_ORIENTATION in exif:
            exif[_EXIF_ORIENTATION] = 1
        return Metadata(icc, exif.tobytes() if len(exif) else None)


def _png_chunk(kind, payload):
    return (
        struct.pack(">I", len(payload))
        + kind
        + payload
        + struct.pack(">I", zlib.crc32(kind + payload) & 0xFFFFFFFF)
    )


def _with_png_metadata(png, metadata):
    """PNG bytes with iCCP / eXIf chunks inserted after IHDR (for PNGs Pillow cannot write:
    16-bit RGB(A))."""
    chunks = b""
    if metadata.icc:
        chunks += _png_chunk(b"iCCP", b"ICC Profile\0\0" + zlib.compress(metadata.icc))
    if metadata.exif:
        exif = metadata.exif[6:] if metadata.exif.startswith(b"Exif\0\0") else metadata.exif
        chunks += _png_chunk(b"eXIf", exif)
    end_of_ihdr = 8 + 4 + 4 + 13 + 4  # signature, length, type, data, crc
    return png[:end_of_ihdr] + chunks + png[end_of_ihdr:]


def encode(pixels, alpha=None, fmt="png", quality=95, metadata=Metadata()):
    """HxWx3 uint8/uint16 pixels (+ optional HxW alpha) -> image bytes of `fmt`.

    PNG keeps 16 bits and alpha; JPEG (4:4:4 chroma, no alpha) and WebP (alpha kept) are
    8-bit, so 16-bit pixels are rounded to 8 bits for them. `quality` (1-100) is JPEG's and
    WebP's; `metadata` (ICC profile, EXIF) is carried in every format.
    """
    if fmt not in OUTPUT_FORMATS:
        raise ValueError(f"output format must be one of {OUTPUT_FORMATS}, got {fmt!r}")
    if fmt == "png":
        if pixels.dtype == np.uint16 or (alpha is not None and alpha.dtype == np.uint16):
            return _with_png_metadata(encode_png(pixels, alpha), metadata)
        mode = "RGB" if alpha is None else "RGBA"
        array = pixels if alpha is None else np.dstack([pixels, alpha])
        kwargs = {"compress_level": PNG_COMPRESS_LEVEL}
    else:
        if alpha is not None and fmt == "jpg":
            raise ValueError("JPEG has no alpha channel")
        if pixels.dtype == np.uint16:
            pixels = (pixels.astype(np.uint32) * 255 + 32767) // 65535  # round to 8 bits
            alpha = None if alpha is None else (alpha.astype(np.uint32) * 255 + 32767) // 65535
        mode = "RGB" if alpha is None else "RGBA"
        array = pixels if alpha is None else np.dstack([pixels, alpha])
        kwargs = {"quality": int(quality)}
        if fmt == "jpg":
            kwargs["subsampling"] = 0  # 4:4:4: the detail the model made, not halved
    if metadata.icc:
        kwargs["icc_profile"] = metadata.icc
    if metadata.exif:
        kwargs["exif"] = metadata.exif
    buffer = io.BytesIO()
    Image.fromarray(np.ascontiguousarray(array).astype(np.uint8), mode).save(
        buffer, format={"png": "PNG", "jpg": "JPEG", "webp": "WEBP"}[fmt], **kwargs
    )
    return buffer.getvalue()
