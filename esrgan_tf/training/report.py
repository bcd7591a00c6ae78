"""The comparison at the end of a two-stage run: bicubic, PSNR model and GAN model.

`compare_and_write` prints the table the README shows (bicubic, PSNR model, GAN model on
the held-out photos; PSNR/SSIM on Y and RGB with crop = scale) and writes
LR-bicubic | PSNR | GAN | HR strips to <workdir>/comparison/.
"""

import os

from absl import logging
import numpy as np

from esrgan_tf import atomic, metrics, tables
from esrgan_tf.data import image_io
from esrgan_tf.data.image_pairs import bicubic_upscale, load_pairs
from esrgan_tf.training import validation

METRIC_KEYS = ("psnr_y", "ssim_y", "psnr_rgb", "ssim_rgb")
COMPARISON_SUBDIR = "comparison"


def compare_and_write(trained, config):
    """Evaluate bicubic and every trained stage on the validation set; write the report.

    Args:
        trained: {stage name: `loop.Controller`} in training order ("psnr", "gan").
        config: the final stage's TrainConfig (its val_dir, scale and workdir).
    Returns:
        {model name: mean metrics}.
    """
    if not config.val_dir:
        logging.warning("--report needs --val_dir; skipping the comparison.")
        return {}
    scale = config.model.scale
    pairs = load_pairs(config.val_dir, scale, config.max_val_images, config.val_lr_dir)
    rows = {"bicubic": validation.evaluate_bicubic(pairs, scale)["mean"]}
    outputs = {}
    for name, controller in trained.items():
        result = validation.evaluate(controller.trainer.eval_generator(), pairs, scale)
        rows[name] = result["mean"]
        outputs[name] = result["outputs"]
    out_dir = os.path.join(config.workdir, COMPARISON_SUBDIR)
    os.makedirs(out_dir, exist_ok=True)
    for pair in pairs:
        strip = [bicubic_upscale(pair.lr, scale)]
        strip += [outputs[name][pair.name] for name in trained]
        strip.append(pair.hr)
        image_io.write_png(
            os.path.join(out_dir, f"{pair.name}.png"),
            metrics.to_uint8(np.concatenate(strip, axis=1)),
        )
    table = tables.metrics_table(rows, METRIC_KEYS)
    columns = " | ".join(["bicubic", *trained, "HR"])
    text = (
        f"Validation on {len(pairs)} held-out image(s) from {config.val_dir}, x{scale}, "
        f"Y channel and RGB, crop = {scale}:\n\n{table}\n\n"
        f"Comparison strips ({columns}) in {out_dir}\n"
    )
    print(text)
    atomic.write_text(os.path.join(config.workdir, "report.md"), text)
    atomic.write_json(os.path.join(config.workdir, "report.json"), rows)
    return rows
