"""Where HR photos come from: folders of image files, scikit-image's sample photos, or TFDS.

Every photo gets a stable ``source`` id (stored in each record and in the manifest) and is
checked by `scan_file` / `scan_array` before any pixel is decoded, so that a data-preparation run
can plan its shards up front. Orders are fixed: folders are sorted by source id, the sample
photos follow `SKIMAGE_PHOTOS`, TFDS follows the dataset's own order (files not shuffled).
"""

import dataclasses
import hashlib
import os

import numpy as np

from esrgan_tf.data import image_io

# Photos that scikit-image ships inside its package, so they load offline (the photos
# fetched through pooch -- eagle, lily, skin, kidney, ... -- are left out, and so are the
# synthetic pictures colorwheel, logo, checkerboard, horse). Gray photos are used as RGB with
# equal channels: their textures (grass, gravel, brick) teach fine detail. retina (1411x1411)
# and hubble_deep_field (872x1000) are left out: mostly black, they would be over half of all
# sub-images. cat() is chelsea() under another name. Small colour photos come last so that
# --holdout=N picks them for validation: at the default 480 crop rocket (427x640), coffee
# (400x600) and chelsea (300x451) give no sub-image anyway. The two motorcycle photos are a
# stereo pair, nearly the same picture: keep them on the same side.
SKIMAGE_PHOTOS = (
    "immunohistochemistry",  # 512x512 stained tissue
    "astronaut",  # 512x512
    "motorcycle_left",  # 500x741
    "motorcycle_right",  # 500x741
    "camera",  # 512x512, gray
    "grass",  # 512x512, gray texture
    "gravel",  # 512x512, gray texture
    "brick",  # 512x512, gray texture
    "rocket",  # 427x640
    "coffee",  # 400x600
    "chelsea",  # 300x451 (the cat)
)


@dataclasses.dataclass(frozen=True)
class Scan:
    """One input as found before decoding: identity, checksum, and whether it is usable.

    ``height``/``width`` are as stored (before EXIF orientation); ``reason`` is "" for a usable
    input, else why it is skipped (see `image_io.UnusableImage`).
    """

    source: str
    path: str | None  # None for in-memory photos (scikit-image, TFDS)
    size_bytes: int
    sha256: str
    height: int = 0
    width: int = 0
    bit_depth: int = 0
    reason: str = ""


class SourceError(Exception):
    """Inputs that cannot be listed at all (missing folder, TFDS unavailable, ...)."""


def find_image_files(input_dirs, exclude=()):
    """(source, path) of image files under ``input_dirs``, recursively, sorted by source.

    The source is ``<folder name>/<path relative to the folder>`` so that photos from several
    datasets (both DIV2K and Flickr2K have a ``0001.png``...) stay distinguishable. Hidden files
    and folders are ignored, and so are the folders in ``exclude`` (the output folder may sit
    inside an input folder, and it holds PNGs of held-out photos).
    """
    exclude = {os.path.realpath(folder) for folder in exclude}
    found = {}
    for input_dir in input_dirs:
        if not os.path.isdir(input_dir):
            raise SourceError(f"input folder not found: {input_dir}")
        name = os.path.basename(os.path.normpath(os.path.abspath(input_dir)))
        for dirpath, dirnames, filenames in os.walk(input_dir):
            dirnames[:] = [
                d
                for d in dirnames
                if not d.startswith(".")
                and os.path.realpath(os.path.join(dirpath, d)) not in exclude
            ]
            for filename in filenames:
                if not image_io.is_image_file(filename):
                    continue
                path = os.path.join(dirpath, filename)
                relative = os.path.relpath(path, input_dir).replace(os.sep, "/")
                source = f"{name}/{relative}"
                if source in found:
                    raise SourceError(
                        f"two inputs are both called {source!r}: input folders "
                        f"need different names ({found[source]}, {path})"
                    )
                found[source] = path
    return sorted(found.items())


def scan_file(source, path, max_pixels):
    """Reads one file, hashes it and checks its header; never raises for a bad image."""
    try:
        with open(path, "rb") as f:
            data = f.read()
    except OSError as e:
        return Scan(source, path, 0, "", reason=f"unreadable: {e}")
    scan = Scan(source, path, len(data), hashlib.sha256(data).hexdigest())
    try:
        header = image_io.probe(data, max_pixels)
    except image_io.UnusableImage as e:
        return dataclasses.replace(scan, reason=str(e))
    return dataclasses.replace(
        scan, height=header.height, width=header.width, bit_depth=header.bit_depth
    )


def array_sha256(pixels):
    """Checksum of an in-memory photo: shape and dtype included, so a reshape changes it."""
    pixels = np.ascontiguousarray(pixels)
    digest = hashlib.sha256(f"{pixels.shape}{pixels.dtype.str}".encode())
    digest.update(pixels.tobytes())
    return digest.hexdigest()


def scan_array(source, pixels, max_pixels):
    """Like `scan_file`, for a photo that is already an array (scikit-image, TFDS)."""
    pixels = np.asarray(pixels)
    scan = Scan(source, None, int(pixels.nbytes), array_sha256(pixels))
    try:
        rgb = image_io.to_rgb(pixels)
    except image_io.UnusableImage as e:
        return dataclasses.replace(scan, reason=str(e))
    height, width = rgb.shape[:2]
    if height * width > max_pixels:
        return dataclasses.replace(
            scan,
            reason=f"too many pixels: {width}x{height} is more than --max_pixels={int(max_pixels)}",
        )
    return dataclasses.replace(scan, height=height, width=width, bit_depth=8 * rgb.dtype.itemsize)


def skimage_photos():
    """Yields (source, HxWx3 uint8 array) for `SKIMAGE_PHOTOS`, without network access."""
    from skimage import data  # pylint: disable=import-outside-toplevel

    for name in SKIMAGE_PHOTOS:
        if name.startswith("motorcycle_"):
            left, right, _ = data.stereo_motorcycle()
            pixels = left if name == "motorcycle_left" else right
        else:
            pixels = getattr(data, name)()
        yield f"skimage/{name}", pixels


def tfds_images(name, split, key, data_dir=None):
    """Yields (source, array) for the images under ``key`` of a TFDS dataset split.

    ``download_and_prepare`` is a no-op when the dataset is already built in ``data_dir``;
    otherwise it downloads, which fails without network access: that becomes a `SourceError`.
    """
    try:
        import tensorflow_datasets as tfds  # pylint: disable=import-outside-toplevel
    except ImportError:
        raise SourceError(
            "--tfds needs the tensorflow-datasets package (pip install tensorflow-datasets)"
        ) from None
    try:
        builder = tfds.builder(name, data_dir=data_dir or None)
        builder.download_and_prepare()
        dataset = builder.as_dataset(split=split, shuffle_files=False)
    except Exception as e:  # TFDS raises many types (network, registration, missing split).
        raise SourceError(
            f"cannot load TFDS dataset {name!r} split {split!r}: {type(e).__name__}: {e}. "
            "If this machine has no network access, build the dataset elsewhere "
            f"(tfds build {name}) and pass its folder as --tfds_data_dir"
        ) from None
    for index, example in enumerate(tfds.as_numpy(dataset)):
        if key not in example:
            raise SourceError(
                f"TFDS dataset {name!r} has no feature {key!r}; its features "
                f"are {sorted(example)} (set --tfds_key)"
            )
        yield f"tfds:{name}/{split}/{index}", example[key]
