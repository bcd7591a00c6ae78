"""The config of `python -m esrgan_tf.convert` (light: no TensorFlow)."""

import dataclasses

from esrgan_tf.models.config import ARCHITECTURE_FIELDS, ModelConfig
from esrgan_tf.options import check_choice, option

# The output's ending picks the form (`formats.generators.convert`, `deploy.onnx`).
OUTPUT_FORMS = (".weights.h5", ".pth", ".safetensors", ".onnx")
LAYOUTS = ("basicsr", "old_arch")


@dataclasses.dataclass(frozen=True)
class ConvertConfig:
    """One conversion of a generator into another form (`formats.generators`, `deploy.onnx`)."""

    input: str = option(
        help="The generator: .safetensors, .pth/.pt (needs torch), an ncnn .param (its .bin "
        "beside it), zoo:<name>, a Keras .weights.h5 or a training workdir."
    )
    output: str = option(
        help="What to write; its ending picks the form: .weights.h5 (Keras), .pth / "
        ".safetensors (PyTorch, for spandrel, chaiNNer, ComfyUI), .onnx (onnxruntime, "
        "TensorRT, OpenVINO)."
    )
    layout: str = option(
        "basicsr",
        "Key layout of a .pth / .safetensors: 'basicsr' (BasicSR / Real-ESRGAN names; a .pth "
        "under params_ema) or 'old_arch' (the community's model.N names; RRDBNet only).",
        choices=LAYOUTS,
    )
    onnx_layout: str = option(
        "nchw", "Tensor layout of an .onnx's input and output.", choices=("nchw", "nhwc")
    )
    onnx_precision: str = option(
        "fp32",
        "Precision of an .onnx: fp32, or fp16 (weights and activations; input and output "
        "stay float32).",
        choices=("fp32", "fp16"),
    )
    architecture: dict = option(
        {},
        "Architecture the input must have (its tensors say it; scale 3 has the tensors of 2).",
        overrides=(ModelConfig, ARCHITECTURE_FIELDS),
    )

    def __post_init__(self):
        if not self.output.lower().endswith(OUTPUT_FORMS):
            raise ValueError(
                f"--output={self.output!r} must end with one of {', '.join(OUTPUT_FORMS)} "
                "(the ending picks the form)"
            )
        check_choice("layout", self.layout, LAYOUTS)
        check_choice("onnx_layout", self.onnx_layout, ("nchw", "nhwc"))
        check_choice("onnx_precision", self.onnx_precision, ("fp32", "fp16"))
