"""The architecture config of the networks (`ModelConfig`) and the names a config may choose.

Light on purpose (standard library only): commands build their flags from it without loading
TensorFlow. `esrgan_tf.models.builders` turns a `ModelConfig` into networks; every generator's
`Descriptor` (what a runner needs to know) comes with it.
"""

import dataclasses

from esrgan_tf.options import check_choice, option

GENERATORS = ("rrdbnet", "srresnet", "srvgg")
DISCRIMINATORS = ("vgg", "unet")
SCALES = (1, 2, 3, 4, 8)
# Inference precisions -> the pure dtype policy of a generator's copy (variables and maths).
PRECISIONS = {"fp32": "float32", "fp16": "float16", "bf16": "bfloat16"}
# The generator's architecture: what a weights file that does not record it (`.weights.h5`)
# needs to be told, and what the other forms' tensors say (`esrgan_tf.formats`).
ARCHITECTURE_FIELDS = (
    "generator",
    "scale",
    "num_feat",
    "num_block",
    "num_grow_ch",
    "num_conv",
    "unshuffle",
    "use_bn",
)

# Last bottleneck of each ResNet50 stage, after its ReLU: beta_{1,3}, beta_{2,4},
# beta_{3,6}, beta_{4,3} of ESRGAN-DP §3.2.1 (Eq. 5) and §4.3.
RESNET50_LAYERS = ("conv2_block3_out", "conv3_block4_out", "conv4_block6_out", "conv5_block3_out")
# Inputs of the ResNet50: "caffe" is what Keras's ImageNet weights expect; "none" passes the
# RGB [0, 1] image unchanged, as ESRGAN-DP's public code does (to torchvision weights).
RESNET_PREPROCESSING = ("caffe", "none")


@dataclasses.dataclass(frozen=True)
class ModelConfig:
    """Generator and discriminator architecture (defaults: ESRGAN's RRDBNet x4, the official
    weights' architecture, and its VGG-style discriminator)."""

    generator: str = option(
        "rrdbnet",
        "Generator architecture: rrdbnet (ESRGAN), srresnet (SRGAN) or srvgg (Real-ESRGAN's "
        "SRVGGNetCompact).",
        choices=GENERATORS,
    )
    scale: int = option(4, "Upscaling factor (of the model, the data and the metrics).")
    num_feat: int = option(64, "Generator channels.")
    num_block: int = option(23, "RRDBs (RRDBNet) or residual blocks (SRResNet).")
    num_grow_ch: int = option(32, "RRDBNet growth channels.")
    num_conv: int = option(16, "SRVGGNetCompact body convs (16 in realesr-animevideov3).")
    unshuffle: bool = option(
        False,
        "RRDBNet with BasicSR's pixel-unshuffle input (scale 1 or 2: Real-ESRGAN's x2plus), "
        "not this project's own x2/x1 RRDBNet.",
    )
    use_bn: bool = option(True, "SRResNet batch normalisation.")
    discriminator: str = option(
        "vgg",
        "Discriminator: vgg (VGG-style, fixed patch size) or unet (spectral norm).",
        choices=DISCRIMINATORS,
    )
    d_num_feat: int = option(64, "Discriminator base channels.")
    d_strided_kernel: int = option(4, "VGG discriminator stride-2 kernel (ESRGAN 4, SRGAN 3).")
    d_dense_units: int = option(100, "VGG discriminator hidden units (ESRGAN 100, SRGAN 1024).")

    def __post_init__(self):
        check_choice("generator", self.generator, GENERATORS)
        check_choice("discriminator", self.discriminator, DISCRIMINATORS)
        check_choice("scale", self.scale, SCALES)
        if self.scale == 1 and self.generator == "srresnet":
            raise ValueError("SRResNet has no x1 variant (scale 1)")
        if self.unshuffle and (self.generator != "rrdbnet" or self.scale not in (1, 2)):
            raise ValueError("unshuffle is BasicSR's RRDBNet layout for scale 1 or 2 only")

    def architecture(self):
        """{field: value} of the generator's architecture (`ARCHITECTURE_FIELDS`)."""
        return {name: getattr(self, name) for name in ARCHITECTURE_FIELDS}
