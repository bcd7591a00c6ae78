"""The comparison at the end of a two-stage run: bicubic, PSNR model and GAN model.

`compare_and_write` prints the table the README shows (bicubic, PSNR model, GAN model on
the held-out photos; PSNR/SSIM on Y and RGB and NIQE on Y, crop = scale), then each photo's
PSNR-Y gain over bicubic with every photo a model loses on marked (`gain_table`: a mean can
hide a photo made worse), and writes LR-bicubic | PSNR | GAN | HR strips, each panel titled
with its method, PSNR-Y and NIQE, to <workdir>/comparison/.
"""

from absl import logging
import numpy as np

from esrgan_tf import atomic, figures, files, tables
from esrgan_tf.data import image_io
from esrgan_tf.data.image_pairs import bicubic_upscale, load_pairs
from esrgan_tf.metrics import scoring
from esrgan_tf.metrics.psnr_ssim import to_uint8
from esrgan_tf.training import validation

METRIC_KEYS = validation.KEYS
COMPARISON_SUBDIR = "comparison"
BICUBIC = "bicubic"
LOSES = "loses to bicubic"
GAIN_KEY = "psnr_y"  # the literature's headline number


def gains(per_image, baseline=BICUBIC, key=GAIN_KEY):
    """{model: {photo: `key` of the model - `key` of the baseline}} of every other method.

    Args:
        per_image: {method: {photo: metrics}}, the baseline among the methods.
    """
    base = per_image[baseline]
    return {
        method: {photo: values[photo][key] - base[photo][key] for photo in base}
        for method, values in per_image.items()
        if method != baseline
    }


def _gain_cell(gain):
    return f"{gain:+.2f}" + (f" **{LOSES}**" if gain < 0 else "")


def gain_table(per_image, keys=(GAIN_KEY,), baseline=BICUBIC):
    """Markdown table: a row per photo and the mean, each method's `keys`, and every model's
    PSNR-Y gain over the baseline in dB, marked "loses to bicubic" where it is negative.

    Args:
        per_image: {method: {photo: metrics}} in column order, the baseline among them.
    """
    photos = list(per_image[baseline])
    gain = gains(per_image, baseline)
    header, rows = ["photo"], [[photo] for photo in photos] + [["**mean**"]]
    for method, values in per_image.items():
        for key in keys:
            header.append(f"{method} {key}")
            column = [values[photo][key] for photo in photos]
            for row, value in zip(rows, column + [float(np.mean(column))]):
                row.append(tables.metric_cell(key, value))
        if method in gain:
            header.append(f"{method} gain (dB)")
            column = [gain[method][photo] for photo in photos]
            for row, value in zip(rows, column + [float(np.mean(column))]):
                row.append(_gain_cell(value))
    return tables.markdown(header, rows)


def gain_summary(per_image, baseline=BICUBIC):
    """One line per model: its mean and worst PSNR-Y gain and the photos it loses on."""
    lines = []
    for method, values in gains(per_image, baseline).items():
        worst = min(values, key=values.get)
        losing = [photo for photo, gain in values.items() if gain < 0]
        lines.append(
            f"{method}: {np.mean(list(values.values())):+.2f} dB PSNR-Y over {baseline} on "
            f"average, worst {worst} {values[worst]:+.2f} dB; "
            + (
                f"{LOSES} on {len(losing)} of {len(values)}: {', '.join(losing)}."
                if losing
                else f"better than {baseline} on all {len(values)} photos."
            )
        )
    return "\n".join(lines)


def comparison_strip(pair, outputs, per_image, scale):
    """LR-bicubic | each model | HR of one photo, every panel titled with its method, PSNR-Y
    and NIQE (the HR: NIQE only).

    Args:
        pair: the photo's `ImagePair`.
        outputs: {model: {photo: SR image}} of the trained models, in column order.
        per_image: {method: {photo: metrics}}, bicubic's and every model's.
    """
    panels = [bicubic_upscale(pair.lr, scale)] + [outputs[m][pair.name] for m in outputs]
    titles = []
    for method in [BICUBIC, *outputs]:
        scores = per_image[method][pair.name]
        label = method if method == BICUBIC else f"{method} model"
        titles.append([label, *figures.metric_lines(scores[GAIN_KEY], scores.get(scoring.NIQE))])
    hr_niqe = scoring.niqe_or_none(pair.hr, scale, f"{pair.name} (HR)")
    titles.append(["HR", *figures.metric_lines(niqe=hr_niqe)])
    panels.append(pair.hr)
    return figures.labelled_strip([to_uint8(p) for p in panels], titles)


def compare_and_write(trained, config):
    """Evaluate bicubic and every trained stage on the validation set; write the report.

    Args:
        trained: {stage name: `loop.Controller`} in training order ("psnr", "gan").
        config: the final stage's TrainConfig (its val_dir, scale and workdir).
    Returns:
        {model name: mean metrics}; NIQE is None where no validation image is big enough.
    """
    if not config.val_dir:
        logging.warning("--report needs --val_dir; skipping the comparison.")
        return {}
    scale = config.model.scale
    pairs = load_pairs(config.val_dir, scale, config.max_val_images, config.val_lr_dir)
    bicubic = validation.evaluate_bicubic(pairs, scale)
    rows = {BICUBIC: bicubic["mean"]}
    per_image = {BICUBIC: dict(bicubic["per_image"])}
    outputs = {}
    for name, controller in trained.items():
        result = validation.evaluate(controller.trainer.eval_generator(), pairs, scale)
        rows[name] = result["mean"]
        per_image[name] = dict(result["per_image"])
        outputs[name] = result["outputs"]
    out_dir = files.join(config.workdir, COMPARISON_SUBDIR)
    files.makedirs(out_dir)
    for pair in pairs:
        image_io.write_png(
            files.join(out_dir, f"{pair.name}.png"),
            comparison_strip(pair, outputs, per_image, scale),
        )
    table = tables.metrics_table(rows, METRIC_KEYS)
    columns = " | ".join(["bicubic", *trained, "HR"])
    note = validation.niqe_note(pairs, scale)
    note = f"{note}\n\n" if note else ""
    text = (
        f"Validation on {len(pairs)} held-out image(s) from {config.val_dir}, x{scale}. "
        f"{scoring.conventions(scale)}\n\n{table}\n\n{note}"
        f"Per photo, PSNR-Y (dB) and the gain over bicubic:\n\n{gain_table(per_image)}\n\n"
        f"{gain_summary(per_image)}\n\n"
        f"Comparison strips ({columns}) in {out_dir}\n"
    )
    print(text)
    atomic.write_text(files.join(config.workdir, "report.md"), text)
    atomic.write_json(files.join(config.workdir, "report.json"), rows)
    atomic.write_json(files.join(config.workdir, "report_per_image.json"), per_image)
    return rows
