"""Validation during training: (LR, HR) pairs -> PSNR/SSIM, image grids and summaries.

The literature's conventions (DESIGN.md): pairs from `esrgan_tf.data.image_pairs` (HR
mod-cropped, MATLAB-bicubic LR), metrics on the Y channel with crop = scale on images
rounded to uint8 (`esrgan_tf.metrics`).
"""

from absl import logging
import numpy as np
import tensorflow as tf

from esrgan_tf import metrics
from esrgan_tf.data.image_pairs import bicubic_upscale


def _mean(per_image):
    keys = per_image[0][1].keys() if per_image else ()
    return {k: float(np.mean([m[k] for _, m in per_image])) for k in keys}


def evaluate(generator, pairs, scale):
    """Super-resolve every pair's LR (whole, untiled); per-image and mean metrics, grids.

    Returns:
        {"mean": {psnr_y, ssim_y, psnr_rgb, ssim_rgb}, "per_image": [(name, dict)],
         "outputs": {name: SR image}, "grids": [(name, LR-bicubic | SR | HR image)]}
    """
    per_image, grids, outputs = [], [], {}
    for pair in pairs:
        sr = np.clip(np.asarray(generator(pair.lr[None], training=False))[0], 0.0, 1.0)
        outputs[pair.name] = sr
        per_image.append((pair.name, metrics.evaluate_pair(sr, pair.hr, scale)))
        grids.append(
            (pair.name, np.concatenate([bicubic_upscale(pair.lr, scale), sr, pair.hr], axis=1))
        )
    return {"mean": _mean(per_image), "per_image": per_image, "outputs": outputs, "grids": grids}


def evaluate_bicubic(pairs, scale):
    """Per-image and mean metrics of the bicubic baseline on the same pairs."""
    per_image = [
        (p.name, metrics.evaluate_pair(bicubic_upscale(p.lr, scale), p.hr, scale)) for p in pairs
    ]
    return {"mean": _mean(per_image), "per_image": per_image}


def write_summaries(writer, step, result, grid_images):
    """The means as `val/<metric>` scalars and the first `grid_images` grids as images."""
    with writer.as_default(step=step):
        for name, value in result["mean"].items():
            tf.summary.scalar(f"val/{name}", value)
        for name, grid in result["grids"][:grid_images]:
            tf.summary.image(f"val/{name}", grid[None])
    logging.info(
        "step %d validation: %s", step, ", ".join(f"{k} {v:.4f}" for k, v in result["mean"].items())
    )
