"""Quickstart helpers: make the built-in data if missing, compare the trained stages.

`compare_and_write` prints the table the README shows (bicubic, PSNR model, GAN
model on the held-out photos; PSNR/SSIM on Y with crop = scale) and writes
LR-bicubic | PSNR | GAN | HR strips to <workdir>/comparison/.
"""

import json
import os

from absl import logging
import numpy as np
from PIL import Image

from esrgan_tf import metrics
from esrgan_tf import validation
from esrgan_tf.data import prepare as prepare_lib

VAL_SUBDIR = "val_hr"


def prepare_builtin_if_missing(builtin, data_dir, holdout):
    """Prepare the built-in photos into `data_dir` unless it already holds a finished set.

    The manifest is written last, so its absence means an interrupted preparation,
    which `prepare` resumes.
    """
    if os.path.exists(os.path.join(data_dir, prepare_lib.MANIFEST_FILE)):
        logging.info("Using the prepared data in %s", data_dir)
        return None
    logging.info("No shards in %s: preparing the built-in %r photos (holding out %d).",
                 data_dir, builtin, holdout)
    # Sub-images of 192 with step 96 give a few hundred patches from the sample photos.
    config = prepare_lib.PrepareConfig(output_dir=data_dir, builtin=builtin, holdout=holdout,
                                       crop_size=192, step=96)
    return prepare_lib.prepare(config)


def format_table(rows, keys=("psnr_y", "ssim_y", "psnr_rgb", "ssim_rgb")):
    """Markdown table of {model name: metrics}."""
    header = "| model | " + " | ".join(keys) + " |"
    lines = [header, "|" + "---|" * (len(keys) + 1)]
    for name, values in rows.items():
        cells = [f"{values[k]:.4f}" if k.startswith("ssim") else f"{values[k]:.2f}" for k in keys]
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def compare_and_write(trained, config):
    """Evaluate bicubic and every trained stage on the validation set; write the report.

    Args:
        trained: {stage name: Trainer} in training order ("psnr", "gan").
        config: the final stage's TrainConfig (its val_dir, scale and workdir).
    Returns:
        {model name: mean metrics}.
    """
    if not config.val_dir:
        logging.warning("--report needs --val_dir; skipping the comparison.")
        return {}
    scale = config.model.scale
    images = validation.load_validation_set(config.val_dir, scale, config.max_val_images,
                                            config.val_lr_dir)
    rows = {"bicubic": validation.evaluate_bicubic(images, scale)}
    outputs = {}
    for name, trainer in trained.items():
        result = validation.evaluate(trainer.eval_generator(), images, scale)
        rows[name] = result["mean"]
        outputs[name] = result["outputs"]
    out_dir = os.path.join(config.workdir, "comparison")
    os.makedirs(out_dir, exist_ok=True)
    for image in images:
        strip = [validation.bicubic_upscale(image.lr, scale)]
        strip += [outputs[name][image.name] for name in trained]
        strip.append(image.hr)
        Image.fromarray(metrics.to_uint8(np.concatenate(strip, axis=1))).save(
            os.path.join(out_dir, f"{image.name}.png"))
    table = format_table(rows)
    columns = " | ".join(["bicubic", *trained, "HR"])
    text = (f"Validation on {len(images)} held-out image(s) from {config.val_dir}, x{scale}, "
            f"Y channel and RGB, crop = {scale}:\n\n{table}\n\n"
            f"Comparison strips ({columns}) in {out_dir}\n")
    print(text)
    with open(os.path.join(config.workdir, "report.md"), "w", encoding="utf-8") as f:
        f.write(text)
    with open(os.path.join(config.workdir, "report.json"), "w", encoding="utf-8") as f:
        json.dump(rows, f, indent=2)
    return rows
