"""Benchmark evaluation with the literature's conventions: the library of
`python -m esrgan_tf.evaluate`.

HR mod-cropped to the scale, LR by MATLAB bicubic (or a paired LR folder), every output
scored by the shared protocol (`esrgan_tf.metrics.scoring`: PSNR / SSIM on Y and RGB, NIQE,
LPIPS when its backbone weights are given; crop = scale). The bicubic baseline is always
reported next to the model. Writes `<output_dir>/<dataset>.csv` (one row per image and
method; an empty cell where a metric is undefined for the image), `summary.md` and
`summary.json`, and with `save_images` the SR images to `<output_dir>/<dataset>/<image>.png`.
"""

import csv
import io
import os

from absl import logging
import numpy as np
import tqdm

from esrgan_tf import atomic, files, tables
from esrgan_tf.data import image_io
from esrgan_tf.data.image_pairs import bicubic_upscale, load_pairs
from esrgan_tf.formats import generators
from esrgan_tf.inference.config import Tiling
from esrgan_tf.inference.tiling import tile_upscale
from esrgan_tf.metrics import lpips
from esrgan_tf.metrics.psnr_ssim import to_uint8
from esrgan_tf.metrics.scoring import (
    BICUBIC,
    conventions,
    mean_scores,
    metric_keys,
    score,
    unscorable,
    unscorable_note,
)


def dataset_name(hr_dir):
    """data/Set5/HR -> 'Set5' (benchmark layouts); any other folder -> its own name."""
    folder = hr_dir.rstrip("/") if files.is_remote(hr_dir) else os.path.abspath(hr_dir)
    name = files.basename(folder)
    if name.upper() == "HR":
        name = files.basename(files.parent(folder))
    return name


def name_datasets(hr_dirs, lr_dirs=()):
    """{dataset name: (hr_dir, lr_dir)} in the given order; clear errors for bad folders."""
    lr_dirs = tuple(lr_dirs) or ("",) * len(hr_dirs)
    if len(lr_dirs) != len(hr_dirs):
        raise ValueError(f"{len(lr_dirs)} LR folders for {len(hr_dirs)} HR folders")
    datasets = {}
    for hr_dir, lr_dir in zip(hr_dirs, lr_dirs):
        for folder in (hr_dir, lr_dir):
            if folder and not files.isdir(folder):
                raise FileNotFoundError(f"dataset folder {folder!r} does not exist")
        name = dataset_name(hr_dir)
        if name in datasets:
            raise ValueError(
                f"two datasets are both named {name!r} ({datasets[name][0]} and "
                f"{hr_dir}); put them in differently named folders"
            )
        datasets[name] = (hr_dir, lr_dir)
    return datasets


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
        lpips_model: an `esrgan_tf.metrics.lpips.LPIPS` to score LPIPS with, or None.
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
        files.makedirs(output_dir)
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
        image_dir = files.join(output_dir, name) if output_dir else ""
        if output_dir and save_images:
            files.makedirs(image_dir)
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
                image_io.write_png(files.join(image_dir, f"{image.name}.png"), to_uint8(sr))
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
            _write_csv(files.join(output_dir, f"{name}.csv"), rows, keys)
    text = "\n".join(sections)
    print(text)
    if output_dir:
        atomic.write_text(files.join(output_dir, "summary.md"), text)
        atomic.write_json(
            files.join(output_dir, "summary.json"), {"scale": scale, "datasets": summary}
        )
    return summary


def load_lpips(net, backbone_weights):
    """`lpips.LPIPS(net, backbone_weights)`; a wrong file says where the right one is."""
    try:
        return lpips.LPIPS(net, backbone_weights)
    except ValueError as err:
        raise ValueError(f"{err}. {lpips.backbone_help(net)}") from err


def run(config):
    """Load the generator of `config` and evaluate it on its datasets."""
    datasets = name_datasets(config.datasets, config.lr_dirs)
    # Before the generator: a wrong LPIPS file fails in a second, not after a model load.
    net = config.lpips_net or "alex"
    if config.lpips_net and not config.lpips_weights:
        raise FileNotFoundError(f"--lpips_net without --lpips_weights. {lpips.backbone_help(net)}")
    lpips_model = load_lpips(net, config.lpips_weights) if config.lpips_weights else None
    loaded = generators.load(
        config.weights, config.architecture, config.use_ema, allow_saved_model=True
    )
    logging.info("Evaluating %s (%s) on %s", config.weights, loaded.source, ", ".join(datasets))
    return evaluate(
        loaded.model,
        datasets,
        loaded.scale,
        config.tiling,
        output_dir=config.output_dir,
        save_images=config.save_images,
        progress=config.progress,
        with_niqe=config.niqe,
        lpips_model=lpips_model,
        runtime=config.runtime,
    )
