"""Tiled inference: images of any size with bounded memory, equal to the untiled output.

`tile_upscale(model, image, scale, Tiling(...))` gives what one call of the model on the whole
image gives, to within 1/255 for the trained models, with at most `max_memory` bytes of
activations per call. What it needs to know about the model comes from its descriptor
(`esrgan_tf.models.descriptor`):

* Context. A tile is computed from a window with `tile_pad` LR pixels of context on every side
  that is not the image border, and only the tile's own output is kept. The context needed is
  the distance beyond which input pixels no longer move the output by 1/255
  (`Descriptor.context`: a receptive field, or for RRDBNet the effective field measured on
  trained weights).
* Budget. The tile size follows from `max_memory` and the model's activation bytes per pixel
  on the runtime that runs it (`Descriptor.bytes_per_pixel`); an image whose whole window
  fits is not tiled at all.
* Plan. Each axis is cut into the fewest equal tiles whose windows fit (a 480-px side that
  needs two tiles gets two 240-px tiles, each padded on its inner side only), choosing the
  rows x columns split with the least padded area.
* Stages. A model whose descriptor has stages (RRDBNet: its LR trunk, which does most of the
  work and needs all of the context, and its HR tail, which needs most of the memory but
  almost no context) runs, when the image does not fit whole, stage by stage over the whole
  image: big trunk tiles with the full context, small tail tiles with almost none, instead of
  one compromise.
"""

import dataclasses

from absl import logging
import numpy as np
import tensorflow as tf
from tqdm import tqdm

from esrgan_tf.inference import runtimes
from esrgan_tf.inference.config import Tiling
from esrgan_tf.models.descriptor import Stage


def descriptor(model):
    """The model's `Descriptor`, or None for a plain callable."""
    return getattr(model, "descriptor", None)


def context(model):
    """LR pixels of context that one tile of `model` needs, or None when unknown."""
    d = descriptor(model)
    return None if d is None else d.context


def bytes_per_pixel(model, runtime="tf"):
    """Peak activation bytes per LR pixel of one call of `model` on `runtime`, or None."""
    d = descriptor(model)
    return None if d is None else d.bytes_per_pixel.get(runtime)


@dataclasses.dataclass(frozen=True)
class _Pass:
    """A stage as tiling runs it: its callable, and the float32 one for windows that half
    precision spoilt (`spoilt`)."""

    stage: object
    fn: object
    fallback: object = None


def _passes(model, d, runtime, fallback, pad=None):
    """The `_Pass`es of `model`'s stages on `runtime` (the first one's context `pad` when
    given)."""
    passes = []
    for i, stage in enumerate(d.stages):
        if i == 0 and pad is not None:
            stage = dataclasses.replace(stage, context=pad)
        passes.append(
            _Pass(
                stage,
                runtimes.function(model, stage.method, runtime),
                fallback and runtimes.function(fallback, stage.method),
            )
        )
    return passes


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


def _run(step, image, rows, cols, tiles_per_call, progress):
    """Runs a `_Pass` over the plan; returns its output for the whole image."""
    stage = step.stage
    h, w = image.shape[:2]
    out = np.empty(
        (h * stage.num // stage.den, w * stage.num // stage.den, stage.out_channels), np.float32
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
        result = np.array(step.fn(tf.constant(batch)), np.float32)
        if step.fallback is not None:
            bad = spoilt(result, batch, stage.image_out)
            if bad.any():
                logging.warning(
                    "%d tile(s) came out non-finite or collapsed in half precision; "
                    "recomputed in float32",
                    int(bad.sum()),
                )
                result[bad] = np.asarray(step.fallback(tf.constant(batch[bad])), np.float32)
        (r0, c0), shape = group[0]
        expected = (scale(shape[0]), scale(shape[1]), stage.out_channels)
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


def choose_runtime(model, runtime, pixels, tiling=Tiling()):
    """The runtime that runs `model` on an image of `pixels` LR pixels (`runtimes.choose`),
    where auto also stays with tf when LiteRT, which needs several times TensorFlow's memory
    per pixel, would have to tile an image that TensorFlow runs whole: the extra, smaller
    tiles (each with its context) cost more than XNNPACK saves."""
    chosen = runtimes.choose(runtime, model, pixels)
    if runtime == "auto" and chosen == "tflite":
        tflite_bytes = bytes_per_pixel(model, "tflite")
        if tflite_bytes and pixels > _window_pixels(tiling, tflite_bytes):
            return "tf"
    return chosen


def tile_upscale(model, image, scale, tiling=Tiling(), progress=False, fallback=None, runtime="tf"):
    """Super-resolves an image tile by tile with bounded memory (see the module docstring).

    Args:
        model: a generator, an exported `SavedModelGenerator` (anything with a `descriptor`),
            or any callable NHWC float32 -> N(H*scale)(W*scale)3 (then `tiling.tile_pad` must
            be given).
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
    d = descriptor(model)
    h, w = image.shape[:2]
    pad = tiling.tile_pad if tiling.tile_pad >= 0 else context(model)
    align = d.size_multiple if d is not None else 1
    # A pixel-unshuffle model needs H and W in multiples of its factor: mirror the edge
    # rows / columns in (as Real-ESRGAN does) and crop the output.
    extra_h, extra_w = -h % align, -w % align
    if extra_h or extra_w:
        image = np.pad(image, ((0, extra_h), (0, extra_w), (0, 0)), mode="reflect")
    height, width = image.shape[:2]

    runtime = choose_runtime(model, runtime, height * width, tiling)
    per_pixel = bytes_per_pixel(model, runtime)
    max_window = _window_pixels(tiling, per_pixel)
    if d is not None and d.max_call_pixels:  # an export's request limit bounds a call
        max_window = d.max_call_pixels // tiling.tiles_per_call
    fits = height * width <= max_window and (not tiling.tile or max(height, width) <= tiling.tile)
    if pad is None:  # a plain callable: fine untiled, but tiles need to know its context
        if not fits:
            raise ValueError("this model's context is unknown: give Tiling(tile_pad=...)")
        pad = 0
    # On TFLite a staged model always runs as its stages: one conversion serves every image.
    if d is None or not d.stages or (fits and runtime != "tflite"):
        whole = (
            dataclasses.replace(d.whole(), context=pad)
            if d is not None
            else Stage("call", 3, 3, scale, 1, pad, {})
        )
        step = _Pass(
            whole,
            runtimes.function(model, "call", runtime),
            fallback and runtimes.function(fallback),
        )
        rows, cols = plan(height, width, pad, max_window, align, tiling.tile)
        return _run(step, image, rows, cols, tiling.tiles_per_call, progress)[
            : h * scale, : w * scale
        ]
    # A given context is the first stage's.
    given = tiling.tile_pad if tiling.tile_pad >= 0 else None
    out = image
    for i, step in enumerate(_passes(model, d, runtime, fallback, given)):
        window = _window_pixels(tiling, step.stage.bytes_per_pixel[runtime])
        if i == 0:
            rows, cols = plan(height, width, step.stage.context, window, align, tiling.tile)
        else:
            rows, cols = plan(out.shape[0], out.shape[1], step.stage.context, window)
        out = _run(step, out, rows, cols, tiling.tiles_per_call, progress)
    return out[: h * scale, : w * scale]
