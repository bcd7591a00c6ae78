"""LiteRT (TFLite) for running generators: a Keras function converted to a float32 flatbuffer
(`convert_function`), and a flatbuffer run on the `ai-edge-litert` interpreter with XNNPACK
and one thread per core (`TFLiteModel`; `tf.lite.Interpreter` is deprecated).

Conversion always goes through a SavedModel with one float signature: the converter's
`from_concrete_functions` silently makes broken (NaN) models of functions that capture
variables. The runtimes of `esrgan_tf.inference.runtimes` convert generators' stages here;
the export's variants (fp16, int8, fixed shapes) are `esrgan_tf.deploy.tflite`.
"""

import os
import tempfile

import keras
import numpy as np
import tensorflow as tf

from esrgan_tf import console


def float_saved_model(trackable, fn, path, input_shape):
    """A SavedModel with one signature: float32 `input_shape` -> {"sr": fn(images)}."""
    archive = keras.export.ExportArchive()
    archive.track(trackable)
    archive.add_endpoint(
        "serving_default",
        tf.function(lambda images: {"sr": fn(images)}),
        input_signature=[tf.TensorSpec(input_shape, tf.float32, name="images")],
    )
    with console.quiet_tf_logs():
        archive.write_out(path, verbose=False)


def convert_function(model, fn, input_shape):
    """float32 TFLite flatbuffer bytes of `fn` (a function of the Keras `model`'s layers,
    e.g. one of RRDBNet's stages) on float32 inputs of `input_shape` (None: dynamic), its
    output as it is (not clipped)."""
    with tempfile.TemporaryDirectory(prefix="esrgan_tf_tflite_") as tmp:
        float_saved_model(model, lambda x: tf.cast(fn(x), tf.float32), tmp, input_shape)
        converter = tf.lite.TFLiteConverter.from_saved_model(tmp)
        with console.quiet_tf_logs():
            return converter.convert()


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
