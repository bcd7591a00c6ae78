"""Validation during training: (LR, HR) pairs -> PSNR/SSIM/NIQE, image grids and summaries.

The literature's conventions: pairs from `esrgan_tf.data.image_pairs` (HR mod-cropped,
MATLAB-bicubic LR), scored by `esrgan_tf.metrics.scoring` as `python -m esrgan_tf.evaluate`
scores them (PSNR/SSIM on Y and RGB and NIQE on Y, crop = scale, on uint8-rounded images).

NIQE is scored in every stage, the PSNR stage too: it costs about what SSIM does
(docs/metrics.md), and the PSNR stage's curve is the baseline the GAN stage's NIQE should
fall from.
Images too small for it (`niqe.fits`: 96x192 after the crop) have none; `niqe_note` says which.
"""

from absl import logging
import numpy as np
import tensorflow as tf

from esrgan_tf.data.image_pairs import bicubic_upscale
from esrgan_tf.metrics import scoring

KEYS = scoring.metric_keys(with_niqe=True)


def niqe_note(pairs, scale):
    """Which validation images have no NIQE, and why ('' when all have one)."""
    gaps = scoring.unscorable({p.name: p.hr.shape[:2] for p in pairs}, scale)
    return scoring.unscorable_note(gaps, scale, len(pairs))


def _scores(pairs, outputs, scale):
    per_image = [(p.name, scoring.score(outputs[p.name], p.hr, scale, name=p.name)) for p in pairs]
    return per_image, scoring.mean_scores([m for _, m in per_image], KEYS)


def evaluate(generator, pairs, scale):
    """Super-resolve every pair's LR (whole, untiled); per-image and mean metrics, grids.

    Returns:
        {"mean": {psnr_y, ssim_y, psnr_rgb, ssim_rgb, niqe}, "per_image": [(name, dict)],
         "outputs": {name: SR image}, "grids": [(name, LR-bicubic | SR | HR image)]};
        NIQE is None where it is undefined (for the mean: on every image).
    """
    grids, outputs = [], {}
    for pair in pairs:
        sr = np.clip(np.asarray(generator(pair.lr[None], training=False))[0], 0.0, 1.0)
        outputs[pair.name] = sr
        grids.append(
            (pair.name, np.concatenate([bicubic_upscale(pair.lr, scale), sr, pair.hr], axis=1))
        )
    per_image, mean = _scores(pairs, outputs, scale)
    return {"mean": mean, "per_image": per_image, "outputs": outputs, "grids": grids}


def evaluate_bicubic(pairs, scale):
    """Per-image and mean metrics of the bicubic baseline on the same pairs."""
    per_image, mean = _scores(pairs, {p.name: bicubic_upscale(p.lr, scale) for p in pairs}, scale)
    return {"mean": mean, "per_image": per_image}


def write_summaries(writer, step, result, grid_images):
    """The means as `val/<metric>` scalars and the first `grid_images` grids as images.

    A metric undefined on every image (NIQE of tiny images) is left out, not logged as NaN.
    """
    defined = {k: v for k, v in result["mean"].items() if v is not None}
    with writer.as_default(step=step):
        for name, value in defined.items():
            tf.summary.scalar(f"val/{name}", value)
        for name, grid in result["grids"][:grid_images]:
            tf.summary.image(f"val/{name}", grid[None])
    logging.info(
        "step %d validation: %s", step, ", ".join(f"{k} {v:.4f}" for k, v in defined.items())
    )
