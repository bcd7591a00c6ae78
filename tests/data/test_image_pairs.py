"""(LR, HR) pairs of image folders: mod-crop, MATLAB-bicubic LR, order, pairing, errors."""

import numpy as np
import pytest
import skimage.data
import tensorflow as tf

from esrgan_tf.data import image_io
from esrgan_tf.data import image_pairs as validation
from esrgan_tf.data.imresize import imresize


def _write(path, pixels):
    image_io.write_png(str(path), pixels)


@pytest.fixture
def folder(tmp_path):
    """Three photo crops whose sides are not multiples of 4 (or 3), names out of order."""
    photos = {
        "b_cat": skimage.data.chelsea()[100:150, 200:237],  # 50 x 37
        "a_astronaut": skimage.data.astronaut()[60:113, 150:210],  # 53 x 60
        "c_coffee": skimage.data.coffee()[200:241, 300:346],  # 41 x 46
    }
    for name, pixels in photos.items():
        _write(tmp_path / f"{name}.png", np.ascontiguousarray(pixels))
    (tmp_path / "notes.txt").write_text("not an image")
    (tmp_path / "sub").mkdir()
    return tmp_path, photos


def test_names_are_sorted_and_only_images_are_read(folder):
    path, _ = folder
    images = validation.load_pairs(str(path), scale=4)
    assert [im.name for im in images] == ["a_astronaut", "b_cat", "c_coffee"]
    assert [im.name for im in validation.load_pairs(str(path), 4, limit=2)] == [
        "a_astronaut",
        "b_cat",
    ]


@pytest.mark.parametrize("scale", [2, 3, 4])
def test_hr_is_mod_cropped_top_left_and_lr_is_matlab_bicubic(folder, scale):
    path, photos = folder
    for image in validation.load_pairs(str(path), scale):
        pixels = photos[image.name]
        h, w = pixels.shape[0] // scale * scale, pixels.shape[1] // scale * scale
        assert image.hr.shape == (h, w, 3) and image.lr.shape == (h // scale, w // scale, 3)
        assert image.hr.dtype == np.float32 and image.lr.dtype == np.float32
        np.testing.assert_array_equal(image.hr, (pixels[:h, :w] / 255.0).astype(np.float32))
        np.testing.assert_allclose(
            image.lr,
            np.clip(imresize(pixels[:h, :w] / 255.0, 1.0 / scale), 0, 1),
            rtol=0,
            atol=1e-6,
        )
        # Independent reference: TF's antialiased bicubic uses the same kernel and equals
        # MATLAB's away from a 2-pixel border (where MATLAB mirrors the image).
        reference = np.clip(
            tf.image.resize(
                image.hr[None].astype(np.float64), image.lr.shape[:2], "bicubic", antialias=True
            )[0].numpy(),
            0,
            1,
        )
        np.testing.assert_allclose(image.lr[2:-2, 2:-2], reference[2:-2, 2:-2], atol=1e-5)


def test_16_bit_images_keep_their_precision(tmp_path):
    pixels = np.random.default_rng(0).integers(0, 65536, (9, 10, 3)).astype(np.uint16)
    _write(tmp_path / "deep.png", pixels)
    (image,) = validation.load_pairs(str(tmp_path), scale=3)
    np.testing.assert_allclose(image.hr, pixels[:9, :9] / 65535.0, rtol=0, atol=1e-7)


def test_missing_folder_is_a_clear_error(tmp_path):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        validation.load_pairs(str(tmp_path / "nowhere"), scale=4)


def test_folder_without_images_is_a_clear_error(tmp_path):
    (tmp_path / "readme.txt").write_text("no images here")
    with pytest.raises(FileNotFoundError, match="no images"):
        validation.load_pairs(str(tmp_path), scale=4)


def test_image_smaller_than_the_scale_is_a_clear_error(tmp_path):
    _write(tmp_path / "tiny.png", np.zeros((3, 8, 3), np.uint8))
    with pytest.raises(ValueError, match="smaller than scale 4"):
        validation.load_pairs(str(tmp_path), scale=4)


def test_mod_crop():
    image = np.arange(7 * 10 * 3).reshape(7, 10, 3)
    np.testing.assert_array_equal(validation.mod_crop(image, 4), image[:4, :8])
    np.testing.assert_array_equal(validation.mod_crop(image, 1), image)


def test_paired_lr_folder_is_read_instead_of_made(tmp_path):
    hr_dir, lr_dir = tmp_path / "HR", tmp_path / "LR"
    hr_dir.mkdir()
    lr_dir.mkdir()
    hr = np.ascontiguousarray(skimage.data.astronaut()[:42, :50])  # mod-cropped to 40 x 48
    lr = np.ascontiguousarray(skimage.data.chelsea()[:10, :12])  # any LR of the right size
    _write(hr_dir / "baby.png", hr)
    _write(lr_dir / "babyx4.png", lr)  # Set5 / DIV2K naming: <name>x<scale>
    (image,) = validation.load_pairs(str(hr_dir), 4, lr_dir=str(lr_dir))
    np.testing.assert_array_equal(np.round(image.lr * 255), lr)
    np.testing.assert_array_equal(np.round(image.hr * 255), hr[:40, :48])

    _write(lr_dir / "babyx4.png", np.ascontiguousarray(lr[:9]))
    with pytest.raises(ValueError, match="expected 12x10"):
        validation.load_pairs(str(hr_dir), 4, lr_dir=str(lr_dir))
    (lr_dir / "babyx4.png").unlink()
    _write(lr_dir / "other.png", lr)
    with pytest.raises(FileNotFoundError, match="no LR image for HR image 'baby'"):
        validation.load_pairs(str(hr_dir), 4, lr_dir=str(lr_dir))
