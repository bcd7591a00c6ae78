"""The config of `python -m esrgan_tf.export` and the names of its artifacts (light: no
TensorFlow)."""

import dataclasses

from esrgan_tf.data.config import SKIMAGE
from esrgan_tf.models.config import ARCHITECTURE_FIELDS, PRECISIONS, ModelConfig
from esrgan_tf.options import check_choice, option, parse_size

# TFLite variants (`esrgan_tf.deploy.tflite`) and input shapes.
VARIANTS = ("fp32", "fp16", "dynamic_int8", "int8")
# ONNX precisions (`esrgan_tf.deploy.onnx`).
ONNX_PRECISIONS = ("fp32", "fp16")
SHAPES = ("dynamic", "fixed")
# LR pixels per SavedModel request. Full-size RRDBNet x4 needs roughly 10 KB of activations
# per LR pixel at its widest (the HR-resolution convs), so 512 x 512 costs a few GB.
DEFAULT_MAX_PIXELS = 512 * 512


@dataclasses.dataclass(frozen=True)
class ExportConfig:
    """One `python -m esrgan_tf.export` run (`esrgan_tf.deploy.export`): a SavedModel for TF
    Serving and TFLite models, each checked against the Keras model, published together."""

    weights: str = option(
        help="Generator: a .weights.h5, a training workdir or checkpoint prefix, or imported "
        "weights (.pth / .safetensors, ncnn .param, zoo:<name>)."
    )
    output_dir: str = option(
        help="TF Serving base path: the SavedModel goes to <output_dir>/<version>, TFLite "
        "models to <output_dir>/tflite/v<version>, the report to <output_dir>/reports."
    )
    architecture: dict = option(
        {},
        "Architecture of the weights where the file does not record it (default: ESRGAN's "
        "RRDBNet x4 with 23 blocks).",
        overrides=(ModelConfig, ARCHITECTURE_FIELDS),
    )
    version: int = option(0, "SavedModel version (0: the next free number).")
    max_pixels: int = option(
        DEFAULT_MAX_PIXELS,
        "LR pixels per SavedModel request (N*H*W; H*W per image for encoded images); more is "
        "refused.",
    )
    precision: str = option("fp32", "SavedModel weights and maths.", choices=sorted(PRECISIONS))
    tflite: tuple[str, ...] = option(VARIANTS, "TFLite variants ('' for none).", choices=VARIANTS)
    onnx: tuple[str, ...] = option(
        (),
        "ONNX models to write to <output_dir>/onnx/v<version> (fp32, fp16; NCHW, dynamic "
        'shapes): needs pip install -e ".[onnx]". Empty: none.',
        choices=ONNX_PRECISIONS,
    )
    web: bool = option(
        False,
        "Also write an upscaler web page to <output_dir>/web/v<version>: the model as ONNX, "
        "the page and onnxruntime-web vendored from npm (needs npm and the [onnx] extra); "
        "serve it with python -m http.server.",
    )
    tflite_shapes: tuple[str, ...] = option(
        SHAPES,
        "TFLite input shapes: 'dynamic' ([1, -1, -1, 3]) and/or 'fixed' ([1, H, W, 3] of "
        "--input_size).",
        choices=SHAPES,
    )
    input_size: tuple[int, ...] = option(
        (64, 64),
        "LR size 'N' or 'HxW' of the fixed TFLite models, the parity samples and the "
        "calibration patches.",
        parse=parse_size,
        text="64",
    )
    samples: str = option(
        SKIMAGE,
        "Parity samples: 'skimage' (its photos rocket, coffee, chelsea) or a folder of HR "
        "images (centre crops).",
    )
    num_samples: int = option(3, "Parity samples (one centre crop per photo).")
    calibration_data: str = option(
        SKIMAGE,
        "int8 calibration patches: 'skimage', a folder of HR images, or training shards "
        "(prepare output / glob).",
    )
    num_calibration: int = option(32, "Calibration patches.")
    latency_runs: int = option(5, "Timed runs per artifact (median reported) after a warm-up.")
    enforce_tolerances: bool = option(
        True, "Fail, publishing nothing, when an artifact is outside its tolerance."
    )
    use_ema: bool = option(True, "From a training checkpoint, use its EMA generator.")
    progress: bool = option(True, "Show progress bars on stderr.")

    def __post_init__(self):
        object.__setattr__(self, "tflite", tuple(self.tflite))
        object.__setattr__(self, "tflite_shapes", tuple(self.tflite_shapes))
        object.__setattr__(self, "onnx", tuple(self.onnx))
        for precision in self.onnx:
            check_choice("onnx", precision, ONNX_PRECISIONS)
        if not self.weights or not self.output_dir:
            raise ValueError("weights and output_dir are required")
        check_choice("precision", self.precision, sorted(PRECISIONS))
        for variant in self.tflite:
            if variant not in VARIANTS:
                raise ValueError(
                    f"unknown TFLite variant {variant!r}; choose from {', '.join(VARIANTS)}"
                )
        for shape in self.tflite_shapes:
            if shape not in SHAPES:
                raise ValueError(f"unknown TFLite shape {shape!r}; choose from {', '.join(SHAPES)}")
        if self.tflite and not self.tflite_shapes:
            raise ValueError("TFLite variants were asked for but no --tflite_shapes")
        for name in ("version", "num_samples", "num_calibration", "latency_runs"):
            if getattr(self, name) < (0 if name == "version" else 1):
                raise ValueError(f"{name} must be positive, got {getattr(self, name)}")
