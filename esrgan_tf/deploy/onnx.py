"""ONNX models of a generator, for onnxruntime, TensorRT, DirectML, OpenVINO, vs-mlrt and
chaiNNer: the `.onnx` form of `python -m esrgan_tf.convert` and `python -m esrgan_tf.export`.

The bare forward pass (`tf.function` over a `[None, None, None, C]` input) goes through
tf2onnx, then four edits make the graph what those tools expect:

* NCHW input and output by default (`layout="nchw"`: tf2onnx's `inputs_as_nchw` /
  `outputs_as_nchw` fold the transposes into the graph), NHWC on request;
* dynamic batch, height and width, named `batch`, `height`, `width` (and `out_height`,
  `out_width`), the input named `input` and the output `output`;
* nearest-neighbour `Resize` with `coordinate_transformation_mode=asymmetric` and
  `nearest_mode=floor` instead of tf2onnx's `tf_half_pixel_for_nn`, which onnxruntime
  deprecates and TensorRT refuses (onnx-tensorrt #913). For the integer factors of these
  networks both pick the same pixel: floor((x + 0.5) / f) = floor(x / f);
* metadata (`metadata_props`): scale, architecture, layout, range, source.

`precision="fp16"` converts weights and activations to float16 with onnxconverter-common
(input and output stay float32; Resize stays float32, as that converter keeps it), and
refuses a model whose fp16 output is not finite on the check image.

tf2onnx's own CI stops at TensorFlow 2.15 (its README asks for a maintainer): a conversion
that fails is reported as such, with the versions, by `OnnxExportError`.
"""

import importlib.metadata
import os
import warnings

import numpy as np

from esrgan_tf import atomic
from esrgan_tf.models import builders

OPSET = 17
LAYOUTS = ("nchw", "nhwc")
PRECISIONS = ("fp32", "fp16")
INPUT_NAME, OUTPUT_NAME = "input", "output"
EXTRAS = 'pip install -e ".[onnx]" (tf2onnx, onnx, onnxruntime, onnxconverter-common)'


class OnnxExportError(RuntimeError):
    """The model could not be converted to ONNX, or its ONNX output is unusable."""

    exit_status = 1


def _modules():
    try:
        import onnx
        import tf2onnx
    except ImportError as e:
        raise ImportError(f"ONNX export needs tf2onnx and onnx: {EXTRAS}") from e
    return onnx, tf2onnx


def _versions():
    names = ("tensorflow", "tf2onnx", "onnx")
    found = []
    for name in names:
        try:
            found.append(f"{name} {importlib.metadata.version(name)}")
        except importlib.metadata.PackageNotFoundError:
            found.append(f"{name} (not installed)")
    return ", ".join(found)


def _rename(graph, old, new):
    for node in graph.node:
        node.input[:] = [new if name == old else name for name in node.input]
        node.output[:] = [new if name == old else name for name in node.output]
    for value in list(graph.input) + list(graph.output):
        if value.name == old:
            value.name = new


def _name_dims(value, names):
    for dim, name in zip(value.type.tensor_type.shape.dim, names):
        if name is not None:
            dim.Clear()
            dim.dim_param = name


def _fix_nearest_resize(onnx, graph):
    """tf_half_pixel_for_nn -> asymmetric + floor on nearest Resize nodes; returns how many."""
    changed = 0
    for node in graph.node:
        if node.op_type != "Resize":
            continue
        attributes = {a.name: onnx.helper.get_attribute_value(a) for a in node.attribute}
        if attributes.get("mode", b"nearest") != b"nearest":
            continue
        kept = [a for a in node.attribute if a.name not in ("coordinate_transformation_mode",
                                                             "nearest_mode")]  # fmt: skip
        del node.attribute[:]
        node.attribute.extend(kept)
        node.attribute.extend(
            [
                onnx.helper.make_attribute("coordinate_transformation_mode", "asymmetric"),
                onnx.helper.make_attribute("nearest_mode", "floor"),
            ]
        )
        changed += 1
    return changed


def to_onnx(model, channels=3, layout="nchw", precision="fp32", metadata=None, opset=OPSET):
    """The ONNX ModelProto of a Keras generator (see the module docstring)."""
    if layout not in LAYOUTS:
        raise ValueError(f"ONNX layout must be one of {LAYOUTS}, got {layout!r}")
    if precision not in PRECISIONS:
        raise ValueError(f"ONNX precision must be one of {PRECISIONS}, got {precision!r}")
    onnx, tf2onnx = _modules()
    import tensorflow as tf

    spec = [tf.TensorSpec([None, None, None, channels], tf.float32, name=INPUT_NAME)]
    forward = tf.function(lambda x: model(x, training=False), input_signature=spec)
    nchw = layout == "nchw"
    try:
        concrete = forward.get_concrete_function()
        output = concrete.outputs[0].name
        proto, _ = tf2onnx.convert.from_function(
            forward,
            input_signature=spec,
            opset=opset,
            inputs_as_nchw=[f"{INPUT_NAME}:0"] if nchw else None,
            outputs_as_nchw=[output] if nchw else None,
        )
    except Exception as e:  # noqa: BLE001 - any converter failure is reported the same way
        raise OnnxExportError(
            f"tf2onnx could not convert {type(model).__name__} ({_versions()}): "
            f"{type(e).__name__}: {e}"
        ) from e
    graph = proto.graph
    _rename(graph, graph.input[0].name, INPUT_NAME)
    _rename(graph, graph.output[0].name, OUTPUT_NAME)
    if nchw:
        _name_dims(graph.input[0], ("batch", None, "height", "width"))
        _name_dims(graph.output[0], ("batch", None, "out_height", "out_width"))
    else:
        _name_dims(graph.input[0], ("batch", "height", "width", None))
        _name_dims(graph.output[0], ("batch", "out_height", "out_width", None))
    _fix_nearest_resize(onnx, graph)
    if precision == "fp16":
        try:
            from onnxconverter_common import float16
        except ImportError as e:
            raise ImportError(f"fp16 ONNX needs onnxconverter-common: {EXTRAS}") from e
        with warnings.catch_warnings():  # one line per tiny weight it rounds: chatter
            warnings.simplefilter("ignore", UserWarning)
            proto = float16.convert_float_to_float16(proto, keep_io_types=True)
    entries = {"layout": layout.upper(), "range": "[0, 1] RGB", "precision": precision}
    entries.update(metadata or {})
    onnx.helper.set_model_props(proto, {k: str(v) for k, v in entries.items()})
    proto.producer_name = "esrgan_tf"
    onnx.checker.check_model(proto)
    return proto


class OnnxModel:
    """An `.onnx` generator run by onnxruntime on the CPU, called like a Keras generator:
    NHWC float32 in, NHWC float32 out, whatever the file's layout."""

    def __init__(self, path_or_bytes, threads=None):
        try:
            import onnxruntime
        except ImportError as e:
            raise ImportError(f"running ONNX models needs onnxruntime: {EXTRAS}") from e
        options = onnxruntime.SessionOptions()
        options.log_severity_level = 3  # warnings only on request
        if threads:
            options.intra_op_num_threads = threads
        source = os.fspath(path_or_bytes) if not isinstance(path_or_bytes, bytes) else path_or_bytes
        self.session = onnxruntime.InferenceSession(
            source, options, providers=["CPUExecutionProvider"]
        )
        meta = self.session.get_modelmeta().custom_metadata_map
        self.metadata = dict(meta)
        self.nchw = self.metadata.get("layout", "NCHW") == "NCHW"

    def __call__(self, images, training=False):
        x = np.asarray(images, np.float32)
        if self.nchw:
            x = x.transpose(0, 3, 1, 2)
        (y,) = self.session.run([OUTPUT_NAME], {INPUT_NAME: np.ascontiguousarray(x)})
        return y.transpose(0, 2, 3, 1) if self.nchw else y


def check_image(channels=3, size=(24, 32)):
    """A smooth test image with edges: what `save` runs the ONNX model on."""
    y, x = np.mgrid[0 : size[0], 0 : size[1]].astype(np.float32)
    image = np.stack(
        [(np.sin(x / 3 + c) * np.cos(y / 4 - c) + 1) / 2 for c in range(channels)], axis=-1
    )
    return image[None]


# Bounds of an ONNX model's output against the Keras model's on `check_image`: fp32 differs
# by round-off only (5e-7 measured on RRDBNet, SRVGGNetCompact, SRResNet); fp16 as TFLite's.
MAX_ABS_FP32 = 1e-4
MIN_PSNR_FP16 = 50.0


def _check_float16_range(model, model_config, channels):
    """OnnxExportError when the model's float16 copy (Keras, float16 maths) overflows on the
    check image. onnxruntime's CPU kernels compute many float16 ops in float32, so its own
    output would not show an overflow that a GPU runtime meets."""
    half = builders.cast_generator(model, model_config, "fp16")
    out = np.asarray(half(check_image(channels), training=False), np.float32)
    if not np.all(np.isfinite(out)):
        raise OnnxExportError(
            "the model overflows in float16 (its float16 copy gives NaN/Inf on the check "
            "image: activations beyond +-65504); export fp32 instead. Nothing was written"
        )


def save(
    model,
    path,
    channels=3,
    layout="nchw",
    precision="fp32",
    metadata=None,
    check=True,
    model_config=None,
):
    """Writes the ONNX model of `model` to `path` atomically, after running it with
    onnxruntime (when installed, and `check`) on a check image against the Keras model: out
    of bounds, nothing is written and OnnxExportError says by how much. Returns the measured
    {max_abs_diff, psnr_db} (empty when not checked; `export` measures on its own samples).

    For fp16 with `model_config` (the architecture), the float16 range is checked first on
    a float16 copy of the Keras model (`_check_float16_range`)."""
    if precision == "fp16" and model_config is not None:
        _check_float16_range(model, model_config, channels)
    proto = to_onnx(model, channels, layout, precision, metadata)
    data = proto.SerializeToString()
    checked = {}
    try:
        import onnxruntime  # noqa: F401
    except ImportError:
        onnxruntime = None
    if check and onnxruntime is not None:
        image = check_image(channels)
        expected = np.asarray(model(image, training=False), np.float64)
        actual = OnnxModel(data)(image).astype(np.float64)
        if not np.all(np.isfinite(actual)):
            raise OnnxExportError(
                f"the {precision} ONNX model's output is not finite (NaN/Inf): the model "
                "overflows in float16; export fp32 instead"
            )
        diff = float(np.max(np.abs(actual - expected)))
        mse = float(np.mean((np.clip(actual, 0, 1) - np.clip(expected, 0, 1)) ** 2))
        psnr = float("inf") if mse == 0 else 10 * np.log10(1.0 / mse)
        checked = {"max_abs_diff": diff, "psnr_db": float(psnr)}
        if precision == "fp32" and diff > MAX_ABS_FP32:
            raise OnnxExportError(
                f"the ONNX model differs from the Keras model by {diff:.3g} (> {MAX_ABS_FP32:g})"
                f" on the check image ({_versions()}); nothing was written"
            )
        if precision == "fp16" and psnr < MIN_PSNR_FP16:
            raise OnnxExportError(
                f"the fp16 ONNX model is {psnr:.1f} dB from the Keras model (< "
                f"{MIN_PSNR_FP16:g} dB) on the check image; nothing was written"
            )
    atomic.write_bytes(path, data)
    return checked
