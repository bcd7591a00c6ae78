"""Upscaling image files: every image mode, refusals, and a folder with bad files."""

import io
import os

import numpy as np
from PIL import Image
import pytest
import tensorflow as tf

from esrgan_tf.data import image_io
from esrgan_tf.data.imresize import imresize
from esrgan_tf.inference import upscaling as upscale
from esrgan_tf.inference.tiling import Tiling


def nearest(scale):
    """A 'generator' that repeats pixels: its output position tells which input it came from."""
    return lambda x: tf.repeat(tf.repeat(x, scale, axis=1), scale, axis=2)


def random_image(h, w, seed=0):
    return np.random.default_rng(seed).random((h, w, 3), dtype=np.float32)


# ---------------------------------------------------------------------------------------
# Files, every mode (nearest upsampling makes the expected pixels exact)
# ---------------------------------------------------------------------------------------


def repeat(a, s=4):
    return np.repeat(np.repeat(a, s, 0), s, 1)


def upscale_to_array(tmp_path, name, data, **kwargs):
    src, dst = tmp_path / name, tmp_path / "out.png"
    src.write_bytes(data)
    upscale.upscale_file(nearest(4), 4, str(src), str(dst), Tiling(tile=8, tile_pad=2), **kwargs)
    with Image.open(dst) as out:
        return out.mode, np.asarray(out), dst.read_bytes()


def pil_bytes(array, mode, fmt="PNG", **save):
    buffer = io.BytesIO()
    Image.fromarray(array, mode).save(buffer, format=fmt, **save)
    return buffer.getvalue()


def test_rgb_8bit(tmp_path):
    rgb = (random_image(9, 14) * 255).astype(np.uint8)
    mode, out, _ = upscale_to_array(tmp_path, "a.png", pil_bytes(rgb, "RGB"))
    assert mode == "RGB"
    np.testing.assert_array_equal(out, repeat(rgb))


def test_gray_is_saved_as_rgb(tmp_path):
    gray = (random_image(9, 14)[..., 0] * 255).astype(np.uint8)
    mode, out, _ = upscale_to_array(tmp_path, "g.png", pil_bytes(gray, "L"))
    assert mode == "RGB"
    np.testing.assert_array_equal(out, repeat(np.dstack([gray] * 3)))


def test_rgba_alpha_is_bicubic(tmp_path):
    rgba = (random_image(9, 14, seed=1).repeat(2, axis=2)[..., :4] * 255).astype(np.uint8)
    mode, out, _ = upscale_to_array(tmp_path, "a.png", pil_bytes(rgba, "RGBA"))
    assert mode == "RGBA"
    np.testing.assert_array_equal(out[..., :3], repeat(rgba[..., :3]))
    np.testing.assert_array_equal(out[..., 3], imresize(rgba[..., 3], 4))
    assert not np.array_equal(out[..., 3], repeat(rgba[..., 3]))  # really bicubic


def test_16bit_stays_16bit(tmp_path):
    rgb = (random_image(9, 14) * 65535).astype(np.uint16)
    rgb[0, 0] = (1000, 1001, 65535)  # not representable in 8 bits
    _, _, data = upscale_to_array(tmp_path, "a.png", tf.io.encode_png(rgb).numpy())
    out = tf.io.decode_png(data, channels=3, dtype=tf.uint16).numpy()
    np.testing.assert_array_equal(out, repeat(rgb))
    assert data[24] == 16  # IHDR bit depth


def test_16bit_rgba(tmp_path):
    rgba = (random_image(6, 7, seed=2).repeat(2, axis=2)[..., :4] * 65535).astype(np.uint16)
    _, _, data = upscale_to_array(tmp_path, "a.png", tf.io.encode_png(rgba).numpy())
    out = tf.io.decode_png(data, channels=4, dtype=tf.uint16).numpy()
    np.testing.assert_array_equal(out[..., :3], repeat(rgba[..., :3]))
    np.testing.assert_array_equal(out[..., 3], imresize(rgba[..., 3], 4))


def exif(orientation):
    tags = Image.Exif()
    tags[0x0112] = orientation
    return tags


def test_exif_rotated_jpeg_follows_orientation(tmp_path):
    rgb = (random_image(8, 16) * 255).astype(np.uint8)
    data = pil_bytes(rgb, "RGB", "JPEG", exif=exif(6), quality=95)
    _, out, _ = upscale_to_array(tmp_path, "a.jpg", data)
    assert out.shape == (64, 32, 3)  # 90° rotation: stored 8x16 is shown 16x8
    np.testing.assert_array_equal(out, repeat(image_io.decode(data, 1e6)))


def test_exif_rotated_rgba_rotates_alpha_too(tmp_path):
    rgba = (random_image(6, 10, seed=3).repeat(2, axis=2)[..., :4] * 255).astype(np.uint8)
    data = pil_bytes(rgba, "RGBA", exif=exif(8))
    _, out, _ = upscale_to_array(tmp_path, "a.png", data)
    upright = np.rot90(rgba, 1)
    assert out.shape == (40, 24, 4)
    np.testing.assert_array_equal(out[..., :3], repeat(upright[..., :3]))
    np.testing.assert_array_equal(out[..., 3], imresize(np.ascontiguousarray(upright[..., 3]), 4))


def test_refusals(tmp_path):
    path = tmp_path / "a.png"
    data = pil_bytes(np.zeros((10, 10, 3), np.uint8), "RGB")
    path.write_bytes(data)
    with pytest.raises(ValueError, match="overwrite"):
        upscale.upscale_file(nearest(4), 4, str(path), str(path))
    with pytest.raises(image_io.UnusableImage, match="too many pixels"):
        upscale.upscale_file(nearest(4), 4, str(path), str(tmp_path / "b.png"), max_pixels=99)
    assert path.read_bytes() == data and not (tmp_path / "b.png").exists()


def test_run_reports_bad_files_and_continues(tmp_path, capsys):
    src = tmp_path / "in"
    src.mkdir()
    good = pil_bytes((random_image(5, 6) * 255).astype(np.uint8), "RGB")
    for name in ("a.png", "b.png", "b_x4.png"):
        (src / name).write_bytes(good)
    (src / "bad.png").write_bytes(b"not an image")
    # b.png's output would be the input b_x4.png: refused, that input untouched.
    config = upscale.UpscaleConfig(
        weights="unused",
        inputs=(str(src), str(tmp_path / "no*")),
        output_dir=str(src),
        progress=False,
    )
    outputs, failures = upscale.run(config, model=nearest(4), scale=4)
    assert [os.path.basename(p) for p, _ in failures] == ["no*", "b.png", "bad.png"]
    assert "overwrite" in failures[1][1] and "not an image" in failures[2][1]
    assert [os.path.basename(p) for p in outputs] == ["a_x4.png", "b_x4_x4.png"]
    assert (src / "b_x4.png").read_bytes() == good
    err = capsys.readouterr().err
    assert "FAILED " + str(src / "bad.png") in err
