"""Tiled inference: every output pixel from its own tile, tiled == untiled with context."""

import numpy as np
import pytest
import tensorflow as tf

from esrgan_tf.inference.tiling import Tiling, tile_upscale


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
    np.testing.assert_array_equal(tile_upscale(rrdbnet, image, 4, Tiling(tile=64)), untiled)
    tiled = tile_upscale(rrdbnet, image, 4, Tiling(tile=16, tile_pad=8, tiles_per_call=4))
    assert np.abs(tiled - untiled).max() < 1 / 255
    # pad >= the receptive-field radius (conv_first + 15 RRDB convs + conv_body + the HR
    # convs < 19 LR px): equal up to float round-off.
    exact = tile_upscale(rrdbnet, image, 4, Tiling(tile=16, tile_pad=19, tiles_per_call=3))
    np.testing.assert_allclose(exact, untiled, atol=1e-5)
    # Too little context must show: the test can fail.
    assert (
        np.abs(tile_upscale(rrdbnet, image, 4, Tiling(tile=8, tile_pad=0)) - untiled).max() > 1e-3
    )


@pytest.mark.parametrize(
    "tile,pad,batch_size", [(1, 0, 1), (5, 0, 3), (7, 2, 2), (16, 3, 4), (11, 30, 5), (64, 1, 1)]
)
def test_every_output_pixel_comes_from_its_own_tile_centre(tile, pad, batch_size):
    # Position-coded input: a misplaced or missing tile changes the output.
    h, w = 13, 18
    yy, xx = np.meshgrid(np.arange(h), np.arange(w), indexing="ij")
    image = np.stack([yy / h, xx / w, random_image(h, w)[..., 0]], axis=-1).astype(np.float32)
    tiling = Tiling(tile, pad, batch_size)
    out = tile_upscale(nearest(3), image, 3, tiling)
    np.testing.assert_array_equal(out, np.repeat(np.repeat(image, 3, 0), 3, 1))
    if pad >= 1:
        model = nearest_with_bad_border(3)
        untiled = model(image[None]).numpy()[0]
        np.testing.assert_array_equal(tile_upscale(model, image, 3, tiling), untiled)


def test_bad_arguments():
    with pytest.raises(ValueError, match="tile"):
        Tiling(tile=0)
    with pytest.raises(ValueError, match="tiles_per_call"):
        Tiling(tiles_per_call=0)
    with pytest.raises(ValueError, match="wrong scale"):
        tile_upscale(nearest(2), random_image(4, 4), 4)
