"""TFLite (LiteRT) models of a generator: conversion of each variant, and running them.

Variants (`VARIANTS`):
  fp32          float32 weights and maths;
  fp16          float16 weights, float32 maths (the CPU dequantises them; GPUs run fp16);
  dynamic_int8  int8 weights, activations quantised on the fly per call;
  int8          full-integer: weights and activations int8 with ranges calibrated on
                representative LR patches. Input and output stay float32 [1, H, W, 3], so
                every variant has the same interface.

Shapes: "fixed" models take exactly [1, H, W, 3]; "dynamic" ones are saved with
[1, -1, -1, 3] and take any size after `interpreter.resize_tensor_input` and
`allocate_tensors` (`TFLiteModel` does that for you).

Conversion always goes through a SavedModel with one float signature: the converter's
`from_concrete_functions` silently makes broken (NaN) models of functions that capture
variables. The model's output is clipped to [0, 1] inside the graph, as the SavedModel's.
Models run on the `ai-edge-litert` interpreter (`tf.lite.Interpreter` is deprecated),
with XNNPACK and one thread per core.
"""

import os
import tempfile

import keras
import numpy as np
import tensorflow as tf

from esrgan_tf.deploy import serving

VARIANTS = ("fp32", "fp16", "dynamic_int8", "int8")
SHAPES = ("dynamic", "fixed")


def _float_saved_model(trackable, fn, path, input_shape):
    """A SavedModel with one signature: float32 `input_shape` -> {"sr": fn(images)}."""
    archive = keras.export.ExportArchive()
    archive.track(trackable)
    archive.add_endpoint(
        "serving_default",
        tf.function(lambda images: {"sr": fn(images)}),
        input_signature=[tf.TensorSpec(input_shape, tf.float32, name="images")],
    )
    with serving.quiet_tf_logs():
        archive.write_out(path, verbose=False)


def convert_function(model, fn, input_shape):
    """float32 TFLite flatbuffer bytes of `fn` (a function of the Keras `model`'s layers,
    e.g. one of RRDBNet's stages) on float32 inputs of `input_shape` (None: dynamic), its
    output as it is (not clipped). Used by `esrgan_tf.inference.runtimes`."""
    with tempfile.TemporaryDirectory(prefix="esrgan_tf_tflite_") as tmp:
        _float_saved_model(model, lambda x: tf.cast(fn(x), tf.float32), tmp, input_shape)
        converter = tf.lite.TFLiteConverter.from_saved_model(tmp)
        with serving.quiet_tf_logs():
            return converter.convert()


class Converter:
    """Converts one generator to any of `VARIANTS`; a context manager.

    Every conversion starts from a float SavedModel of the generator's input shape; this
    writes that SavedModel once per shape and converts every variant of the shape from it
    (writing it took about a third of each conversion). Removed on exit.

    Args:
        generator: a built Keras generator (float32).
    """

    def __init__(self, generator):
        self.generator = generator
        self._tmp = None
        self._sources = {}  # input shape -> SavedModel dir

    def __enter__(self):
        self._tmp = tempfile.TemporaryDirectory(prefix="esrgan_tf_tflite_")
        return self

    def __exit__(self, *exc):
        self._tmp.cleanup()
        self._sources.clear()

    def _source(self, shape):
        if tuple(shape) not in self._sources:
            generator = self.generator

            def upscale(images):
                sr = generator(tf.cast(images, generator.compute_dtype))
                return tf.clip_by_value(tf.cast(sr, tf.float32), 0.0, 1.0)

            path = os.path.join(self._tmp.name, str(len(self._sources)))
            _float_saved_model(generator, upscale, path, shape)
            self._sources[tuple(shape)] = path
        return self._sources[tuple(shape)]

    def convert(self, variant, input_size=None, representative=None):
        """TFLite flatbuffer bytes of the generator.

        Args:
            variant: one of `VARIANTS`.
            input_size: (H, W) of a fixed-shape model; None for a dynamic one.
            representative: for "int8", an iterable of float32 LR patches [h, w, 3] in
                [0, 1] (of size `input_size` for a fixed model) to calibrate activations on.
        """
        if variant not in VARIANTS:
            raise ValueError(f"TFLite variant must be one of {VARIANTS}, got {variant!r}")
        if variant == "int8" and representative is None:
            raise ValueError("the int8 variant needs representative LR patches for calibration")
        patches = None
        if variant == "int8":
            patches = [np.asarray(p, np.float32) for p in representative]
            if not patches:
                raise ValueError("no representative patches for int8 calibration")
            if input_size is not None and any(p.shape[:2] != tuple(input_size) for p in patches):
                raise ValueError(f"calibration patches must be {input_size} for a fixed int8 model")
        shape = [1, None, None, 3] if input_size is None else [1, *input_size, 3]
        converter = tf.lite.TFLiteConverter.from_saved_model(self._source(shape))
        if variant != "fp32":
            converter.optimizations = [tf.lite.Optimize.DEFAULT]
        if variant == "fp16":
            converter.target_spec.supported_types = [tf.float16]
        if variant == "int8":
            converter.representative_dataset = lambda: ([p[None]] for p in patches)
            converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
        with serving.quiet_tf_logs():
            return converter.convert()


def convert(generator, variant, input_size=None, representative=None):
    """TFLite flatbuffer bytes of `generator` in one variant (`Converter.convert`; several
    variants of one generator: use a `Converter`)."""
    with Converter(generator) as converter:
        return converter.convert(variant, input_size, representative)


def parse_size(text):
    """'64' -> (64, 64); '48x64' -> (48, 64) (H x W)."""
    parts = str(text).lower().split("x")
    try:
        size = tuple(int(p) for p in parts)
    except ValueError:
        size = ()
    if len(size) == 1:
        size = size * 2
    if len(size) != 2 or min(size) < 1:
        raise ValueError(f"a size is 'N' or 'HxW' with positive integers, got {text!r}")
    return size


class TFLiteModel:
    """A TFLite SR model on the ai-edge-litert interpreter: [N, H, W, C] float -> SR
    (C = 3 for whole generators; a stage of `convert_function` may take more).

    Images go through one at a time (the models have batch 1). A dynamic model is
    resized to each new input size; a fixed one refuses other sizes with a clear error.
    """

    def __init__(self, path_or_bytes, num_threads=None):
        from ai_edge_litert.interpreter import Interpreter  # pylint: disable=import-outside-toplevel

        kwargs = (
            {"model_content": bytes(path_or_bytes)}
            if isinstance(path_or_bytes, (bytes, bytearray))
            else {"model_path": os.fspath(path_or_bytes)}
        )
        self.interpreter = Interpreter(num_threads=num_threads or os.cpu_count(), **kwargs)
        self._input = self.interpreter.get_input_details()[0]
        self._output = self.interpreter.get_output_details()[0]
        self.dynamic = bool(np.any(self._input["shape_signature"][1:3] < 0))
        self._size = None if self.dynamic else tuple(int(d) for d in self._input["shape"][1:3])
        self.interpreter.allocate_tensors()

    @property
    def input_size(self):
        """(H, W) of a fixed model; None for a dynamic one."""
        return self._size

    def _prepare(self, size):
        if not self.dynamic:
            if size != self._size:
                raise ValueError(
                    f"this TFLite model takes {self._size[0]}x{self._size[1]} "
                    f"inputs, got {size[0]}x{size[1]}"
                )
            return
        if tuple(self.interpreter.get_input_details()[0]["shape"][1:3]) != size:
            channels = int(self._input["shape"][3])
            self.interpreter.resize_tensor_input(self._input["index"], [1, *size, channels])
            self.interpreter.allocate_tensors()

    def __call__(self, images):
        images = np.asarray(images, np.float32)
        channels = int(self._input["shape"][3])
        if images.ndim != 4 or images.shape[3] != channels:
            raise ValueError(f"expected [N, H, W, {channels}] images, got shape {images.shape}")
        self._prepare(tuple(images.shape[1:3]))
        outputs = []
        for image in images:
            self.interpreter.set_tensor(self._input["index"], image[None])
            self.interpreter.invoke()
            outputs.append(self.interpreter.get_tensor(self._output["index"])[0].copy())
        return np.stack(outputs)
