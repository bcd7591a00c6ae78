"""TFLite (LiteRT) models of a generator for deployment: conversion of each variant.

Variants (`VARIANTS`):
  fp32          float32 weights and maths;
  fp16          float16 weights, float32 maths (the CPU dequantises them; GPUs run fp16);
  dynamic_int8  int8 weights, activations quantised on the fly per call;
  int8          full-integer: weights and activations int8 with ranges calibrated on
                representative LR patches. Input and output stay float32 [1, H, W, 3], so
                every variant has the same interface.

Shapes: "fixed" models take exactly [1, H, W, 3]; "dynamic" ones are saved with
[1, -1, -1, 3] and take any size after `interpreter.resize_tensor_input` and
`allocate_tensors` (`esrgan_tf.inference.litert.TFLiteModel` does that for you).

Conversion goes through a float SavedModel (`litert.float_saved_model`); the model's output
is clipped to [0, 1] inside the graph, as the SavedModel's.
"""

import os
import tempfile

import numpy as np
import tensorflow as tf

from esrgan_tf import console
from esrgan_tf.deploy.config import VARIANTS
from esrgan_tf.inference import litert


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
            litert.float_saved_model(generator, upscale, path, shape)
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
        with console.quiet_tf_logs():
            return converter.convert()


def convert(generator, variant, input_size=None, representative=None):
    """TFLite flatbuffer bytes of `generator` in one variant (`Converter.convert`; several
    variants of one generator: use a `Converter`)."""
    with Converter(generator) as converter:
        return converter.convert(variant, input_size, representative)
