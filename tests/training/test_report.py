"""Tests for esrgan_tf.training.report: the bicubic / PSNR / GAN table with its NIQE column.

Stand-in stages (two seeded tiny generators) instead of training runs; the expected numbers
are `esrgan_tf.metrics.niqe.niqe` and `esrgan_tf.metrics.psnr` recomputed here on their outputs.
"""

import json
import types

import keras
import numpy as np
import skimage.data

from esrgan_tf.data.config import TrainDataConfig
from esrgan_tf.data.imresize import imresize
from esrgan_tf.metrics import niqe, psnr_ssim
from esrgan_tf.training import report
from esrgan_tf.training.config import TrainConfig

# Big enough for NIQE at x4 (96x192 after the crop of 4), and one that is not.
PHOTOS = {"big": ("astronaut", 40, 100, 108, 208), "tiny": ("chelsea", 60, 150, 44, 60)}


def stage(generator):
    return types.SimpleNamespace(trainer=types.SimpleNamespace(eval_generator=lambda: generator))


def test_table_has_a_niqe_column(tmp_path, tiny_model, make_generator):
    val_dir = tmp_path / "val_hr"
    val_dir.mkdir()
    hrs = {}
    for name, (photo, y, x, h, w) in PHOTOS.items():
        hrs[name] = getattr(skimage.data, photo)()[y : y + h, x : x + w]
        keras.utils.save_img(str(val_dir / f"{name}.png"), hrs[name], scale=False)
    generators = {"psnr": make_generator(tiny_model, 1), "gan": make_generator(tiny_model, 2)}
    config = TrainConfig(
        workdir=str(tmp_path / "run"),
        input=TrainDataConfig(data="unused"),
        model=tiny_model,
        val_dir=str(val_dir),
    )
    rows = report.compare_and_write({k: stage(g) for k, g in generators.items()}, config)

    hr = hrs["big"].astype(np.float32) / 255
    lr = np.clip(imresize(hr, 0.25), 0, 1).astype(np.float32)
    outputs = {"bicubic": np.clip(imresize(lr, 4.0), 0, 1)}
    for name, generator in generators.items():
        outputs[name] = np.clip(np.asarray(generator(lr[None], training=False))[0], 0, 1)
    text = (tmp_path / "run" / "report.md").read_text()
    assert "| model | psnr_y | ssim_y | psnr_rgb | ssim_rgb | niqe |" in text
    assert "NIQE (Mittal et al. 2013; no reference, lower is better) on Y (BT.601)" in text
    assert "none for tiny; the mean is over the other 1 image." in text
    on_disk = json.loads((tmp_path / "run" / "report.json").read_text())
    for name, output in outputs.items():
        expected = niqe.niqe(output, crop_border=4)  # the tiny image has none: mean = big's
        assert abs(rows[name]["niqe"] - expected) < 1e-9
        assert abs(on_disk[name]["niqe"] - expected) < 1e-9
        line = next(row for row in text.splitlines() if row.startswith(f"| {name} |"))
        assert line.endswith(f"| {expected:.3f} |")
        assert line.startswith(f"| {name} | {rows[name]['psnr_y']:.2f} |")
    # The PSNR column still averages both images.
    tiny = hrs["tiny"][:44, :60].astype(np.float32) / 255
    tiny_bicubic = np.clip(imresize(np.clip(imresize(tiny, 0.25), 0, 1), 4.0), 0, 1)
    both = [psnr_ssim.psnr(outputs["bicubic"], hr, 4), psnr_ssim.psnr(tiny_bicubic, tiny, 4)]
    assert abs(rows["bicubic"]["psnr_y"] - np.mean(both)) < 1e-9


def test_per_photo_gains_mark_every_photo_a_model_loses_on():
    per_image = {
        "bicubic": {"a": {"psnr_y": 30.0}, "b": {"psnr_y": 25.0}},
        "psnr": {"a": {"psnr_y": 30.5}, "b": {"psnr_y": 24.9}},
        "gan": {"a": {"psnr_y": 31.0}, "b": {"psnr_y": 25.2}},
    }
    gains = report.gains(per_image)
    assert set(gains) == {"psnr", "gan"}
    assert gains["psnr"]["a"] == 0.5 and abs(gains["psnr"]["b"] + 0.1) < 1e-9
    lines = report.gain_table(per_image).splitlines()
    assert (
        lines[0]
        == "| photo | bicubic psnr_y | psnr psnr_y | psnr gain (dB) | gan psnr_y | gan gain (dB) |"
    )
    assert lines[2] == "| a | 30.00 | 30.50 | +0.50 | 31.00 | +1.00 |"
    assert lines[3] == "| b | 25.00 | 24.90 | -0.10 **loses to bicubic** | 25.20 | +0.20 |"
    assert lines[4] == "| **mean** | 27.50 | 27.70 | +0.20 | 28.10 | +0.60 |"
    summary = report.gain_summary(per_image).splitlines()
    assert summary == [
        "psnr: +0.20 dB PSNR-Y over bicubic on average, worst b -0.10 dB; "
        "loses to bicubic on 1 of 2: b.",
        "gan: +0.60 dB PSNR-Y over bicubic on average, worst b +0.20 dB; "
        "better than bicubic on all 2 photos.",
    ]


def test_report_lists_each_validation_photo_with_its_gain(tmp_path, tiny_model, make_generator):
    val_dir = tmp_path / "val_hr"
    val_dir.mkdir()
    hrs = {
        "cat": skimage.data.chelsea()[100:148, 100:164],
        "coffee": skimage.data.coffee()[200:248, 200:264],
    }
    for name, hr in hrs.items():
        keras.utils.save_img(str(val_dir / f"{name}.png"), hr, scale=False)
    generator = make_generator(tiny_model, 1)  # untrained: far worse than bicubic
    config = TrainConfig(
        workdir=str(tmp_path / "run"),
        input=TrainDataConfig(data="unused"),
        model=tiny_model,
        val_dir=str(val_dir),
    )
    report.compare_and_write({"psnr": stage(generator)}, config)
    text = (tmp_path / "run" / "report.md").read_text()
    per_image = json.loads((tmp_path / "run" / "report_per_image.json").read_text())
    for name, hr in hrs.items():
        hr = hr.astype(np.float32) / 255
        lr = np.clip(imresize(hr, 0.25), 0, 1).astype(np.float32)
        bicubic = psnr_ssim.psnr(np.clip(imresize(lr, 4.0), 0, 1), hr, 4)
        sr = psnr_ssim.psnr(np.clip(np.asarray(generator(lr[None]))[0], 0, 1), hr, 4)
        assert sr < bicubic
        assert abs(per_image["bicubic"][name]["psnr_y"] - bicubic) < 1e-9
        assert abs(per_image["psnr"][name]["psnr_y"] - sr) < 1e-9
        assert (
            f"| {name} | {bicubic:.2f} | {sr:.2f} | {sr - bicubic:+.2f} **loses to bicubic** |"
            in text
        )
    assert "loses to bicubic on 2 of 2: cat, coffee." in text
