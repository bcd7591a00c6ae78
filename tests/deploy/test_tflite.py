"""esrgan_tf.deploy.tflite: every variant converts, is what it claims to be, matches the Keras
model, and runs at fixed and dynamic sizes on the ai-edge-litert interpreter."""

import dataclasses

import numpy as np
import pytest

from esrgan_tf.deploy import tflite
from esrgan_tf.deploy.config import SHAPES, VARIANTS
from esrgan_tf.inference.litert import TFLiteModel
from esrgan_tf.options import parse_size

# num_feat 16: the converter leaves weight tensors under 1024 elements in float, so the
# dynamic-range model of a narrower net would hold no int8 weights to check.
SIZE = (12, 16)


@pytest.fixture(scope="module")
def generator(make_generator, tiny_model):
    return make_generator(dataclasses.replace(tiny_model, num_feat=16, num_grow_ch=8), seed=5)


def images(shape, seed=0):
    return np.random.default_rng(seed).random(shape, dtype=np.float32)


@pytest.fixture(scope="module")
def calibration():
    return [images((*SIZE, 3), seed) for seed in range(8)]


@pytest.fixture(scope="module")
def models(generator, calibration):
    """{(variant, shape): flatbuffer bytes} for every variant and shape, from one Converter
    (each shape's float SavedModel written once)."""
    with tflite.Converter(generator) as converter:
        return {
            (v, s): converter.convert(v, SIZE if s == "fixed" else None, calibration)
            for v in VARIANTS
            for s in SHAPES
        }


@pytest.mark.slow
def test_a_converter_reusing_its_saved_model_converts_as_a_fresh_one(models, generator):
    # models' dynamic_int8 came from the SavedModel the Converter wrote for fp32 dynamic;
    # convert() writes its own.
    assert tflite.convert(generator, "dynamic_int8") == models[("dynamic_int8", "dynamic")]


def reference(generator, x):
    return np.clip(generator(x).numpy(), 0.0, 1.0)


def psnr(a, b):
    return 10 * np.log10(1.0 / np.mean((a.astype(np.float64) - b) ** 2))


# Bounds for this tiny random model (measured: fp32 ~1e-7, fp16 ~2e-5, dynamic int8 ~1e-2,
# int8 ~55 dB); each is loose enough for round-off and tight enough to catch a broken model.
BOUNDS = {
    "fp32": dict(max_abs=1e-5),
    "fp16": dict(max_abs=1e-3),
    "dynamic_int8": dict(min_psnr=35.0),
    "int8": dict(min_psnr=35.0),
}


@pytest.mark.parametrize("variant", VARIANTS)
def test_variant_matches_keras_fixed_and_dynamic(models, generator, variant):
    fixed = TFLiteModel(models[(variant, "fixed")])
    dynamic = TFLiteModel(models[(variant, "dynamic")])
    assert fixed.input_size == SIZE and not fixed.dynamic
    assert dynamic.input_size is None and dynamic.dynamic
    for model, shapes in (
        (fixed, [(2, *SIZE, 3)]),
        (dynamic, [(1, *SIZE, 3), (2, 9, 21, 3), (1, 5, 5, 3)]),
    ):
        for shape in shapes:
            x = images(shape, seed=sum(shape))
            out, ref = model(x), reference(generator, x)
            assert out.shape == (shape[0], shape[1] * 4, shape[2] * 4, 3)
            assert out.min() >= 0.0 and out.max() <= 1.0
            bound = BOUNDS[variant]
            if "max_abs" in bound:
                assert np.abs(out - ref).max() < bound["max_abs"]
            else:
                assert psnr(out, ref) > bound["min_psnr"]


def _tensor_types(model_bytes):
    from ai_edge_litert.interpreter import Interpreter  # pylint: disable=import-outside-toplevel

    interpreter = Interpreter(model_content=model_bytes)
    return [d["dtype"] for d in interpreter.get_tensor_details()]


def test_variants_hold_the_advertised_types(models):
    types = {v: _tensor_types(models[(v, "dynamic")]) for v in VARIANTS}
    assert np.int8 not in types["fp32"] and np.float16 not in types["fp32"]
    assert np.float16 in types["fp16"]
    assert np.int8 in types["dynamic_int8"]  # weights only: activations stay float
    assert np.float32 in types["dynamic_int8"]
    int8_share = np.mean([t == np.int8 for t in types["int8"]])
    assert int8_share > 0.5  # the graph runs in int8 (float only at the input and output)
    sizes = {v: len(models[(v, "dynamic")]) for v in VARIANTS}
    assert sizes["fp16"] < 0.75 * sizes["fp32"] and sizes["int8"] < 0.6 * sizes["fp32"]


def test_fixed_model_refuses_other_sizes(models):
    model = TFLiteModel(models[("fp32", "fixed")])
    with pytest.raises(ValueError, match="takes 12x16 inputs, got 16x12"):
        model(images((1, 16, 12, 3)))
    with pytest.raises(ValueError, match=r"expected \[N, H, W, 3\]"):
        model(images((12, 16, 3)))


def test_model_file_and_bytes_give_the_same(models, tmp_path):
    path = tmp_path / "m.tflite"
    path.write_bytes(models[("fp16", "dynamic")])
    x = images((1, 7, 9, 3))
    np.testing.assert_array_equal(
        TFLiteModel(str(path))(x), TFLiteModel(models[("fp16", "dynamic")])(x)
    )


def test_conversion_errors(generator):
    with pytest.raises(ValueError, match="TFLite variant must be one of"):
        tflite.convert(generator, "int4")
    with pytest.raises(ValueError, match="needs representative"):
        tflite.convert(generator, "int8")
    with pytest.raises(ValueError, match="no representative patches"):
        tflite.convert(generator, "int8", representative=[])
    with pytest.raises(ValueError, match="calibration patches must be"):
        tflite.convert(generator, "int8", (8, 8), [images((9, 8, 3))])


@pytest.mark.parametrize("text,size", [("64", (64, 64)), ("48x96", (48, 96)), ("7X5", (7, 5))])
def test_parse_size(text, size):
    assert parse_size(text) == size


@pytest.mark.parametrize("text", ["", "0", "a", "4x", "1x2x3", "-3"])
def test_parse_size_errors(text):
    with pytest.raises(ValueError, match="a size is"):
        parse_size(text)
