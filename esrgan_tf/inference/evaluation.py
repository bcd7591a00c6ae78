"""Benchmark evaluation with the literature's conventions: the library of
`python -m esrgan_tf.evaluate`.

HR mod-cropped to the scale, LR by MATLAB bicubic (or a paired LR folder), PSNR and SSIM on
Y and RGB with crop = scale, on uint8-rounded images (`esrgan_tf.metrics`); NIQE (no
reference, `esrgan_tf.niqe`) on Y with crop = scale as BasicSR and the PIRM 2018 challenge
compute it; LPIPS (`esrgan_tf.lpips`) on RGB with crop = scale when its backbone weights are
given. The bicubic baseline is always reported next to the model. Writes
`<output_dir>/<dataset>.csv` (one row per image and method; an empty cell where a metric is
undefined for the image), `summary.md` and `summary.json`, and with `save_images` the SR
images to `<output_dir>/<dataset>/<image>.png`.

Cost per 512x512 image and method on a 2-core AVX2 EPYC (one thread): PSNR + SSIM (Y and
RGB) 0.21 s, NIQE 0.08 s, LPIPS 0.21 s with AlexNet and 3.7 s with VGG16.
"""

import csv
import dataclasses
import io
import os

from absl import logging
import numpy as np
import tqdm

from esrgan_tf import atomic, lpips, metrics, niqe, tables
from esrgan_tf.config import ModelConfig
from esrgan_tf.data import image_io
from esrgan_tf.data.image_pairs import bicubic_upscale, load_pairs
from esrgan_tf.inference.tiling import Tiling, tile_upscale
from esrgan_tf.inference.weights import load_generator

METRIC_KEYS = ("psnr_y", "ssim_y", "psnr_rgb", "ssim_rgb")
NIQE, LPIPS = "niqe", "lpips"
BICUBIC = "bicubic"


@dataclasses.dataclass(frozen=True)
class EvaluateConfig:
    """One `python -m esrgan_tf.evaluate` run.

    Attributes:
        weights: .weights.h5, training workdir, checkpoint prefix or exported SavedModel.
        model: the generator's architecture (its scale is the evaluation scale).
        hr_dirs: HR folders; lr_dirs: their paired LR folders ('' = bicubic LR).
        output_dir: where CSVs, summaries and images go.
        save_images: write the SR images as PNG.
        tiling: tiled inference (`esrgan_tf.inference.tiling`).
        use_ema: from a training checkpoint, prefer the EMA generator.
        progress: show a tqdm bar.
        niqe: also score NIQE (no reference; 0.08 s per 512x512 image and method).
        lpips_weights: torchvision's ImageNet weights of the LPIPS backbone ('' = no LPIPS;
            `esrgan_tf.lpips.backbone_help` says where to get them).
        lpips_net: the LPIPS backbone, "alex" or "vgg".
        runtime: what runs the generator (`esrgan_tf.inference.runtimes`).
    """

    weights: str
    hr_dirs: tuple
    output_dir: str
    model: ModelConfig = ModelConfig()
    lr_dirs: tuple = ()
    save_images: bool = False
    tiling: Tiling = Tiling()
    use_ema: bool = True
    progress: bool = True
    niqe: bool = True
    lpips_weights: str = ""
    lpips_net: str = "alex"
    runtime: str = "auto"


def dataset_name(hr_dir):
    """data/Set5/HR -> 'Set5' (benchmark layouts); any other folder -> its own name."""
    folder = os.path.normpath(os.path.abspath(hr_dir))
    name = os.path.basename(folder)
    if name.upper() == "HR":
        name = os.path.basename(os.path.dirname(folder))
    return name


def name_datasets(hr_dirs, lr_dirs=()):
    """{dataset name: (hr_dir, lr_dir)} in the given order; clear errors for bad folders."""
    lr_dirs = tuple(lr_dirs) or ("",) * len(hr_dirs)
    if len(lr_dirs) != len(hr_dirs):
        raise ValueError(f"{len(lr_dirs)} LR folders for {len(hr_dirs)} HR folders")
    datasets = {}
    for hr_dir, lr_dir in zip(hr_dirs, lr_dirs):
        for folder in (hr_dir, lr_dir):
            if folder and not os.path.isdir(folder):
                raise FileNotFoundError(f"dataset folder {folder!r} does not exist")
        name = dataset_name(hr_dir)
        if name in datasets:
            raise ValueError(
                f"two datasets are both named {name!r} ({datasets[name][0]} and "
                f"{hr_dir}); put them in differently named folders"
            )
        datasets[name] = (hr_dir, lr_dir)
    return datasets


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
    scores = metrics.evaluate_pair(output, hr, scale, crop_border=scale)
    height, width = hr.shape[:2]
    if with_niqe:
        scores[NIQE] = None
        if niqe.fits(height, width, scale):
            try:
                scores[NIQE] = niqe.niqe(output, crop_border=scale)
            except niqe.UndefinedError as err:
                logging.warning("%s: no NIQE: %s", name, err)
    if lpips_model is not None:
        scores[LPIPS] = None
        if min(height, width) - 2 * scale >= lpips_model.min_size:
            scores[LPIPS] = lpips.lpips_distance(output, hr, lpips_model, crop_border=scale)
    return scores


def mean_scores(per_image, keys):
    """{key: mean over the images where it is defined (None where it is nowhere)}."""
    means = {}
    for key in keys:
        values = [scores[key] for scores in per_image if scores.get(key) is not None]
        means[key] = float(np.mean(values)) if values else None
    return means


def _write_csv(path, rows, keys):
    buffer = io.StringIO(newline="")
    writer = csv.DictWriter(buffer, fieldnames=("image", "method") + keys)
    writer.writeheader()
    for row in rows:
        cells = {k: ("" if row[k] is None else repr(row[k])) for k in keys}
        writer.writerow({"image": row["image"], "method": row["method"], **cells})
    atomic.write_text(path, buffer.getvalue())


def evaluate(
    model,
    datasets,
    scale,
    tiling=Tiling(),
    output_dir="",
    save_images=False,
    method="model",
    progress=True,
    with_niqe=True,
    lpips_model=None,
    runtime="tf",
):
    """Bicubic and `model` on every dataset; writes CSVs and summaries to `output_dir`.

    Args:
        model: a generator (anything `tile_upscale` can run: called on NHWC batches).
        datasets: {name: (hr_dir, lr_dir)}; lr_dir '' = MATLAB bicubic LR of the HR.
        scale: SR factor of `model`; also the border cropped before scoring.
        tiling: tiled inference, see `esrgan_tf.inference.tiling`.
        output_dir: '' writes nothing.
        save_images: write the model's SR images to <output_dir>/<dataset>/<image>.png.
        method: the model's name in the CSVs and tables.
        with_niqe: also score NIQE (Y, crop = scale).
        lpips_model: an `esrgan_tf.lpips.LPIPS` to score LPIPS with, or None.
        runtime: what runs `model` (`esrgan_tf.inference.runtimes`).
    Returns:
        {dataset: {"images": n, "hr_dir": ..., "lr_dir": ...,
                   "results": {"bicubic": means, method: means},
                   "unscorable": {metric: [images too small for it]}}}; a mean is None
        where the metric is undefined for every image.
    """
    if method == BICUBIC:
        raise ValueError(f"method name {BICUBIC!r} is taken by the baseline")
    if output_dir:
        os.makedirs(output_dir, exist_ok=True)
    keys = metric_keys(with_niqe, lpips_model)
    summary, sections = {}, [f"{conventions(scale, with_niqe, lpips_model)}\n"]
    for name, (hr_dir, lr_dir) in datasets.items():
        images = load_pairs(hr_dir, scale, lr_dir=lr_dir)
        gaps = unscorable(
            {image.name: image.hr.shape[:2] for image in images}, scale, with_niqe, lpips_model
        )
        note = unscorable_note(gaps, scale, len(images), lpips_model)
        if note:
            logging.warning("%s: %s", name, note)
        image_dir = os.path.join(output_dir, name)
        if output_dir and save_images:
            os.makedirs(image_dir, exist_ok=True)
        rows = []
        for image in tqdm.tqdm(images, desc=name, unit="image", disable=not progress):
            sr = np.clip(
                np.asarray(
                    tile_upscale(model, image.lr, scale, tiling, runtime=runtime), np.float32
                ),
                0.0,
                1.0,
            )
            if sr.shape != image.hr.shape:
                raise ValueError(
                    f"{name}/{image.name}: the model made {sr.shape} from LR "
                    f"{image.lr.shape}, expected {image.hr.shape} at x{scale}"
                )
            bicubic = bicubic_upscale(image.lr, scale)
            for label, output in ((BICUBIC, bicubic), (method, sr)):
                scores = score(
                    output, image.hr, scale, with_niqe, lpips_model, f"{name}/{image.name}"
                )
                rows.append({"image": image.name, "method": label, **scores})
            if output_dir and save_images:
                image_io.write_png(
                    os.path.join(image_dir, f"{image.name}.png"), metrics.to_uint8(sr)
                )
        results = {
            label: mean_scores([r for r in rows if r["method"] == label], keys)
            for label in (BICUBIC, method)
        }
        summary[name] = {
            "images": len(images),
            "hr_dir": hr_dir,
            "lr_dir": lr_dir,
            "results": results,
            "unscorable": gaps,
        }
        lr_note = f"LR from {lr_dir}" if lr_dir else "MATLAB-bicubic LR"
        sections.append(
            f"## {name} ({len(images)} images, x{scale}, {lr_note}, "
            f"crop = {scale})\n\n{tables.metrics_table(results, keys)}\n"
            + (f"\n{note}\n" if note else "")
        )
        if output_dir:
            _write_csv(os.path.join(output_dir, f"{name}.csv"), rows, keys)
    text = "\n".join(sections)
    print(text)
    if output_dir:
        atomic.write_text(os.path.join(output_dir, "summary.md"), text)
        atomic.write_json(
            os.path.join(output_dir, "summary.json"), {"scale": scale, "datasets": summary}
        )
    return summary


def load_lpips(net, backbone_weights):
    """`esrgan_tf.lpips.LPIPS(net, backbone_weights)`; a wrong file says where the right one is."""
    try:
        return lpips.LPIPS(net, backbone_weights)
    except ValueError as err:
        raise ValueError(f"{err}. {lpips.backbone_help(net)}") from err


def run(config):
    """Load the generator of `config` and evaluate it on its datasets."""
    datasets = name_datasets(config.hr_dirs, config.lr_dirs)
    # Before the generator: a wrong LPIPS file fails in a second, not after a model load.
    lpips_model = (
        load_lpips(config.lpips_net, config.lpips_weights) if config.lpips_weights else None
    )
    model, model_config = load_generator(
        config.weights, config.model, use_ema=config.use_ema, allow_saved_model=True
    )
    logging.info(
        "Evaluating %s (%s x%d) on %s",
        config.weights,
        model_config.generator,
        model_config.scale,
        ", ".join(datasets),
    )
    return evaluate(
        model,
        datasets,
        model_config.scale,
        config.tiling,
        output_dir=config.output_dir,
        save_images=config.save_images,
        progress=config.progress,
        with_niqe=config.niqe,
        lpips_model=lpips_model,
        runtime=config.runtime,
    )
