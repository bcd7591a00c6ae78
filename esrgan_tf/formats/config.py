"""The config of `python -m esrgan_tf.convert` (light: no TensorFlow)."""

import dataclasses

from esrgan_tf.models.config import ARCHITECTURE_FIELDS, ModelConfig
from esrgan_tf.options import option


@dataclasses.dataclass(frozen=True)
class ConvertConfig:
    """One conversion of a generator's weights into another form (`formats.generators`)."""

    input: str = option(
        help="Weights to convert: .safetensors, .pth/.pt (needs torch), an ncnn .param (its "
        ".bin beside it) or zoo:<name>."
    )
    output: str = option(help="Keras weights file, ending .weights.h5.")
    architecture: dict = option(
        {},
        "Architecture the input must have (its tensors say it; scale 3 has the tensors of 2).",
        overrides=(ModelConfig, ARCHITECTURE_FIELDS),
    )
