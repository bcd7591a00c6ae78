"""python -m esrgan_tf.upscale --weights=PATH --input=a.png,photos/,scans/*.tif --output_dir=OUT

Super-resolves image files with a trained generator, tile by tile (bounded memory).
Thin driver: flags -> `UpscaleConfig` -> `esrgan_tf.inference.upscaling.run` (image modes,
alpha, EXIF, naming: see there). A failing file is reported and the rest still run; the
exit status is 1 if any file failed.
"""

import sys

from absl import flags

from esrgan_tf import cli
from esrgan_tf.config import GENERATORS
from esrgan_tf.inference import upscaling
from esrgan_tf.inference.tiling import Tiling
from esrgan_tf.inference.weights import resolve_model_config


def define_flags(fv=flags.FLAGS):
    """Flags of `python -m esrgan_tf.upscale` into the FlagValues `fv`."""
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
        "input", None, "Comma-separated image files, folders (not recursive) and globs.", **kw
    )
    flags.DEFINE_string("output_dir", None, "Where <stem><suffix>.png files are written.", **kw)
    flags.DEFINE_string("suffix", "", "Appended to each input's stem ('' = _x<scale>).", **kw)
    flags.DEFINE_boolean(
        "use_ema", True, "From a training checkpoint, use its EMA generator when it has one.", **kw
    )
    flags.DEFINE_integer(
        "max_pixels", upscaling.MAX_PIXELS, "Refuse inputs with more (LR) pixels.", **kw
    )
    flags.DEFINE_float(
        "denoise_strength",
        None,
        "For Real-ESRGAN's realesr-general-x4v3: 1 = its strong denoising, 0 = keep noise "
        "(its weak-denoise twin realesr-general-wdn-x4v3); in between, network "
        "interpolation of the two (Real-ESRGAN's -dn).",
        **kw,
    )
    flags.DEFINE_string(
        "denoise_weights",
        "",
        "The weak-denoise model of --denoise_strength ('' = realesr-general-wdn-x4v3 beside "
        "--weights).",
        **kw,
    )
    cli.define_tiling_flags(fv)
    cli.define_progress_flag(fv)
    cli.define_architecture_flags(GENERATORS, fv)
    flags.adopt_module_key_flags(cli, flag_values=fv)  # --help lists the shared ones too
    flags.mark_flags_as_required(["weights", "input", "output_dir"], flag_values=fv)


def config_from_flags(fv=flags.FLAGS):
    """The `UpscaleConfig` of parsed flags."""
    return upscaling.UpscaleConfig(
        weights=fv.weights,
        inputs=tuple(fv.input),
        output_dir=fv.output_dir,
        model=resolve_model_config(fv.weights, cli.architecture_overrides(fv)),
        suffix=fv.suffix,
        tiling=Tiling(**cli.tiling_values(fv)),
        use_ema=fv.use_ema,
        max_pixels=fv.max_pixels,
        denoise_strength=fv.denoise_strength,
        denoise_weights=fv.denoise_weights,
        progress=fv.progress,
    )


def main():
    config = config_from_flags()
    outputs, failures = upscaling.run(config)
    # The per-file FAILED lines came as they happened; the summary names them again.
    print(
        f"upscale: {len(outputs)} written to {config.output_dir}, {len(failures)} failed"
        + (": " + ", ".join(path for path, _ in failures) if failures else ""),
        file=sys.stderr,
    )
    return 1 if failures else 0


if __name__ == "__main__":
    define_flags()
    cli.run(main)
