"""esrgan_tf.upscale: tiled inference, every image mode, and the command end to end."""

import io
import os
import subprocess
import sys

import keras
import numpy as np
import pytest
import tensorflow as tf
from PIL import Image

from esrgan_tf import upscale
from esrgan_tf.data import image_io
from esrgan_tf.data.imresize import imresize
from esrgan_tf.models.rrdbnet import RRDBNet

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TINY = dict(num_feat=8, num_block=1, num_grow_ch=4, scale=4)


def nearest(scale):
    """A 'generator' that repeats pixels: its output position tells which input it came from."""
    return lambda x: tf.repeat(tf.repeat(x, scale, axis=1), scale, axis=2)


def nearest_with_bad_border(scale):
    """Nearest upsampling that corrupts the outer input pixel of whatever window it gets.

    Receptive-field radius 1: with pad >= 1 tiling must equal the untiled call exactly, which
    only holds if every window's context (padding) part is thrown away.
    """
    def call(x):
        shape = tf.shape(x)
        inner = tf.pad(tf.ones(shape - [0, 2, 2, 0]), [[0, 0], [1, 1], [1, 1], [0, 0]])
        return nearest(scale)(x + 100.0 * (1.0 - inner))
    return call


@pytest.fixture(scope="module")
def rrdbnet():
    keras.utils.set_random_seed(1)
    model = RRDBNet(**TINY)
    model(np.zeros((1, 8, 8, 3), np.float32))
    return model


def random_image(h, w, seed=0):
    return np.random.default_rng(seed).random((h, w, 3), dtype=np.float32)


# ---------------------------------------------------------------------------------------
# Tiling
# ---------------------------------------------------------------------------------------

def test_tiled_equals_untiled_rrdbnet(rrdbnet):
    image = random_image(40, 52)
    untiled = rrdbnet(image[None]).numpy()[0]
    assert untiled.shape == (160, 208, 3)
    np.testing.assert_array_equal(upscale.tile_upscale(rrdbnet, image, 4, tile=64), untiled)
    tiled = upscale.tile_upscale(rrdbnet, image, 4, tile=16, pad=8, batch_size=4)
    assert np.abs(tiled - untiled).max() < 1 / 255
    # pad >= the receptive-field radius (conv_first + 15 RRDB convs + conv_body + the HR
    # convs < 19 LR px): equal up to float round-off.
    exact = upscale.tile_upscale(rrdbnet, image, 4, tile=16, pad=19, batch_size=3)
    np.testing.assert_allclose(exact, untiled, atol=1e-5)
    # Too little context must show: the test can fail.
    assert np.abs(upscale.tile_upscale(rrdbnet, image, 4, tile=8, pad=0) - untiled).max() > 1e-3


@pytest.mark.parametrize("tile,pad,batch_size", [(1, 0, 1), (5, 0, 3), (7, 2, 2), (16, 3, 4),
                                                 (11, 30, 5), (64, 1, 1)])
def test_every_output_pixel_comes_from_its_own_tile_centre(tile, pad, batch_size):
    # Position-coded input: a misplaced or missing tile changes the output.
    h, w = 13, 18
    yy, xx = np.meshgrid(np.arange(h), np.arange(w), indexing="ij")
    image = np.stack([yy / h, xx / w, random_image(h, w)[..., 0]], axis=-1).astype(np.float32)
    out = upscale.tile_upscale(nearest(3), image, 3, tile, pad, batch_size)
    np.testing.assert_array_equal(out, np.repeat(np.repeat(image, 3, 0), 3, 1))
    if pad >= 1:
        model = nearest_with_bad_border(3)
        untiled = model(image[None]).numpy()[0]
        np.testing.assert_array_equal(
            upscale.tile_upscale(model, image, 3, tile, pad, batch_size), untiled)


def test_bad_arguments():
    with pytest.raises(ValueError, match="tile"):
        upscale.tile_upscale(nearest(2), random_image(4, 4), 2, tile=0)
    with pytest.raises(ValueError, match="wrong scale"):
        upscale.tile_upscale(nearest(2), random_image(4, 4), 4)


# ---------------------------------------------------------------------------------------
# Files, every mode (nearest upsampling makes the expected pixels exact)
# ---------------------------------------------------------------------------------------

def repeat(a, s=4):
    return np.repeat(np.repeat(a, s, 0), s, 1)


def upscale_to_array(tmp_path, name, data, **kwargs):
    src, dst = tmp_path / name, tmp_path / "out.png"
    src.write_bytes(data)
    upscale.upscale_file(nearest(4), 4, str(src), str(dst), tile=8, pad=2, **kwargs)
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
    _, _, data = upscale_to_array(tmp_path, "a.png",
                                  tf.io.encode_png(rgb).numpy())
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
    config = upscale.UpscaleConfig(weights="unused", inputs=(str(src), str(tmp_path / "no*")),
                                   output_dir=str(src), progress=False)
    outputs, failures = upscale.run(config, model=nearest(4), scale=4)
    assert [os.path.basename(p) for p, _ in failures] == ["no*", "b.png", "bad.png"]
    assert "overwrite" in failures[1][1] and "not an image" in failures[2][1]
    assert [os.path.basename(p) for p in outputs] == ["a_x4.png", "b_x4_x4.png"]
    assert (src / "b_x4.png").read_bytes() == good
    err = capsys.readouterr().err
    assert "FAILED " + str(src / "bad.png") in err


# ---------------------------------------------------------------------------------------
# Command line
# ---------------------------------------------------------------------------------------

def run_cli(*args):
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3", PYTHONPATH=ROOT)
    return subprocess.run([sys.executable, "-m", "esrgan_tf.upscale", *args], cwd=ROOT,
                          env=env, capture_output=True, text=True, timeout=120)


def test_cli_end_to_end(tmp_path, rrdbnet):
    weights = tmp_path / "g.weights.h5"
    rrdbnet.save_weights(str(weights))
    src = tmp_path / "in"
    src.mkdir()
    image = (random_image(20, 12) * 255).astype(np.uint8)
    (src / "a.png").write_bytes(pil_bytes(image, "RGB"))
    (src / "b.jpg").write_bytes(pil_bytes(image, "RGB", "JPEG"))
    (src / "broken.png").write_bytes(b"\x89PNG garbage")
    out = tmp_path / "out"
    arch = ["--num_feat=8", "--num_block=1", "--num_grow_ch=4", "--scale=4"]
    result = run_cli(f"--weights={weights}", f"--input={src / 'a.png'},{src / '*.jpg'},"
                     f"{src / 'broken.png'}", f"--output_dir={out}", "--tile=8",
                     "--tile_pad=4", "--noprogress", *arch)
    assert result.returncode == 1, result.stderr[-3000:]
    failed = [line for line in result.stderr.splitlines() if line.startswith("FAILED")]
    assert len(failed) == 1 and "broken.png" in failed[0], result.stderr[-3000:]
    assert "2 written" in result.stderr and "1 failed" in result.stderr
    assert sorted(os.listdir(out)) == ["a_x4.png", "b_x4.png"]
    # The saved file is the library's output rounded by metrics.to_uint8.
    expected = upscale.tile_upscale(rrdbnet, image.astype(np.float32) / 255, 4)
    saved = np.asarray(Image.open(out / "a_x4.png"))
    np.testing.assert_array_equal(saved, np.floor(np.clip(expected, 0, 1) * 255 + 0.5))

    # All good -> exit 0; a mismatching architecture is one clear error.
    assert run_cli(f"--weights={weights}", f"--input={src / 'a.png'}", f"--output_dir={out}",
                   "--suffix=_again", *arch).returncode == 0
    assert (out / "a_again.png").exists()
    wrong = run_cli(f"--weights={weights}", f"--input={src / 'a.png'}", f"--output_dir={out}",
                    "--num_feat=8", "--num_block=2", "--num_grow_ch=4", "--suffix=_wrong")
    assert wrong.returncode == 1 and "different architecture" in wrong.stderr
    assert not (out / "a_wrong.png").exists()
