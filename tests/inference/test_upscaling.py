"""Upscaling image files: every image mode, refusals, and a folder with bad files."""

import dataclasses
import io
import os

import numpy as np
from PIL import Image
import pytest
import tensorflow as tf

from esrgan_tf.data import image_io
from esrgan_tf.data.imresize import imresize
from esrgan_tf.inference import tiling as tiling_lib
from esrgan_tf.inference import upscaling as upscale
from esrgan_tf.inference.config import Tiling, UpscaleConfig
from esrgan_tf.inference.tiling import tile_upscale


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


def upscaler(tmp_path, **kwargs):
    """An Upscaler of the nearest 'model' (x4), tiled into 8-px tiles with 2 px of context."""
    settings = dict(
        weights="unused",
        input=("x",),
        output_dir=str(tmp_path),
        progress=False,
        tiling=Tiling(tile=8, tile_pad=2),
    )
    return upscale.Upscaler(UpscaleConfig(**{**settings, **kwargs}), nearest(4), 4)


def upscale_to_array(tmp_path, name, data, **kwargs):
    src, dst = tmp_path / name, tmp_path / "out.png"
    src.write_bytes(data)
    upscaler(tmp_path, **kwargs).upscale_file(str(src), str(dst))
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
        upscaler(tmp_path).upscale_file(str(path), str(path))
    with pytest.raises(image_io.UnusableImage, match="too many pixels"):
        upscaler(tmp_path, max_pixels=99).upscale_file(str(path), str(tmp_path / "b.png"))
    assert path.read_bytes() == data and not (tmp_path / "b.png").exists()


def test_run_reports_bad_files_and_continues(tmp_path, capsys):
    src = tmp_path / "in"
    src.mkdir()
    good = pil_bytes((random_image(5, 6) * 255).astype(np.uint8), "RGB")
    for name in ("a.png", "b.png", "b_x4.png"):
        (src / name).write_bytes(good)
    (src / "bad.png").write_bytes(b"not an image")
    # b.png's output would be the input b_x4.png: refused, that input untouched.
    config = UpscaleConfig(
        weights="unused",
        input=(str(src), str(tmp_path / "no*")),
        output_dir=str(src),
        progress=False,
    )
    outputs, failures = upscale.run(config, model=nearest(4), scale=4)
    assert [os.path.basename(p) for p, _ in failures] == ["no*", "b.png", "bad.png"]
    assert "no file matches" in failures[0][1]
    assert "overwrite" in failures[1][1] and "not an image" in failures[2][1]
    assert [os.path.basename(p) for p in outputs] == ["a_x4.png", "b_x4_x4.png"]
    assert (src / "b_x4.png").read_bytes() == good
    err = capsys.readouterr().err
    assert "FAILED " + str(src / "bad.png") in err


# ---------------------------------------------------------------------------------------
# Final size, formats, metadata, alpha through the model
# ---------------------------------------------------------------------------------------


def config(tmp_path, **kwargs):
    return UpscaleConfig(
        weights="unused",
        input=(str(tmp_path / "in"),),
        output_dir=str(tmp_path / "out"),
        progress=False,
        tiling=Tiling(tile_pad=0),
        **kwargs,
    )


def run_on(tmp_path, files, model=None, scale=4, **kwargs):
    (tmp_path / "in").mkdir(exist_ok=True)
    for name, data in files.items():
        (tmp_path / "in" / name).write_bytes(data)
    return upscale.run(config(tmp_path, **kwargs), model=model or nearest(scale), scale=scale)


def test_outscale_resizes_the_model_output_with_matlab_bicubic(tmp_path):
    rgb = (random_image(9, 14) * 255).astype(np.uint8)
    outputs, failures = run_on(tmp_path, {"a.png": pil_bytes(rgb, "RGB")}, outscale=2.5)
    assert not failures and [os.path.basename(p) for p in outputs] == ["a_x2.5.png"]
    out = np.asarray(Image.open(outputs[0]))
    x4 = repeat(rgb).astype(np.float64) / 255  # the model's output
    expected = np.floor(np.clip(imresize(x4, output_shape=(22, 35)), 0, 1) * 255 + 0.5)
    assert out.shape == (22, 35, 3)  # round(9 * 2.5), round(14 * 2.5)
    assert np.abs(out.astype(np.float64) - expected).max() <= 1  # float32 vs float64 rounding
    width, _ = run_on(tmp_path, {"a.png": pil_bytes(rgb, "RGB")}, width=28, suffix="_w")
    assert np.asarray(Image.open(width[0])).shape == (18, 28, 3)  # aspect ratio kept


def test_jpeg_and_webp_output(tmp_path):
    rgb = (random_image(16, 20) * 255).astype(np.uint8)
    files = {"a.png": pil_bytes(rgb, "RGB")}
    high, _ = run_on(tmp_path, files, ext="jpg", quality=95, suffix="_hi")
    low, _ = run_on(tmp_path, files, ext="jpg", quality=30, suffix="_lo")
    assert high[0].endswith("a_hi.jpg") and Image.open(high[0]).format == "JPEG"
    assert os.path.getsize(low[0]) < os.path.getsize(high[0])
    webp, _ = run_on(tmp_path, files, ext="webp", suffix="_w")
    with Image.open(webp[0]) as image:
        assert image.format == "WEBP" and image.size == (80, 64)


def test_alpha_with_jpeg_becomes_png(tmp_path, capsys):
    rgba = (random_image(6, 7, seed=2).repeat(2, axis=2)[..., :4] * 255).astype(np.uint8)
    outputs, failures = run_on(tmp_path, {"a.png": pil_bytes(rgba, "RGBA")}, ext="jpg")
    assert not failures and outputs[0].endswith("a_x4.png")
    assert Image.open(outputs[0]).mode == "RGBA"
    assert "written as PNG" in capsys.readouterr().err


def test_alpha_through_the_model(tmp_path):
    rgba = (random_image(6, 7, seed=2).repeat(2, axis=2)[..., :4] * 255).astype(np.uint8)
    outputs, _ = run_on(tmp_path, {"a.png": pil_bytes(rgba, "RGBA")}, alpha_upsampler="model")
    out = np.asarray(Image.open(outputs[0]))
    np.testing.assert_array_equal(out[..., 3], repeat(rgba[..., 3]))  # the nearest "model"


def test_icc_profile_and_exif_travel_to_every_format(tmp_path):
    icc = b"\0\0\0\x40fake-icc-profile" + bytes(48)
    tags = Image.Exif()
    tags[0x010F] = "TestCamera"  # Make
    tags[0x0112] = 6  # rotated: the output is upright, so its orientation must be 1
    rgb = (random_image(8, 12) * 255).astype(np.uint8)
    files = {"a.jpg": pil_bytes(rgb, "RGB", "JPEG", exif=tags, icc_profile=icc, quality=95)}
    for ext in ("png", "jpg", "webp"):
        outputs, failures = run_on(tmp_path, files, ext=ext, suffix=f"_{ext}")
        assert not failures
        with Image.open(outputs[0]) as out:
            assert out.info.get("icc_profile") == icc, ext
            exif = out.getexif()
            assert exif.get(0x010F) == "TestCamera" and exif.get(0x0112, 1) == 1, ext
            assert out.size == (32, 48)  # 8x12 stored, 12x8 upright, x4


def test_16bit_png_keeps_its_icc_profile(tmp_path):
    icc = b"\0\0\0\x40another-profile" + bytes(48)
    rgb = (random_image(5, 6) * 65535).astype(np.uint16)
    png = image_io.encode(rgb, metadata=image_io.Metadata(icc=icc))
    outputs, _ = run_on(tmp_path, {"deep.png": png})
    data = open(outputs[0], "rb").read()
    assert data[24] == 16 and Image.open(outputs[0]).info.get("icc_profile") == icc
    np.testing.assert_array_equal(
        tf.io.decode_png(data, channels=3, dtype=tf.uint16).numpy(), repeat(rgb)
    )


# ---------------------------------------------------------------------------------------
# Names, skipped files
# ---------------------------------------------------------------------------------------


def test_inputs_sharing_a_stem_all_get_written(tmp_path):
    rgb = (random_image(5, 6) * 255).astype(np.uint8)
    outputs, failures = run_on(
        tmp_path, {"photo.jpg": pil_bytes(rgb, "RGB", "JPEG"), "photo.png": pil_bytes(rgb, "RGB")}
    )
    assert not failures
    assert sorted(os.path.basename(p) for p in outputs) == ["photo_jpg_x4.png", "photo_png_x4.png"]


def test_files_skipped_in_a_folder_are_listed_with_the_reason(tmp_path, capsys):
    rgb = (random_image(5, 6) * 255).astype(np.uint8)
    frames = [Image.fromarray(rgb), Image.fromarray(255 - rgb)]
    animated = io.BytesIO()
    frames[0].save(animated, "GIF", save_all=True, append_images=frames[1:])
    still = io.BytesIO()
    frames[0].save(still, "GIF")
    outputs, failures = run_on(
        tmp_path,
        {"notes.txt": b"hello", "anim.gif": animated.getvalue(), "still.gif": still.getvalue()},
    )
    assert [os.path.basename(p) for p in outputs] == ["still_x4.png"]
    reasons = {os.path.basename(p): r for p, r in failures}
    assert "not an image or video file" in reasons["notes.txt"]
    assert "animated" in reasons["anim.gif"]
    err = capsys.readouterr().err
    assert "SKIPPED" in err and "notes.txt" in err and "FAILED" in err and "anim.gif" in err


# ---------------------------------------------------------------------------------------
# Half precision that never goes black; seamless textures
# ---------------------------------------------------------------------------------------


def test_spoilt_half_precision_tiles_are_redone_in_float32(caplog):
    image = random_image(12, 16)
    calls = []

    def black_on_first_tile(x):
        calls.append(x.shape)
        out = nearest(2)(x)
        return out * 0.0 if len(calls) == 1 else out  # the first call: black

    out = tile_upscale(
        black_on_first_tile, image, 2, Tiling(tile=8, tile_pad=1), fallback=nearest(2)
    )
    np.testing.assert_array_equal(out, np.repeat(np.repeat(image, 2, 0), 2, 1))
    assert "recomputed in float32" in caplog.text
    nan = tile_upscale(
        lambda x: nearest(2)(x) * np.nan, image, 2, Tiling(tile_pad=0), fallback=nearest(2)
    )
    assert np.all(np.isfinite(nan))
    flat = np.full((6, 6, 3), 0.5, np.float32)  # a flat tile may come out flat: not spoilt
    assert not tiling_lib.spoilt(np.zeros((1, 12, 12, 3)), flat[None])[0]


def test_bf16_inference_of_a_generator(tmp_path, tiny_model, make_generator):
    model = make_generator(tiny_model)
    rgb = (random_image(12, 16) * 255).astype(np.uint8)
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "a.png").write_bytes(pil_bytes(rgb, "RGB"))
    weights = str(tmp_path / "g.weights.h5")
    model.save_weights(weights)
    common = dict(
        weights=weights,
        input=(str(tmp_path / "in"),),
        architecture=tiny_model.architecture(),
        progress=False,
    )
    fp32, _ = upscale.run(UpscaleConfig(output_dir=str(tmp_path / "a"), **common))
    bf16, _ = upscale.run(UpscaleConfig(output_dir=str(tmp_path / "b"), precision="bf16", **common))
    a = np.asarray(Image.open(fp32[0]), np.float64)
    b = np.asarray(Image.open(bf16[0]), np.float64)
    assert a.shape == b.shape and 0 < np.abs(a - b).mean() < 2.0  # bf16 differs, slightly


def test_seamless_output_tiles_without_seams(tiny_model, make_generator, tmp_path):
    model = make_generator(tiny_model, seed=3)
    texture = random_image(24, 20, seed=5)
    upscaler = upscale.Upscaler(
        UpscaleConfig(
            weights="unused", input=("x",), output_dir=str(tmp_path), seamless=True, progress=False
        ),
        model=model,
        scale=4,
    )
    sr = upscaler.upscale_array(texture)
    # The reference: the centre copy of the texture repeated 3 x 3 (its context is the
    # neighbouring copies, as on a torus), computed untiled.
    big = np.asarray(model(np.tile(texture, (3, 3, 1))[None]))[0]
    centre = big[4 * 24 : 8 * 24, 4 * 20 : 8 * 20]
    assert np.abs(sr - centre).max() < 1e-4
    # Its opposite edges continue: the seam is like any other neighbouring pair of columns.
    seam = np.abs(sr[:, -1] - sr[:, 0]).mean()
    inside = np.abs(np.diff(sr, axis=1)).mean()
    assert seam < 2 * inside
    plain = upscale.Upscaler(
        dataclasses.replace(upscaler.config, seamless=False), model=model, scale=4
    ).upscale_array(texture)
    assert np.abs(plain - centre).max() > 1e-3  # without it the borders differ
