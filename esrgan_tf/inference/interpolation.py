"""Network interpolation (ESRGAN §3.4): the library of `python -m esrgan_tf.interpolate`.

Network interpolation: every parameter of the blended generator is
    theta_INTERP = (1 - alpha) * theta_PSNR + alpha * theta_GAN,   alpha in [0, 1],
which trades the PSNR model's fidelity against the GAN model's textures without
retraining. With --image and --strip it also writes one PNG with the photo
super-resolved at each of --alphas side by side (like ESRGAN Fig. 10). With --val_dir
and --sweep_dir it scores every alpha on those HR images (PSNR/SSIM, and NIQE on Y with
crop = scale, as `python -m esrgan_tf.evaluate`) and writes the perception-distortion
plane as CSV and PNG (`esrgan_tf.inference.perception_distortion`).
Both models must share one architecture: the GAN model is fine-tuned from the PSNR one.
"""

import os

from absl import logging
import numpy as np
import tqdm

from esrgan_tf import figures, tables
from esrgan_tf.data import image_io
from esrgan_tf.data.image_pairs import bicubic_downscale, load_pairs, mod_crop
from esrgan_tf.formats import generators, keras
from esrgan_tf.inference import perception_distortion
from esrgan_tf.inference.config import Tiling
from esrgan_tf.inference.tiling import tile_upscale
from esrgan_tf.metrics import niqe, scoring
from esrgan_tf.metrics.psnr_ssim import to_uint8
from esrgan_tf.models.builders import built_generator

# White gap between the images of a strip, in pixels (ESRGAN Fig. 10 separates its panels).
STRIP_GAP = figures.STRIP_GAP


def _check_alpha(alpha):
    if not 0.0 <= alpha <= 1.0:  # also rejects NaN
        raise ValueError(f"alpha must be in [0, 1] (ESRGAN §3.4), got {alpha}")


def _relative_path(variable):
    """A variable's path without the model's own name, so two models compare by layout."""
    return variable.path.split("/", 1)[-1]


def check_same_architecture(psnr_model, gan_model):
    """Raise ValueError naming the first variable whose path or shape differs."""
    a, b = psnr_model.weights, gan_model.weights
    for i in range(max(len(a), len(b))):
        va = a[i] if i < len(a) else None
        vb = b[i] if i < len(b) else None
        same = (
            va is not None
            and vb is not None
            and _relative_path(va) == _relative_path(vb)
            and tuple(va.shape) == tuple(vb.shape)
        )
        if not same:
            describe = lambda v: (
                "(none)"
                if v is None  # noqa: E731
                else f"{_relative_path(v)} {tuple(v.shape)}"
            )
            raise ValueError(
                f"the PSNR and GAN generators differ in architecture ({len(a)} vs {len(b)} "
                f"variables); first difference at variable {i}: PSNR {describe(va)} vs GAN "
                f"{describe(vb)}"
            )


def interpolate_weights(psnr_model, gan_model, alpha):
    """(1 - alpha) * theta_PSNR + alpha * theta_GAN for every variable (ESRGAN §3.4).

    Args:
        psnr_model, gan_model: built generators of the same architecture.
        alpha: in [0, 1]; 0 and 1 return the inputs' values bit for bit.
    Returns:
        A list of numpy arrays in `psnr_model.weights` order (for `set_weights`).
    Raises:
        ValueError: alpha outside [0, 1], or the architectures differ.
    """
    _check_alpha(alpha)
    check_same_architecture(psnr_model, gan_model)
    blended = []
    for vp, vg in zip(psnr_model.weights, gan_model.weights):
        p, g = np.asarray(vp.numpy()), np.asarray(vg.numpy())
        # Endpoints are copies: in floating point (1 - 0) * p + 0 * g turns -0.0 into +0.0.
        if alpha == 0.0:
            blended.append(p.copy())
        elif alpha == 1.0:
            blended.append(g.copy())
        elif not np.issubdtype(p.dtype, np.floating):
            if not np.array_equal(p, g):
                raise ValueError(
                    f"non-float variable {_relative_path(vp)} differs between "
                    "the models and cannot be interpolated"
                )
            blended.append(p.copy())
        else:
            mix = (1.0 - alpha) * p.astype(np.float64) + alpha * g.astype(np.float64)
            blended.append(mix.astype(p.dtype))
    return blended


def load_pair(psnr_path, gan_path, architecture=None):
    """Both generators (`formats.generators.load`; the GAN one must have the PSNR one's
    architecture), checked to share an architecture: (psnr model, gan model, ModelConfig)."""
    psnr = generators.load(psnr_path, architecture)
    gan = generators.load(gan_path, architecture or psnr.config.architecture())
    check_same_architecture(psnr.model, gan.model)
    return psnr.model, gan.model, psnr.config


def interpolate_files(psnr_path, gan_path, alpha, output_path, architecture=None):
    """Write the interpolated generator of two saved ones to `output_path` (.weights.h5).

    Nothing is written when anything fails (bad alpha, architectures, paths).
    Returns the ModelConfig of the written weights.
    """
    _check_alpha(alpha)
    if not output_path.endswith(".weights.h5"):
        raise ValueError(f"output {output_path!r} must end with .weights.h5")
    psnr_model, gan_model, config = load_pair(psnr_path, gan_path, architecture)
    psnr_model.set_weights(interpolate_weights(psnr_model, gan_model, alpha))
    keras.save_weights(psnr_model, output_path)
    return config


def _reference(hr_path, shape, scale):
    """The HR of the strip's photo, mod-cropped to the SR's shape (as `load_pairs` crops)."""
    hr = image_io.read_image(hr_path)
    height, width = shape[:2]
    if not (height <= hr.shape[0] < height + scale and width <= hr.shape[1] < width + scale):
        raise ValueError(
            f"--image_hr {hr_path!r} is {hr.shape[1]}x{hr.shape[0]}, but x{scale} of --image "
            f"is {width}x{height}: give the HR whose x{scale} downscale is --image"
        )
    return hr[:height, :width]


def comparison_strip(
    psnr_path,
    gan_path,
    alphas,
    image_path,
    output_path,
    architecture=None,
    tiling=Tiling(),
    gap=STRIP_GAP,
    hr_path="",
):
    """Super-resolve a photo at each alpha; one PNG, the panels side by side.

    The photo is `image_path` (the LR), its HR `hr_path`, or both: with only the HR, the LR
    is its MATLAB bicubic downscale (as validation makes it). The panels, in the order of
    `alphas` and separated by `gap` white columns, are titled with their alpha, their PSNR-Y
    (when the HR is known) and their NIQE (crop = scale; where the image is big enough), then
    the HR itself. Returns the strip as an HxWx3 uint8 array.
    """
    for alpha in alphas:
        _check_alpha(alpha)
    if not alphas:
        raise ValueError("alphas is empty")
    if not image_path and not hr_path:
        raise ValueError("the strip needs a photo: --image (LR) and/or --image_hr (HR)")
    psnr_model, gan_model, config = load_pair(psnr_path, gan_path, architecture)
    blend_into = built_generator(config)
    scale = config.scale
    if image_path:
        lr = image_io.read_image(image_path)
        hr = _reference(hr_path, np.multiply(lr.shape[:2], scale), scale) if hr_path else None
    else:
        hr = mod_crop(image_io.read_image(hr_path), scale)
        lr = bicubic_downscale(hr, scale)
    panels, titles = [], []
    for alpha in alphas:
        blend_into.set_weights(interpolate_weights(psnr_model, gan_model, alpha))
        sr = to_uint8(np.clip(tile_upscale(blend_into, lr, scale, tiling), 0.0, 1.0))
        name = f"alpha {alpha:g}"
        psnr_y = None
        if hr is not None:
            psnr_y = scoring.score(sr, hr, scale, with_niqe=False)["psnr_y"]
        panels.append(sr)
        titles.append([name, *figures.metric_lines(psnr_y, scoring.niqe_or_none(sr, scale, name))])
    if hr is not None:
        panels.append(to_uint8(hr))
        titles.append(["HR", *figures.metric_lines(niqe=scoring.niqe_or_none(hr, scale, "HR"))])
    strip = figures.labelled_strip(panels, titles, gap)
    os.makedirs(os.path.dirname(os.path.abspath(output_path)), exist_ok=True)
    image_io.write_png(output_path, strip)
    return strip


def sweep_pairs(val_dir, scale, val_lr_dir=""):
    """The (LR, HR) pairs of `val_dir` that NIQE can score (warns about the others).

    An image too small for NIQE is left out of the sweep altogether, so that both
    coordinates of every point come from the same images.
    """
    pairs = load_pairs(val_dir, scale, lr_dir=val_lr_dir)
    if not pairs:
        raise FileNotFoundError(f"no images in {val_dir!r}")
    small = [p.name for p in pairs if not niqe.fits(*p.hr.shape[:2], scale)]
    if len(small) == len(pairs):
        raise ValueError(
            f"no image in {val_dir!r} is big enough for NIQE, which needs two 96x96 blocks "
            f"(at least 96x192 pixels) after the crop of {scale}: give larger photos"
        )
    if small:
        logging.warning(
            "Left out of the perception-distortion sweep, too small for NIQE (96x192 pixels "
            "after the crop of %d): %s",
            scale,
            ", ".join(small),
        )
    return [p for p in pairs if p.name not in small]


def alpha_sweep(psnr_model, gan_model, model_config, alphas, pairs, tiling=Tiling(), progress=True):
    """The mean metrics of the blend at each alpha on `pairs` (`scoring.score`, crop = scale).

    Args:
        psnr_model, gan_model: built generators of one architecture, `model_config`'s.
        alphas: the alphas, each in [0, 1].
        pairs: `ImagePair`s (LR, HR) to score.
    Returns:
        [{"alpha", "psnr_y", "ssim_y", "psnr_rgb", "ssim_rgb", "niqe"}] in the order of alphas.
    """
    for alpha in alphas:
        _check_alpha(alpha)
    scale = model_config.scale
    blend_into = built_generator(model_config)  # psnr_model keeps theta_PSNR for every alpha
    keys = scoring.metric_keys(with_niqe=True)
    rows = []
    bar = tqdm.tqdm(
        total=len(alphas) * len(pairs), desc="alpha sweep", unit="image", disable=not progress
    )
    with bar:
        for alpha in alphas:
            blend_into.set_weights(interpolate_weights(psnr_model, gan_model, alpha))
            per_image = []
            for pair in pairs:
                sr = np.clip(tile_upscale(blend_into, pair.lr, scale, tiling), 0.0, 1.0)
                per_image.append(
                    scoring.score(sr, pair.hr, scale, name=f"alpha {alpha:g}/{pair.name}")
                )
                bar.update(1)
            rows.append({"alpha": float(alpha), **scoring.mean_scores(per_image, keys)})
    return rows


def perception_distortion_files(
    psnr_path,
    gan_path,
    alphas,
    val_dir,
    out_dir,
    architecture=None,
    tiling=Tiling(),
    val_lr_dir="",
    progress=True,
):
    """Score every alpha on `val_dir`; write `perception_distortion.csv` and `.png` to out_dir.

    The CSV is always written; the plot needs matplotlib (an optional extra), and without it
    a warning says how to install it. Returns (rows, csv path, png path or None).
    """
    if not alphas:
        raise ValueError("alphas is empty")
    for alpha in alphas:
        _check_alpha(alpha)
    psnr_model, gan_model, config = load_pair(psnr_path, gan_path, architecture)
    pairs = sweep_pairs(val_dir, config.scale, val_lr_dir)
    if not perception_distortion.plot_available():
        logging.warning("%s", perception_distortion.MATPLOTLIB_MISSING)
    rows = alpha_sweep(psnr_model, gan_model, config, alphas, pairs, tiling, progress)
    os.makedirs(out_dir, exist_ok=True)
    csv_path = os.path.join(out_dir, perception_distortion.CSV_NAME)
    perception_distortion.write_csv(csv_path, rows)
    png_path = os.path.join(out_dir, perception_distortion.PLOT_NAME)
    title = (
        f"Network interpolation on {len(pairs)} image(s) of {os.path.basename(val_dir)}, "
        f"x{config.scale}"
    )
    try:
        perception_distortion.write_plot(png_path, rows, title)
    except (ImportError, ValueError) as err:  # the CSV holds the numbers either way
        logging.warning("No perception-distortion plot: %s", err)
        png_path = None
    return rows, csv_path, png_path


def run(config):
    """Everything one InterpolateConfig asks for."""
    if config.output:
        interpolate_files(config.psnr, config.gan, config.alpha, config.output, config.architecture)
        logging.info("Wrote the alpha = %g generator to %s", config.alpha, config.output)
    if config.strip:
        comparison_strip(
            config.psnr,
            config.gan,
            config.alphas,
            config.image,
            config.strip,
            config.architecture,
            config.tiling,
            hr_path=config.image_hr,
        )
        logging.info("Wrote the comparison strip (alphas %s) to %s", config.alphas, config.strip)
    if config.sweep_dir:
        rows, csv_path, png_path = perception_distortion_files(
            config.psnr,
            config.gan,
            config.alphas,
            config.val_dir,
            config.sweep_dir,
            config.architecture,
            config.tiling,
            config.val_lr_dir,
            config.progress,
        )
        print(
            tables.metrics_table(
                {f"alpha {r['alpha']:g}": r for r in rows},
                perception_distortion.COLUMNS[1:],
                first_column="blend",
            )
        )
        logging.info("Wrote %s and %s", csv_path, png_path or "no plot")


# Real-ESRGAN's general model and its "weak denoise" twin (its release: realesr-general-x4v3
# and realesr-general-wdn-x4v3, the same SRVGGNetCompact trained to keep more noise).
GENERAL_MODEL = "realesr-general-x4v3"
GENERAL_WDN_MODEL = "realesr-general-wdn-x4v3"


def denoise_weights_of(path):
    """The weak-denoise twin of a realesr-general-x4v3 file: same folder and extension."""
    folder, name = os.path.split(path)
    if GENERAL_MODEL not in name:
        raise ValueError(
            f"--denoise_strength blends {GENERAL_MODEL} with {GENERAL_WDN_MODEL}; {path!r} is "
            "not the former (give the latter with --denoise_weights)"
        )
    return os.path.join(folder, name.replace(GENERAL_MODEL, GENERAL_WDN_MODEL))


def denoise_blend(path, strength, wdn_path=""):
    """Real-ESRGAN's `--denoise_strength` (its `-dn`): theta = strength * theta_general +
    (1 - strength) * theta_wdn, network interpolation of the general model and its
    weak-denoise twin (strength 1: the general model, strong denoising; 0: keep noise).

    Returns (model, model_config) of the blend.
    """
    _check_alpha(strength)
    wdn_path = wdn_path or denoise_weights_of(path)
    if not os.path.exists(wdn_path):
        raise FileNotFoundError(
            f"--denoise_strength needs the weak-denoise model {wdn_path!r} (Real-ESRGAN's "
            f"{GENERAL_WDN_MODEL}) next to {path!r}, or --denoise_weights"
        )
    wdn_model, general_model, config = load_pair(wdn_path, path)
    wdn_model.set_weights(interpolate_weights(wdn_model, general_model, strength))
    logging.info(
        "Denoise strength %g: %g x %s + %g x %s", strength, strength, path, 1 - strength, wdn_path
    )
    return wdn_model, config
