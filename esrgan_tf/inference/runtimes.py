"""Which runtime executes a generator's forward pass in upscale / evaluate, and how.

  tf      `tf.function` (TensorFlow's kernels: oneDNN where TensorFlow enables it, on CPUs
          with AVX-512 VNNI / BF16 / AMX, Eigen otherwise);
  xla     `tf.function(jit_compile=True)`;
  tflite  the same float32 graph converted to TFLite and run by the LiteRT interpreter
          with XNNPACK, one thread per core, input shape dynamic (one conversion serves
          every tile size). The flatbuffer is cached on disk under `cache_dir()`, keyed by
          the weights, so the conversion is paid once per model;
  auto    the measured policy, `choose`: tflite for a float32 Keras generator on a machine
          without a GPU, tf otherwise.

Outputs agree within the export's float32 TFLite tolerance (`deploy.export.TOLERANCES`:
max |diff| <= 1e-4). Every runtime runs the same tiling plan: a tiled call is a call of
`function(model, method, runtime)` on a batch of equal windows, for the whole model ("call")
or one of the stages its descriptor names (RRDBNet: "features", "reconstruct").
"""

import hashlib
import os
import weakref

from absl import logging
import keras
import numpy as np
import tensorflow as tf

from esrgan_tf import atomic
from esrgan_tf.inference import litert
from esrgan_tf.inference.config import RUNTIMES

_FUNCTIONS = weakref.WeakKeyDictionary()  # model -> {(stage, runtime): callable}


def cache_dir():
    """Where converted TFLite stages are kept: $ESRGAN_TF_CACHE, else
    $XDG_CACHE_HOME/esrgan_tf/tflite, else ~/.cache/esrgan_tf/tflite."""
    if os.environ.get("ESRGAN_TF_CACHE"):
        return os.environ["ESRGAN_TF_CACHE"]
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(base, "esrgan_tf", "tflite")


# auto takes tflite for images of at least this many LR pixels (or once the model's stages
# are converted and cached): below it, the one-off conversion costs more than it saves.
AUTO_TFLITE_PIXELS = 500_000


def choose(runtime, model, pixels=None):
    """The runtime that `runtime` ("auto" or a name) means for `model` on an image of
    `pixels` LR pixels (None: unknown, as large).

    auto: XNNPACK's float32 convolutions ran the generators faster than TensorFlow's Eigen
    kernels on an AVX2-only CPU and as fast as oneDNN on AVX-512 (docs/benchmarks.md), so
    tflite wins or ties on every CPU measured once converted; the conversion is paid once per
    model (cached), so small images start with tf until then. GPUs, half-precision copies and
    models a descriptor says LiteRT cannot run (exports, already graphs) stay with tf.
    """
    if runtime not in RUNTIMES:
        raise ValueError(f"runtime must be one of {RUNTIMES}, got {runtime!r}")
    if runtime != "auto":
        return runtime
    keras_float32 = isinstance(model, keras.Model) and all(
        w.dtype == "float32" for w in model.weights
    )
    descriptor = getattr(model, "descriptor", None)
    convertible = descriptor is not None and "tflite" in descriptor.runtimes
    if not (keras_float32 and convertible) or tf.config.list_physical_devices("GPU"):
        return "tf"
    big = pixels is None or pixels >= AUTO_TFLITE_PIXELS
    return "tflite" if big or is_cached(model) else "tf"


def _stages(model):
    """{method: its input channels} of the stages tiling runs on TFLite: the descriptor's
    (RRDBNet's two), else the whole model."""
    descriptor = getattr(model, "descriptor", None)
    if descriptor is None:
        return {"call": 3}
    return {s.method: s.in_channels for s in descriptor.stages or (descriptor.whole(),)}


def is_cached(model):
    """Whether every TFLite stage of `model` is converted already."""
    return all(os.path.isfile(cache_path(model, method)) for method in _stages(model))


def cache_path(model, method):
    """Where the TFLite conversion of `model`'s `method` is kept (`cache_dir`)."""
    return os.path.join(cache_dir(), f"{weights_key(model, method)}.tflite")


def function(model, method="call", runtime="tf"):
    """A callable of `model`'s `method` (the whole "call", or a stage its descriptor names)
    on NHWC float32 batches of any size -> its output.

    Keras models get one function per (method, runtime), kept as long as the model lives;
    other callables (exports, test stand-ins) are returned as they are. `runtime` is a name
    of RUNTIMES other than "auto" (`choose` resolves that).
    """
    if not isinstance(model, keras.Model):
        return model
    descriptor = getattr(model, "descriptor", None)
    methods = ("call",) + tuple(s.method for s in (descriptor.stages if descriptor else ()))
    if method not in methods:
        raise ValueError(f"{type(model).__name__} runs {methods}, not {method!r}")
    if runtime not in RUNTIMES[1:]:
        raise ValueError(f"runtime must be one of {RUNTIMES[1:]} here, got {runtime!r}")
    functions = _FUNCTIONS.setdefault(model, {})
    if (method, runtime) not in functions:
        functions[(method, runtime)] = _build(model, method, runtime)
    fn = functions[(method, runtime)]
    # The cached function holds the model weakly (it is the cache's key); what the caller
    # gets holds it, so that `function(Model(...))(x)` works whoever else keeps the model.
    return lambda x, _model=model: fn(x)


def _body(model, method):
    ref = weakref.ref(model)  # a strong reference in the cached value would keep the key alive
    if method == "call":
        return lambda x: ref()(x)
    return lambda x: getattr(ref(), method)(x)


def _build(model, method, runtime):
    spec = [tf.TensorSpec([None, None, None, None], tf.float32)]
    if runtime == "xla":
        return tf.function(_body(model, method), input_signature=spec, jit_compile=True)
    if runtime == "tf":
        return _EagerFirst(
            _body(model, method), tf.function(_body(model, method), input_signature=spec)
        )
    return _TFLiteStage(model, method)


# A first call on at most this many input pixels runs eagerly instead of tracing: tracing and
# optimising the graph of the 23-block RRDBNet takes about 2.5 s, about what eager execution
# loses on a 256x256 input, while upscaling one small photo is a command's whole work (a 96x64
# photo through x4plus: 3.3 s for the first traced call, 1.5 s eagerly; 2 AVX-512 cores).
EAGER_FIRST_PIXELS = 256 * 256


class _EagerFirst:
    """`function`'s tf runtime: the first call eager when its input is small, every other
    call through the traced `tf.function` (traced on its first use)."""

    def __init__(self, body, traced):
        self.body, self.traced, self.calls = body, traced, 0

    def __call__(self, batch):
        self.calls += 1
        shape = batch.shape
        if self.calls == 1 and shape[0] * shape[1] * shape[2] <= EAGER_FIRST_PIXELS:
            return self.body(batch)
        return self.traced(batch)


_KEYS = weakref.WeakKeyDictionary()  # model -> digest of its weights


def weights_key(model, stage):
    """A digest of the model's class, stage, weights and TensorFlow version (cache key).
    Computed once per model object: its weights must not change afterwards."""
    if model not in _KEYS:
        digest = hashlib.sha256(f"{type(model).__name__}/{tf.__version__}".encode())
        for w in model.weights:
            digest.update(w.path.encode())
            digest.update(str(tuple(w.shape)).encode())
            digest.update(np.ascontiguousarray(keras.ops.convert_to_numpy(w)).tobytes())
        _KEYS[model] = digest.hexdigest()[:32]
    return f"{stage}-{_KEYS[model]}"


class _TFLiteStage:
    """A stage converted to a dynamic-shape float32 TFLite model (cached on disk)."""

    def __init__(self, model, method):
        channels = _stages(model).get(method, 3)
        path = cache_path(model, method)
        if not os.path.isfile(path):
            logging.info("converting the %s stage to TFLite for XNNPACK (once): %s", method, path)
            content = litert.convert_function(
                model, _body(model, method), [1, None, None, channels]
            )
            os.makedirs(os.path.dirname(path), exist_ok=True)
            atomic.write_bytes(path, content)
        self.model = litert.TFLiteModel(path)

    def __call__(self, batch):
        return self.model(np.asarray(batch, np.float32))
