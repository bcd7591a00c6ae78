"""esrgan_tf.data.patches: parity samples and calibration patches from every source."""

import os

import numpy as np
from PIL import Image
import pytest

from esrgan_tf.data import patches
from esrgan_tf.data.imresize import imresize


def write_photos(folder, sizes, seed=0):
    rng = np.random.default_rng(seed)
    os.makedirs(folder)
    for i, (h, w) in enumerate(sizes):
        Image.fromarray(rng.integers(0, 256, (h, w, 3), dtype=np.uint8)).save(
            os.path.join(folder, f"p{i}.png")
        )
    return folder


def test_centre_pairs_of_a_folder(tmp_path):
    folder = write_photos(str(tmp_path / "photos"), [(40, 50), (10, 10), (32, 32)])
    pairs = patches.centre_pairs(folder, 4, (8, 6), count=5)
    assert [os.path.basename(n) for n, _, _ in pairs] == ["p0.png", "p2.png"]  # p1 too small
    name, lr, hr = pairs[0]
    photo = np.asarray(Image.open(name), np.float32) / 255.0
    np.testing.assert_array_equal(hr, photo[4:36, 13:37])  # centre 32 x 24 crop
    np.testing.assert_allclose(lr, np.clip(imresize(hr, 0.25), 0, 1), atol=1e-6)
    assert lr.shape == (8, 6, 3) and lr.dtype == np.float32


def test_centre_pairs_of_skimage_by_name():
    pairs = patches.centre_pairs(
        patches.SKIMAGE, 4, (16, 16), count=3, names=("rocket", "coffee", "chelsea")
    )
    assert [n for n, _, _ in pairs] == ["skimage/rocket", "skimage/coffee", "skimage/chelsea"]
    for _, lr, hr in pairs:
        assert lr.shape == (16, 16, 3) and hr.shape == (64, 64, 3)
        assert 0.0 <= lr.min() and lr.max() <= 1.0


def test_random_patches_are_seeded_and_exclude_names():
    a = patches.random_lr_patches(patches.SKIMAGE, 4, (8, 12), 5, seed=1, exclude=("rocket",))
    b = patches.random_lr_patches(patches.SKIMAGE, 4, (8, 12), 5, seed=1, exclude=("rocket",))
    c = patches.random_lr_patches(patches.SKIMAGE, 4, (8, 12), 5, seed=2, exclude=("rocket",))
    assert len(a) == 5 and all(p.shape == (8, 12, 3) for p in a)
    assert all(np.array_equal(x, y) for x, y in zip(a, b))
    assert not all(np.array_equal(x, y) for x, y in zip(a, c))


def test_random_patches_from_training_shards(tmp_path, write_shards):
    photo = np.random.default_rng(0).integers(0, 256, (64, 64, 3), dtype=np.uint8)
    shards = write_shards(tmp_path / "shards", [photo] * 3)
    out = patches.random_lr_patches(str(shards), 4, (8, 8), 4)
    assert len(out) == 4 and all(p.shape == (8, 8, 3) for p in out)
    with pytest.raises(ValueError, match="square patches"):
        patches.random_lr_patches(str(shards), 4, (8, 6), 2)


def test_errors(tmp_path):
    folder = write_photos(str(tmp_path / "small"), [(10, 10)])
    with pytest.raises(ValueError, match="no photo in"):
        patches.centre_pairs(folder, 4, (8, 8), 1)
    with pytest.raises(ValueError, match="no usable photo"):
        patches.random_lr_patches(folder, 4, (8, 8), 1)
    with pytest.raises(ValueError, match="positive LR size"):
        patches.centre_pairs(folder, 4, (0, 8), 1)
    with pytest.raises(FileNotFoundError):
        patches.centre_pairs(str(tmp_path / "missing"), 4, (8, 8), 1)
