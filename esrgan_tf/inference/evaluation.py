"""Benchmark evaluation with the literature's conventions: the library of
`python -m esrgan_tf.evaluate`.

HR mod-cropped to the scale, LR by MATLAB bicubic (or a paired LR folder), PSNR and SSIM on
Y and RGB with crop = scale, on uint8-rounded images (`esrgan_tf.metrics`). The bicubic
baseline is always reported next to the model. Writes `<output_dir>/<dataset>.csv` (one row
per image and method), `summary.md` and `summary.json`, and with `save_images` the SR images
to `<output_dir>/<dataset>/<image>.png`.
"""

import csv
import dataclasses
import io
import os

from absl import logging
import numpy as np
import tqdm

from esrgan_tf import atomic, metrics, tables
from esrgan_tf.config import ModelConfig
from esrgan_tf.data import image_io
from esrgan_tf.data.image_pairs import bicubic_upscale, load_pairs
from esrgan_tf.inference.tiling import Tiling, tile_upscale
from esrgan_tf.inference.weights import load_generator

METRIC_KEYS = ("psnr_y", "ssim_y", "psnr_rgb", "ssim_rgb")
CSV_COLUMNS = ("image", "method") + METRIC_KEYS
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


def _means(rows, method):
    chosen = [r for r in rows if r["method"] == method]
    return {k: float(np.mean([r[k] for r in chosen])) for k in METRIC_KEYS}


def _write_csv(path, rows):
    buffer = io.StringIO(newline="")
    writer = csv.DictWriter(buffer, fieldnames=CSV_COLUMNS)
    writer.writeheader()
    for row in rows:
        writer.writerow({k: (repr(row[k]) if k in METRIC_KEYS else row[k]) for k in CSV_COLUMNS})
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
    Returns:
        {dataset: {"images": n, "hr_dir": ..., "lr_dir": ...,
                   "results": {"bicubic": means, method: means}}}.
    """
    if method == BICUBIC:
        raise ValueError(f"method name {BICUBIC!r} is taken by the baseline")
    if output_dir:
        os.makedirs(output_dir, exist_ok=True)
    summary, sections = {}, []
    for name, (hr_dir, lr_dir) in datasets.items():
        images = load_pairs(hr_dir, scale, lr_dir=lr_dir)
        image_dir = os.path.join(output_dir, name)
        if output_dir and save_images:
            os.makedirs(image_dir, exist_ok=True)
        rows = []
        for image in tqdm.tqdm(images, desc=name, unit="image", disable=not progress):
            sr = np.clip(
                np.asarray(tile_upscale(model, image.lr, scale, tiling), np.float32), 0.0, 1.0
            )
            if sr.shape != image.hr.shape:
                raise ValueError(
                    f"{name}/{image.name}: the model made {sr.shape} from LR "
                    f"{image.lr.shape}, expected {image.hr.shape} at x{scale}"
                )
            bicubic = bicubic_upscale(image.lr, scale)
            for label, output in ((BICUBIC, bicubic), (method, sr)):
                scores = metrics.evaluate_pair(output, image.hr, scale, crop_border=scale)
                rows.append(
                    {
                        "image": image.name,
                        "method": label,
                        **{k: float(scores[k]) for k in METRIC_KEYS},
                    }
                )
            if output_dir and save_images:
                image_io.write_png(
                    os.path.join(image_dir, f"{image.name}.png"), metrics.to_uint8(sr)
                )
        results = {label: _means(rows, label) for label in (BICUBIC, method)}
        summary[name] = {
            "images": len(images),
            "hr_dir": hr_dir,
            "lr_dir": lr_dir,
            "results": results,
        }
        lr_note = f"LR from {lr_dir}" if lr_dir else "MATLAB-bicubic LR"
        sections.append(
            f"## {name} ({len(images)} images, x{scale}, {lr_note}, "
            f"crop = {scale})\n\n{tables.metrics_table(results, METRIC_KEYS)}\n"
        )
        if output_dir:
            _write_csv(os.path.join(output_dir, f"{name}.csv"), rows)
    text = "\n".join(sections)
    print(text)
    if output_dir:
        atomic.write_text(os.path.join(output_dir, "summary.md"), text)
        atomic.write_json(
            os.path.join(output_dir, "summary.json"), {"scale": scale, "datasets": summary}
        )
    return summary


def run(config):
    """Load the generator of `config` and evaluate it on its datasets."""
    datasets = name_datasets(config.hr_dirs, config.lr_dirs)
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
    )
