"""python -m esrgan_tf.convert --input=RealESRGAN_x4plus.pth --output=realesrgan_x4plus.weights.h5

Imports ESRGAN-family weights into a Keras `.weights.h5`: PyTorch `.pth` / `.safetensors`
(BasicSR / Real-ESRGAN, the ESRGAN release and the old-arch community layout; RRDBNet incl.
the pixel-unshuffle x2plus / x1 models, and SRVGGNetCompact), ncnn `.param` + `.bin`, or a
bundled `zoo:<name>`. The architecture is read from the file; the architecture flags only
check it, or pick scale 3 (which has the same tensors as scale 2). Thin driver: flags ->
`ConvertConfig` -> `esrgan_tf.formats.generators.convert`.
"""

import sys

from esrgan_tf import cli
from esrgan_tf.formats.config import ConvertConfig


def main(config):
    # The library loads TensorFlow: imported once the flags are parsed (a quick --help).
    from esrgan_tf.formats import generators

    loaded = generators.convert(config.input, config.output, config.architecture)
    print(
        f"convert: {config.input}: {loaded.descriptor.summary}, "
        f"{loaded.model.count_params():,} parameters -> {config.output}",
        file=sys.stderr,
    )


if __name__ == "__main__":
    cli.run(ConvertConfig, main)
