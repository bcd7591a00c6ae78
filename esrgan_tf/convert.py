"""python -m esrgan_tf.convert --input=RealESRGAN_x4plus.pth --output=realesrgan_x4plus.weights.h5

Imports ESRGAN-family weights into a Keras `.weights.h5`: PyTorch `.pth` / `.safetensors`
(BasicSR / Real-ESRGAN, the ESRGAN release and the old-arch community layout; RRDBNet incl.
the pixel-unshuffle x2plus / x1 models, and SRVGGNetCompact), ncnn `.param` + `.bin`, or a
bundled `zoo:<name>`. The architecture is read from the file; the architecture flags only
check it, or pick scale 3 (which has the same tensors as scale 2). Thin driver: flags ->
`esrgan_tf.inference.weights.convert`.
"""

import dataclasses
import sys

from absl import flags

from esrgan_tf import cli
from esrgan_tf.config import GENERATORS
from esrgan_tf.inference import state_dicts, weights


def define_flags(fv=flags.FLAGS):
    """Flags of `python -m esrgan_tf.convert` into the FlagValues `fv`."""
    kw = dict(flag_values=fv)
    flags.DEFINE_string(
        "input",
        None,
        "Weights to import: .safetensors, .pth/.pt (needs torch), an ncnn .param (its .bin "
        "beside it) or zoo:<name>.",
        **kw,
    )
    flags.DEFINE_string("output", None, "Keras weights file, ending .weights.h5.", **kw)
    cli.define_architecture_flags(GENERATORS, fv)
    flags.adopt_module_key_flags(cli, flag_values=fv)  # --help lists the shared ones too
    flags.mark_flags_as_required(["input", "output"], flag_values=fv)


def main():
    fv = flags.FLAGS
    model, config = weights.convert(fv.input, fv.output, **cli.architecture_overrides(fv))
    print(
        f"convert: {fv.input}: {state_dicts.describe(dataclasses.asdict(config))}, "
        f"{model.count_params():,} parameters -> {fv.output}",
        file=sys.stderr,
    )


if __name__ == "__main__":
    define_flags()
    cli.run(main)
