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
from esrgan_tf.inference.config import Tiling
from esrgan_tf.metrics import lpips, niqe

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


# ---------------------------------------------------------------------------------------
# NIQE and LPIPS
# ---------------------------------------------------------------------------------------

# A photo big enough for NIQE at x4 (two 96x96 blocks after the crop of 4: 104x200 and up;
# 110x210 mod-crops to 108x208) and one too small for NIQE and for LPIPS (32x28 after crop).
BIG = ("astronaut", 40, 100, 110, 210)
SMALL = ("coffee", 100, 200, 40, 36)


def write_big_and_small(root):
    hr_dir = os.path.join(root, "Set2", "HR")
    os.makedirs(hr_dir)
    hrs = {}
    for name, y, x, h, w in (BIG, SMALL):
        crop = getattr(skimage.data, name)()[y : y + h, x : x + w]
        Image.fromarray(crop).save(os.path.join(hr_dir, f"{name}.png"))
        hrs[name] = crop[: h - h % SCALE, : w - w % SCALE].astype(np.float32) / 255.0
    return hr_dir, hrs


def test_niqe_and_lpips_equal_the_metrics_of_the_scored_images(
    tmp_path, tiny_model, make_generator, lpips_backbone
):
    hr_dir, hrs = write_big_and_small(str(tmp_path))
    out = str(tmp_path / "out")
    alex = lpips.LPIPS("alex", lpips_backbone)
    summary = evaluate_lib.evaluate(
        make_generator(tiny_model),
        {"Set2": (hr_dir, "")},
        SCALE,
        output_dir=out,
        save_images=True,
        progress=False,
        lpips_model=alex,
    )
    rows = read_csv(os.path.join(out, "Set2.csv"))
    assert list(rows[0]) == ["image", "method", *KEYS, "niqe", "lpips"]
    expected = {}
    for row in rows:
        hr = hrs[row["image"]]
        if row["method"] == "model":  # what was scored is what was saved
            output = np.asarray(Image.open(os.path.join(out, "Set2", f"{row['image']}.png")))
        else:
            output = np.clip(imresize(np.clip(imresize(hr, 1 / SCALE), 0, 1), SCALE), 0, 1)
        if row["image"] == "coffee":  # too small: empty cells, not a crash
            assert row["niqe"] == "" and row["lpips"] == ""
            continue
        want_niqe = niqe.niqe(output, crop_border=SCALE)
        want_lpips = lpips.lpips_distance(output, hr, alex, crop_border=SCALE)
        assert float(row["niqe"]) == pytest.approx(want_niqe, abs=1e-9)
        assert float(row["lpips"]) == pytest.approx(want_lpips, abs=1e-6)
        expected[row["method"]] = (want_niqe, want_lpips)
    model, bicubic = expected["model"], expected["bicubic"]
    assert abs(model[0] - bicubic[0]) > 0.1  # two different images, two different NIQEs
    for method, (want_niqe, want_lpips) in expected.items():
        # The means are over the images that have the metric (here: one).
        results = summary["Set2"]["results"][method]
        assert results["niqe"] == pytest.approx(want_niqe, abs=1e-9)
        assert results["lpips"] == pytest.approx(want_lpips, abs=1e-6)
    assert summary["Set2"]["unscorable"] == {"niqe": ["coffee"], "lpips": ["coffee"]}
    with open(os.path.join(out, "summary.md"), encoding="utf-8") as f:
        text = f.read()
    assert "| model | psnr_y | ssim_y | psnr_rgb | ssim_rgb | niqe | lpips |" in text
    assert "NIQE (Mittal et al. 2013; no reference, lower is better) on Y (BT.601)" in text
    assert f"crop = {SCALE}" in text and "LPIPS v0.1 (AlexNet" in text
    assert f"| {model[0]:.3f} | {model[1]:.4f} |" in text
    assert "none for coffee; the mean is over the other 1 image." in text


def test_no_niqe_column_when_turned_off(tmp_path):
    hr_dir = write_set(str(tmp_path))
    out = str(tmp_path / "out")
    summary = evaluate_lib.evaluate(
        BicubicStandIn(),
        {"Set3": (hr_dir, "")},
        SCALE,
        output_dir=out,
        progress=False,
        with_niqe=False,
    )
    assert list(read_csv(os.path.join(out, "Set3.csv"))[0]) == ["image", "method", *KEYS]
    assert set(summary["Set3"]["results"]["model"]) == set(KEYS)


def test_only_tiny_images_give_no_niqe_mean_and_say_why(tmp_path):
    hr_dir = write_set(str(tmp_path))  # 36x40 to 60x44 pixels: NIQE needs 104x200 at x4
    summary = evaluate_lib.evaluate(
        BicubicStandIn(),
        {"Set3": (hr_dir, "")},
        SCALE,
        output_dir=str(tmp_path / "o"),
        progress=False,
    )
    assert summary["Set3"]["results"]["model"]["niqe"] is None
    assert sorted(summary["Set3"]["unscorable"]["niqe"]) == sorted(PHOTOS)
    with open(tmp_path / "o" / "summary.md", encoding="utf-8") as f:
        text = f.read()
    assert "at least 96x192 pixels after the crop of 4" in text and "no mean ('-')" in text


def test_wrong_or_missing_lpips_weights_say_where_to_get_them(tmp_path):
    wrong = tmp_path / "wrong.npz"
    np.savez(wrong, **{"features.0.weight": np.zeros((3, 3, 3, 3), np.float32)})
    url = "https://download.pytorch.org/models/alexnet-owt-7be5be79.pth"
    with pytest.raises(ValueError, match="does not hold torchvision's AlexNet") as err:
        evaluate_lib.load_lpips("alex", str(wrong))
    assert url in str(err.value)
    with pytest.raises(FileNotFoundError, match="does not exist") as err:
        evaluate_lib.load_lpips("alex", str(tmp_path / "missing.pth"))
    assert url in str(err.value)
