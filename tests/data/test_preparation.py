"""Tests for dataset preparation through `prepare(config)` (the command: tests/test_prepare.py).

Expected pixels are built with NumPy (or Pillow's own exif_transpose, for orientation), and every
run is checked against the records actually read back from the shards.
"""

import collections
import dataclasses
import glob
import hashlib
import io
import json
import os
import struct
import sys
import zlib

import numpy as np
from PIL import Image, ImageOps
import pytest
import tensorflow as tf
import tifffile

from esrgan_tf.data import image_io, records, shards, sources, subimages
from esrgan_tf.data import preparation as prep
from esrgan_tf.data.config import PrepareConfig, TrainDataConfig
from esrgan_tf.data.imresize import imresize

# ----------------------------------------------------------------------------------------------
# Helpers
# ----------------------------------------------------------------------------------------------


def _noise(shape, dtype=np.uint8, seed=0):
    peak = np.iinfo(dtype).max
    return np.random.default_rng(seed).integers(0, peak + 1, shape, dtype=np.int64).astype(dtype)


def _save(path, pixels, mode=None, **kwargs):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    Image.fromarray(pixels, mode).save(path, **kwargs)


def _chunk(kind, data):
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def _png16(pixels, colour_type, exif=b""):
    """A 16-bit PNG written by hand (filter 0, big-endian), independent of Pillow and TF."""
    height, width = pixels.shape[:2]
    rows = pixels.reshape(height, width, -1).astype(">u2")
    raw = b"".join(b"\x00" + row.tobytes() for row in rows)
    ihdr = struct.pack(">IIBBBBB", width, height, 16, colour_type, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + _chunk(b"IHDR", ihdr)
        + (_chunk(b"eXIf", exif) if exif else b"")
        + _chunk(b"IDAT", zlib.compress(raw))
        + _chunk(b"IEND", b"")
    )


def _exif(orientation):
    exif = Image.Exif()
    exif[0x0112] = orientation
    return exif.tobytes()


def _write(path, data):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb") as f:
        f.write(data)


def _config(tmp_path, input_dir, **kwargs):
    kwargs = {"crop_size": 32, "step": 16, "num_workers": 1, "progress": False, **kwargs}
    return PrepareConfig(
        output_dir=str(tmp_path / kwargs.pop("out", "out")), input_dirs=(str(input_dir),), **kwargs
    )


def _shard_files(output_dir):
    return sorted(glob.glob(os.path.join(output_dir, "*.tfrecord")))


def _read(output_dir):
    """Every record of every shard, parsed inside tf.data, as NumPy dicts."""
    dataset = tf.data.TFRecordDataset(_shard_files(output_dir)).map(records.parse_example)
    return [{k: v.numpy() for k, v in r.items()} for r in dataset]


def _check_manifest(output_dir, manifest):
    """The manifest agrees with the files and with the records read back."""
    with open(os.path.join(output_dir, "manifest.json"), encoding="utf-8") as f:
        assert json.load(f) == manifest
    assert [s["file"] for s in manifest["shards"]] == [
        os.path.basename(p) for p in _shard_files(output_dir)
    ]
    for shard in manifest["shards"]:
        with open(os.path.join(output_dir, shard["file"]), "rb") as f:
            assert hashlib.sha256(f.read()).hexdigest() == shard["sha256"]
        assert (
            sum(1 for _ in tf.data.TFRecordDataset(os.path.join(output_dir, shard["file"])))
            == shard["records"]
        )
    read = _read(output_dir)
    per_source = collections.Counter(r["source"].decode() for r in read)
    assert per_source == {
        e["source"]: e["sub_images"] for e in manifest["inputs"] if e["sub_images"]
    }
    assert len(read) == manifest["totals"]["sub_images"]
    assert not glob.glob(os.path.join(output_dir, ".tmp-*"))
    return read


# ----------------------------------------------------------------------------------------------
# Sub-image positions
# ----------------------------------------------------------------------------------------------


def test_window_positions_follow_basicsr():
    assert subimages.window_positions(64, 32, 16) == [0, 16, 32]
    assert subimages.window_positions(48, 32, 16) == [0, 16]
    assert subimages.window_positions(50, 32, 16) == [0, 16, 18]  # edge-aligned extra crop
    assert subimages.window_positions(50, 32, 16, thresh_size=2) == [0, 16]  # 2 left: not > 2
    assert subimages.window_positions(51, 32, 16, thresh_size=2) == [0, 16, 19]
    assert subimages.window_positions(32, 32, 16) == [0]
    assert subimages.window_positions(31, 32, 16) == []
    # A DIV2K width with ESRGAN's settings.
    assert subimages.window_positions(2040, 480, 240) == [0, 240, 480, 720, 960, 1200, 1440, 1560]


def test_sub_images_are_the_expected_crops(tmp_path):
    image = _noise((48, 70, 3))
    _save(str(tmp_path / "in" / "a.png"), image)
    manifest = prep.prepare(_config(tmp_path, tmp_path / "in"))
    read = _check_manifest(str(tmp_path / "out"), manifest)
    expected = {(y, x) for y in (0, 16) for x in (0, 16, 32, 38)}
    assert {(int(r["y"]), int(r["x"])) for r in read} == expected
    for r in read:
        y, x = int(r["y"]), int(r["x"])
        np.testing.assert_array_equal(np.round(r["hr"] * 255), image[y : y + 32, x : x + 32])
    assert manifest["inputs"][0]["sub_images"] == 8 and manifest["inputs"][0]["status"] == "ok"


# ----------------------------------------------------------------------------------------------
# Image modes and bit depths
# ----------------------------------------------------------------------------------------------


def _mode_corpus(folder):
    """{file name: (expected HxWx3 uint8/uint16 array)} for every supported kind of input."""
    rgb, gray, alpha = (
        _noise((10, 12, 3), seed=1),
        _noise((10, 12), seed=2),
        _noise((10, 12), seed=3),
    )
    rgb16, gray16, alpha16 = (
        _noise((10, 12, 3), np.uint16, 4),
        _noise((10, 12), np.uint16, 5),
        _noise((10, 12), np.uint16, 6),
    )
    palette = _noise((256, 3), seed=7)
    indices = _noise((10, 12), seed=8)
    cmyk = _noise((10, 12, 4), seed=9)
    bilevel = _noise((10, 12), seed=10) > 127
    expected = {}

    def add(name, pixels, writer):
        path = os.path.join(folder, name)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        writer(path)
        expected[name] = pixels

    gray3 = np.repeat(gray[:, :, None], 3, axis=2)
    add("rgb.png", rgb, lambda p: _save(p, rgb))
    add("gray.png", gray3, lambda p: _save(p, gray))
    add("gray_alpha.png", gray3, lambda p: _save(p, np.stack([gray, alpha], -1), "LA"))
    add("rgba.png", rgb, lambda p: _save(p, np.dstack([rgb, alpha]), "RGBA"))

    def save_palette(path, **kwargs):
        image = Image.frombytes("P", (12, 10), indices.tobytes())
        image.putpalette(palette.tobytes())
        image.save(path, **kwargs)

    add("palette.png", palette[indices], save_palette)
    add(
        "palette_transparent.png",
        palette[indices],
        lambda p: save_palette(p, transparency=int(indices[0, 0])),
    )
    add(
        "sub/dir/bilevel.png",
        np.repeat(bilevel[:, :, None] * np.uint8(255), 3, 2),
        lambda p: Image.fromarray(bilevel).save(p),
    )
    # Pillow's CMYK → RGB: (255 - C) * (255 - K) / 255 per channel, rounded.
    cmyk_rgb = np.round((255.0 - cmyk[..., :3]) * (255.0 - cmyk[..., 3:]) / 255).astype(np.uint8)
    add("cmyk.tif", cmyk_rgb, lambda p: _save(p, cmyk, "CMYK"))
    add("rgb.tif", rgb, lambda p: _save(p, rgb))
    add("rgb.bmp", rgb, lambda p: _save(p, rgb))
    add("rgb.webp", rgb, lambda p: _save(p, rgb, lossless=True))
    add("UPPER.PNG", rgb, lambda p: _save(p, rgb))
    # 16-bit inputs stay 16-bit.
    add("gray16.png", np.repeat(gray16[:, :, None], 3, 2), lambda p: _save(p, gray16))
    add("gray16.tif", np.repeat(gray16[:, :, None], 3, 2), lambda p: _save(p, gray16))
    add("rgb16.png", rgb16, lambda p: _write(p, _png16(rgb16, 2)))
    add("rgba16.png", rgb16, lambda p: _write(p, _png16(np.dstack([rgb16, alpha16]), 6)))
    add(
        "gray_alpha16.png",
        np.repeat(gray16[:, :, None], 3, 2),
        lambda p: _write(p, _png16(np.dstack([gray16, alpha16]), 4)),
    )
    add("rgb16.tif", rgb16, lambda p: tifffile.imwrite(p, rgb16, photometric="rgb"))
    # EXIF orientation 6 means "rotate 90° clockwise to view": that is np.rot90(k=-1).
    add(
        "rgb16_rotated.png",
        np.rot90(rgb16, -1),
        lambda p: _write(p, _png16(rgb16, 2, exif=_exif(6)[6:])),
    )  # eXIf holds no "Exif\0\0"
    return expected


def test_every_mode_and_bit_depth_round_trips(tmp_path):
    expected = _mode_corpus(str(tmp_path / "in"))
    manifest = prep.prepare(_config(tmp_path, tmp_path / "in", crop_size=0))
    read = _check_manifest(str(tmp_path / "out"), manifest)
    got = {r["source"].decode().split("/", 1)[1]: r for r in read}
    assert set(got) == set(expected)
    for name, pixels in expected.items():
        peak = np.iinfo(pixels.dtype).max
        record = got[name]
        assert record["bit_depth"] == 8 * pixels.dtype.itemsize, name
        assert record["hr"].shape == pixels.shape, name
        np.testing.assert_array_equal(np.round(record["hr"] * peak), pixels, err_msg=name)
    assert {e["bit_depth"] for e in manifest["inputs"] if "16" in e["source"]} == {16}


def test_jpeg_is_read_and_gray_jpeg_replicated(tmp_path):
    rgb = np.kron(_noise((4, 5, 3), seed=11), np.ones((8, 8, 1), np.uint8))  # 32x40, smooth
    _save(str(tmp_path / "in" / "rgb.jpg"), rgb, quality=100, subsampling=0)
    _save(str(tmp_path / "in" / "gray.jpeg"), rgb[..., 0], quality=100)
    manifest = prep.prepare(_config(tmp_path, tmp_path / "in", crop_size=0))
    got = {r["source"].decode(): r["hr"] for r in _check_manifest(str(tmp_path / "out"), manifest)}
    assert np.abs(got["in/rgb.jpg"] * 255 - rgb).mean() < 3  # lossy, but the same picture
    gray = got["in/gray.jpeg"]
    np.testing.assert_array_equal(gray[..., 0], gray[..., 2])
    assert np.abs(gray[..., 0] * 255 - rgb[..., 0]).mean() < 3


@pytest.mark.parametrize("orientation", range(1, 9))
def test_exif_orientation_matches_pillow(tmp_path, orientation):
    rgb = _noise((10, 14, 3), seed=orientation)
    path = str(tmp_path / "in" / "photo.png")
    _save(path, rgb, exif=_exif(orientation))
    with Image.open(path) as image:
        upright = np.asarray(ImageOps.exif_transpose(image))
    manifest = prep.prepare(_config(tmp_path, tmp_path / "in", crop_size=0))
    (record,) = _check_manifest(str(tmp_path / "out"), manifest)
    np.testing.assert_array_equal(np.round(record["hr"] * 255), upright)
    assert (manifest["inputs"][0]["height"], manifest["inputs"][0]["width"]) == upright.shape[:2]
    if orientation == 6:  # and independently of Pillow: rotate clockwise
        np.testing.assert_array_equal(upright, np.rot90(rgb, -1))


@pytest.mark.parametrize("orientation", range(1, 9))
def test_orientation_table_for_16bit_paths_matches_pillow(orientation):
    # 16-bit colour photos bypass Pillow's pixels, so image_io has its own orientation table.
    rgb = _noise((3, 5, 3), seed=orientation)
    buffer = io.BytesIO()
    Image.fromarray(rgb).save(buffer, format="PNG", exif=_exif(orientation))
    with Image.open(buffer) as image:
        upright = np.asarray(ImageOps.exif_transpose(image))
    np.testing.assert_array_equal(image_io.orient(rgb, orientation), upright)


# ----------------------------------------------------------------------------------------------
# Bad inputs
# ----------------------------------------------------------------------------------------------


def _png_with_declared_size(width, height):
    buffer = io.BytesIO()
    Image.new("RGB", (1, 1)).save(buffer, format="PNG")
    data = bytearray(buffer.getvalue())
    data[16:24] = struct.pack(">II", width, height)
    data[29:33] = struct.pack(">I", zlib.crc32(bytes(data[12:29])))
    return bytes(data)


def _bad_corpus(folder):
    """Good files plus one of each unusable kind; returns {name: expected reason kind}."""
    _save(os.path.join(folder, "good1.png"), _noise((48, 64, 3), seed=1))
    _save(os.path.join(folder, "good2.png"), _noise((40, 40, 3), seed=2))
    noise_png = io.BytesIO()
    Image.fromarray(_noise((48, 64, 3), seed=3)).save(noise_png, format="PNG")
    _write(os.path.join(folder, "empty.png"), b"")
    _write(os.path.join(folder, "truncated.png"), noise_png.getvalue()[:3000])
    _write(os.path.join(folder, "text.png"), b"this is not an image\n")
    _write(os.path.join(folder, "random.tif"), _noise((500,)).tobytes())
    _write(os.path.join(folder, "notes.txt"), b"not an image extension: ignored")
    _save(os.path.join(folder, "small.png"), _noise((20, 50, 3), seed=4))
    # Pillow raises above 2 * max_pixels and warns between 1x and 2x: both must be skips.
    _write(os.path.join(folder, "bomb.png"), _png_with_declared_size(100_000, 100_000))
    _write(os.path.join(folder, "bomb_warning.png"), _png_with_declared_size(15_000, 15_000))
    frames = [Image.new("RGB", (40, 40), (80 * i, 0, 0)) for i in range(3)]
    frames[0].save(os.path.join(folder, "animated.gif"), save_all=True, append_images=frames[1:])
    frames[0].save(
        os.path.join(folder, "animated.webp"),
        save_all=True,
        append_images=frames[1:],
        lossless=True,
    )
    return {
        "empty.png": "empty file",
        "truncated.png": "corrupt or truncated",
        "text.png": "not an image",
        "random.tif": "not an image",
        "small.png": "too small",
        "bomb.png": "too many pixels",
        "bomb_warning.png": "too many pixels",
        "animated.gif": "animated or multi-frame",
        "animated.webp": "animated or multi-frame",
    }


def test_bad_inputs_are_skipped_with_reasons(tmp_path):
    expected = _bad_corpus(str(tmp_path / "in"))
    manifest = prep.prepare(_config(tmp_path, tmp_path / "in"))
    read = _check_manifest(str(tmp_path / "out"), manifest)
    statuses = {e["source"]: (e["status"], e.get("reason", "")) for e in manifest["inputs"]}
    assert set(statuses) == {f"in/{n}" for n in list(expected) + ["good1.png", "good2.png"]}
    for name, kind in expected.items():
        status, reason = statuses[f"in/{name}"]
        assert status == "skipped" and reason.split(":")[0] == kind, (name, reason)
    assert statuses["in/good1.png"] == ("ok", "")
    assert len(read) == 6 + 4  # 48x64 → 2x3 crops, 40x40 → 2x2
    totals = manifest["totals"]
    assert (totals["ok"], totals["skipped"], totals["sub_images"]) == (2, len(expected), 10)
    assert totals["skipped_by_reason"]["too many pixels"] == 2
    assert sum(totals["skipped_by_reason"].values()) == len(expected)


def test_inputs_that_all_fail_to_decode_still_get_a_manifest(tmp_path):
    noise_png = io.BytesIO()
    Image.fromarray(_noise((48, 64, 3))).save(noise_png, format="PNG")
    _write(str(tmp_path / "in" / "truncated.png"), noise_png.getvalue()[:3000])
    with pytest.raises(prep.PrepareError, match="nothing usable.*1 corrupt or truncated"):
        prep.prepare(_config(tmp_path, tmp_path / "in"))
    with open(tmp_path / "out" / "manifest.json", encoding="utf-8") as f:
        manifest = json.load(f)
    assert manifest["inputs"][0]["reason"].startswith("corrupt or truncated: OSError")
    assert [s["records"] for s in manifest["shards"]] == [0]
    _check_manifest(str(tmp_path / "out"), manifest)


def test_max_pixels_flag(tmp_path):
    _save(str(tmp_path / "in" / "a.png"), _noise((48, 64, 3)))
    _save(str(tmp_path / "in" / "b.png"), _noise((32, 32, 3)))
    manifest = prep.prepare(_config(tmp_path, tmp_path / "in", max_pixels=2000))
    assert [e["status"] for e in manifest["inputs"]] == ["skipped", "ok"]
    assert "too many pixels" in manifest["inputs"][0]["reason"]


# ----------------------------------------------------------------------------------------------
# Determinism and recovery
# ----------------------------------------------------------------------------------------------


def _corpus(folder, n=6):
    for i in range(n):
        _save(os.path.join(folder, f"{i:02d}.png"), _noise((48, 64, 3), seed=i))


def _shard_bytes(output_dir):
    return {os.path.basename(p): open(p, "rb").read() for p in _shard_files(output_dir)}


@pytest.mark.slow
def test_same_inputs_give_identical_shards_with_any_number_of_workers(tmp_path):
    _corpus(str(tmp_path / "in"))
    first = prep.prepare(_config(tmp_path, tmp_path / "in", out="a", num_shards=3, lr_scale=2))
    second = prep.prepare(
        _config(tmp_path, tmp_path / "in", out="b", num_shards=3, lr_scale=2, num_workers=2)
    )
    assert len(_shard_bytes(str(tmp_path / "a"))) == 3
    assert _shard_bytes(str(tmp_path / "a")) == _shard_bytes(str(tmp_path / "b"))
    assert first["shards"] == second["shards"]
    assert [s["records"] for s in first["shards"]] == [12, 12, 12]  # 6 images x 6 crops
    _check_manifest(str(tmp_path / "b"), second)


def test_interrupted_run_resumes_to_the_same_output(tmp_path, monkeypatch):
    _corpus(str(tmp_path / "in"))
    reference = prep.prepare(_config(tmp_path, tmp_path / "in", out="ref", num_shards=3))
    out = str(tmp_path / "out")
    config = _config(tmp_path, tmp_path / "in", num_shards=3)

    # Crash while writing the 4th image: shard 0 (images 0-1) is complete, shard 1 half-written.
    real_add, calls = shards.ShardWriter.add, []

    def crashing_add(self, *args):
        calls.append(args[1])
        if len(calls) == 4:
            raise KeyboardInterrupt
        return real_add(self, *args)

    monkeypatch.setattr(shards.ShardWriter, "add", crashing_add)
    with pytest.raises(KeyboardInterrupt):
        prep.prepare(config)
    monkeypatch.undo()
    assert sorted(os.listdir(out)) == [".prepare-state.json", "train-00000-of-00003.tfrecord"]
    # A hard kill would also leave a temporary file behind.
    _write(os.path.join(out, ".tmp-train-00001-of-00003.tfrecord"), b"garbage")
    finished = os.stat(os.path.join(out, "train-00000-of-00003.tfrecord"))

    processed = []
    real_process = subimages.process
    monkeypatch.setattr(
        subimages,
        "process",
        lambda task, cfg: processed.append(task.index) or real_process(task, cfg),
    )
    manifest = prep.prepare(config)
    assert processed == [2, 3, 4, 5]  # images 0 and 1 only fill the kept shard
    assert os.stat(os.path.join(out, "train-00000-of-00003.tfrecord")).st_mtime_ns == (
        finished.st_mtime_ns
    )
    assert _shard_bytes(out) == _shard_bytes(str(tmp_path / "ref"))
    assert manifest["inputs"] == reference["inputs"]
    _check_manifest(out, manifest)


def test_deleted_or_corrupted_shards_are_rewritten(tmp_path):
    _corpus(str(tmp_path / "in"))
    config = _config(tmp_path, tmp_path / "in", num_shards=3)
    prep.prepare(config)
    out = str(tmp_path / "out")
    reference = _shard_bytes(out)
    os.remove(os.path.join(out, "train-00001-of-00003.tfrecord"))
    with open(os.path.join(out, "train-00002-of-00003.tfrecord"), "r+b") as f:
        f.seek(100)
        f.write(b"\xff")
    kept = os.stat(os.path.join(out, "train-00000-of-00003.tfrecord")).st_mtime_ns
    manifest = prep.prepare(config)
    assert _shard_bytes(out) == reference
    assert os.stat(os.path.join(out, "train-00000-of-00003.tfrecord")).st_mtime_ns == kept
    _check_manifest(out, manifest)


def test_changed_settings_replace_old_shards(tmp_path):
    _corpus(str(tmp_path / "in"))
    prep.prepare(_config(tmp_path, tmp_path / "in", num_shards=3))
    manifest = prep.prepare(_config(tmp_path, tmp_path / "in", num_shards=2, step=32))
    assert [os.path.basename(p) for p in _shard_files(str(tmp_path / "out"))] == [
        "train-00000-of-00002.tfrecord",
        "train-00001-of-00002.tfrecord",
    ]
    # 48x64 at crop 32, step 32: y in (0, 16 edge-aligned), x in (0, 32).
    assert len(_check_manifest(str(tmp_path / "out"), manifest)) == 6 * 4


def test_output_folder_inside_the_input_folder_is_not_read(tmp_path):
    _corpus(str(tmp_path / "in"), n=3)
    config = dataclasses.replace(
        _config(tmp_path, tmp_path / "in", holdout=1), output_dir=str(tmp_path / "in" / "prepared")
    )
    first = prep.prepare(config)
    second = prep.prepare(config)  # val_hr/02.png must not become an input
    assert len(second["inputs"]) == 3 and second == first
    assert os.listdir(tmp_path / "in" / "prepared" / "val_hr") == ["02.png"]


# ----------------------------------------------------------------------------------------------
# LR images
# ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("scale", [2, 4])
def test_stored_lr_is_cut_from_the_matlab_bicubic_of_the_whole_photo(tmp_path, scale):
    # As DIV2K's LR (MATLAB imresize of the whole photo) cut by BasicSR: only the photo's own
    # border is mirror-padded, never a sub-image's. 50x70 is mod-cropped to 48x68 at x4.
    photo = _noise((50, 70, 3))
    photo16 = _noise((32, 32, 3), np.uint16, 1)
    _save(str(tmp_path / "in" / "a.png"), photo)
    _write(str(tmp_path / "in" / "b16.png"), _png16(photo16, 2))
    manifest = prep.prepare(_config(tmp_path, tmp_path / "in", lr_scale=scale))
    read = _check_manifest(str(tmp_path / "out"), manifest)
    h, w = 50 - 50 % scale, 70 - 70 % scale
    boxes = {(int(r["y"]), int(r["x"])) for r in read if r["source"].decode().endswith("a.png")}
    # The windows of the mod-cropped photo: the edge-aligned last crop on the LR grid.
    assert boxes == {
        (y, x)
        for y in subimages.window_positions(h, 32, 16)
        for x in subimages.window_positions(w, 32, 16)
    }
    assert all(y % scale == 0 and x % scale == 0 for y, x in boxes)
    border_gap = 0.0
    for record in read:
        is_a = record["source"].decode().endswith("a.png")
        pixels, peak = (photo, 255) if is_a else (photo16, 65535)
        ph, pw = (side // scale * scale for side in pixels.shape[:2])  # mod-cropped
        whole_lr = imresize(pixels[:ph, :pw].astype(np.float64) / peak, scale=1 / scale) * peak
        y, x, n = int(record["y"]), int(record["x"]), 32 // scale
        assert record["lr_scale"] == scale and record["lr"].shape == (n, n, 3)
        np.testing.assert_array_equal(np.round(record["hr"] * peak), pixels[y : y + 32, x : x + 32])
        lr = np.round(record["lr"].astype(np.float64) * peak)
        # Rounded to the bit depth: within half a step of MATLAB's result.
        expected = whole_lr[y // scale : y // scale + n, x // scale : x // scale + n]
        assert np.abs(lr - expected).max() <= 0.5 + 1e-6
        crop = pixels[y : y + 32, x : x + 32].astype(np.float64) / peak
        border_gap = max(border_gap, np.abs(lr - imresize(crop, scale=1 / scale) * peak).max())
    # The bicubic of each HR crop (the old way) differs near interior crop borders.
    assert border_gap > 2


def test_whole_images_are_mod_cropped_to_the_scale(tmp_path):
    image = _noise((50, 41, 3))
    _save(str(tmp_path / "in" / "a.png"), image)
    manifest = prep.prepare(_config(tmp_path, tmp_path / "in", crop_size=0, lr_scale=3))
    (record,) = _check_manifest(str(tmp_path / "out"), manifest)
    np.testing.assert_array_equal(np.round(record["hr"] * 255), image[:48, :39])
    assert record["lr"].shape == (16, 13, 3)


def test_min_size_skips_small_whole_photos(tmp_path):
    # SRGAN's ImageNet is kept whole (--crop_size=0); a photo smaller than the training patch
    # would fail the pipeline's crop, so --min_size leaves it out, with its reason.
    _save(str(tmp_path / "in" / "big.png"), _noise((50, 41, 3)))
    _save(str(tmp_path / "in" / "small.png"), _noise((30, 60, 3), seed=1))
    config = _config(tmp_path, tmp_path / "in", crop_size=0, lr_scale=4, min_size=40)
    manifest = prep.prepare(config)
    (record,) = _check_manifest(str(tmp_path / "out"), manifest)
    assert record["hr"].shape == (48, 40, 3) and record["lr"].shape == (12, 10, 3)
    entry = {e["source"].split("/")[-1]: e for e in manifest["inputs"]}["small.png"]
    assert entry["status"] == "skipped"
    assert entry["reason"] == "too small: 60x30 has a side shorter than --min_size=40"


@pytest.mark.parametrize(
    "kwargs",
    [
        {"builtin": "skimage", "crop_size": 32, "step": 18, "lr_scale": 4},  # off the LR grid
        {"builtin": "skimage", "min_size": -1},
    ],
)
def test_config_rejects_steps_off_the_lr_grid_and_negative_min_size(kwargs):
    with pytest.raises(ValueError, match="step 18 is not divisible|min_size"):
        PrepareConfig(output_dir="out", **kwargs)


# ----------------------------------------------------------------------------------------------
# Other sources
# ----------------------------------------------------------------------------------------------


def test_builtin_skimage_photos_with_holdout(tmp_path):
    from skimage import data  # pylint: disable=import-outside-toplevel

    config = PrepareConfig(
        output_dir=str(tmp_path / "out"),
        builtin="skimage",
        holdout=2,
        crop_size=256,
        step=256,
        num_workers=1,
        progress=False,
    )
    manifest = prep.prepare(config)
    read = _check_manifest(str(tmp_path / "out"), manifest)
    held = [e for e in manifest["inputs"] if e["status"] == "holdout"]
    assert [e["source"] for e in held] == ["skimage/coffee", "skimage/chelsea"]
    for entry, photo in zip(held, (data.coffee(), data.chelsea())):
        with Image.open(tmp_path / "out" / entry["file"]) as image:
            np.testing.assert_array_equal(np.asarray(image), photo)
    assert {r["source"].decode() for r in read} == {
        e["source"] for e in manifest["inputs"] if e["status"] == "ok"
    }
    assert manifest["totals"]["ok"] == len(sources.SKIMAGE_PHOTOS) - 2
    assert manifest["totals"]["skipped"] == 0
    assert all(r["hr"].shape == (256, 256, 3) for r in read)
    # Gray photos become RGB with three equal channels.
    grass = [r["hr"] for r in read if r["source"].decode() == "skimage/grass"]
    assert grass and all(np.array_equal(g[..., 0], g[..., 2]) for g in grass)


class _FakeTfds:
    """Just enough of tensorflow_datasets for `sources.tfds_images`."""

    def __init__(self, images, fail=None):
        self.images, self.fail = images, fail

    def builder(self, name, data_dir=None):
        fake = self

        class Builder:
            def download_and_prepare(self):
                if fake.fail:
                    raise fake.fail

            def as_dataset(self, split, shuffle_files):
                assert not shuffle_files and split == "train"
                return [{"hr": image, "lr": image[::4, ::4]} for image in fake.images]

        return Builder()

    @staticmethod
    def as_numpy(dataset):
        return iter(dataset)


def test_tfds_source(tmp_path, monkeypatch):
    images = [_noise((48, 64, 3), seed=i) for i in range(3)]
    monkeypatch.setitem(sys.modules, "tensorflow_datasets", _FakeTfds(images))
    config = PrepareConfig(
        output_dir=str(tmp_path / "out"),
        tfds="div2k/bicubic_x4",
        crop_size=32,
        step=16,
        num_workers=1,
        progress=False,
    )
    manifest = prep.prepare(config)
    read = _check_manifest(str(tmp_path / "out"), manifest)
    assert [e["source"] for e in manifest["inputs"]] == [
        f"tfds:div2k/bicubic_x4/train/{i}" for i in range(3)
    ]
    for r in read:
        i, y, x = int(r["source"].decode().rsplit("/", 1)[1]), int(r["y"]), int(r["x"])
        np.testing.assert_array_equal(np.round(r["hr"] * 255), images[i][y : y + 32, x : x + 32])


def test_tfds_errors_are_clear(tmp_path, monkeypatch):
    config = PrepareConfig(
        output_dir=str(tmp_path / "out"), tfds="div2k/bicubic_x4", num_workers=1, progress=False
    )
    monkeypatch.setitem(sys.modules, "tensorflow_datasets", None)  # not installed
    with pytest.raises(prep.PrepareError, match="pip install tensorflow-datasets"):
        prep.prepare(config)
    monkeypatch.setitem(
        sys.modules, "tensorflow_datasets", _FakeTfds([], fail=ConnectionError("no network"))
    )
    with pytest.raises(prep.PrepareError, match="no network.*--tfds_data_dir"):
        prep.prepare(config)
    monkeypatch.setitem(sys.modules, "tensorflow_datasets", _FakeTfds([_noise((48, 64, 3))]))
    with pytest.raises(prep.PrepareError, match="no feature 'hr_image'"):
        prep.prepare(dataclasses.replace(config, tfds_key="hr_image"))


# ----------------------------------------------------------------------------------------------
# Configuration and the command line
# ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "kwargs",
    [
        {},
        {"input_dirs": ("a",), "builtin": "skimage"},
        {"builtin": "flickr"},
        {"builtin": "skimage", "lr_scale": 8},
        {"builtin": "skimage", "crop_size": 30, "lr_scale": 4},
        {"builtin": "skimage", "step": 0},
        {"builtin": "skimage", "prefix": "a/b"},
    ],
)
def test_config_rejects_bad_settings(kwargs):
    with pytest.raises(ValueError):
        PrepareConfig(output_dir="out", **kwargs)


# ----------------------------------------------------------------------------------------------
# LR/HR pairs: the user's own LR images
# ----------------------------------------------------------------------------------------------


def _symmetries(image):
    return {(f, k): np.rot90(image[:, ::-1] if f else image, k) for f in (0, 1) for k in range(4)}


def test_paired_lr_folders_are_cut_on_the_lr_grid_and_feed_the_pipeline(tmp_path):
    from esrgan_tf.data import pipeline  # pylint: disable=import-outside-toplevel

    hr = _noise((50, 70, 3))  # mod-cropped to 48x68 at x4
    lr = _noise((12, 17, 3), seed=1)  # unrelated to the HR: the records must carry these pixels
    hr16 = _noise((32, 32, 3), np.uint16, seed=2)
    lr8 = _noise((8, 8, 3), seed=3)
    _save(str(tmp_path / "hr" / "a.png"), hr)
    _save(str(tmp_path / "lr" / "sub" / "a_x4.png"), lr)
    _write(str(tmp_path / "hr" / "b16.png"), _png16(hr16, 2))
    _save(str(tmp_path / "lr" / "b16x4.png"), lr8)  # 8-bit LR of a 16-bit photo
    _save(str(tmp_path / "hr" / "c.png"), _noise((32, 32, 3), seed=4))  # no LR image
    _save(str(tmp_path / "hr" / "d.png"), _noise((32, 32, 3), seed=5))
    _save(str(tmp_path / "lr" / "d.png"), _noise((9, 8, 3), seed=6))  # wrong size
    config = _config(tmp_path, tmp_path / "hr", lr_scale=4, lr_dirs=(str(tmp_path / "lr"),))
    manifest = prep.prepare(config)
    read = _check_manifest(str(tmp_path / "out"), manifest)
    by_name = {e["source"].split("/")[-1]: e for e in manifest["inputs"]}
    assert by_name["a.png"]["lr_path"].endswith("a_x4.png") and by_name["a.png"]["lr_sha256"]
    assert by_name["c.png"]["reason"].startswith("no LR image: none of c, cx4, c_x4, c_LRBI_x4")
    assert by_name["d.png"]["reason"].startswith("LR size:")
    assert manifest["settings"]["lr_dirs"] == [str(tmp_path / "lr")]
    # Boxes on the LR grid of the mod-cropped photo: x = 36 is the edge-aligned last crop.
    a = [r for r in read if r["source"].decode().endswith("a.png")]
    assert {(int(r["y"]), int(r["x"])) for r in a} == {
        (y, x) for y in (0, 16) for x in (0, 16, 32, 36)
    }
    for r in a:
        y, x = int(r["y"]), int(r["x"])
        np.testing.assert_array_equal(np.round(r["hr"] * 255), hr[y : y + 32, x : x + 32])
        np.testing.assert_array_equal(
            np.round(r["lr"] * 255), lr[y // 4 : y // 4 + 8, x // 4 : x // 4 + 8]
        )
    (b,) = [r for r in read if r["source"].decode().endswith("b16.png")]
    np.testing.assert_array_equal(np.round(b["lr"] * 65535), lr8.astype(np.uint16) * 257)

    # A training source: the pipeline's LR patch is the window of the user's LR under the
    # same flip/rotation as the HR patch, at the HR patch's position / 4.
    data = TrainDataConfig(
        data=str(tmp_path / "out"), hr_size=16, batch_size=4, shuffle_buffer=4, seed=1
    )
    checked = 0
    for lr_batch, hr_batch in pipeline.train_dataset(data, 4).take(2):
        for lr_patch, hr_patch in zip(lr_batch.numpy(), hr_batch.numpy()):
            hr_patch, lr_patch = np.round(hr_patch * 255), np.round(lr_patch * 255)
            hits = [
                (t, y, x)
                for t, view in _symmetries(hr_patch).items()
                for y in range(0, 48 - 16 + 1, 4)
                for x in range(0, 68 - 16 + 1, 4)
                if np.array_equal(view, hr[y : y + 16, x : x + 16])
            ]
            if not hits:  # a patch of b16.png
                continue
            ((t, y, x),) = hits
            window = lr[y // 4 : y // 4 + 4, x // 4 : x // 4 + 4]
            np.testing.assert_array_equal(_symmetries(lr_patch)[t], window)
            checked += 1
    assert checked >= 2


@pytest.mark.parametrize(
    "kwargs",
    [
        {"input_dirs": ("a",), "lr_dirs": ("b",)},  # no lr_scale
        {"builtin": "skimage", "lr_dirs": ("b",), "lr_scale": 4},
        {"input_dirs": ("a",), "lr_dirs": ("b",), "lr_scale": 4, "holdout": 1},
    ],
)
def test_config_rejects_bad_pair_settings(kwargs):
    with pytest.raises(ValueError):
        PrepareConfig(output_dir="out", **kwargs)
