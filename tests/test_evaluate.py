"""`python -m esrgan_tf.evaluate` end to end on real photo crops (PSNR/SSIM, NIQE, LPIPS with
a test-made backbone file), bad LPIPS flags, and a missing folder."""

import csv
import os

import numpy as np
from PIL import Image
import pytest
import skimage.data

from esrgan_tf import cli, evaluate
from esrgan_tf.data import image_io
from esrgan_tf.data.image_pairs import mod_crop
from esrgan_tf.inference.config import EvaluateConfig
from esrgan_tf.metrics import lpips, niqe, psnr_ssim

KEYS = ("psnr_y", "ssim_y", "psnr_rgb", "ssim_rgb")


@pytest.mark.slow
def test_cli_end_to_end(tmp_path, tiny_model, make_generator, run_command, lpips_backbone):
    hr_dir = tmp_path / "Set2" / "HR"
    hr_dir.mkdir(parents=True)
    photos = {
        "chelsea": skimage.data.chelsea()[60:105, 150:211],
        "coffee": skimage.data.coffee()[100:140, 200:236],
        # Big enough for NIQE at x4 (two 96x96 blocks after the crop of 4).
        "astronaut": skimage.data.astronaut()[40:150, 100:310],
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
        f"--lpips_weights={lpips_backbone}",
        *arch,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert "| bicubic |" in result.stdout
    assert "| model | psnr_y | ssim_y | psnr_rgb | ssim_rgb | niqe | lpips |" in result.stdout
    assert "NIQE (Mittal et al. 2013; no reference, lower is better) on Y (BT.601)" in result.stdout
    assert "none for chelsea, coffee" in result.stdout  # the two small crops
    with open(out / "Set2.csv", newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == 2 * len(photos)
    alex = lpips.LPIPS("alex", lpips_backbone)
    for row in (r for r in rows if r["method"] == "model"):
        saved = np.asarray(Image.open(out / "Set2" / f"{row['image']}.png"))
        hr = mod_crop(photos[row["image"]].astype(np.float32) / 255, 4)
        scores = psnr_ssim.evaluate_pair(saved, hr, 4, crop_border=4)
        for key in KEYS:  # the saved PNG is exactly what was scored
            assert float(row[key]) == pytest.approx(scores[key], abs=1e-9)
        if row["image"] == "astronaut":
            assert float(row["niqe"]) == pytest.approx(niqe.niqe(saved, 4), abs=1e-9)
        else:
            assert row["niqe"] == ""
        if row["image"] == "coffee":  # 32x28 after the crop: AlexNet needs 31x31
            assert row["lpips"] == ""
        else:
            want = lpips.lpips_distance(saved, hr, alex, 4)
            assert float(row["lpips"]) == pytest.approx(want, abs=1e-6)
    assert os.path.isfile(out / "summary.md")


def test_errors_name_what_is_wrong(tmp_path):
    args = [f"--output_dir={tmp_path}", "--weights=w.weights.h5"]
    with pytest.raises(FileNotFoundError, match="does not exist"):
        evaluate.main(cli.parse(EvaluateConfig, [*args, f"--datasets={tmp_path / 'nowhere'}"]))
    (tmp_path / "d").mkdir()
    with pytest.raises(FileNotFoundError, match="--lpips_net without --lpips_weights") as err:
        evaluate.main(
            cli.parse(EvaluateConfig, [*args, f"--datasets={tmp_path}", "--lpips_net=vgg"])
        )
    assert "https://download.pytorch.org/models/vgg16-397923af.pth" in str(err.value)


def test_flags_make_the_config(tmp_path):
    base = ["--weights=w.weights.h5", f"--output_dir={tmp_path}", "--datasets=d,e"]
    config = cli.parse(EvaluateConfig, base)
    assert config.niqe and not config.lpips_weights and config.lr_dirs == ("", "")
    assert not cli.parse(EvaluateConfig, base + ["--noniqe"]).niqe
    with pytest.raises(ValueError, match="--lr_dirs has 1 entries for 2 --datasets"):
        cli.parse(EvaluateConfig, base + ["--lr_dirs=l"])
