"""Upscaling image files with a generator: the library of `python -m esrgan_tf.upscale`.

`run(UpscaleConfig(...))` expands files, folders and globs, super-resolves each file
(`upscale_file`, tiled with `esrgan_tf.inference.tiling`) and writes PNGs; one failing file
is reported and the others still run. Inputs are never overwritten.

Image modes: 8-bit input gives an 8-bit PNG (rounded with `metrics.to_uint8`, so the saved
pixels are the scored ones), 16-bit input a 16-bit PNG. Gray input is replicated to RGB,
goes through the model and is saved as RGB (the model may give slightly different
channels). An alpha channel does not go through the model: it is upscaled by MATLAB bicubic
and re-attached (RGBA PNG). EXIF orientation is applied to colour and alpha alike.
"""

import dataclasses
import glob
import os
import sys

import numpy as np
import tensorflow as tf
from tqdm import tqdm

from esrgan_tf import metrics
from esrgan_tf.config import ModelConfig
from esrgan_tf.data import image_io
from esrgan_tf.data.imresize import imresize
from esrgan_tf.inference import interpolation, weights
from esrgan_tf.inference.tiling import Tiling, tile_upscale

MAX_PIXELS = 50_000_000  # LR pixels: the float32 output alone is 48 * this many bytes at x4.
_GLOB_CHARS = "*?["


@dataclasses.dataclass(frozen=True)
class UpscaleConfig:
    """One `python -m esrgan_tf.upscale` command.

    Attributes:
        weights: `.weights.h5`, training workdir, checkpoint prefix, or an exported
            SavedModel (`esrgan_tf.export`; a Serving base path means its newest version).
        inputs: files, folders (non-recursive) and globs.
        output_dir: where `<stem><suffix>.png` files are written.
        model: the architecture; None takes the workdir's config.json (the defaults,
            ESRGAN's RRDBNet x4, for a .weights.h5).
        suffix: appended to each input's stem; "" means `_x<scale>` of the model.
        tiling: see `esrgan_tf.inference.tiling.Tiling`.
        use_ema: from a training checkpoint, prefer its EMA generator.
        max_pixels: refuse inputs with more LR pixels than this.
        denoise_strength: for Real-ESRGAN's realesr-general-x4v3, blend it with its
            weak-denoise twin (`interpolation.denoise_blend`); None: the model as it is.
        denoise_weights: that twin ('' = realesr-general-wdn-x4v3 beside `weights`).
        progress: tqdm bar over the files.
    """

    weights: str
    inputs: tuple
    output_dir: str
    model: ModelConfig = None
    suffix: str = ""
    tiling: Tiling = Tiling()
    use_ema: bool = True
    max_pixels: int = MAX_PIXELS
    denoise_strength: float = None
    denoise_weights: str = ""
    progress: bool = True

    def __post_init__(self):
        if not self.weights or not self.inputs or not self.output_dir:
            raise ValueError("weights, inputs and output_dir are required")
        if self.denoise_weights and self.denoise_strength is None:
            raise ValueError("--denoise_weights goes with --denoise_strength")


def _quantize(sr, dtype, rows=256):
    """Float SR image -> uint8 (`metrics.to_uint8`) or uint16, a block of rows at a time.

    Rounding works in float64; doing the whole image at once would need several
    float64 copies of it (1.5 GB each for an 8000 x 8000 output).
    """
    out = np.empty(sr.shape, dtype)
    peak = np.iinfo(dtype).max
    for top in range(0, sr.shape[0], rows):
        block = sr[top : top + rows]
        if dtype == np.uint8:
            out[top : top + rows] = metrics.to_uint8(block)
        else:
            out[top : top + rows] = np.floor(np.clip(block.astype(np.float64), 0, 1) * peak + 0.5)
    return out


def upscale_file(
    model, scale, in_path, out_path, tiling=Tiling(), max_pixels=MAX_PIXELS, progress=False
):
    """Super-resolves one image file into a PNG (modes: see the module docstring).

    Raises:
        image_io.UnusableImage: not an image, or more than `max_pixels` pixels.
        ValueError: `out_path` is `in_path`. OSError: unreadable/unwritable files.
    """
    if os.path.realpath(in_path) == os.path.realpath(out_path):
        raise ValueError(f"refusing to overwrite the input {in_path}")
    with open(in_path, "rb") as f:
        data = f.read()
    pixels = image_io.decode(data, max_pixels)  # checks max_pixels before decoding
    alpha = image_io.read_alpha(data, pixels.dtype == np.uint16, max_pixels)
    sr = tile_upscale(model, image_io.to_float(pixels), scale, tiling, progress)
    rgb = _quantize(sr, pixels.dtype)
    del sr
    if alpha is not None:
        alpha = imresize(alpha.astype(pixels.dtype), scale)
    image_io.write_png(out_path, rgb, alpha)
    return rgb.shape


def expand_inputs(inputs):
    """Files of comma-separated items -> (sorted unique files, [(item, error)])."""
    files, errors, seen = [], [], set()
    for item in inputs:
        if os.path.isdir(item):
            found = sorted(
                os.path.join(item, n) for n in os.listdir(item) if image_io.is_image_file(n)
            )
        elif any(c in item for c in _GLOB_CHARS):
            found = sorted(p for p in glob.glob(item) if os.path.isfile(p))
        else:
            found = [item] if os.path.isfile(item) else []
        if not found:
            errors.append((item, "no such file, or no images in folder / glob"))
        files.extend(p for p in found if p not in seen)
        seen.update(found)
    return files, errors


def run(config, model=None, scale=None):
    """Upscales every input; returns ([written PNG paths], [(input, error message)])."""
    if model is None and config.denoise_strength is not None:
        model, model_config = interpolation.denoise_blend(
            config.weights, config.denoise_strength, config.denoise_weights
        )
        scale = model_config.scale
    elif model is None:
        model, model_config = weights.load_generator(
            config.weights, config.model, use_ema=config.use_ema, allow_saved_model=True
        )
        scale = model_config.scale
    suffix = config.suffix or f"_x{scale}"
    files, failures = expand_inputs(config.inputs)
    for item, error in failures:
        print(f"FAILED {item}: {error}", file=sys.stderr)
    inputs = {os.path.realpath(p) for p in files}
    os.makedirs(config.output_dir, exist_ok=True)
    written, outputs = {}, []
    for path in tqdm(files, desc="upscale", unit="image", disable=not config.progress):
        stem = os.path.splitext(os.path.basename(path))[0]
        out_path = os.path.join(config.output_dir, stem + suffix + ".png")
        real_out = os.path.realpath(out_path)
        try:
            if real_out in inputs:
                raise ValueError(
                    f"refusing to overwrite the input {out_path} (use --suffix "
                    "or another --output_dir)"
                )
            if real_out in written:
                raise ValueError(f"{out_path} is already the output of {written[real_out]}")
            upscale_file(
                model, scale, path, out_path, config.tiling, config.max_pixels, config.progress
            )
            written[real_out] = path
            outputs.append(out_path)
        except (image_io.UnusableImage, ValueError, OSError, tf.errors.OpError) as e:
            failures.append((path, f"{type(e).__name__}: {e}"))
            tqdm.write(f"FAILED {path}: {type(e).__name__}: {e}", file=sys.stderr)
    return outputs, failures
