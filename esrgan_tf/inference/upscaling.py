"""Upscaling image and video files: the library of `python -m esrgan_tf.upscale`.

`run(UpscaleConfig(...))` expands files, folders and globs, super-resolves each image
(`Upscaler.upscale_file`) and video (`esrgan_tf.inference.video`), and writes them; a failing
or skipped file is reported with its reason and the others still run. Inputs are never
overwritten, and two inputs never write the same output.

Images:
* modes: 8-bit input gives 8-bit output (rounded with `to_uint8`, so the saved
  pixels are the scored ones), 16-bit input a 16-bit PNG (JPEG and WebP are 8-bit). Gray
  input is replicated to RGB and saved as RGB. Alpha goes through MATLAB bicubic (default)
  or, with `alpha_upsampler="model"`, through the SR model as a gray image (Real-ESRGAN's
  option), and is re-attached; JPEG has no alpha, so such images are written as PNG.
* EXIF orientation is applied to colour and alpha alike; the ICC profile and the EXIF block
  (orientation reset) travel to the output.
* `outscale` (any final factor: 2 with an x4 model, 3.5, 1 to only restore) or a target
  `width` / `height`: the model's output is resized with MATLAB-exact bicubic (antialiased
  when shrinking, `esrgan_tf.data.imresize`) to the final size.
* `precision` "bf16" / "fp16": a half-precision copy of the model runs, and a tile that comes
  out non-finite or collapsed is recomputed in float32 with a warning (never a black image).
* `seamless`: the image is treated as a torus (wrap-around context), so the output tiles
  without seams: the context each border needs comes from the opposite border.
"""

import collections
import os
import sys

import keras
import numpy as np
import tensorflow as tf
from tqdm import tqdm

from esrgan_tf import atomic
from esrgan_tf.data import image_io, inputs
from esrgan_tf.data.imresize import imresize
from esrgan_tf.formats import generators
from esrgan_tf.inference import interpolation, runtimes, tiling, video
from esrgan_tf.inference.tiling import tile_upscale
from esrgan_tf.metrics.psnr_ssim import to_uint8
from esrgan_tf.models.builders import cast_generator


def _quantize(sr, dtype, rows=256):
    """Float SR image -> uint8 (`to_uint8`) or uint16, a block of rows at a time.

    Rounding works in float64; doing the whole image at once would need several
    float64 copies of it (1.5 GB each for an 8000 x 8000 output).
    """
    out = np.empty(sr.shape, dtype)
    peak = np.iinfo(dtype).max
    for top in range(0, sr.shape[0], rows):
        block = sr[top : top + rows]
        if dtype == np.uint8:
            out[top : top + rows] = to_uint8(block)
        else:
            out[top : top + rows] = np.floor(np.clip(block.astype(np.float64), 0, 1) * peak + 0.5)
    return out


def final_size(height, width, scale, config):
    """(H, W) of the output of a height x width input (see `outscale`, `width`, `height`)."""
    if config.width or config.height:
        if config.width and config.height:
            return config.height, config.width
        if config.width:
            return max(1, round(height * config.width / width)), config.width
        return config.height, max(1, round(width * config.height / height))
    factor = config.outscale or scale
    return max(1, round(height * factor)), max(1, round(width * factor))


def default_suffix(scale, config):
    if config.width or config.height:
        return f"_{config.width or 'auto'}x{config.height or 'auto'}"
    factor = config.outscale or scale
    return f"_x{factor:g}"


class Upscaler:
    """A loaded model and the settings of `config`: arrays and files in, upscaled out.

    Args:
        config: an `UpscaleConfig`.
        model, scale: a generator (anything `tile_upscale` runs) and its scale, instead of
            loading `config.weights` (tests, notebooks).
    """

    def __init__(self, config, model=None, scale=None):
        self.config = config
        self.fallback = None
        if model is None and config.denoise_strength is not None:
            model, model_config = interpolation.denoise_blend(
                config.weights, config.denoise_strength, config.denoise_weights
            )
            scale = model_config.scale
        elif model is None:
            loaded = generators.load(
                config.weights, config.architecture, config.use_ema, allow_saved_model=True
            )
            model, scale = loaded.model, loaded.scale
        if config.precision != "fp32":
            descriptor = tiling.descriptor(model)
            if not isinstance(model, keras.Model) or config.precision not in descriptor.precisions:
                raise ValueError("--precision needs Keras weights (an export has its own)")
            self.fallback = model
            model = cast_generator(model, descriptor.config, config.precision)
        self.model, self.scale = model, scale

    def upscale_array(self, image):
        """HxWx3 float [0, 1] -> the final float output (not clipped)."""
        c = self.config
        pad = 0
        if c.seamless:
            pad = c.tiling.tile_pad if c.tiling.tile_pad >= 0 else tiling.context(self.model)
            if pad is None:
                raise ValueError("--seamless needs the model's context: give --tile_pad")
            pad = min(pad, image.shape[0], image.shape[1])
            image = np.pad(image, ((pad, pad), (pad, pad), (0, 0)), mode="wrap")
        sr = tile_upscale(
            self.model, image, self.scale, c.tiling, c.progress, self.fallback, c.runtime
        )
        if pad:
            s = self.scale * pad
            sr = sr[s:-s, s:-s]
        h, w = sr.shape[0] // self.scale, sr.shape[1] // self.scale
        target = final_size(h, w, self.scale, c)
        if target != sr.shape[:2]:
            sr = imresize(sr, output_shape=target).astype(np.float32)
        return sr

    def upscale_frames(self, frames):
        """[HxWx3 uint8] -> [upscaled uint8]; frames that fit the budget together go through
        the model in one call (video), the others one by one with tiling."""
        c = self.config
        batch = np.stack([image_io.to_float(f) for f in frames])
        n, h, w = batch.shape[:3]
        per_pixel = tiling.bytes_per_pixel(self.model)
        runtime = runtimes.choose(c.runtime, self.model, h * w)
        together = (
            per_pixel
            and runtime != "tflite"  # batch 1 there: nothing to gain from stacking frames
            and n * h * w * per_pixel <= c.tiling.max_memory
            and not c.seamless
            and not (c.tiling.tile and max(h, w) > c.tiling.tile)
        )
        if not together:
            return [_quantize(self.upscale_array(f), np.uint8) for f in batch]
        sr = np.array(runtimes.function(self.model, "call", runtime)(tf.constant(batch)))
        if self.fallback is not None:
            bad = tiling.spoilt(sr, batch)
            if bad.any():
                sr[bad] = np.asarray(runtimes.function(self.fallback)(tf.constant(batch[bad])))
        target = final_size(h, w, self.scale, c)
        out = []
        for frame in sr:
            if target != frame.shape[:2]:
                frame = imresize(frame, output_shape=target).astype(np.float32)
            out.append(_quantize(frame, np.uint8))
        return out

    def upscale_file(self, in_path, out_path):
        """Super-resolves one image file (modes, metadata: see the module docstring).

        Returns the path written (a JPEG output of an image with alpha becomes a PNG).
        Raises:
            image_io.UnusableImage: not an image, or more than `max_pixels` pixels.
            ValueError: `out_path` is `in_path`. OSError: unreadable/unwritable files.
        """
        c = self.config
        if os.path.realpath(in_path) == os.path.realpath(out_path):
            raise ValueError(f"refusing to overwrite the input {in_path}")
        with open(in_path, "rb") as f:
            data = f.read()
        pixels = image_io.decode(data, c.max_pixels)  # checks max_pixels before decoding
        alpha = image_io.read_alpha(data, pixels.dtype == np.uint16, c.max_pixels)
        metadata = image_io.read_metadata(data, c.max_pixels)
        sr = self.upscale_array(image_io.to_float(pixels))
        rgb = _quantize(sr, pixels.dtype)
        del sr
        if alpha is not None:
            alpha = self._upscale_alpha(alpha, rgb.shape[:2])
        fmt = c.ext
        if alpha is not None and fmt == "jpg":
            fmt, out_path = "png", os.path.splitext(out_path)[0] + ".png"
            tqdm.write(
                f"NOTE {in_path}: has alpha, which JPEG cannot hold: written as PNG",
                file=sys.stderr,
            )
        atomic.write_bytes(out_path, image_io.encode(rgb, alpha, fmt, c.quality, metadata))
        return out_path

    def _upscale_alpha(self, alpha, size):
        if self.config.alpha_upsampler == "model":
            gray = np.repeat(image_io.to_float(alpha)[..., None], 3, axis=2)
            out = self.upscale_array(gray).mean(axis=2)
            return _quantize(out[..., None], alpha.dtype)[..., 0]
        # MATLAB's integer imresize (rounded after each dimension), as for the images.
        return imresize(alpha, output_shape=size)


def output_paths(files, output_dir, suffix, ext):
    """{input: output path}; inputs that share a stem keep their extension in the name
    (photo.jpg and photo.png -> photo_jpg_x4.png, photo_png_x4.png)."""
    stems = collections.Counter(os.path.splitext(os.path.basename(p))[0].lower() for p in files)
    paths = {}
    for path in files:
        stem, source_ext = os.path.splitext(os.path.basename(path))
        if stems[stem.lower()] > 1:
            stem += "_" + source_ext.lstrip(".").lower()
        out_ext = source_ext.lower() if inputs.is_video_file(path) else "." + ext
        paths[path] = os.path.join(output_dir, stem + suffix + out_ext)
    return paths


def run(config, model=None, scale=None):
    """Upscales every input; returns ([written paths], [(input, reason)] failed or skipped)."""
    upscaler = Upscaler(config, model, scale)
    suffix = config.suffix or default_suffix(upscaler.scale, config)
    files, failures = inputs.expand_inputs(config.input)
    for item, reason in failures:
        print(f"SKIPPED {item}: {reason}", file=sys.stderr)
    originals = {os.path.realpath(p) for p in files}
    os.makedirs(config.output_dir, exist_ok=True)
    outputs = []
    for path, out_path in tqdm(
        output_paths(files, config.output_dir, suffix, config.ext).items(),
        desc="upscale",
        unit="file",
        disable=not config.progress,
    ):
        try:
            if os.path.realpath(out_path) in originals:
                raise ValueError(
                    f"refusing to overwrite the input {out_path} (use --suffix or another "
                    "--output_dir)"
                )
            if inputs.is_video_file(path):
                video.upscale_video(
                    upscaler.upscale_frames,
                    path,
                    out_path,
                    config.video_codec,
                    config.crf,
                    config.frames_per_call,
                    config.progress,
                )
            else:
                out_path = upscaler.upscale_file(path, out_path)
            outputs.append(out_path)
        except (
            image_io.UnusableImage,
            ValueError,
            OSError,
            ImportError,
            tf.errors.OpError,
            *video.errors(),
        ) as e:
            failures.append((path, f"{type(e).__name__}: {e}"))
            tqdm.write(f"FAILED {path}: {type(e).__name__}: {e}", file=sys.stderr)
    return outputs, failures
