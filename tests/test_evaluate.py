"""`python -m esrgan_tf.evaluate` end to end on real photo crops, and a missing folder."""

import csv
import os

import numpy as np
from PIL import Image
import pytest
import skimage.data

from esrgan_tf import metrics
from esrgan_tf.data import image_io
from esrgan_tf.data.image_pairs import mod_crop

KEYS = ("psnr_y", "ssim_y", "psnr_rgb", "ssim_rgb")


def test_cli_end_to_end(tmp_path, tiny_model, make_generator, run_command):
    hr_dir = tmp_path / "Set2" / "HR"
    hr_dir.mkdir(parents=True)
    photos = {
        "chelsea": skimage.data.chelsea()[60:105, 150:211],
        "coffee": skimage.data.coffee()[100:140, 200:236],
    }
    for stem, crop in photos.items():
        image_io.write_png(str(hr_dir / f"{stem}.png"), np.ascontiguousarray(crop))
    weights = str(tmp_path / "g.weights.h5")
    make_generator(tiny_model).save_weights(weights)
    out = tmp_path / "results"
    arch = ["--num_feat=8", "--num_block=1", "--num_grow_ch=4", "--scale=4"]
    result = run_command(
        "esrgan_tf.evaluate",
        f"--weights={weights}",
        f"--datasets={hr_dir}",
        f"--output_dir={out}",
        "--save_images",
        "--noprogress",
        "--tile=8",
        *arch,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert "| bicubic |" in result.stdout
    with open(out / "Set2.csv", newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == 2 * len(photos)
    for row in (r for r in rows if r["method"] == "model"):
        saved = np.asarray(Image.open(out / "Set2" / f"{row['image']}.png"))
        hr = mod_crop(photos[row["image"]].astype(np.float32) / 255, 4)
        scores = metrics.evaluate_pair(saved, hr, 4, crop_border=4)
        for key in KEYS:  # the saved PNG is exactly what was scored
            assert float(row[key]) == pytest.approx(scores[key], abs=1e-9)
    assert os.path.isfile(out / "summary.md")

    missing = run_command(
        "esrgan_tf.evaluate",
        f"--weights={weights}",
        f"--datasets={tmp_path / 'nowhere'}",
        f"--output_dir={out}",
        *arch,
    )
    assert missing.returncode == 1 and "does not exist" in missing.stderr
    assert "Traceback" not in missing.stderr
