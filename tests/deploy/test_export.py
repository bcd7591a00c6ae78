"""The export: layout, report, staging and tolerances; exported models in evaluation and
upscaling."""

import dataclasses
import json
import os
import shutil
import tempfile
import uuid

import numpy as np
from PIL import Image
import pytest
import tensorflow as tf

from esrgan_tf.data import patches
from esrgan_tf.deploy import export
from esrgan_tf.formats import generators, saved_model
from esrgan_tf.inference import evaluation as evaluate_lib
from esrgan_tf.inference import upscaling
from esrgan_tf.inference.config import EvaluateConfig, Tiling, UpscaleConfig
from esrgan_tf.inference.tiling import tile_upscale
from esrgan_tf.metrics import psnr_ssim


@pytest.fixture(scope="module")
def generator(tiny_export):
    return tiny_export[2]


@pytest.fixture(scope="module")
def exported(tiny_export):
    """(base path, report) of the shared tiny export (tests/conftest.py)."""
    return tiny_export[:2]


@pytest.mark.slow
def test_layout_and_report(exported, tiny_model):
    out, report = exported
    assert report["version"] == 1 and report["published"] == os.path.join(str(out), "1")
    assert sorted(os.listdir(out)) == ["1", "reports", "tflite"]  # staging gone
    assert os.path.isfile(out / "1" / "saved_model.pb")
    assert os.path.isfile(out / "1" / "assets.extra" / "esrgan_tf.json")
    assert sorted(os.listdir(out / "tflite" / "v1")) == [
        "fp32_16x16.tflite",
        "fp32_dynamic.tflite",
        "int8_16x16.tflite",
        "int8_dynamic.tflite",
    ]
    with open(out / "reports" / "v1.json", encoding="utf-8") as f:
        saved = json.load(f)
    names = [row["name"] for row in saved["artifacts"]]
    assert names == [
        "keras",
        "saved_model",
        "tflite fp32 dynamic",
        "tflite fp32 16x16",
        "tflite int8 dynamic",
        "tflite int8 16x16",
    ]
    assert saved["samples"]["names"] == ["skimage/rocket", "skimage/coffee", "skimage/chelsea"]
    assert saved["calibration"] == {"source": "skimage", "patches": 4}
    assert saved["model"] == dataclasses.asdict(tiny_model) and saved["hardware"]["cpu_count"] >= 1
    for row in saved["artifacts"][1:]:
        assert row["violations"] == [] and row["finite"] and row["latency_ms"] > 0
        size = os.path.getsize(out / row["path"]) if row["kind"] == "tflite" else None
        assert size is None or row["size_bytes"] == size
    by_name = {row["name"]: row for row in saved["artifacts"]}
    assert by_name["saved_model"]["max_abs_diff"] <= 1e-5
    assert by_name["tflite fp32 dynamic"]["max_abs_diff"] <= 1e-4
    assert by_name["tflite int8 16x16"]["psnr_db"] > 32.0
    with open(out / "reports" / "v1.md", encoding="utf-8") as f:
        table = f.read()
    assert "| tflite int8 16x16 |" in table and "| saved_model |" in table


def test_report_numbers_are_recomputable(exported, generator):
    """The SavedModel row's PSNR-Y against HR equals metrics on the samples done here."""
    out, report = exported
    model = saved_model.SavedModelGenerator(str(out))
    pairs = patches.centre_pairs("skimage", 4, (16, 16), 3, export.SKIMAGE_SAMPLES)
    psnr_y = np.mean([psnr_ssim.psnr(model(lr[None])[0], hr, crop_border=4) for _, lr, hr in pairs])
    row = next(r for r in report["artifacts"] if r["name"] == "saved_model")
    assert row["psnr_y_hr_db"] == pytest.approx(psnr_y, abs=1e-9)


@pytest.mark.slow
def test_second_export_is_the_next_version(
    exported, generator, tiny_model, tmp_path, export_config
):
    out = tmp_path / "copy"
    shutil.copytree(exported[0], out)
    report = export.export(export_config(out, tflite=()), generator, tiny_model)
    assert report["version"] == 2
    assert os.path.isfile(out / "2" / "saved_model.pb") and os.path.isfile(
        out / "reports" / "v2.json"
    )
    with pytest.raises(ValueError, match="already exists"):
        export.export(export_config(out, version=2, tflite=()), generator, tiny_model)


@pytest.mark.slow
def test_export_to_a_tensorflow_filesystem(generator, tiny_model, export_config):
    """gs:// stands as ram://: staged on the local disk, uploaded whole, the SavedModel last,
    and the staging folder removed."""
    out = f"ram://export_{uuid.uuid4().hex}"
    before = set(os.listdir(tempfile.gettempdir()))
    report = export.export(export_config(out, tflite=("fp32",)), generator, tiny_model)
    assert report["published"] == f"{out}/1"
    assert sorted(tf.io.gfile.listdir(out)) == ["1", "reports", "tflite"]
    assert tf.io.gfile.glob(f"{out}/tflite/v1/fp32_*.tflite")
    assert tf.io.gfile.exists(f"{out}/reports/v1.json")
    served = tf.saved_model.load(f"{out}/1")  # Serving reads gs:// the same way
    assert "serving_default" in served.signatures
    assert set(os.listdir(tempfile.gettempdir())) <= before  # no staging left behind
    assert export.export(export_config(out, tflite=()), generator, tiny_model)["version"] == 2


@pytest.mark.slow
def test_out_of_tolerance_publishes_nothing(generator, tmp_path, tiny_model, export_config):
    strict = dict(export.TOLERANCES)
    strict[("tflite", "fp32")] = export.Tolerance(max_abs=0.0, min_psnr=1000.0)
    out = tmp_path / "strict"
    one = dict(tflite=("fp32",), tflite_shapes=("dynamic",))  # the failing one only
    with pytest.raises(export.ExportParityError, match="tflite fp32 dynamic: PSNR"):
        export.export(export_config(out, **one), generator, tiny_model, tolerances=strict)
    assert sorted(os.listdir(out)) == [".staging-v1"]  # no version dir: Serving sees nothing
    with open(out / ".staging-v1" / "reports" / "v1.json", encoding="utf-8") as f:
        rows = json.load(f)["artifacts"]
    assert any(r["violations"] for r in rows)
    # Without enforcement the same artifacts are published.
    report = export.export(
        export_config(out, **one, enforce_tolerances=False),
        generator,
        tiny_model,
        tolerances=strict,
    )
    assert report["version"] == 1 and sorted(os.listdir(out)) == ["1", "reports", "tflite"]


def test_tolerance_violations():
    row = dict(finite=True, max_abs_diff=2e-3, psnr_db=30.0)
    assert export.Tolerance(max_abs=1e-3).violations(row) == ["max |diff| 0.002 > 0.001"]
    assert export.Tolerance(min_psnr=31).violations(row) == ["PSNR 30.00 dB < 31 dB"]
    assert export.Tolerance(max_abs=1e-2, min_psnr=29).violations(row) == []
    assert export.Tolerance(min_psnr=31).violations(dict(row, psnr_db=None)) == []  # exact
    nan = dict(finite=False, max_abs_diff=None, psnr_db=None)
    assert export.Tolerance(max_abs=1.0, min_psnr=1).violations(nan) == [
        "non-finite output (NaN/Inf)"
    ]


def test_measure_flags_nan_outputs():
    samples = [("a", np.zeros((4, 4, 3), np.float32), np.zeros((16, 16, 3), np.float32))]
    refs = [np.zeros((16, 16, 3))]
    result = export.measure(
        lambda x: np.full((1, 16, 16, 3), np.nan, np.float32), samples, refs, 4, runs=1
    )
    assert not result["finite"] and result["latency_ms"] is None
    assert json.loads(json.dumps(result, allow_nan=False)) == result  # valid JSON


@pytest.mark.parametrize(
    "kwargs,message",
    [
        (dict(precision="int8"), "precision must be one of"),
        (dict(tflite=("fp64",)), "unknown TFLite variant"),
        (dict(tflite_shapes=("square",)), "unknown TFLite shape"),
        (dict(tflite_shapes=()), "no --tflite_shapes"),
        (dict(num_samples=0), "num_samples must be positive"),
        (dict(weights=""), "weights and output_dir are required"),
    ],
)
def test_config_errors(tmp_path, kwargs, message, export_config):
    with pytest.raises(ValueError, match=message):
        export_config(tmp_path, **kwargs)


def test_a_saved_model_is_not_export_input(exported, export_config):
    out, _ = exported
    with pytest.raises(ValueError, match="is an exported SavedModel"):
        export.export(export_config(out.parent / "x", weights=str(out)))
    assert not os.path.exists(out.parent / "x")


# ---------------------------------------------------------------------------------------
# Exported models in the other commands
# ---------------------------------------------------------------------------------------


def test_evaluate_accepts_the_exported_model(exported, generator, tmp_path):
    out, _ = exported
    hr_dir = tmp_path / "Set1" / "HR"
    hr_dir.mkdir(parents=True)
    photo = np.random.default_rng(0).integers(0, 256, (44, 52, 3), dtype=np.uint8)
    Image.fromarray(photo).save(hr_dir / "a.png")
    datasets = evaluate_lib.name_datasets([str(hr_dir)])
    keras_summary = evaluate_lib.evaluate(generator, datasets, 4, progress=False)
    summary = evaluate_lib.run(
        EvaluateConfig(
            weights=str(out),
            datasets=(str(hr_dir),),
            output_dir=str(tmp_path / "res"),
            progress=False,
        )
    )
    for key in ("psnr_y", "ssim_y", "psnr_rgb", "ssim_rgb"):
        assert summary["Set1"]["results"]["model"][key] == pytest.approx(
            keras_summary["Set1"]["results"]["model"][key], abs=1e-6
        )


def test_upscaling_with_the_exported_model(exported, generator, tmp_path):
    out, _ = exported
    photo = np.random.default_rng(1).integers(0, 256, (30, 26, 3), dtype=np.uint8)
    Image.fromarray(photo).save(tmp_path / "p.png")
    outputs, failures = upscaling.run(
        UpscaleConfig(
            weights=str(out),
            input=(str(tmp_path / "p.png"),),
            output_dir=str(tmp_path / "up"),
            tiling=Tiling(tile=16),
            progress=False,
        )
    )
    assert not failures and [os.path.basename(p) for p in outputs] == ["p_x4.png"]
    sr = np.asarray(Image.open(tmp_path / "up" / "p_x4.png"))
    expected = tile_upscale(generator, photo.astype(np.float32) / 255.0, 4, Tiling(tile=16))
    assert np.abs(sr.astype(np.float64) - np.clip(expected, 0, 1) * 255).max() <= 0.5 + 1e-3


def test_training_commands_refuse_a_saved_model(exported):
    out, _ = exported
    with pytest.raises(ValueError, match="needs Keras weights"):
        generators.load(str(out))


def test_onnx_models_are_measured_and_published_with_the_rest(
    generator, tmp_path, tiny_model, export_config
):
    out = tmp_path / "with_onnx"
    config = export_config(out, tflite=(), onnx=("fp32", "fp16"))
    report = export.export(config, generator, tiny_model)
    assert sorted(os.listdir(out)) == ["1", "onnx", "reports"]
    assert sorted(os.listdir(out / "onnx" / "v1")) == ["fp16_dynamic.onnx", "fp32_dynamic.onnx"]
    rows = {row["name"]: row for row in report["artifacts"]}
    assert rows["onnx fp32 dynamic"]["max_abs_diff"] <= 1e-4
    assert rows["onnx fp16 dynamic"]["psnr_db"] >= 50.0
    assert rows["onnx fp16 dynamic"]["size_bytes"] == os.path.getsize(
        out / "onnx" / "v1" / "fp16_dynamic.onnx"
    )
    assert "| onnx fp16 dynamic |" in report["table"]
