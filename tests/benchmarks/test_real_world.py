"""benchmarks/real_world.py on tiny models and a few photo crops: its degraded input, its
bicubic baseline, and that every variant is trained and scored (not how well)."""

import json
import os

import numpy as np
from PIL import Image
import pytest

from benchmarks.studies import real_world
from esrgan_tf.data import image_pairs, preparation
from esrgan_tf.data.config import PrepareConfig
from esrgan_tf.metrics import psnr_ssim


def test_degraded_lr_adds_the_stated_noise_from_its_seed():
    grey = np.full((64, 64, 3), 0.5, np.float32)
    out = real_world.degraded_lr(grey, seed=3, sigma=10.0, quality=100)
    # JPEG at quality 100 keeps the luma of the noise (its 4:2:0 chroma is averaged):
    # independent noise of sigma per channel gives luma noise of sigma * |BT.601 weights|.
    luma = np.array([0.299, 0.587, 0.114])
    expected = 10.0 * np.linalg.norm(luma)
    assert np.std((out - grey) @ luma) * 255 == pytest.approx(expected, rel=0.1)
    np.testing.assert_array_equal(out, real_world.degraded_lr(grey, 3, 10.0, 100))
    assert not np.array_equal(out, real_world.degraded_lr(grey, 4, 10.0, 100))
    # A low quality removes detail the noise added: closer to flat grey.
    coarse = real_world.degraded_lr(grey, seed=3, sigma=10.0, quality=10)
    assert np.std((coarse - grey) @ luma) < 0.5 * np.std((out - grey) @ luma)


@pytest.mark.slow
def test_report_has_every_variant_and_an_independent_bicubic_baseline(
    tmp_path, photo_crops, capsys
):
    photos = tmp_path / "photos"
    photos.mkdir()
    for i, crop in enumerate(photo_crops("astronaut", size=128, area=256)[:3]):
        Image.fromarray(crop).save(photos / f"{i}.png")
    data = tmp_path / "data"
    preparation.prepare(
        PrepareConfig(
            output_dir=str(data),
            input_dirs=(str(photos),),
            holdout=1,
            crop_size=96,
            step=32,
            num_workers=1,
            progress=False,
        )
    )
    output = tmp_path / "real_world.json"
    real_world.main(
        [
            f"--data={data}",
            "--base_steps=2",
            "--steps=1",
            "--batch_size=2",
            "--hr_size=96",
            "--num_feat=8",
            "--num_block=1",
            f"--output={output}",
        ]
    )
    report = json.loads(output.read_text())
    rows = report["results"]["rows"]
    assert list(rows) == ["bicubic upscale", "base", *real_world.VARIANTS]
    assert set(report["results"]["train_seconds"]) == {"base", *real_world.VARIANTS}

    (name,) = os.listdir(data / "val_hr")
    hr = np.asarray(Image.open(data / "val_hr" / name), np.float32) / 255
    hr = image_pairs.mod_crop(hr, 4)
    sr = image_pairs.bicubic_upscale(image_pairs.bicubic_downscale(hr, 4), 4)
    clean = rows["bicubic upscale"]["clean"]
    assert clean["psnr_y"] == pytest.approx(psnr_ssim.psnr(sr, hr, crop_border=4), abs=1e-9)
    assert rows["bicubic upscale"]["degraded"]["psnr_y"] < clean["psnr_y"]
    for row in rows.values():
        for scores in row.values():
            assert np.isfinite(scores["psnr_y"]) and 0 < scores["ssim_y"] <= 1

    table = capsys.readouterr().out
    assert "base + 1 steps, `--degradation=realesrgan --usm_target`" in table
    assert "noise 10 + JPEG 50" in table
