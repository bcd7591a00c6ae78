"""The built-in photos of the quickstart (`sources.PHOTOS`) are pinned: which files of which
packages, their bytes and their decoded pixels. A package update that drops, moves or changes
a photo fails here instead of silently changing the quickstart's recipe.

The checksums were taken with `sha256sum` (files) and imageio (pixels) from scikit-image
0.26.0, scikit-learn 1.9.1 and matplotlib 3.11.2; the scikit-image pixel checksums are the
ones tests/golden/niqe_basicsr_1.4.2.json records for the same photos.
"""

import hashlib
import os

import numpy as np
from PIL import Image
import pytest

from esrgan_tf.data import image_io, sources

# (source, file inside the installed packages, height x width, sha256 of the file,
#  sha256 of the decoded HxWx3 uint8 pixels), in the order of sources.PHOTOS.
PINNED = (
    (
        "skimage/astronaut",
        "skimage/data/astronaut.png",
        (512, 512),
        "88431cd9653ccd539741b555fb0a46b61558b301d4110412b5bc28b5e3ea6cb5",
        "a8c429c18afa7b0fd5673e598d73a21225d94c864a71bbb3885126fdecb41071",
    ),
    (
        "skimage/motorcycle_left",
        "skimage/data/motorcycle_left.png",
        (500, 741),
        "db18e9c4157617403c3537a6ba355dfeafe9a7eabb6b9b94cb33f6525dd49179",
        "ca829467c1d4f427da9c4862ba43829da6ac90afe1f75735e95dba9e3fd9620b",
    ),
    (
        "skimage/motorcycle_right",
        "skimage/data/motorcycle_right.png",
        (500, 741),
        "5fc913ae870e42a4b662314bc904d1786bcad8e2f0b9b67dba5a229406357797",
        "ae44d83f55e66623c7985499fd2f1685a56023e442e66eca89b3457dd46b17af",
    ),
    (
        "sklearn/china",
        "sklearn/datasets/images/china.jpg",
        (427, 640),
        "8378025ad2519d649d02e32bd98990db4ab572357d9f09841c2fbfbb4fefad29",
        "e701459344fd69797154c91add3bb5d70e5ed1a61d8bed889bab3a796104698d",
    ),
    (
        "sklearn/flower",
        "sklearn/datasets/images/flower.jpg",
        (427, 640),
        "a77f6ec41e353afdf8bdff2ea981b2955535d8d83294f8cfa49cf4e423dd5638",
        "3202904ed246795bf616c66d7859cd7c6080eff736c6e38dc5cc62779742033f",
    ),
    (
        "skimage/rocket",
        "skimage/data/rocket.jpg",
        (427, 640),
        "c2dd0de7c538df8d111e479619b129464d0269d0ae5fd18ca91d33a7fdfea95c",
        "3d4435cc745752b7f9724df88c6e18817de3ce7e3d2d71c55f85f7831e68f197",
    ),
    (
        "skimage/coffee",
        "skimage/data/coffee.png",
        (400, 600),
        "cc02f8ca188b167c775a7101b5d767d1e71792cf762c33d6fa15a4599b5a8de7",
        "0ce2b51640b9c95f19617f03eabf40c3f0368589cc1ee1190b70966165ac184f",
    ),
    (
        "skimage/chelsea",
        "skimage/data/chelsea.png",
        (300, 451),
        "596aa1e7cb875eb79f437e310381d26b338a81c2da23439704a73c4651e8c4bb",
        "416b729128bfb2c3d1eb69bf9b1734a796293abc17939267b2dc94f8a5784031",
    ),
    (
        "matplotlib/grace_hopper",
        "matplotlib/mpl-data/sample_data/grace_hopper.jpg",
        (600, 512),
        "a8ca6d734765703b09728ab47fe59f473d93ae3967fc24c7c0288c3c7adb7130",
        "f7f982de68dd296af67ee51b2a95a2e5658f7bf064c6536520b66bae8d01fc34",
    ),
)
VALIDATION = ("skimage/rocket", "skimage/coffee", "skimage/chelsea", "matplotlib/grace_hopper")


def test_the_built_in_photos_are_these_files_with_these_pixels():
    files = sources.bundled_photo_files()
    assert [source for source, _ in files] == [pin[0] for pin in PINNED]
    for (source, path), (_, file, shape, file_sha256, pixels_sha256) in zip(files, PINNED):
        assert path.replace(os.sep, "/").endswith("/" + file), source
        with open(path, "rb") as f:
            data = f.read()
        assert hashlib.sha256(data).hexdigest() == file_sha256, f"{file} has changed"
        pixels = np.asarray(Image.open(path).convert("RGB"))
        assert pixels.shape == (*shape, 3), source
        assert hashlib.sha256(pixels.tobytes()).hexdigest() == pixels_sha256, source
        # What preparation decodes is what is pinned.
        np.testing.assert_array_equal(image_io.decode(data, image_io.MAX_READ_PIXELS), pixels)


def test_the_held_out_photos_are_the_last_ones_and_all_are_colour():
    names = [photo.source for photo in sources.PHOTOS]
    assert tuple(names[-sources.PHOTOS_HOLDOUT :]) == VALIDATION
    for source, path in sources.bundled_photo_files():
        pixels = np.asarray(Image.open(path).convert("RGB")).astype(int)
        spread = np.abs(pixels - pixels.mean(axis=2, keepdims=True)).mean()
        assert spread > 5, f"{source} is (nearly) gray"


def test_the_quickstart_prepares_these_photos_and_holds_out_the_validation_ones(repo_root):
    with open(os.path.join(repo_root, "configs", "quickstart.flags"), encoding="utf-8") as f:
        flags = [line.strip() for line in f if line.startswith("--")]
    assert "--prepare_if_missing=photos" in flags
    assert f"--holdout={sources.PHOTOS_HOLDOUT}" in flags


@pytest.mark.parametrize(
    "photo, message",
    [
        (
            sources.BundledPhoto("nopkg/a", "no_such_package_42", "no-such-dist", "a.png"),
            r"comes with the no-such-dist package, which is not installed \(pip install",
        ),
        (
            sources.BundledPhoto("skimage/gone", "skimage", "scikit-image", "data/gone.png"),
            r"scikit-image \S+ no longer ships skimage/data/gone.png",
        ),
    ],
)
def test_a_missing_package_or_file_is_a_clear_error(photo, message):
    with pytest.raises(sources.SourceError, match=message):
        sources.bundled_photo_files((photo,))
