"""Tiled inference: images of any size with bounded memory, equal to the untiled output.

`tile_upscale(model, image, scale, Tiling(...))` gives what one call of the model on the whole
image gives, to within 1/255 for the trained models, with at most `max_memory` bytes of
activations per call:

* Context. A tile is computed from a window with `tile_pad` LR pixels of context on every side
  that is not the image border, and only the tile's own output is kept. The context needed is
  the distance beyond which input pixels no longer move the output by 1/255: for
  SRVGGNetCompact its exact receptive field (num_conv + 2: nothing farther has any effect);
  for RRDBNet, whose receptive field (15 px per RRDB) is far wider than its effective one, the
  effective field measured on the Real-ESRGAN release's trained weights (`RRDB_CONTEXT`, kept
  true by tests/inference/test_tiling_trained.py); for SRResNet its receptive field.
* Budget. The tile size follows from `max_memory` and the model's activation bytes per
  pixel (`bytes_per_pixel`, measured peaks with a margin); an image whose whole window fits
  is not tiled at all.
* Plan. Each axis is cut into the fewest equal tiles whose windows fit (a 480-px side that
  needs two tiles gets two 240-px tiles, each padded on its inner side only), choosing the
  rows x columns split with the least padded area.
* Two stages. RRDBNet spends 92 % of its work, and needs all of its context, in the
  LR-resolution trunk, while its HR tail (two x2 stages, conv_hr, conv_last) takes 8 KB of
  activations per LR pixel but sees only 1.25 LR pixels around it. So when the image does not
  fit whole, the trunk runs tiled over the whole image first (its features take 256 bytes per
  LR pixel), then the tail over the features with 2 pixels of context: big trunk tiles with
  the full context, small tail tiles with almost none, instead of one compromise.

`Tiling` is the one owner of the tiling parameters of every command (upscale, evaluate,
interpolate).
"""

import dataclasses
import math

from absl import logging
import numpy as np
import tensorflow as tf
from tqdm import tqdm

from esrgan_tf.inference import runtimes
from esrgan_tf.inference.saved_models import SavedModelGenerator
from esrgan_tf.models.rrdbnet import RRDBNet
from esrgan_tf.models.srresnet import SRResNet
from esrgan_tf.models.srvgg import SRVGGNetCompact

# 2 GiB of activations per model call: a 480x320 photo goes through the full-size RRDBNet x4
# in one call, and an 8 GB machine keeps room for the image, the output and TensorFlow.
DEFAULT_MAX_MEMORY = 2 * 2**30
# LR context (pixels) that keeps tiled RRDBNet within 1/255 of untiled, measured on the
# Real-ESRGAN release's weights (realesrgan-x4plus-anime: 6 RRDBs; realesrgan-x4plus: 23) on
# crops of scikit-image photos, 40-px tiles (python -m benchmarks.receptive_field). Other depths
# are interpolated linearly in the number of blocks, never beyond the receptive field.
RRDB_CONTEXT = {6: 48, 23: 64}
# Context of the HR tail of a two-stage RRDBNet, in feature (trunk) pixels: the x2 stages'
# convs, conv_hr and conv_last reach 0.5 + 0.25 * 3 = 1.25 LR pixels at x4.
TAIL_CONTEXT = 2


@dataclasses.dataclass(frozen=True)
class Tiling:
    """How an image is cut for inference (sizes in LR pixels).

    Attributes:
        max_memory: bytes of activations allowed per model call; the tile size follows.
        tile: an upper limit on the tile size (0: only `max_memory` limits it).
        tile_pad: context around every tile; -1 takes the model's (see the module
            docstring), and plain callables need it given.
        tiles_per_call: equal-sized tiles stacked into one call (they share the budget).
    """

    max_memory: int = DEFAULT_MAX_MEMORY
    tile: int = 0
    tile_pad: int = -1
    tiles_per_call: int = 1

    def __post_init__(self):
        if self.max_memory < 1 or self.tile < 0 or self.tile_pad < -1 or self.tiles_per_call < 1:
            raise ValueError(
                "need max_memory >= 1, tile >= 0 (0 = from max_memory), tile_pad >= -1 "
                f"(-1 = from the model) and tiles_per_call >= 1; got {self}"
            )


# ---------------------------------------------------------------------------------------
# What the architecture needs
# ---------------------------------------------------------------------------------------


def rrdb_context(num_block):
    """LR context of an RRDBNet of `num_block` RRDBs (trunk + tail), see `RRDB_CONTEXT`."""
    (b0, c0), (b1, c1) = sorted(RRDB_CONTEXT.items())
    measured = c0 + (c1 - c0) * (num_block - b0) / (b1 - b0)
    receptive_field = 15 * num_block + 2 + TAIL_CONTEXT
    return int(min(math.ceil(measured), receptive_field))


def context(model):
    """LR pixels of context that one tile of `model` needs (module docstring), or None."""
    if isinstance(model, SavedModelGenerator):
        return model_config_context(model.model_config) if model.model_config else None
    if isinstance(model, SRVGGNetCompact):
        return model.num_conv + 2  # its receptive field: conv_first, the body, conv_last
    if isinstance(model, RRDBNet):
        stride = 4 // model.scale if model.unshuffle else 1
        return rrdb_context(model.num_block) * stride
    if isinstance(model, SRResNet):
        # 9x9 convs at both ends, two 3x3 per residual block, conv_body, the sub-pixel convs.
        return 4 + 2 * model.num_block + 1 + len(model.upsamplers.layers) + 4
    return None


def model_config_context(config):
    """`context` from a ModelConfig (for models known only by their config)."""
    if config.generator == "srvgg":
        return config.num_conv + 2
    if config.generator == "rrdbnet":
        return rrdb_context(config.num_block) * (4 // config.scale if config.unshuffle else 1)
    return 4 + 2 * config.num_block + 1 + 3 + 4


def input_multiple(model):
    """H and W of the model's input must be multiples of this (pixel-unshuffle models)."""
    if isinstance(model, RRDBNet) and model.unshuffle:
        return 4 // model.scale
    return 1


def bytes_per_pixel(model, runtime="tf"):
    """Peak activation bytes per LR pixel of one call of `model` (measured peaks of the
    full-size RRDBNet x4: 8.8 KB; SRVGGNetCompact: 1 KB; with a margin), or None.

    On "tflite" LiteRT's arena keeps much more of the graph live, so a call holds more per
    pixel (measured 2026-12-01 with ai-edge-litert, marginal peak RSS per LR pixel: the
    23-block RRDBNet's trunk 27 KB and tail 19 KB, the 16-conv SRVGGNetCompact 2.2 KB;
    `_tflite_bytes_per_pixel`, with a margin). Unbounded by these, the first 1000x1000 tile
    of a 2000x2000 x4 upscale took 24 GB and was killed.
    """
    if runtime == "tflite":
        return _tflite_bytes_per_pixel(model)
    if isinstance(model, RRDBNet):
        # At the HR end: about three live feature maps of num_feat channels at scale^2.
        return 3 * 4 * model.num_feat * 16  # the tail always ends at x4 resolution
    if isinstance(model, SRVGGNetCompact):
        return 4 * (3 * model.num_feat + 2 * 3 * model.scale**2)
    if isinstance(model, SRResNet):
        return 3 * 4 * model.num_feat * model.scale**2
    return None


def _tflite_trunk_bytes(model):
    # Every dense block's input and growth channels stay live: 35 KB for 23 blocks of
    # 64 features and growth 32 (27 KB measured).
    return 4 * 3 * model.num_block * (model.num_feat + 2 * model.num_grow_ch)


def _tflite_tail_bytes(model, factor):
    # Per input pixel of the tail, which ends at `factor`^2 its size (19 KB measured at 64
    # features, x4).
    return 5 * 4 * model.num_feat * factor**2


def _tflite_bytes_per_pixel(model):
    if isinstance(model, RRDBNet):  # on TFLite always its two stages: the larger one
        return max(_tflite_trunk_bytes(model), _tflite_tail_bytes(model, 4))
    if isinstance(model, SRVGGNetCompact):  # 3.4 KB for 16 convs of 64 (2.2 KB measured)
        return 4 * model.num_feat * (model.num_conv // 2 + 1) + bytes_per_pixel(model)
    tf_bytes = bytes_per_pixel(model)
    return None if tf_bytes is None else 4 * tf_bytes


@dataclasses.dataclass(frozen=True)
class _Stage:
    """One pass of tiling: `fn` maps a window to its output at `num`/`den` of its size."""

    fn: object
    num: int
    den: int
    pad: int
    bytes_per_pixel: int
    channels: int
    # The same pass in float32, for windows that half precision spoilt (`spoilt`).
    fallback: object = None
    # The pass makes the final image (a collapsed output can only be told there).
    image_out: bool = True


def _two_stages(model, scale, fallback=None, runtime="tf"):
    """(trunk stage, tail stage) of an RRDBNet, or None for models without the split."""
    if not isinstance(model, RRDBNet):
        return None
    stride = 4 // scale if model.unshuffle else 1
    nf = model.num_feat
    factor = scale * stride  # the tail's output / input size
    if runtime == "tflite":
        trunk_bytes, tail_bytes = _tflite_trunk_bytes(model), _tflite_tail_bytes(model, factor)
    else:
        # The dense blocks' concatenations, about (4 nf + 4 growth) channels live; at the
        # tail's end, about three feature maps of nf channels.
        trunk_bytes, tail_bytes = 4 * (4 * nf + 4 * model.num_grow_ch), 3 * 4 * nf * factor**2
    trunk = _Stage(
        runtimes.function(model, "features", runtime),
        1,
        stride,
        rrdb_context(model.num_block) * stride,
        trunk_bytes // (stride * stride),
        nf,
        fallback and runtimes.function(fallback, "features"),
        image_out=False,
    )
    tail = _Stage(
        runtimes.function(model, "reconstruct", runtime),
        factor,
        1,
        TAIL_CONTEXT,
        tail_bytes,
        3,
        fallback and runtimes.function(fallback, "reconstruct"),
    )
    return trunk, tail


# ---------------------------------------------------------------------------------------
# Plans
# ---------------------------------------------------------------------------------------


def _axis(size, count, pad, align):
    """`count` tiles of (nearly) equal size covering [0, size), each with its window.

    Returns [(core_start, core_end, window_start, window_end)]; boundaries are multiples of
    `align` (size must be one), windows clipped to the image: no invented pixels at a border.
    """
    units = size // align
    bounds = [round(i * units / count) * align for i in range(count + 1)]
    return [(a, b, max(a - pad, 0), min(b + pad, size)) for a, b in zip(bounds, bounds[1:])]


def plan(height, width, pad, max_window_pixels, align=1, max_tile=0):
    """(rows, cols) of `_axis` with the least padded area whose largest window has at most
    `max_window_pixels` pixels (and tiles at most `max_tile`, if given).

    For each number of rows the fewest columns that fit is the best (more only add
    padding); rows are added until one column fits, beyond which rows too only add padding.
    """
    best = None
    for n_h in range(1, height // align + 1):
        rows = _axis(height, n_h, pad, align)
        if max_tile and max(b - a for a, b, _, _ in rows) > max_tile:
            continue
        tallest = max(we - ws for _, _, ws, we in rows)
        for n_w in range(1, width // align + 1):
            cols = _axis(width, n_w, pad, align)
            if max_tile and max(b - a for a, b, _, _ in cols) > max_tile:
                continue
            if tallest * max(we - ws for _, _, ws, we in cols) <= max_window_pixels:
                area = padded_area(rows, cols)
                if best is None or area < best[0]:
                    best = (area, rows, cols)
                break
            if tallest * min(width, align + 2 * pad) > max_window_pixels:
                break  # even the narrowest columns do not fit: more rows are needed
        if best is not None and len(best[2]) == 1:
            break
    if best is None:
        raise ValueError(
            f"no tiling of a {width}x{height} image with {pad} px of context fits "
            f"{max_window_pixels} pixels per call: raise --max_memory"
        )
    return best[1], best[2]


def padded_area(rows, cols):
    """Pixels the model computes for a plan (the untiled image: width * height)."""
    return sum(we - ws for _, _, ws, we in rows) * sum(we - ws for _, _, ws, we in cols)


# ---------------------------------------------------------------------------------------
# Running a plan
# ---------------------------------------------------------------------------------------


def spoilt(outputs, inputs, image_out=True):
    """Which outputs of a batch half precision spoilt: non-finite values, or (for images)
    collapsed to a flat or black output where the input tile is not flat (the all-black
    images of fp16 Real-ESRGAN runs)."""
    bad = ~np.all(np.isfinite(outputs.reshape(len(outputs), -1)), axis=1)
    if image_out:
        out_range = np.ptp(outputs.reshape(len(outputs), -1), axis=1)
        in_range = np.ptp(inputs.reshape(len(inputs), -1), axis=1)
        bad |= (out_range < 1.0 / 255.0) & (in_range > 8.0 / 255.0)
    return bad


def _run(stage, image, rows, cols, tiles_per_call, progress):
    """Runs `stage` over the plan; returns its output for the whole image."""
    h, w = image.shape[:2]
    out = np.empty(
        (h * stage.num // stage.den, w * stage.num // stage.den, stage.channels), np.float32
    )
    tiles = [(r, c) for r in rows for c in cols]
    groups, group = [], []
    for tile in tiles:  # consecutive equal-shaped windows share a call
        shape = tuple(x[3] - x[2] for x in tile)
        if group and (len(group) == tiles_per_call or group[0][1] != shape):
            groups.append(group)
            group = []
        group.append((tile, shape))
    groups.append(group)
    scale = lambda v: v * stage.num // stage.den  # noqa: E731
    for group in tqdm(
        groups, desc="tiles", unit="call", leave=False, disable=not progress or len(groups) < 2
    ):
        batch = np.stack([image[r[2] : r[3], c[2] : c[3]] for (r, c), _ in group])
        result = np.array(stage.fn(tf.constant(batch)), np.float32)
        if stage.fallback is not None:
            bad = spoilt(result, batch, stage.image_out)
            if bad.any():
                logging.warning(
                    "%d tile(s) came out non-finite or collapsed in half precision; "
                    "recomputed in float32",
                    int(bad.sum()),
                )
                result[bad] = np.asarray(stage.fallback(tf.constant(batch[bad])), np.float32)
        (r0, c0), shape = group[0]
        expected = (scale(shape[0]), scale(shape[1]), stage.channels)
        if result.shape[1:] != expected:
            raise ValueError(
                f"the model maps {batch.shape[1:]} to {result.shape[1:]}, not {expected}: "
                "wrong scale for these weights?"
            )
        for sr, ((y0, y1, wy, _), (x0, x1, wx, _)) in zip(result, (t for t, _ in group)):
            out[scale(y0) : scale(y1), scale(x0) : scale(x1)] = sr[
                scale(y0 - wy) : scale(y1 - wy), scale(x0 - wx) : scale(x1 - wx)
            ]
    return out


def _window_pixels(tiling, bytes_per_pixel):
    budget = tiling.max_memory // tiling.tiles_per_call
    return max(budget // bytes_per_pixel, 1) if bytes_per_pixel else 2**62


def tile_upscale(model, image, scale, tiling=Tiling(), progress=False, fallback=None, runtime="tf"):
    """Super-resolves an image tile by tile with bounded memory (see the module docstring).

    Args:
        model: a generator, an exported `SavedModelGenerator`, or any callable NHWC float32
            -> N(H*scale)(W*scale)3 (then `tiling.tile_pad` must be given).
        image: HxWx3 float array in [0, 1].
        scale: the model's upscaling factor (checked against its output).
        tiling: a `Tiling`.
        progress: a progress bar over the model calls (for large images).
        fallback: the float32 model of a half-precision `model`: tiles that came out
            non-finite or collapsed (`spoilt`) are recomputed with it, with a warning.
        runtime: what executes the model's calls (`esrgan_tf.inference.runtimes`: "tf",
            "xla", "tflite" or "auto"); the plan is the same for all.
    Returns:
        (H*scale) x (W*scale) x 3 float32, not clipped.
    """
    image = np.asarray(image, np.float32)
    if image.ndim != 3 or image.shape[2] != 3 or 0 in image.shape:
        raise ValueError(f"expected a non-empty HxWx3 image, got shape {image.shape}")
    h, w = image.shape[:2]
    pad = tiling.tile_pad if tiling.tile_pad >= 0 else context(model)
    align = input_multiple(model)
    # A pixel-unshuffle model needs H and W in multiples of its factor: mirror the edge
    # rows / columns in (as Real-ESRGAN does) and crop the output.
    extra_h, extra_w = -h % align, -w % align
    if extra_h or extra_w:
        image = np.pad(image, ((0, extra_h), (0, extra_w), (0, 0)), mode="reflect")
    height, width = image.shape[:2]

    requested = runtime
    runtime = runtimes.choose(runtime, model, height * width)
    if requested == "auto" and runtime == "tflite":
        # LiteRT needs several times TF's memory per pixel: where the image would then not
        # fit one call, its extra, smaller tiles (each with its context) cost more than
        # XNNPACK saves, so auto stays with tf.
        tflite_bytes = bytes_per_pixel(model, "tflite")
        if tflite_bytes and height * width > _window_pixels(tiling, tflite_bytes):
            runtime = "tf"
    per_pixel = bytes_per_pixel(model, runtime)
    max_window = _window_pixels(tiling, per_pixel)
    if isinstance(model, SavedModelGenerator):  # the export's request limit bounds a call
        max_window = model.max_pixels // tiling.tiles_per_call
    stages = _two_stages(model, scale, fallback, runtime)
    fits = height * width <= max_window and (not tiling.tile or max(height, width) <= tiling.tile)
    if pad is None:  # a plain callable: fine untiled, but tiles need to know its context
        if not fits:
            raise ValueError("this model's context is unknown: give Tiling(tile_pad=...)")
        pad = 0
    # On TFLite an RRDBNet always runs as its two stages: one conversion serves every image.
    if stages is None or (fits and runtime != "tflite"):
        single = _Stage(
            runtimes.function(model, "call", runtime),
            scale,
            1,
            pad,
            per_pixel or 0,
            3,
            fallback and runtimes.function(fallback),
        )
        rows, cols = plan(height, width, pad, max_window, align, tiling.tile)
        out = _run(single, image, rows, cols, tiling.tiles_per_call, progress)
    else:
        trunk, tail = stages
        if tiling.tile_pad >= 0:  # a given context is the trunk's
            trunk = dataclasses.replace(trunk, pad=tiling.tile_pad)
        rows, cols = plan(
            height,
            width,
            trunk.pad,
            _window_pixels(tiling, trunk.bytes_per_pixel),
            align,
            tiling.tile,
        )
        features = _run(trunk, image, rows, cols, tiling.tiles_per_call, progress)
        fh, fw = features.shape[:2]
        rows, cols = plan(fh, fw, tail.pad, _window_pixels(tiling, tail.bytes_per_pixel))
        out = _run(tail, features, rows, cols, tiling.tiles_per_call, progress)
    return out[: h * scale, : w * scale]
