"""ONNX models of every generator architecture, run by onnxruntime (the consumer) against the
Keras model on real photo crops; the graph edits TensorRT and chaiNNer need; the refusals."""

import os

import keras
import numpy as np
import onnx
import pytest
import skimage.data

from esrgan_tf.deploy import onnx as onnx_export
from esrgan_tf.models.builders import built_generator
from esrgan_tf.models.config import ModelConfig

ARCHITECTURES = {
    "rrdbnet x4": ModelConfig(num_feat=8, num_block=1, num_grow_ch=4),
    "rrdbnet x2plus": ModelConfig(num_feat=8, num_block=1, num_grow_ch=4, scale=2, unshuffle=True),
    "rrdbnet x1": ModelConfig(num_feat=8, num_block=1, num_grow_ch=4, scale=1, unshuffle=True),
    "srvgg x4": ModelConfig(generator="srvgg", num_feat=8, num_conv=2),
    "srresnet x4": ModelConfig(generator="srresnet", num_feat=8, num_block=2),
}


def photo_crops():
    """Two real photo crops of different sizes (multiples of 4, for pixel-unshuffle)."""
    coffee = skimage.data.coffee()[120:144, 210:242]
    astronaut = skimage.data.astronaut()[100:120, 180:216]
    return [c[None].astype(np.float32) / 255 for c in (coffee, astronaut)]


def model_of(config, seed=0):
    """The generator with seeded weights larger than its init (ESRGAN's 0.1-scaled init
    gives a nearly flat output, which would compare little)."""
    keras.utils.set_random_seed(seed)
    model = built_generator(config)
    rng = np.random.default_rng(seed)
    for variable in model.weights:
        values = rng.uniform(-0.15, 0.15, variable.shape)
        if "variance" in variable.path:  # SRResNet's batch norm
            values = 0.5 + np.abs(values)
        variable.assign(values)
    return model


def dims(value):
    return [d.dim_param or d.dim_value for d in value.type.tensor_type.shape.dim]


@pytest.mark.parametrize("name", list(ARCHITECTURES))
def test_onnxruntime_gives_the_keras_output_on_photos_of_two_sizes(tmp_path, name):
    config = ARCHITECTURES[name]
    model = model_of(config)
    path = tmp_path / "model.onnx"
    checked = onnx_export.save(model, path, metadata={"scale": config.scale})
    assert checked["max_abs_diff"] <= onnx_export.MAX_ABS_FP32
    runner = onnx_export.OnnxModel(path)
    for crop in photo_crops():
        expected = np.asarray(model(crop))
        actual = runner(crop)
        assert (
            actual.shape == expected.shape == (1, *(s * config.scale for s in crop.shape[1:3]), 3)
        )
        assert np.std(expected) > 0.01
        assert np.max(np.abs(actual - expected)) <= 1e-4
    # What TensorRT, chaiNNer and onnxruntime users expect of the graph.
    proto = onnx.load(str(path))
    graph = proto.graph
    assert [i.name for i in graph.input] == ["input"] and [o.name for o in graph.output] == [
        "output"
    ]
    assert dims(graph.input[0]) == ["batch", 3, "height", "width"]
    assert dims(graph.output[0]) == ["batch", 3, "out_height", "out_width"]
    assert max(o.version for o in proto.opset_import if o.domain in ("", "ai.onnx")) >= 17
    assert "Transpose" not in {n.op_type for n in graph.node}
    for node in graph.node:
        if node.op_type == "Resize":
            attributes = {a.name: onnx.helper.get_attribute_value(a) for a in node.attribute}
            assert attributes["coordinate_transformation_mode"] == b"asymmetric"
            assert attributes["nearest_mode"] == b"floor"
    metadata = {p.key: p.value for p in proto.metadata_props}
    assert metadata["scale"] == str(config.scale) and metadata["layout"] == "NCHW"


def test_nchw_batch_of_two_feeds_directly(tmp_path):
    # The file itself, without OnnxModel's transposes: NCHW in, NCHW out, a batch of 2.
    import onnxruntime

    model = model_of(ARCHITECTURES["srvgg x4"])
    onnx_export.save(model, tmp_path / "m.onnx")
    session = onnxruntime.InferenceSession(str(tmp_path / "m.onnx"))
    crop = photo_crops()[0]
    batch = np.concatenate([crop, crop[:, ::-1]])
    (out,) = session.run(None, {"input": batch.transpose(0, 3, 1, 2)})
    expected = np.asarray(model(batch)).transpose(0, 3, 1, 2)
    assert out.shape == expected.shape and np.max(np.abs(out - expected)) <= 1e-4


def test_nhwc_on_request(tmp_path):
    model = model_of(ARCHITECTURES["rrdbnet x4"])
    onnx_export.save(model, tmp_path / "m.onnx", layout="nhwc")
    graph = onnx.load(str(tmp_path / "m.onnx")).graph
    assert dims(graph.input[0]) == ["batch", "height", "width", 3]
    crop = photo_crops()[1]
    import onnxruntime

    (out,) = onnxruntime.InferenceSession(str(tmp_path / "m.onnx")).run(None, {"input": crop})
    assert np.max(np.abs(out - np.asarray(model(crop)))) <= 1e-4


@pytest.mark.parametrize("name", ["rrdbnet x4", "srvgg x4"])
def test_fp16_has_half_weights_float_io_and_stays_close(tmp_path, name):
    model = model_of(ARCHITECTURES[name])
    checked = onnx_export.save(model, tmp_path / "m.onnx", precision="fp16")
    assert checked["psnr_db"] >= onnx_export.MIN_PSNR_FP16
    proto = onnx.load(str(tmp_path / "m.onnx"))
    conv_weights = {n.input[1] for n in proto.graph.node if n.op_type == "Conv"}
    types = {t.name: t.data_type for t in proto.graph.initializer if t.name in conv_weights}
    assert types and set(types.values()) == {onnx.TensorProto.FLOAT16}
    assert proto.graph.input[0].type.tensor_type.elem_type == onnx.TensorProto.FLOAT
    assert proto.graph.output[0].type.tensor_type.elem_type == onnx.TensorProto.FLOAT
    crop = photo_crops()[0]
    out = onnx_export.OnnxModel(tmp_path / "m.onnx")(crop)
    mse = np.mean((np.clip(out, 0, 1) - np.clip(np.asarray(model(crop)), 0, 1)) ** 2)
    assert 10 * np.log10(1 / mse) >= onnx_export.MIN_PSNR_FP16


def test_fp16_overflow_is_refused_and_nothing_is_written(tmp_path):
    config = ARCHITECTURES["srvgg x4"]
    model = model_of(config)
    for _, layer in model.convs[:-1]:  # hidden activations far beyond float16's 65504
        layer.kernel.assign(layer.kernel * 80)
    assert np.all(np.isfinite(np.asarray(model(photo_crops()[0]))))  # fine in float32
    with pytest.raises(onnx_export.OnnxExportError, match="overflows in float16"):
        onnx_export.save(model, tmp_path / "m.onnx", precision="fp16", model_config=config)
    assert os.listdir(tmp_path) == []


def test_a_converter_failure_names_the_versions(tmp_path, monkeypatch):
    import tf2onnx

    def broken(*args, **kwargs):
        raise TypeError("object of type 'NoneType' has no len()")

    monkeypatch.setattr(tf2onnx.convert, "from_function", broken)
    with pytest.raises(onnx_export.OnnxExportError, match=r"tensorflow 2\.\d+.*tf2onnx 1\.\d+"):
        onnx_export.save(model_of(ARCHITECTURES["srvgg x4"]), tmp_path / "m.onnx")
    assert os.listdir(tmp_path) == []


@pytest.mark.parametrize("field,value", [("layout", "nc"), ("precision", "int8")])
def test_unknown_layout_or_precision(tmp_path, field, value):
    with pytest.raises(ValueError, match=f"ONNX {field} must be one of"):
        onnx_export.save(model_of(ARCHITECTURES["srvgg x4"]), tmp_path / "m.onnx", **{field: value})
