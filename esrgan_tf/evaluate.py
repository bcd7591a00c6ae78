"""python -m esrgan_tf.evaluate --weights=PATH --datasets=data/Set5/HR,data/Set14/HR
    --output_dir=results/x [--lr_dirs=...] [--save_images] [--tile=256]
    [--noniqe] [--lpips_weights=alexnet-owt-7be5be79.pth [--lpips_net=alex|vgg]]

Benchmarks a generator with the literature's conventions, next to the bicubic baseline:
PSNR/SSIM, NIQE, and LPIPS when its backbone weights are given.
Thin driver: flags -> `EvaluateConfig` -> `esrgan_tf.inference.evaluation.run` (protocol
and output files: see there). Weights: a `.weights.h5`, a training workdir, a checkpoint
prefix, or an exported SavedModel (a Serving base path means its newest version).
"""

from absl import flags

from esrgan_tf import cli, lpips
from esrgan_tf.config import GENERATORS
from esrgan_tf.inference import evaluation
from esrgan_tf.inference.tiling import Tiling
from esrgan_tf.inference.weights import resolve_model_config


def define_flags(fv=flags.FLAGS):
    """Flags of `python -m esrgan_tf.evaluate` into the FlagValues `fv`."""
    kw = dict(flag_values=fv)
    flags.DEFINE_string(
        "weights",
        None,
        "Generator: a .weights.h5, a training workdir, a "
        "checkpoint prefix or an exported SavedModel (or its Serving base "
        "path).",
        **kw,
    )
    flags.DEFINE_list(
        "datasets",
        [],
        "HR folders, e.g. data/Set5/HR,data/Set14/HR; a folder "
        "named HR is reported under its parent's name.",
        **kw,
    )
    flags.DEFINE_list(
        "lr_dirs",
        [],
        "Their paired LR folders, in the same order ('' or "
        "empty = MATLAB bicubic of the mod-cropped HR).",
        **kw,
    )
    flags.DEFINE_string("output_dir", None, "Per-image CSVs, summary.md/.json, SR images.", **kw)
    flags.DEFINE_boolean(
        "save_images", False, "Write the SR images as PNG to <output_dir>/<dataset>/.", **kw
    )
    flags.DEFINE_boolean(
        "use_ema", True, "From a training checkpoint, use its EMA generator.", **kw
    )
    flags.DEFINE_boolean(
        "niqe",
        True,
        "Also score NIQE (no reference, lower is better; Y, crop = scale, as BasicSR/PIRM): "
        "0.08 s per 512x512 image and method on a 2-core CPU.",
        **kw,
    )
    flags.DEFINE_string(
        "lpips_weights",
        "",
        "torchvision's ImageNet weights of the LPIPS backbone (alexnet-owt-7be5be79.pth, "
        "vgg16-397923af.pth, or an .npz made by esrgan_tf.lpips.convert_weights); '' = no LPIPS.",
        **kw,
    )
    flags.DEFINE_enum(
        "lpips_net", "alex", sorted(lpips.BACKBONES), "LPIPS backbone of --lpips_weights.", **kw
    )
    cli.define_tiling_flags(fv)
    cli.define_runtime_flag(fv)
    cli.define_progress_flag(fv)
    cli.define_architecture_flags(GENERATORS, fv)
    flags.adopt_module_key_flags(cli, flag_values=fv)  # --help lists the shared ones too
    flags.mark_flags_as_required(["weights", "output_dir"], flag_values=fv)


def config_from_flags(fv=flags.FLAGS):
    """The `EvaluateConfig` of parsed flags."""
    if not fv.datasets:
        raise ValueError("--datasets is empty: give at least one HR folder")
    lr_dirs = list(fv.lr_dirs) or [""] * len(fv.datasets)
    if len(lr_dirs) != len(fv.datasets):
        raise ValueError(
            f"--lr_dirs has {len(lr_dirs)} entries for {len(fv.datasets)} "
            "--datasets; give one per dataset ('' for bicubic LR)"
        )
    if fv["lpips_net"].present and not fv.lpips_weights:
        raise FileNotFoundError(
            f"--lpips_net without --lpips_weights. {lpips.backbone_help(fv.lpips_net)}"
        )
    return evaluation.EvaluateConfig(
        weights=fv.weights,
        model=resolve_model_config(fv.weights, cli.architecture_overrides(fv)),
        hr_dirs=tuple(fv.datasets),
        lr_dirs=tuple(lr_dirs),
        output_dir=fv.output_dir,
        save_images=fv.save_images,
        tiling=Tiling(**cli.tiling_values(fv)),
        runtime=fv.runtime,
        use_ema=fv.use_ema,
        progress=fv.progress,
        niqe=fv.niqe,
        lpips_weights=fv.lpips_weights,
        lpips_net=fv.lpips_net,
    )


def main():
    evaluation.run(config_from_flags())


if __name__ == "__main__":
    define_flags()
    cli.run(main)
