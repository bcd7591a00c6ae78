"""esrgan_tf.inference.runtimes: every runtime gives the tf output through the same tiling
plan; the auto policy; the conversion cache."""

import gc
import os

import numpy as np
import pytest
import tensorflow as tf

from esrgan_tf.inference import runtimes
from esrgan_tf.inference.config import Tiling
from esrgan_tf.inference.tiling import tile_upscale
from esrgan_tf.models.builders import cast_generator
from esrgan_tf.models.config import ModelConfig

COMPACT = ModelConfig(generator="srvgg", num_feat=8, num_conv=2, scale=4)


@pytest.fixture
def image():
    return np.random.default_rng(0).random((30, 26, 3), dtype=np.float32)


@pytest.mark.slow
@pytest.mark.parametrize(
    "config, runtime", [("rrdbnet", "tflite"), ("srvgg", "tflite"), ("srvgg", "xla")]
)
def test_runtimes_match_tf_tiled_and_whole(config, runtime, image, tiny_model, make_generator):
    model = make_generator(tiny_model if config == "rrdbnet" else COMPACT, seed=3)
    # Small tiles: several trunk and tail windows for RRDBNet, several tiles for SRVGG.
    tiled = Tiling(tile=16, tile_pad=10)
    expected = tile_upscale(model, image, 4, tiled)
    got = tile_upscale(model, image, 4, tiled, runtime=runtime)
    # The export's float32 TFLite tolerance (deploy.export.TOLERANCES): 1e-4.
    np.testing.assert_allclose(got, expected, atol=1e-4)
    # And the untiled model's own output.
    whole = np.asarray(model(tf.constant(image[None])))[0]
    np.testing.assert_allclose(tile_upscale(model, image, 4, runtime=runtime), whole, atol=1e-4)


@pytest.mark.slow
def test_auto_takes_tflite_for_big_images_or_once_converted(make_generator):
    model = make_generator(COMPACT, seed=4)
    small, big = 100 * 100, runtimes.AUTO_TFLITE_PIXELS
    assert runtimes.choose("auto", model, small) == "tf"
    assert runtimes.choose("auto", model, big) == "tflite"
    assert runtimes.choose("auto", model) == "tflite"  # size unknown
    assert runtimes.choose("xla", model, small) == "xla"
    tile_upscale(model, np.zeros((8, 8, 3), np.float32), 4, runtime="tflite")  # converts
    assert runtimes.is_cached(model)
    assert runtimes.choose("auto", model, small) == "tflite"
    # Half precision and exports (plain callables) stay with tf.
    half = cast_generator(model, COMPACT, "bf16")
    assert runtimes.choose("auto", half, big) == "tf"
    assert runtimes.choose("auto", lambda x: x, big) == "tf"
    with pytest.raises(ValueError, match="runtime must be one of"):
        runtimes.choose("onnx", model)


def test_conversion_is_cached_per_weights(tiny_model, make_generator):
    model = make_generator(COMPACT, seed=3)
    runtimes.function(model, "call", "tflite")
    path = runtimes.cache_path(model, "call")
    assert os.path.isfile(path) and path.startswith(os.environ["ESRGAN_TF_CACHE"])
    written = os.stat(path).st_mtime_ns, os.stat(path).st_ino
    # The same weights in another model object: read from the cache, not converted again
    # (a conversion would write the file anew).
    twin = make_generator(COMPACT, seed=3)
    runtimes.function(twin, "call", "tflite")
    assert (os.stat(path).st_mtime_ns, os.stat(path).st_ino) == written
    # Other weights: another file.
    other = make_generator(COMPACT, seed=8)
    assert runtimes.cache_path(other, "call") != path


def test_tf_runtime_first_small_call_and_the_traced_ones_agree(tiny_model, make_generator):
    # A first small call runs eagerly (a command that upscales one small photo skips the
    # trace), the others through the traced function: the same numbers either way.
    model = make_generator(tiny_model, seed=5)
    fn = runtimes.function(model, "call", "tf")
    small = tf.random.stateless_uniform([1, 12, 10, 3], [1, 2])
    first, again = fn(small), fn(small)
    np.testing.assert_allclose(first.numpy(), again.numpy(), atol=1e-6)
    big = tf.random.stateless_uniform([1, 300, 260, 3], [3, 4])  # more than EAGER_FIRST_PIXELS
    fresh = runtimes.function(make_generator(tiny_model, seed=5), "call", "tf")
    gc.collect()  # nothing but `fresh` holds that model now
    np.testing.assert_allclose(fresh(big).numpy(), model(big).numpy(), atol=1e-5)
