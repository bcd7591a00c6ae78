"""Tests for esrgan_tf.inference.evaluation on crops of real photos (skimage.data).

Golden values: PSNR written out here by hand (BT.601 Y, crop = scale, uint8 rounding)
on LR made here with `imresize`; the stand-in "model" is exactly the bicubic upscale,
so its row must equal the bicubic row.
"""

import csv
import json
import os

import numpy as np
from PIL import Image
import pytest
import skimage.data
import tensorflow as tf

from esrgan_tf.data.imresize import imresize
from esrgan_tf.inference import evaluation as evaluate_lib
from esrgan_tf.inference.tiling import Tiling

SCALE = 4
KEYS = ("psnr_y", "ssim_y", "psnr_rgb", "ssim_rgb")
# Three real photos, cropped to sizes that are not multiples of 4 (mod-crop is exercised).
PHOTOS = {
    "astronaut": (skimage.data.astronaut, 90, 170, 50, 42),
    "chelsea": (skimage.data.chelsea, 60, 150, 45, 61),
    "coffee": (skimage.data.coffee, 100, 200, 40, 36),
}


class BicubicStandIn:
    """A 'generator' whose output is exactly MATLAB bicubic (runs inside tf.function)."""

    def __call__(self, x, training=False):
        del training

        def upscale(batch):
            return np.stack(
                [np.clip(imresize(im, float(SCALE)), 0, 1).astype(np.float32) for im in batch]
            )

        return tf.numpy_function(upscale, [x], tf.float32)


def write_set(root, name="Set3"):
    hr_dir = os.path.join(root, name, "HR")
    os.makedirs(hr_dir)
    for stem, (load, y, x, h, w) in PHOTOS.items():
        Image.fromarray(load()[y : y + h, x : x + w]).save(os.path.join(hr_dir, f"{stem}.png"))
    return hr_dir


def hr_of(stem):
    load, y, x, h, w = PHOTOS[stem]
    crop = load()[y : y + h, x : x + w]
    return crop[: h - h % SCALE, : w - w % SCALE].astype(np.float32) / 255.0


def hand_psnr(sr, hr, y_only):
    """PSNR on the [0, 255] scale, uint8-rounded, border of SCALE removed."""
    a, b = [np.floor(np.clip(im.astype(np.float64), 0, 1) * 255 + 0.5) for im in (sr, hr)]
    if y_only:
        weights = np.array([65.481, 128.553, 24.966]) / 255.0
        a, b = a @ weights + 16.0, b @ weights + 16.0
    a, b = a[SCALE:-SCALE, SCALE:-SCALE], b[SCALE:-SCALE, SCALE:-SCALE]
    return 10 * np.log10(255.0**2 / np.mean((a - b) ** 2))


def read_csv(path):
    with open(path, newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


def test_dataset_names():
    assert evaluate_lib.dataset_name("data/Set5/HR") == "Set5"
    assert evaluate_lib.dataset_name("data/Set5/HR/") == "Set5"
    assert evaluate_lib.dataset_name("data/urban_hr") == "urban_hr"


def test_bicubic_stand_in_against_hand_metrics(tmp_path):
    hr_dir = write_set(str(tmp_path))
    out = str(tmp_path / "out")
    summary = evaluate_lib.evaluate(
        BicubicStandIn(),
        {"Set3": (hr_dir, "")},
        SCALE,
        Tiling(tile=8, tile_pad=4),
        output_dir=out,
        save_images=True,
        progress=False,
    )
    rows = read_csv(os.path.join(out, "Set3.csv"))
    assert [r["method"] for r in rows].count("bicubic") == len(PHOTOS)
    assert len(rows) == len(PHOTOS) * 2
    for row in rows:
        hr = hr_of(row["image"])
        bicubic = np.clip(imresize(np.clip(imresize(hr, 1 / SCALE), 0, 1), SCALE), 0, 1)
        assert float(row["psnr_y"]) == pytest.approx(hand_psnr(bicubic, hr, True), abs=1e-9)
        assert float(row["psnr_rgb"]) == pytest.approx(hand_psnr(bicubic, hr, False), abs=1e-9)
        assert 0.3 < float(row["ssim_y"]) < 1.0
    for stem in PHOTOS:  # the stand-in is bicubic, so both rows agree (multi-tile here)
        pair = [r for r in rows if r["image"] == stem]
        for key in KEYS:
            assert float(pair[0][key]) == pytest.approx(float(pair[1][key]), abs=1e-9)
        saved = np.asarray(Image.open(os.path.join(out, "Set3", f"{stem}.png")))
        assert saved.shape == hr_of(stem).shape
    with open(os.path.join(out, "summary.json"), encoding="utf-8") as f:
        on_disk = json.load(f)
    assert on_disk["datasets"]["Set3"]["images"] == len(PHOTOS)
    for method in ("bicubic", "model"):
        for key in KEYS:
            mean = np.mean([float(r[key]) for r in rows if r["method"] == method])
            assert summary["Set3"]["results"][method][key] == pytest.approx(mean, abs=1e-9)
            assert on_disk["datasets"]["Set3"]["results"][method][key] == pytest.approx(mean)
    with open(os.path.join(out, "summary.md"), encoding="utf-8") as f:
        text = f.read()
    assert "## Set3 (3 images" in text and "| bicubic |" in text and "| model |" in text


def test_paired_lr_folder_is_used(tmp_path):
    hr_dir = write_set(str(tmp_path))
    lr_dir = tmp_path / "Set3" / "LR_bicubic"
    lr_dir.mkdir()
    for stem in PHOTOS:  # a different LR than MATLAB bicubic: PIL box filter
        hr = hr_of(stem)
        lr = Image.fromarray((hr * 255).round().astype(np.uint8)).resize(
            (hr.shape[1] // SCALE, hr.shape[0] // SCALE), Image.BOX
        )
        lr.save(lr_dir / f"{stem}x{SCALE}.png")
    out = str(tmp_path / "out")
    datasets = evaluate_lib.name_datasets([hr_dir], [str(lr_dir)])
    evaluate_lib.evaluate(BicubicStandIn(), datasets, SCALE, output_dir=out, progress=False)
    for row in read_csv(os.path.join(out, "Set3.csv")):
        hr = hr_of(row["image"])
        lr = np.asarray(Image.open(lr_dir / f"{row['image']}x{SCALE}.png"), np.float32) / 255
        sr = np.clip(imresize(lr, SCALE), 0, 1)
        assert float(row["psnr_y"]) == pytest.approx(hand_psnr(sr, hr, True), abs=1e-9)
        made_here = np.clip(imresize(np.clip(imresize(hr, 1 / SCALE), 0, 1), SCALE), 0, 1)
        assert abs(float(row["psnr_y"]) - hand_psnr(made_here, hr, True)) > 1e-3


def test_missing_folder_is_a_clear_error(tmp_path):
    missing = str(tmp_path / "nowhere" / "HR")
    with pytest.raises(FileNotFoundError, match="nowhere"):
        evaluate_lib.name_datasets([missing])
    with pytest.raises(FileNotFoundError, match="nowhere"):
        evaluate_lib.evaluate(BicubicStandIn(), {"x": (missing, "")}, SCALE, progress=False)
    hr_dir = write_set(str(tmp_path))
    with pytest.raises(FileNotFoundError, match="no_lr"):
        evaluate_lib.name_datasets([hr_dir], [str(tmp_path / "no_lr")])
