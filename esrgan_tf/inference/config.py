"""Configs of the inference commands (light: no TensorFlow): how images are tiled (`Tiling`),
one `upscale` (`UpscaleConfig`), one `evaluate` (`EvaluateConfig`) and one `interpolate`
(`InterpolateConfig`) run.
"""

import dataclasses

from esrgan_tf.data.image_io import OUTPUT_FORMATS
from esrgan_tf.inference.video import CODECS
from esrgan_tf.metrics.config import LPIPS_NETS
from esrgan_tf.models.config import ARCHITECTURE_FIELDS, PRECISIONS, ModelConfig
from esrgan_tf.options import check_choice, option, parse_bytes

# What executes the generator (`esrgan_tf.inference.runtimes`); auto picks per machine.
RUNTIMES = ("auto", "tf", "xla", "tflite")
# 2 GiB of activations per model call: a 480x320 photo goes through the full-size RRDBNet x4
# in one call, and an 8 GB machine keeps room for the image, the output and TensorFlow.
DEFAULT_MAX_MEMORY = 2 * 2**30
MAX_PIXELS = 50_000_000  # LR pixels: the float32 output alone is 48 * this many bytes at x4.
ALPHA_UPSAMPLERS = ("bicubic", "model")


def weights_option(forms):
    """The `weights` field of a command that reads a generator in `forms`."""
    return option(help=f"Generator: {forms}.")


def architecture_option():
    """The generator-architecture flags of a command that reads weights: a `.weights.h5`
    does not record its architecture (a workdir has its config.json, the other forms'
    tensors say it, and must agree)."""
    return option(
        {},
        "Architecture of the weights where the file does not record it (default: ESRGAN's "
        "RRDBNet x4 with 23 blocks).",
        overrides=(ModelConfig, ARCHITECTURE_FIELDS),
    )


def runtime_option():
    return option(
        "auto",
        "What runs the generator: tf (tf.function), xla (jit_compile), tflite (LiteRT + "
        "XNNPACK, float32, converted once per model and cached in ~/.cache/esrgan_tf), or "
        "auto: tflite for a float32 model on a CPU for images of >= 0.5 LR megapixels or "
        "once converted, tf otherwise (GPUs, --precision bf16/fp16, exports).",
        choices=RUNTIMES,
    )


PROGRESS = "Show progress bars on stderr."
USE_EMA = "From a training checkpoint, use its EMA generator when it has one."


@dataclasses.dataclass(frozen=True)
class Tiling:
    """How an image is cut for inference (sizes in LR pixels; `esrgan_tf.inference.tiling`).
    The one owner of the tiling parameters of every command."""

    max_memory: int = option(
        DEFAULT_MAX_MEMORY,
        "Activation memory per model call, e.g. 512M, 2G, 8G: the tile size follows from it, "
        "and an image that fits is not tiled.",
        parse=parse_bytes,
        text="2G",
    )
    tile: int = option(0, "Upper limit of the LR tile size (0: only --max_memory limits it).")
    tile_pad: int = option(
        -1,
        "LR context pixels around each tile (-1: what the model's architecture needs for "
        "tiled == untiled within 1/255).",
    )
    tiles_per_call: int = option(
        1,
        "Equal-sized tiles stacked into one generator call (they share --max_memory).",
        aliases=("batch_size",),  # its name before 0.2; it never meant a training batch
    )

    def __post_init__(self):
        if self.max_memory < 1 or self.tile < 0 or self.tile_pad < -1 or self.tiles_per_call < 1:
            raise ValueError(
                "need max_memory >= 1, tile >= 0 (0 = from max_memory), tile_pad >= -1 "
                f"(-1 = from the model) and tiles_per_call >= 1; got {self}"
            )


@dataclasses.dataclass(frozen=True)
class UpscaleConfig:
    """One `python -m esrgan_tf.upscale` command (`esrgan_tf.inference.upscaling`)."""

    weights: str = weights_option(
        "a .weights.h5, a training workdir or checkpoint, a PyTorch .pth / .safetensors, an "
        "ncnn .param, zoo:<name>, or an exported SavedModel"
    )
    input: tuple[str, ...] = option(
        help="Comma-separated image / video files, folders (not recursive), globs."
    )
    output_dir: str = option(help="Where <stem><suffix>.<ext> files are written.")
    architecture: dict = architecture_option()
    suffix: str = option("", "Appended to each input's stem ('' = _x<final scale>).")
    tiling: Tiling = option(Tiling(), "Tiled inference.")
    use_ema: bool = option(True, USE_EMA)
    max_pixels: int = option(MAX_PIXELS, "Refuse inputs with more (LR) pixels.")
    outscale: float = option(
        0.0,
        "Final scale of the output (e.g. 2 with an x4 model, 3.5, or 1 to only restore), by "
        "MATLAB bicubic of the model's output; 0: the model's scale.",
    )
    width: int = option(0, "Target output width instead (0: none; alone: keeps the aspect).")
    height: int = option(0, "Target output height instead (0: none; alone: keeps the aspect).")
    ext: str = option(
        "png", "Image output format (16-bit inputs stay 16-bit in PNG).", choices=OUTPUT_FORMATS
    )
    quality: int = option(95, "JPEG / WebP quality, 1-100.")
    alpha_upsampler: str = option(
        "bicubic",
        "Alpha channel by MATLAB bicubic or through the SR model (as gray).",
        choices=ALPHA_UPSAMPLERS,
    )
    precision: str = option(
        "fp32",
        "Inference precision; a tile that comes out non-finite or black in half precision is "
        "redone in fp32.",
        choices=sorted(PRECISIONS),
    )
    seamless: bool = option(
        False, "Wrap-around context: the output of a texture tiles without seams."
    )
    denoise_strength: float | None = option(
        None,
        "For Real-ESRGAN's realesr-general-x4v3: 1 = its strong denoising, 0 = keep noise "
        "(its weak-denoise twin realesr-general-wdn-x4v3); in between, network interpolation "
        "of the two (Real-ESRGAN's -dn).",
    )
    denoise_weights: str = option(
        "",
        "The weak-denoise model of --denoise_strength ('' = realesr-general-wdn-x4v3 beside "
        "--weights).",
    )
    video_codec: str = option("libx264", "Video encoder.", choices=CODECS)
    crf: int = option(18, "Video constant rate factor (lower: better, bigger).")
    frames_per_call: int = option(4, "Video frames per generator call.")
    runtime: str = runtime_option()
    progress: bool = option(True, PROGRESS)

    def __post_init__(self):
        object.__setattr__(self, "input", tuple(self.input))
        if not self.weights or not self.input or not self.output_dir:
            raise ValueError("weights, input and output_dir are required")
        if self.denoise_weights and self.denoise_strength is None:
            raise ValueError("--denoise_weights goes with --denoise_strength")
        check_choice("--ext", self.ext, OUTPUT_FORMATS)
        if not 1 <= self.quality <= 100:
            raise ValueError(f"--quality must be in 1..100, got {self.quality}")
        check_choice("--alpha_upsampler", self.alpha_upsampler, ALPHA_UPSAMPLERS)
        check_choice("--precision", self.precision, sorted(PRECISIONS))
        if self.outscale < 0 or self.width < 0 or self.height < 0:
            raise ValueError("--outscale, --width and --height must be >= 0")
        if self.outscale and (self.width or self.height):
            raise ValueError("give --outscale or a target --width / --height, not both")
        check_choice("--video_codec", self.video_codec, CODECS)
        if self.frames_per_call < 1:
            raise ValueError("--frames_per_call must be >= 1")
        check_choice("--runtime", self.runtime, RUNTIMES)


@dataclasses.dataclass(frozen=True)
class EvaluateConfig:
    """One `python -m esrgan_tf.evaluate` run (`esrgan_tf.inference.evaluation`): the
    literature's protocol on benchmark folders, next to the bicubic baseline."""

    weights: str = weights_option(
        "a .weights.h5, a training workdir, a checkpoint prefix, imported weights, or an "
        "exported SavedModel (or its Serving base path)"
    )
    datasets: tuple[str, ...] = option(
        help="HR folders, e.g. data/Set5/HR,data/Set14/HR; a folder named HR is reported "
        "under its parent's name."
    )
    output_dir: str = option(help="Per-image CSVs, summary.md/.json, SR images.")
    architecture: dict = architecture_option()
    lr_dirs: tuple[str, ...] = option(
        (),
        "Their paired LR folders, in the same order ('' or empty = MATLAB bicubic of the "
        "mod-cropped HR).",
    )
    save_images: bool = option(False, "Write the SR images as PNG to <output_dir>/<dataset>/.")
    tiling: Tiling = option(Tiling(), "Tiled inference.")
    use_ema: bool = option(True, USE_EMA)
    progress: bool = option(True, PROGRESS)
    niqe: bool = option(
        True, "Also score NIQE (no reference, lower is better; Y, crop = scale, as BasicSR/PIRM)."
    )
    lpips_weights: str = option(
        "",
        "torchvision's ImageNet weights of the LPIPS backbone (alexnet-owt-7be5be79.pth, "
        "vgg16-397923af.pth, or an .npz made by esrgan_tf.metrics.lpips.convert_weights); "
        "'' = no LPIPS.",
    )
    lpips_net: str = option(
        "", "LPIPS backbone of --lpips_weights ('' = alex).", choices=("", *LPIPS_NETS)
    )
    runtime: str = runtime_option()

    def __post_init__(self):
        object.__setattr__(self, "datasets", tuple(self.datasets))
        object.__setattr__(self, "lr_dirs", tuple(self.lr_dirs) or ("",) * len(self.datasets))
        if not self.datasets:
            raise ValueError("--datasets is empty: give at least one HR folder")
        if len(self.lr_dirs) != len(self.datasets):
            raise ValueError(
                f"--lr_dirs has {len(self.lr_dirs)} entries for {len(self.datasets)} "
                "--datasets; give one per dataset ('' for bicubic LR)"
            )
        check_choice("--lpips_net", self.lpips_net, ("", *LPIPS_NETS))
        check_choice("--runtime", self.runtime, RUNTIMES)


@dataclasses.dataclass(frozen=True)
class InterpolateConfig:
    """One `python -m esrgan_tf.interpolate` run (`esrgan_tf.inference.interpolation`):
    theta = (1 - alpha) theta_PSNR + alpha theta_GAN (ESRGAN §3.4), a strip of one photo at
    each alpha, and the perception-distortion plane of the alphas."""

    psnr: str = option(help="PSNR-oriented generator: .weights.h5, workdir or checkpoint prefix.")
    gan: str = option(help="GAN generator fine-tuned from it (same forms).")
    alpha: float = option(
        0.8, "theta = (1 - alpha) theta_PSNR + alpha theta_GAN (ESRGAN §3.4), in [0, 1]."
    )
    output: str = option("", "Interpolated weights, ending .weights.h5 ('' = none).")
    architecture: dict = architecture_option()
    alphas: tuple[float, ...] = option(
        (0.0, 0.2, 0.4, 0.6, 0.8, 1.0),
        "Alphas of the comparison strip and the sweep (ESRGAN Fig. 10 uses steps of 0.2).",
    )
    image: str = option("", "LR photo of the comparison strip ('' = none).")
    image_hr: str = option(
        "",
        "HR photo of the strip ('' = none): each panel's title then shows its PSNR-Y too. "
        "Without --image, the LR is its MATLAB bicubic downscale.",
    )
    strip: str = option("", "Output PNG of the comparison strip, its panels titled.")
    tiling: Tiling = option(Tiling(), "Tiled inference of the strip and the sweep.")
    val_dir: str = option(
        "",
        "HR images to score every alpha on (PSNR/SSIM, NIQE on Y with crop = scale) for the "
        "perception-distortion plane ('' = no sweep).",
    )
    val_lr_dir: str = option("", "Their paired LR images ('' = MATLAB bicubic of the HR).")
    sweep_dir: str = option(
        "",
        "Where the sweep writes perception_distortion.csv and perception_distortion.png "
        "(the plot needs matplotlib: pip install -e '.[plot]').",
    )
    progress: bool = option(True, PROGRESS)

    def __post_init__(self):
        object.__setattr__(self, "alphas", tuple(self.alphas))
        if bool(self.image or self.image_hr) != bool(self.strip):
            raise ValueError(
                "--strip goes with --image and/or --image_hr (the PNG to write and its photo)"
            )
        if bool(self.val_dir) != bool(self.sweep_dir):
            raise ValueError("--val_dir and --sweep_dir go together (the HR images and the folder)")
        if self.val_lr_dir and not self.val_dir:
            raise ValueError("--val_lr_dir needs --val_dir (the HR images it pairs with)")
        if not self.output and not self.strip and not self.sweep_dir:
            raise ValueError(
                "nothing to do: give --output, --image or --image_hr with --strip, and/or "
                "--val_dir with --sweep_dir"
            )
