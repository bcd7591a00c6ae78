"""python -m esrgan_tf.interpolate --psnr=A --gan=B --alpha=0.8 --output=C.weights.h5
    [--alphas=0,0.2,0.4,0.6,0.8,1 --image=photo.png --strip=strip.png]
    [--val_dir=data/quickstart/val_hr --sweep_dir=results/sweep]

Network interpolation (ESRGAN §3.4): theta = (1 - alpha) theta_PSNR + alpha theta_GAN, a
strip of one photo at each alpha (like ESRGAN Fig. 10), and the perception-distortion plane
of the alphas on HR images (PSNR-Y against NIQE: perception_distortion.csv and .png). Thin
driver: flags -> `InterpolateConfig` -> `esrgan_tf.inference.interpolation.run`.
"""

from absl import flags

from esrgan_tf import cli
from esrgan_tf.config import GENERATORS
from esrgan_tf.inference import interpolation
from esrgan_tf.inference.tiling import Tiling
from esrgan_tf.inference.weights import resolve_model_config


def define_flags(fv=flags.FLAGS):
    """Flags of `python -m esrgan_tf.interpolate` into the FlagValues `fv`."""
    kw = dict(flag_values=fv)
    flags.DEFINE_string(
        "psnr", None, "PSNR-oriented generator: .weights.h5, workdir or checkpoint prefix.", **kw
    )
    flags.DEFINE_string("gan", None, "GAN generator fine-tuned from it (same forms).", **kw)
    flags.DEFINE_float(
        "alpha",
        0.8,
        "theta = (1 - alpha) theta_PSNR + alpha theta_GAN (ESRGAN §3.4), in [0, 1].",
        **kw,
    )
    flags.DEFINE_string("output", "", "Interpolated weights, ending .weights.h5 ('' = none).", **kw)
    flags.DEFINE_list(
        "alphas",
        ["0", "0.2", "0.4", "0.6", "0.8", "1"],
        "Alphas of the comparison strip and the sweep (ESRGAN Fig. 10 uses steps of 0.2).",
        **kw,
    )
    flags.DEFINE_string("image", "", "LR photo of the comparison strip ('' = no strip).", **kw)
    flags.DEFINE_string("strip", "", "Output PNG of the comparison strip.", **kw)
    flags.DEFINE_string(
        "val_dir",
        "",
        "HR images to score every alpha on (PSNR/SSIM, NIQE on Y with crop = scale) for the "
        "perception-distortion plane ('' = no sweep).",
        **kw,
    )
    flags.DEFINE_string(
        "val_lr_dir", "", "Their paired LR images ('' = MATLAB bicubic of the HR).", **kw
    )
    flags.DEFINE_string(
        "sweep_dir",
        "",
        "Where the sweep writes perception_distortion.csv and perception_distortion.png "
        "(the plot needs matplotlib: pip install -e '.[plot]').",
        **kw,
    )
    cli.define_progress_flag(fv)
    cli.define_tiling_flags(fv)
    cli.define_architecture_flags(GENERATORS, fv)
    flags.adopt_module_key_flags(cli, flag_values=fv)  # --help lists the shared ones too
    flags.mark_flags_as_required(["psnr", "gan"], flag_values=fv)


def config_from_flags(fv=flags.FLAGS):
    """The `InterpolateConfig` of parsed flags."""
    if bool(fv.image) != bool(fv.strip):
        raise ValueError("--image and --strip go together (the photo and the PNG to write)")
    if bool(fv.val_dir) != bool(fv.sweep_dir):
        raise ValueError("--val_dir and --sweep_dir go together (the HR images and the folder)")
    if fv.val_lr_dir and not fv.val_dir:
        raise ValueError("--val_lr_dir needs --val_dir (the HR images it pairs with)")
    if not fv.output and not fv.strip and not fv.sweep_dir:
        raise ValueError(
            "nothing to do: give --output, --image with --strip, and/or --val_dir with --sweep_dir"
        )
    return interpolation.InterpolateConfig(
        psnr=fv.psnr,
        gan=fv.gan,
        alpha=fv.alpha,
        output=fv.output,
        model=resolve_model_config(fv.psnr, cli.architecture_overrides(fv)),
        alphas=cli.float_list(fv.alphas, "alphas"),
        image=fv.image,
        strip=fv.strip,
        tiling=Tiling(**cli.tiling_values(fv)),
        val_dir=fv.val_dir,
        val_lr_dir=fv.val_lr_dir,
        sweep_dir=fv.sweep_dir,
        progress=fv.progress,
    )


def main():
    interpolation.run(config_from_flags())


if __name__ == "__main__":
    define_flags()
    cli.run(main)
