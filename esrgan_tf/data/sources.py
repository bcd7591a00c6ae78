"""Where HR photos come from: folders of image files, photos bundled in package wheels, or TFDS.

Every photo gets a stable ``source`` id (stored in each record and in the manifest) and is
checked by `scan_file` / `scan_array` before any pixel is decoded, so that a data-preparation run
can plan its shards up front. Orders are fixed: folders are sorted by source id, the built-in
photos follow `PHOTOS` ('photos': files of scikit-image, scikit-learn and matplotlib) or
`SKIMAGE_PHOTOS` ('skimage': scikit-image's arrays), TFDS follows the dataset's own order
(files not shuffled).
"""

import dataclasses
import hashlib
import os

import numpy as np

from esrgan_tf import files
from esrgan_tf.data import config, image_io

# The built-in photo sets (`PrepareConfig.builtin`, train's --prepare_if_missing).
BUILTINS = config.BUILTINS

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
    input, else why it is skipped (see `image_io.UnusableImage`). ``lr`` is the scan of the
    input's own LR image when the data comes as LR/HR pairs (`pair_lr_files`).
    """

    source: str
    path: str | None  # None for in-memory photos (scikit-image, TFDS)
    size_bytes: int
    sha256: str
    height: int = 0
    width: int = 0
    bit_depth: int = 0
    reason: str = ""
    lr: "Scan | None" = None


class SourceError(Exception):
    """Inputs that cannot be listed at all (missing folder, TFDS unavailable, ...)."""


def find_image_files(input_dirs, exclude=()):
    """(source, path) of image files under ``input_dirs``, recursively, sorted by source.

    The source is ``<folder name>/<path relative to the folder>`` so that photos from several
    datasets (both DIV2K and Flickr2K have a ``0001.png``...) stay distinguishable. Hidden files
    and folders are ignored, and so are the folders in ``exclude`` (the output folder may sit
    inside an input folder, and it holds PNGs of held-out photos).
    """
    exclude = {files.canonical(folder) for folder in exclude}
    found = {}
    for input_dir in input_dirs:
        if not files.isdir(input_dir):
            raise SourceError(f"input folder not found: {input_dir}")
        name = files.basename(input_dir)
        top = files.canonical(input_dir) if files.is_remote(input_dir) else input_dir
        for dirpath, dirnames, filenames in files.walk(top):
            dirnames[:] = [
                d
                for d in dirnames
                if not d.startswith(".") and files.canonical(files.join(dirpath, d)) not in exclude
            ]
            for filename in filenames:
                if not image_io.is_image_file(filename):
                    continue
                path = files.join(dirpath, filename)
                if files.is_remote(top):
                    relative = path[len(top) + 1 :]
                else:
                    relative = os.path.relpath(path, input_dir).replace(os.sep, "/")
                source = f"{name}/{relative}"
                if source in found:
                    raise SourceError(
                        f"two inputs are both called {source!r}: input folders "
                        f"need different names ({found[source]}, {path})"
                    )
                found[source] = path
    return sorted(found.items())


def lr_stems(stem, scale):
    """The file names (without extension) the LR image of HR image `stem` may have: the same,
    or with the ``x4`` / ``_x4`` / ``_LRBI_x4`` suffixes of DIV2K, Set5 and friends."""
    return (stem, f"{stem}x{scale}", f"{stem}_x{scale}", f"{stem}_LRBI_x{scale}")


def lr_files_by_stem(lr_dirs):
    """{file stem: path} of the image files under ``lr_dirs`` (recursively); two LR files of
    the same stem are a `SourceError` (which one belongs to the HR photo would be a guess)."""
    by_stem = {}
    for _, path in find_image_files(lr_dirs):
        stem = os.path.splitext(os.path.basename(path))[0]
        if stem in by_stem:
            raise SourceError(f"two LR images are both called {stem!r}: {by_stem[stem]}, {path}")
        by_stem[stem] = path
    return by_stem


def scan_file(source, path, max_pixels):
    """Reads one file, hashes it and checks its header; never raises for a bad image."""
    try:
        data = files.read_bytes(path)
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


@dataclasses.dataclass(frozen=True)
class BundledPhoto:
    """A photo file that a Python package ships inside its wheel: read offline, never fetched.

    ``package`` is the import name, ``distribution`` the name pip installs it by, ``path`` the
    file's path inside the package.
    """

    source: str
    package: str
    distribution: str
    path: str


def _photo(package, distribution, path):
    stem = os.path.splitext(os.path.basename(path))[0]
    return BundledPhoto(f"{package}/{stem}", package, distribution, path)


# The colour photographs that install dependencies bundle in their wheels (the quickstart's
# `--prepare_if_missing=photos`), training photos first and the held-out ones last: --holdout=4
# validates on four unrelated scenes (an outdoor night shot, a cup on a table, an animal with
# fur, a portrait in front of a flag). Left out: scikit-image's gray photos and textures
# (camera, grass, gravel, brick...), microscopy (immunohistochemistry), the mostly black
# retina and hubble_deep_field, the synthetic pictures, and the files scikit-image fetches
# through pooch. tests/data/test_sources.py pins every file and its decoded pixels.
PHOTOS = (
    _photo("skimage", "scikit-image", "data/astronaut.png"),  # 512x512
    _photo("skimage", "scikit-image", "data/motorcycle_left.png"),  # 500x741
    _photo("skimage", "scikit-image", "data/motorcycle_right.png"),  # its stereo twin
    _photo("sklearn", "scikit-learn", "datasets/images/china.jpg"),  # 427x640
    _photo("sklearn", "scikit-learn", "datasets/images/flower.jpg"),  # 427x640
    _photo("skimage", "scikit-image", "data/rocket.jpg"),  # 427x640, held out
    _photo("skimage", "scikit-image", "data/coffee.png"),  # 400x600, held out
    _photo("skimage", "scikit-image", "data/chelsea.png"),  # 300x451, held out
    _photo("matplotlib", "matplotlib", "mpl-data/sample_data/grace_hopper.jpg"),  # 600x512
)
PHOTOS_HOLDOUT = 4  # the last four of PHOTOS: the quickstart's validation photos


def bundled_photo_files(photos=PHOTOS):
    """(source, path) of the files of `photos` in the installed packages, in order.

    The packages are located, not imported. A package that is missing, or that no longer
    ships a file, is a `SourceError`: the photos are the quickstart's recipe, and a silently
    smaller set would change it.
    """
    import importlib.metadata  # pylint: disable=import-outside-toplevel
    import importlib.util  # pylint: disable=import-outside-toplevel

    found = []
    for photo in photos:
        spec = importlib.util.find_spec(photo.package)
        if spec is None or not spec.submodule_search_locations:
            raise SourceError(
                f"the built-in photo {photo.source} comes with the {photo.distribution} "
                f"package, which is not installed (pip install {photo.distribution})"
            )
        path = os.path.join(spec.submodule_search_locations[0], *photo.path.split("/"))
        if not os.path.isfile(path):
            version = importlib.metadata.version(photo.distribution)
            raise SourceError(
                f"{photo.distribution} {version} no longer ships {photo.package}/{photo.path} "
                f"(the built-in photo {photo.source}); install the version setup.py names"
            )
        found.append((photo.source, path))
    return found


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
