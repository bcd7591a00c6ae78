"""`python -m esrgan_tf.interpolate` end to end: weights, a strip, the perception-distortion
sweep (CSV + PNG), and a bad alpha."""

import csv
import os

import numpy as np
from PIL import Image
import pytest
import skimage.data

from esrgan_tf import cli, interpolate
from esrgan_tf.data import image_io
from esrgan_tf.data.imresize import imresize
from esrgan_tf.formats import generators
from esrgan_tf.formats.keras import h5_arrays
from esrgan_tf.inference.config import InterpolateConfig
from esrgan_tf.inference.interpolation import STRIP_GAP
from esrgan_tf.metrics import niqe, psnr_ssim

ARCH_FLAGS = ["--num_feat=8", "--num_block=1", "--num_grow_ch=4", "--scale=4"]


@pytest.mark.slow
def test_cli_end_to_end(tmp_path, tiny_model, make_generator, run_command, panel_offsets):
    psnr, gan = str(tmp_path / "psnr.weights.h5"), str(tmp_path / "gan.weights.h5")
    make_generator(tiny_model, seed=1).save_weights(psnr)
    make_generator(tiny_model, seed=2).save_weights(gan)
    out, strip = str(tmp_path / "blend.weights.h5"), str(tmp_path / "strip.png")
    val_dir, sweep_dir = tmp_path / "val", tmp_path / "sweep"
    val_dir.mkdir()
    hr = skimage.data.astronaut()[40:148, 100:308]  # 108x208: big enough for NIQE at x4
    image_io.write_png(str(val_dir / "big.png"), np.ascontiguousarray(hr))
    result = run_command(
        "esrgan_tf.interpolate",
        f"--psnr={psnr}",
        f"--gan={gan}",
        "--alpha=0.5",
        f"--output={out}",
        "--alphas=0,1",
        f"--image_hr={val_dir / 'big.png'}",  # the LR: its MATLAB bicubic downscale
        f"--strip={strip}",
        f"--val_dir={val_dir}",
        f"--sweep_dir={sweep_dir}",
        "--noprogress",
        *ARCH_FLAGS,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert "| blend | psnr_y | ssim_y | psnr_rgb | ssim_rgb | niqe |" in result.stdout
    with open(sweep_dir / "perception_distortion.csv", newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    assert [float(r["alpha"]) for r in rows] == [0.0, 1.0]
    hr = hr.astype(np.float32) / 255
    lr = np.clip(imresize(hr, 0.25), 0, 1).astype(np.float32)
    panels = []
    for row, path in zip(rows, (psnr, gan)):  # alpha 0 is the PSNR model, 1 the GAN model
        model = generators.load(path, tiny_model.architecture()).model
        sr = np.clip(np.asarray(model(lr[None], training=False))[0], 0, 1)
        panels.append(psnr_ssim.to_uint8(sr))
        assert float(row["psnr_y"]) == pytest.approx(psnr_ssim.psnr(sr, hr, 4), abs=1e-6)
        assert float(row["niqe"]) == pytest.approx(niqe.niqe(sr, 4), abs=1e-4)
    plot = Image.open(sweep_dir / "perception_distortion.png")
    assert plot.format == "PNG" and plot.size == (640, 480)
    p, g, got = h5_arrays(psnr), h5_arrays(gan), h5_arrays(out)
    for key, value in got.items():
        np.testing.assert_allclose(
            value, 0.5 * p[key].astype(np.float64) + 0.5 * g[key], rtol=1e-6, atol=1e-8
        )
    # The strip: alpha 0 | alpha 1 | HR, titled (alpha, PSNR-Y, NIQE) above them.
    titled = np.asarray(Image.open(strip))
    offsets = panel_offsets(titled, panels + [skimage.data.astronaut()[40:148, 100:308]])
    assert offsets[1] - offsets[0] >= 208 + STRIP_GAP and titled.shape[0] > 108

    bad = [f"--psnr={psnr}", f"--gan={gan}", "--alpha=2", f"--output={tmp_path / 'bad.weights.h5'}"]
    with pytest.raises(ValueError, match="alpha must be in"):
        interpolate.main(cli.parse(InterpolateConfig, bad + ARCH_FLAGS))
    assert not os.path.exists(tmp_path / "bad.weights.h5")


def test_sweep_flags_go_together(tmp_path):
    base = ["--psnr=p.weights.h5", "--gan=g.weights.h5"]
    for extra, message in (
        (["--val_dir=v"], "--val_dir and --sweep_dir go together"),
        (["--sweep_dir=s"], "--val_dir and --sweep_dir go together"),
        (["--val_lr_dir=l"], "--val_lr_dir needs --val_dir"),
        (["--image=a.png"], "--strip goes with --image and/or --image_hr"),
        (["--strip=s.png"], "--strip goes with --image and/or --image_hr"),
        ([], "nothing to do"),
    ):
        with pytest.raises(ValueError, match=message):
            cli.parse(InterpolateConfig, base + extra)
    config = cli.parse(
        InterpolateConfig,
        base + ["--scale=4", f"--val_dir={tmp_path}", f"--sweep_dir={tmp_path / 's'}"],
    )
    assert config.architecture == {"scale": 4}
    assert config.val_dir == str(tmp_path) and config.sweep_dir == str(tmp_path / "s")
