"""python -m esrgan_tf.upscale --weights=PATH --input=a.png,photos/,clip.mp4 --output_dir=OUT

Super-resolves image and video files with a trained generator (any weights form: a training
run, .weights.h5, .pth / .safetensors, ncnn .param, zoo:<name>, an export), tile by tile
within --max_memory, exactly as untiled. Thin driver: flags -> `UpscaleConfig` ->
`esrgan_tf.inference.upscaling.run` (modes, alpha, metadata, outscale, precision, seamless,
naming: see there; videos: `esrgan_tf.inference.video`). A failing or skipped file is
reported with its reason and the rest still run; the exit status is 1 if any file failed.

  python -m esrgan_tf.upscale --weights=zoo:realesrgan-x4plus --input=photos/ --output_dir=up \
      --outscale=2 --ext=jpg --quality=92
  python -m esrgan_tf.upscale --weights=zoo:realesr-animevideov3 --input=clip.mp4 \
      --output_dir=up --crf=20
"""

import sys

from absl import flags

from esrgan_tf import cli
from esrgan_tf.config import GENERATORS
from esrgan_tf.data import image_io
from esrgan_tf.inference import upscaling, video
from esrgan_tf.inference.tiling import Tiling
from esrgan_tf.inference.weights import resolve_model_config
from esrgan_tf.models.builders import PRECISIONS


def define_flags(fv=flags.FLAGS):
    """Flags of `python -m esrgan_tf.upscale` into the FlagValues `fv`."""
    kw = dict(flag_values=fv)
    flags.DEFINE_string(
        "weights",
        None,
        "Generator: a .weights.h5, a training workdir or checkpoint, a PyTorch .pth / "
        ".safetensors, an ncnn .param, zoo:<name>, or an exported SavedModel.",
        **kw,
    )
    flags.DEFINE_list(
        "input", None, "Comma-separated image / video files, folders (not recursive), globs.", **kw
    )
    flags.DEFINE_string("output_dir", None, "Where <stem><suffix>.<ext> files are written.", **kw)
    flags.DEFINE_string("suffix", "", "Appended to each input's stem ('' = _x<final scale>).", **kw)
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
    flags.DEFINE_float(
        "outscale",
        0.0,
        "Final scale of the output (e.g. 2 with an x4 model, 3.5, or 1 to "
        "only restore), by MATLAB bicubic of the model's output; 0: the model's scale.",
        **kw,
    )
    flags.DEFINE_integer("width", 0, "Target output width instead (0: none).", **kw)
    flags.DEFINE_integer("height", 0, "Target output height instead (0: none).", **kw)
    flags.DEFINE_enum(
        "ext",
        "png",
        list(image_io.OUTPUT_FORMATS),
        "Image output format (16-bit inputs stay 16-bit in PNG).",
        **kw,
    )
    flags.DEFINE_integer("quality", 95, "JPEG / WebP quality, 1-100.", **kw)
    flags.DEFINE_enum(
        "alpha_upsampler",
        "bicubic",
        list(upscaling.ALPHA_UPSAMPLERS),
        "Alpha channel by MATLAB bicubic or through the SR model (as gray).",
        **kw,
    )
    flags.DEFINE_enum(
        "precision",
        "fp32",
        sorted(PRECISIONS),
        "Inference precision; a tile that "
        "comes out non-finite or black in half precision is redone in fp32.",
        **kw,
    )
    flags.DEFINE_boolean(
        "seamless", False, "Wrap-around context: the output of a texture tiles without seams.", **kw
    )
    flags.DEFINE_enum("video_codec", "libx264", list(video.CODECS), "Video encoder.", **kw)
    flags.DEFINE_integer("crf", 18, "Video constant rate factor (lower: better, bigger).", **kw)
    flags.DEFINE_integer("frames_per_call", 4, "Video frames per generator call.", **kw)
    cli.define_tiling_flags(fv)
    cli.define_runtime_flag(fv)
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
        runtime=fv.runtime,
        use_ema=fv.use_ema,
        max_pixels=fv.max_pixels,
        outscale=fv.outscale,
        width=fv.width,
        height=fv.height,
        ext=fv.ext,
        quality=fv.quality,
        alpha_upsampler=fv.alpha_upsampler,
        precision=fv.precision,
        seamless=fv.seamless,
        video_codec=fv.video_codec,
        crf=fv.crf,
        frames_per_call=fv.frames_per_call,
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
