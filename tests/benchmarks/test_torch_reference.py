"""benchmarks/torch_reference.py and the PyTorch comparison of benchmarks/run.py: the ratios
and targets from hand-made reports (always), the PyTorch losses against esrgan_tf's and a
tiny run (with torch)."""

import json

import numpy as np
import pytest

from benchmarks import run


def reports():
    inf = {
        "results": {
            "rows": [
                {"size": 128, "mode": "tf_function", "median_s": 4.0},
                {"size": 128, "mode": "tflite_fp32", "median_s": 2.5},
                {"size": 128, "mode": "tflite_int8", "median_s": 1.0},
            ]
        }
    }
    train = {
        "settings": {"batch_size": 4, "hr_size": 128},
        "results": {
            "rows": [
                {"stage": "psnr", "mixed_precision": "none", "step": {"median_s": 5.0}},
                {"stage": "psnr", "mixed_precision": "bf16", "step": {"median_s": 1.0}},
                {"stage": "esrgan", "mixed_precision": "none", "step": {"median_s": 8.0}},
                {
                    "stage": "esrgan",
                    "mixed_precision": "none",
                    "jit_compile": True,
                    "step": {"median_s": 7.5},
                },
            ]
        },
    }
    torch_report = {
        "settings": {"batch_size": 4, "hr_size": 128},
        "results": {
            "forward": [{"size": 128, "median_s": 4.4}],
            "training": [
                {"stage": "psnr", "step": {"median_s": 4.0}},
                {"stage": "esrgan", "step": {"median_s": 6.0}},
            ],
        },
    }
    return inf, train, torch_report


def test_speed_ups_are_pytorch_time_over_ours():
    rows = run.torch_rows(*reports())
    by_work = {w: (a, b, r) for w, a, b, r in rows}
    assert by_work["forward, LR 128x128, tf_function"] == (4.4, 4.0, pytest.approx(1.1))
    assert by_work["forward, LR 128x128, tflite_fp32"][2] == pytest.approx(1.76)
    # Float32 training only: bf16 is not the same work as PyTorch's float32.
    assert by_work["psnr train step, batch 4, HR 128"] == (4.0, 5.0, pytest.approx(0.8))
    # The fastest float32 variant of a step is compared, and named.
    assert by_work["esrgan train step, batch 4, HR 128, XLA"] == (6.0, 7.5, pytest.approx(0.8))
    assert "esrgan train step, batch 4, HR 128" not in by_work
    targets = {t: (m, ok) for t, m, ok in run.torch_targets(rows)}
    # int8 is not float32 work: the fastest float32 runtime is judged.
    assert targets["fastest float32 forward >= 1.2x PyTorch (LR 128)"] == (
        "tflite_fp32: 1.76x",
        True,
    )
    assert targets["psnr train step >= 1.2x PyTorch"] == ("0.80x", False)


def test_steps_of_other_settings_are_not_compared():
    inf, train, torch_report = reports()
    torch_report["settings"]["batch_size"] = 16
    works = [w for w, *_ in run.torch_rows(inf, train, torch_report)]
    assert not any("train step" in w for w in works)
    assert run.torch_rows(inf, train, None) == []


def test_pytorch_ragan_is_esrgan_tf_ragan():
    torch = pytest.importorskip("torch")
    from benchmarks.speed import torch_reference  # pylint: disable=import-outside-toplevel
    from esrgan_tf import losses  # pylint: disable=import-outside-toplevel

    rng = np.random.default_rng(0)
    real, fake = (
        rng.normal(size=(6, 1)).astype(np.float32),
        rng.normal(size=(6, 1)).astype(np.float32),
    )
    t_real, t_fake = torch.from_numpy(real), torch.from_numpy(fake)
    d = torch_reference.ragan(t_real, t_fake, real_is_real=True).item()
    g = torch_reference.ragan(t_real, t_fake, real_is_real=False).item()
    assert d == pytest.approx(float(np.mean(losses.ragan_d_loss(real, fake))), rel=1e-5)
    assert g == pytest.approx(float(np.mean(losses.ragan_g_loss(real, fake))), rel=1e-5)


@pytest.mark.slow
def test_tiny_pytorch_run_writes_its_report(tmp_path):
    pytest.importorskip("torch")
    from benchmarks.speed import torch_reference  # pylint: disable=import-outside-toplevel

    out = tmp_path / "torch.json"
    torch_reference.main(
        [
            "--tiny",
            "--sizes=16",
            "--runs=1",
            "--steps=1",
            "--batch_size=2",
            "--hr_size=32",
            f"--output={out}",
        ]
    )
    report = json.loads(out.read_text())
    assert [f["size"] for f in report["results"]["forward"]] == [16]
    assert [t["stage"] for t in report["results"]["training"]] == ["psnr", "esrgan"]
    assert report["hardware"]["simd"] and report["results"]["matmul_peak"]["gflops"] > 0
