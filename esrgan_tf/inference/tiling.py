"""Tiled inference: super-resolve an image of any size with bounded memory.

`tile_upscale(model, image, scale, Tiling(...))` cuts the LR image into tiles, runs the
model on each with `tile_pad` pixels of context, and keeps only each tile's own output.
`Tiling` is the one owner of the tiling parameters of every command (upscale, evaluate,
interpolate).
"""

import dataclasses
import weakref

import numpy as np
import tensorflow as tf
from tqdm import tqdm

from esrgan_tf.inference.saved_models import SavedModelGenerator


@dataclasses.dataclass(frozen=True)
class Tiling:
    """How an image is cut for inference (all sizes in LR pixels).

    Attributes:
        tile: tile size; an image no larger than this goes through in one call.
        tile_pad: context around every tile (exact when >= the generator's receptive-field
            radius).
        tiles_per_call: tiles stacked into one generator call (memory ~ tiles_per_call *
            (tile + 2 tile_pad)^2).
    """

    tile: int = 256
    tile_pad: int = 16
    tiles_per_call: int = 4

    def __post_init__(self):
        if self.tile < 1 or self.tile_pad < 0 or self.tiles_per_call < 1:
            raise ValueError(
                f"need tile >= 1, tile_pad >= 0, tiles_per_call >= 1; got "
                f"tile={self.tile}, tile_pad={self.tile_pad}, "
                f"tiles_per_call={self.tiles_per_call}"
            )


_TRACED = weakref.WeakKeyDictionary()  # model -> tf.function: one trace per model, any shape


def _traced(model):
    if isinstance(model, SavedModelGenerator):
        return model  # already a graph; it splits batches to the export's pixel limit
    if model not in _TRACED:
        ref = weakref.ref(model)  # a strong reference in the value would keep the key alive
        _TRACED[model] = tf.function(
            lambda x: ref()(x), input_signature=[tf.TensorSpec([None, None, None, 3], tf.float32)]
        )
    return _TRACED[model]


def _windows(size, tile, pad):
    """(core_start, core_end, window_start) along one axis; every window has the same length.

    Instead of padding edge tiles (reflect/edge padding would put invented pixels next to
    the image border, where the untiled model sees its own zero padding), an edge window is
    shifted inwards: it stays inside the image, so the border tiles are exact too.
    """
    length = min(tile + 2 * pad, size)
    return [
        (start, min(start + tile, size), min(max(start - pad, 0), size - length))
        for start in range(0, size, tile)
    ], length


def tile_upscale(model, image, scale, tiling=Tiling(), progress=False):
    """Super-resolves an image tile by tile with bounded memory.

    Each `tile` x `tile` part of the LR image goes through the model with at least
    `tile_pad` pixels of context on every side that is not the image border, and only the
    output of the part itself is kept. For a convolutional net this equals the untiled
    output when `tile_pad` is at least the receptive-field radius (in LR pixels); with
    `tile` >= the image size it is a single untiled call. Peak memory ~ tiles_per_call *
    (tile + 2 tile_pad)^2 inputs.

    Args:
        model: callable NHWC float32 -> N(H*scale)(W*scale)3, e.g. a generator.
        image: HxWx3 float array in [0, 1].
        scale: the model's upscaling factor (checked against its output).
        tiling: a `Tiling`.
        progress: a progress bar over the tiles (for large images).
    Returns:
        (H*scale) x (W*scale) x 3 float32, not clipped.
    """
    image = np.asarray(image, np.float32)
    if image.ndim != 3 or image.shape[2] != 3 or 0 in image.shape:
        raise ValueError(f"expected a non-empty HxWx3 image, got shape {image.shape}")
    h, w = image.shape[:2]
    rows, win_h = _windows(h, tiling.tile, tiling.tile_pad)
    cols, win_w = _windows(w, tiling.tile, tiling.tile_pad)
    tiles = [(r, c) for r in rows for c in cols]
    output = np.empty((h * scale, w * scale, 3), np.float32)
    call = _traced(model)
    per_call = tiling.tiles_per_call
    starts = range(0, len(tiles), per_call)
    for first in tqdm(
        starts, desc="tiles", unit="batch", leave=False, disable=not progress or len(starts) < 2
    ):
        batch = tiles[first : first + per_call]
        windows = np.stack(
            [image[wy : wy + win_h, wx : wx + win_w] for (_, _, wy), (_, _, wx) in batch]
        )
        result = np.asarray(call(tf.constant(windows)))
        if result.shape[1:] != (win_h * scale, win_w * scale, 3):
            raise ValueError(
                f"the model maps {windows.shape[1:]} to {result.shape[1:]}, "
                f"not x{scale} RGB: wrong scale for these weights?"
            )
        for sr, ((y0, y1, wy), (x0, x1, wx)) in zip(result, batch):
            output[y0 * scale : y1 * scale, x0 * scale : x1 * scale] = sr[
                (y0 - wy) * scale : (y1 - wy) * scale, (x0 - wx) * scale : (x1 - wx) * scale
            ]
    return output
