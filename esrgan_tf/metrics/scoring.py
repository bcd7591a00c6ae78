"""The one scoring protocol of every report: `evaluate`, training validation, the training
report and the interpolation sweep score an output against its HR the same way.

PSNR and SSIM on Y (BT.601) and RGB with crop = scale, on uint8-rounded images
(`esrgan_tf.metrics.psnr_ssim`); NIQE (no reference, `esrgan_tf.metrics.niqe`) on Y with
crop = scale as BasicSR and the PIRM 2018 challenge compute it; LPIPS
(`esrgan_tf.metrics.lpips`) on RGB with crop = scale when a backbone is given. A metric that
is undefined for an image (too small for NIQE's blocks or LPIPS's network) is None, and the
reports say which images have none and why (`unscorable_note`). Costs per 512x512 image and
metric: docs/metrics.md.
"""

from absl import logging
import numpy as np

from esrgan_tf.metrics import lpips, niqe, psnr_ssim

METRIC_KEYS = ("psnr_y", "ssim_y", "psnr_rgb", "ssim_rgb")
NIQE, LPIPS = "niqe", "lpips"
BICUBIC = "bicubic"


def metric_keys(with_niqe=True, lpips_model=None):
    """The metric columns of a run: PSNR/SSIM, then NIQE and LPIPS when they are scored."""
    return (
        METRIC_KEYS + ((NIQE,) if with_niqe else ()) + ((LPIPS,) if lpips_model is not None else ())
    )


def conventions(scale, with_niqe=True, lpips_model=None):
    """One paragraph saying how every metric of a run is computed (the reports' header)."""
    text = f"PSNR (dB) / SSIM on Y (BT.601) and on RGB; on uint8-rounded images, crop = {scale}."
    if with_niqe:
        text += (
            f" NIQE (Mittal et al. 2013; no reference, lower is better) on Y (BT.601) with "
            f"crop = {scale} and 96x96 blocks, as BasicSR 1.4.2 and the PIRM 2018 challenge."
        )
    if lpips_model is not None:
        text += (
            f" LPIPS v0.1 ({lpips.BACKBONES[lpips_model.net].title}; Zhang et al. 2018; lower "
            f"is better) on RGB with crop = {scale}."
        )
    return text


def unscorable(shapes, scale, with_niqe=True, lpips_model=None):
    """{metric: [image names]} of the images too small for NIQE or LPIPS at crop = scale.

    Args:
        shapes: {image name: (height, width)} of the HR images (= the outputs' sizes).
    """
    gaps = {}
    for name, (height, width) in shapes.items():
        if with_niqe and not niqe.fits(height, width, scale):
            gaps.setdefault(NIQE, []).append(name)
        if lpips_model is not None and min(height, width) - 2 * scale < lpips_model.min_size:
            gaps.setdefault(LPIPS, []).append(name)
    return gaps


def _over(names, count):
    left = count - len(names)
    if not left:
        return "so there is no mean ('-')"
    return f"the mean is over the other {left} image{'s' if left > 1 else ''}"


def unscorable_note(gaps, scale, count, lpips_model=None):
    """Sentences telling which of `count` images have no NIQE / LPIPS, and why ('' if none)."""
    notes = []
    if gaps.get(NIQE):
        notes.append(
            f"NIQE needs two 96x96 blocks, at least 96x192 pixels after the crop of {scale}: "
            f"none for {', '.join(gaps[NIQE])}; {_over(gaps[NIQE], count)}."
        )
    if gaps.get(LPIPS):
        size = lpips_model.min_size
        notes.append(
            f"LPIPS ({lpips_model.net}) needs {size}x{size} pixels after the crop of {scale}: "
            f"none for {', '.join(gaps[LPIPS])}; {_over(gaps[LPIPS], count)}."
        )
    return " ".join(notes)


def score(output, hr, scale, with_niqe=True, lpips_model=None, name="image"):
    """Every metric of one output against its HR, with crop = scale.

    Args:
        output, hr: HxWx3 images of one size, float in [0, 1] or uint8.
        scale: the SR factor, also the border cropped before scoring.
        with_niqe: score NIQE (of `output` alone).
        lpips_model: an `esrgan_tf.lpips.LPIPS`, or None for no LPIPS.
        name: the image's name in warnings.
    Returns:
        {metric key: Python float}; NIQE and LPIPS are None where they are undefined for the
        image: too small (see `unscorable`, which callers report once), or, for NIQE, too few
        textured blocks (warned here: a flat output is worth knowing about).
    """
    scores = psnr_ssim.evaluate_pair(output, hr, scale, crop_border=scale)
    height, width = hr.shape[:2]
    if with_niqe:
        scores[NIQE] = niqe_or_none(output, scale, name)
    if lpips_model is not None:
        scores[LPIPS] = None
        if min(height, width) - 2 * scale >= lpips_model.min_size:
            scores[LPIPS] = lpips.lpips_distance(output, hr, lpips_model, crop_border=scale)
    return scores


def niqe_or_none(image, scale, name="image"):
    """NIQE of one image with crop = scale, or None where it is undefined: too small (no
    warning: `unscorable` reports those once) or too few textured blocks (warned)."""
    if not niqe.fits(*image.shape[:2], scale):
        return None
    try:
        return niqe.niqe(image, crop_border=scale)
    except niqe.UndefinedError as err:
        logging.warning("%s: no NIQE: %s", name, err)
        return None


def mean_scores(per_image, keys):
    """{key: mean over the images where it is defined (None where it is nowhere)}."""
    means = {}
    for key in keys:
        values = [scores[key] for scores in per_image if scores.get(key) is not None]
        means[key] = float(np.mean(values)) if values else None
    return means
