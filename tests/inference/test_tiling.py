"""Tiled inference: every output pixel from its own tile, tiled == untiled with context."""

import numpy as np
import pytest
import tensorflow as tf

from esrgan_tf.inference import tiling as tiling_lib
from esrgan_tf.inference.config import Tiling
from esrgan_tf.inference.tiling import tile_upscale
from esrgan_tf.models.rrdbnet import RRDBNet


def nearest(scale):
    """A 'generator' that repeats pixels: its output position tells which input it came from."""
    return lambda x: tf.repeat(tf.repeat(x, scale, axis=1), scale, axis=2)


def nearest_with_bad_border(scale):
    """Nearest upsampling that corrupts the outer input pixel of whatever window it gets.

    Receptive-field radius 1: with pad >= 1 tiling must equal the untiled call exactly, which
    only holds if every window's context (padding) part is thrown away.
    """

    def call(x):
        shape = tf.shape(x)
        inner = tf.pad(tf.ones(shape - [0, 2, 2, 0]), [[0, 0], [1, 1], [1, 1], [0, 0]])
        return nearest(scale)(x + 100.0 * (1.0 - inner))

    return call


@pytest.fixture(scope="module")
def rrdbnet(make_generator, tiny_model):
    return make_generator(tiny_model, seed=1)


def random_image(h, w, seed=0):
    return np.random.default_rng(seed).random((h, w, 3), dtype=np.float32)


def test_tiled_equals_untiled_rrdbnet(rrdbnet):
    image = random_image(40, 52)
    untiled = rrdbnet(image[None]).numpy()[0]
    assert untiled.shape == (160, 208, 3)
    # Fits the default budget: one call, exactly the untiled output.
    np.testing.assert_array_equal(tile_upscale(rrdbnet, image, 4), untiled)
    # Forced into tiles (both stages), with the architecture's own context.
    tiled = tile_upscale(rrdbnet, image, 4, Tiling(tile=16, tiles_per_call=2))
    assert np.abs(tiled - untiled).max() < 1 / 255
    # pad >= the receptive-field radius (conv_first + 15 RRDB convs + conv_body < 19 LR px
    # for the trunk): equal up to float round-off.
    exact = tile_upscale(rrdbnet, image, 4, Tiling(tile=16, tile_pad=19, tiles_per_call=3))
    np.testing.assert_allclose(exact, untiled, atol=1e-5)
    # Too little context must show: the test can fail.
    assert (
        np.abs(tile_upscale(rrdbnet, image, 4, Tiling(tile=8, tile_pad=0)) - untiled).max() > 1e-3
    )


def test_a_small_budget_tiles_in_two_stages(rrdbnet):
    image = random_image(40, 52)
    untiled = rrdbnet(image[None]).numpy()[0]
    # 0.3 MB: the full model's window would be a few hundred pixels, the trunk's far more.
    tiled = tile_upscale(rrdbnet, image, 4, Tiling(max_memory=300_000))
    assert np.abs(tiled - untiled).max() < 1 / 255
    assert tiling_lib.bytes_per_pixel(rrdbnet) * 40 * 52 > 300_000  # it did not fit whole


@pytest.mark.parametrize(
    "tile,pad,per_call", [(1, 0, 1), (5, 0, 3), (7, 2, 2), (16, 3, 4), (11, 30, 5), (64, 1, 1)]
)
def test_every_output_pixel_comes_from_its_own_tile_centre(tile, pad, per_call):
    # Position-coded input: a misplaced or missing tile changes the output.
    h, w = 13, 18
    yy, xx = np.meshgrid(np.arange(h), np.arange(w), indexing="ij")
    image = np.stack([yy / h, xx / w, random_image(h, w)[..., 0]], axis=-1).astype(np.float32)
    tiling = Tiling(tile=tile, tile_pad=pad, tiles_per_call=per_call)
    out = tile_upscale(nearest(3), image, 3, tiling)
    np.testing.assert_array_equal(out, np.repeat(np.repeat(image, 3, 0), 3, 1))
    if pad >= 1:
        model = nearest_with_bad_border(3)
        untiled = model(image[None]).numpy()[0]
        np.testing.assert_array_equal(tile_upscale(model, image, 3, tiling), untiled)


def test_plans_cover_with_the_least_padding():
    # A 480x320 image that needs two tiles: two 240-wide tiles, padded on the inner side.
    rows, cols = tiling_lib.plan(320, 480, 16, max_window_pixels=320 * 260)
    assert rows == [(0, 320, 0, 320)]
    assert cols == [(0, 240, 0, 256), (240, 480, 224, 480)]
    # Fits whole: no tiling.
    assert tiling_lib.plan(320, 480, 16, 320 * 480) == ([(0, 320, 0, 320)], [(0, 480, 0, 480)])
    # Every plan covers the image exactly once, windows fit, cores align.
    for h, w, pad, limit, align in [
        (2000, 2000, 64, 700_000, 1),
        (97, 131, 8, 2000, 1),
        (96, 128, 10, 3000, 2),
    ]:
        rows, cols = tiling_lib.plan(h, w, pad, limit, align)
        for axis, size in ((rows, h), (cols, w)):
            assert [a for a, *_ in axis][0] == 0 and axis[-1][1] == size
            assert all(axis[i][1] == axis[i + 1][0] for i in range(len(axis) - 1))
            assert all(a % align == 0 and ws == max(a - pad, 0) for a, _, ws, _ in axis)
        tallest = max(we - ws for *_, ws, we in rows)
        assert tallest * max(we - ws for *_, ws, we in cols) <= limit
    with pytest.raises(ValueError, match="raise --max_memory"):
        tiling_lib.plan(100, 100, 20, 1000)


@pytest.mark.slow
def test_two_stage_overhead_on_a_2000_pixel_photo_is_small():
    """The issue's target: tiling costs <= 1.3x the untiled compute for 2000x2000 at the
    defaults with the full-size RRDBNet x4 (the trunk is 92 % of its FLOPs)."""
    trunk, tail = RRDBNet().descriptor.stages
    budget = Tiling().max_memory
    rows, cols = tiling_lib.plan(2000, 2000, trunk.context, budget // trunk.bytes_per_pixel["tf"])
    trunk_ratio = tiling_lib.padded_area(rows, cols) / 2000**2
    rows, cols = tiling_lib.plan(2000, 2000, tail.context, budget // tail.bytes_per_pixel["tf"])
    tail_ratio = tiling_lib.padded_area(rows, cols) / 2000**2
    assert trunk.context == 64 and 0.92 * trunk_ratio + 0.08 * tail_ratio <= 1.3


def test_bad_arguments():
    with pytest.raises(ValueError, match="tile"):
        Tiling(tile=-1)
    with pytest.raises(ValueError, match="tiles_per_call"):
        Tiling(tiles_per_call=0)
    with pytest.raises(ValueError, match="wrong scale"):
        tile_upscale(nearest(2), random_image(4, 4), 4, Tiling(tile_pad=0))
    # A plain callable runs untiled without a context, but tiles need one.
    assert tile_upscale(nearest(2), random_image(4, 4), 2).shape == (8, 8, 3)
    with pytest.raises(ValueError, match="context is unknown"):
        tile_upscale(nearest(2), random_image(4, 4), 2, Tiling(tile=2))


def test_litert_budget_is_its_measured_memory_and_auto_keeps_tf_where_it_would_tile(rrdbnet):
    # LiteRT's arena per LR pixel, measured with ai-edge-litert (peak RSS) on the 23-block
    # x4plus graphs: trunk 27.4 KB, tail 19.4 KB (docs/benchmarks.md). The budget must not be
    # below it (a 2000x2000 upscale planned with TF's 1.5 KB took 24 GB on its first tile).
    full = RRDBNet(num_feat=64, num_block=23, num_grow_ch=32, scale=4)
    trunk, tail = full.descriptor.stages
    assert trunk.bytes_per_pixel["tflite"] >= 27_400 and tail.bytes_per_pixel["tflite"] >= 19_400
    assert tiling_lib.bytes_per_pixel(full, "tflite") > 2 * tiling_lib.bytes_per_pixel(full)

    tf_bytes = tiling_lib.bytes_per_pixel(rrdbnet)
    tflite_bytes = tiling_lib.bytes_per_pixel(rrdbnet, "tflite")
    assert tflite_bytes > tf_bytes
    # A big image (auto's choice is LiteRT) with room for one TF call, not for one LiteRT
    # call: auto stays with tf, which runs it whole.
    pixels = 1_000_000
    budget = Tiling(max_memory=pixels * (tf_bytes + tflite_bytes) // 2)
    assert tiling_lib.choose_runtime(rrdbnet, "auto", pixels, budget) == "tf"
    assert tiling_lib.choose_runtime(rrdbnet, "auto", pixels, Tiling(max_memory=2**40)) == "tflite"
    # Asked for by name, LiteRT runs, with its own smaller tiles.
    assert tiling_lib.choose_runtime(rrdbnet, "tflite", pixels, budget) == "tflite"
