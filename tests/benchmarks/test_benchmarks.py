"""benchmarks/: each runs on tiny settings and writes its report (not its speed: no timed
tests); the FLOP count and the target logic against hand-made values."""

import contextlib
import io
import json

import keras
import numpy as np
import pytest
import tensorflow as tf

from benchmarks import run, timing
from benchmarks.speed import inference, training
from esrgan_tf import hardware
from esrgan_tf.models.config import ModelConfig


def rrdbnet_flops_per_lr_pixel(nf, nb, gc, scale=4):
    """ESRGAN §3.1 / Fig. 4 by hand: 3x3 convs, dense blocks of 5, x2 upsampling stages."""
    mac = lambda c_in, c_out: 9 * c_in * c_out  # noqa: E731
    dense_block = sum(mac(nf + i * gc, gc) for i in range(4)) + mac(nf + 4 * gc, nf)
    trunk = mac(3, nf) + nb * 3 * dense_block + mac(nf, nf)
    up = sum(mac(nf, nf) * (2**k) ** 2 for k in range(1, int(np.log2(scale)) + 1))
    hr = (mac(nf, nf) + mac(nf, 3)) * scale**2
    return 2 * (trunk + up + hr)


def test_forward_flops_of_rrdbnet_match_the_architecture(make_generator):
    config = ModelConfig(num_feat=16, num_block=2, num_grow_ch=8, scale=4)
    model = make_generator(config)
    flops = timing.forward_flops(model, tf.TensorSpec([2, 12, 10, 3], tf.float32))
    assert flops == 2 * 12 * 10 * rrdbnet_flops_per_lr_pixel(16, 2, 8)
    # The full-size model: 35.85 MFLOP per LR pixel, i.e. 587 GFLOP for a 128x128 input.
    assert rrdbnet_flops_per_lr_pixel(64, 23, 32) == 35_853_696


def test_forward_flops_count_matmuls():
    dense = keras.layers.Dense(5)
    dense.build((None, 7))
    assert timing.forward_flops(dense, tf.TensorSpec([3, 7], tf.float32)) == 2 * 3 * 7 * 5
    b = tf.ones([6, 4, 5])
    batched = timing.forward_flops(
        lambda a: tf.linalg.matmul(a, b, adjoint_a=True), tf.TensorSpec([6, 4, 3], tf.float32)
    )
    assert batched == 2 * 6 * 3 * 4 * 5


def test_time_calls_and_summary():
    calls = []
    times = timing.time_calls(lambda: calls.append(1), runs=3, warmup=2)
    assert len(calls) == 5 and len(times) == 3 and all(t >= 0 for t in times)
    assert timing.summary([3.0, 1.0, 2.0]) == {"median_s": 2.0, "min_s": 1.0, "runs": 3}


@pytest.fixture(scope="module")
def tiny_inference(tmp_path_factory):
    """`benchmarks.speed.inference` on the tiny model: (its JSON path, printed text, profile dir);
    also the inference report of the `benchmarks.run` test."""
    tmp = tmp_path_factory.mktemp("inference")
    output = tmp / "inference.json"
    with contextlib.redirect_stdout(io.StringIO()) as printed:
        inference.main(
            [
                "--tiny",
                "--sizes=16,20",
                "--runs=1",
                "--matmul_n=128",
                f"--output={output}",
                f"--profile_dir={tmp / 'profile'}",
            ]
        )
    return output, printed.getvalue(), tmp / "profile"


@pytest.mark.slow
def test_inference_benchmark_report(tiny_inference):
    output, printed, profile = tiny_inference
    report = json.loads(output.read_text())
    rows = report["results"]["rows"]
    assert {(r["size"], r["mode"]) for r in rows} == {
        (s, m) for s in (16, 20) for m in inference.MODES
    }
    peak = report["results"]["matmul_peak"]["gflops"]
    for r in rows:
        assert r["gflops"] == pytest.approx(r["gflop"] / r["median_s"])
        assert r["peak_fraction"] == pytest.approx(r["gflops"] / peak)
        assert r["gflop"] == pytest.approx(
            r["size"] ** 2 * rrdbnet_flops_per_lr_pixel(8, 1, 4) / 1e9
        )
    assert report["hardware"]["cpu_count"] >= 1 and report["settings"]["weights"] == "random init"
    assert list(profile.rglob("*.xplane.pb"))  # a TensorBoard trace
    assert printed.count("| 16x16 |") == len(inference.MODES)


@pytest.mark.slow
def test_training_benchmark_report(tmp_path):
    def rows(stages, jit, *more):
        output = tmp_path / f"training_{stages}.json"
        training.main(
            [
                *more,
                "--model=tiny",
                "--batch_size=2",
                "--hr_size=32",
                "--steps=1",
                "--matmul_n=128",
                f"--stages={stages}",
                "--mixed_precision=none",
                f"--jit_compile={jit}",
                f"--output={output}",
            ]
        )
        return json.loads(output.read_text())["results"]["rows"]

    # XLA on the PSNR step only: the compiled GAN step's own test is in tests/training.
    psnr, psnr_xla, esrgan = rows("psnr", "false,true") + rows(
        "esrgan", "false", "--steps_per_loop=1,3", "--loop_steps=6"
    )
    assert [
        (r["stage"], r["mixed_precision"], r["jit_compile"]) for r in (psnr, psnr_xla, esrgan)
    ] == [
        ("psnr", "none", False),
        ("psnr", "none", True),
        ("esrgan", "none", False),
    ]
    # psnr: G forward + backward = 3 forward passes of the 8x8 LR batch of 2.
    assert psnr["gflop_per_step"] == pytest.approx(
        3 * 2 * 64 * rrdbnet_flops_per_lr_pixel(8, 1, 4) / 1e9
    )
    assert psnr_xla["gflop_per_step"] == psnr["gflop_per_step"]  # the same work
    assert esrgan["gflop_per_step"] > psnr["gflop_per_step"]
    # The loop timed at each --steps_per_loop, 6 steps (3 calls of 1 per round or 1 of 3).
    assert [p["steps_per_loop"] for p in esrgan["loop"]] == [1, 3] and psnr["loop"] == []
    for p in esrgan["loop"]:
        assert p["steps_per_s"] == pytest.approx(1 / p["step_s"])
    for r in (psnr, psnr_xla, esrgan):
        assert 0.0 <= r["input_wait_share"] < 1.0
        assert r["images_per_s"] == pytest.approx(2 / r["step"]["median_s"])


def test_training_benchmark_auto_precision_is_the_native_ones():
    # Emulated half precision (a CPU without AVX512-BF16) is not timed: 9x float32's time.
    assert training.mixed_precisions("auto", ("bf16",)) == ["none", "bf16"]
    assert training.mixed_precisions("auto", ()) == ["none"]
    assert training.mixed_precisions("none,fp16", ("bf16",)) == ["none", "fp16"]


@pytest.mark.slow
def test_run_writes_everything_and_the_readme_block(tmp_path, monkeypatch, tiny_inference):
    monkeypatch.delenv("TF_ENABLE_ONEDNN_OPTS", raising=False)
    # The inference benchmark's report from its own test above (the same tiny settings),
    # not measured twice.
    calls = []
    measured = json.loads(tiny_inference[0].read_text())
    monkeypatch.setattr(
        run.inference, "run", lambda *args, **kwargs: calls.append((args, kwargs)) or measured
    )
    readme = tmp_path / "README.md"
    readme.write_text(f"intro\n{run.BEGIN}\nold numbers\n{run.END}\nrest\n")
    # An earlier run's quality report must not pass for this run's (no --quality_weights).
    (tmp_path / "results").mkdir()
    (tmp_path / "results" / "inference_quality.json").write_text("{}")
    # (The PyTorch reference's own run: tests/benchmarks/test_torch_reference.py.)
    run.main(
        ["--tiny", "--no-torch", f"--results_dir={tmp_path / 'results'}", f"--readme={readme}"]
    )
    assert calls == [(([16], 1), {"tiny": True, "matmul_n": 256, "profile_dir": ""})]
    for name in ("input_pipeline.json", "inference.json", "training.json", "summary.md"):
        assert (tmp_path / "results" / name).exists()
    # Training is timed as `python -m esrgan_tf.train` runs, with oneDNN on; inference with
    # TensorFlow's default for this CPU (this process's).
    reports = {
        n: json.loads((tmp_path / "results" / f"{n}.json").read_text())
        for n in ("training", "inference")
    }
    assert reports["training"]["hardware"]["tensorflow_onednn"] is True
    assert [(r["stage"], r["mixed_precision"]) for r in reports["training"]["results"]["rows"]] == [
        ("psnr", "none")
    ]
    assert reports["inference"]["hardware"]["tensorflow_onednn"] is hardware.onednn()
    assert "TensorFlow oneDNN on. " in (tmp_path / "results" / "summary.md").read_text()
    flags = reports["inference"]["hardware"]["cpu_flags"]
    assert (
        not flags
        or f"(CPU flags {' '.join(flags)})" in (tmp_path / "results" / "summary.md").read_text()
    )
    text = readme.read_text()
    assert text.startswith("intro\n") and text.endswith(f"{run.END}\nrest\n")
    assert "old numbers" not in text and "**Targets**" in text and "| 16x16 |" in text
    assert not (tmp_path / "results" / "inference_quality.json").exists()
    assert "Quality per runtime" not in text
    # Rendering again from the saved reports gives the same block.
    run.main(["--render_only", f"--results_dir={tmp_path / 'results'}", f"--readme={readme}"])
    assert readme.read_text() == text
    with pytest.raises(FileNotFoundError, match="run the benchmarks first"):
        run.main(["--render_only", f"--results_dir={tmp_path / 'empty'}"])


def _reports(peak_fraction, wait, saved_ms, tflite_ms, psnr=None):
    rows = [
        {"size": 128, "mode": "tf_function", "median_s": 1.0, "peak_fraction": peak_fraction},
        {"size": 128, "mode": "saved_model", "median_s": saved_ms / 1000},
        {"size": 128, "mode": "tflite_int8", "median_s": tflite_ms / 1000},
        {"size": 128, "mode": "tflite_fp32", "median_s": saved_ms / 1000},
    ]
    inf = {"results": {"rows": rows, "psnr_y": psnr}}
    train = {"results": {"rows": [{"input_wait_share": wait}, {"input_wait_share": 0.0}]}}
    return inf, train


def test_targets_met_and_missed():
    met = run.targets(*_reports(0.8, 0.01, 100, 40, {"saved_model": 30.0, "tflite_int8": 29.8}))
    assert [ok for _, _, ok in met] == [True, True, True, True]
    missed = run.targets(*_reports(0.5, 0.05, 100, 60, {"saved_model": 30.0, "tflite_int8": 29.5}))
    assert [ok for _, _, ok in missed] == [False, False, False, False]
    assert missed[2][1] == "tflite_int8: 1.7x" and missed[3][1] == "+0.50 dB lower"
    # A quality report without the TFLite rows gives no PSNR target (and no error).
    inf, train = _reports(0.8, 0.0, 100, 40, {"saved_model": 30.0})
    assert len(run.targets(inf, train)) == 3


def test_receptive_field_benchmark_on_a_tiny_model(tmp_path, tiny_model, make_generator):
    from benchmarks.calibration import receptive_field  # pylint: disable=import-outside-toplevel

    path = str(tmp_path / "tiny.weights.h5")
    make_generator(tiny_model).save_weights(path)
    report = receptive_field.main(
        [
            f"--weights={path}",
            f"--output={tmp_path / 'rf.json'}",
            "--threshold=0.001",
            "--photos=coffee:60:120",
            "--centres=104:104",
            "--crop=160",
            # A .weights.h5 carries no architecture: the tiny one's.
            f"--num_feat={tiny_model.num_feat}",
            f"--num_block={tiny_model.num_block}",
            f"--num_grow_ch={tiny_model.num_grow_ch}",
        ]
    )
    per_core = report["results"]["per_core"]["coffee@104,104"]
    # A random tiny net's effective field is a few pixels (its 0.1-scaled init): the first
    # pad is already within the threshold, and the report says so. (The trained models'
    # numbers are kept by tests/inference/test_tiling_trained.py.)
    assert list(per_core) == [8] and per_core[8] < 0.001
    assert report["results"]["context_within_1_255"] == 8
    assert report["results"]["tiling_context"] == 19
    assert (tmp_path / "rf.json").exists()
