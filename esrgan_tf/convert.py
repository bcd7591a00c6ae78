"""python -m esrgan_tf.convert --input=RRDB_ESRGAN_x4.pth --output=rrdb_esrgan_x4.weights.h5

Imports PyTorch ESRGAN / BasicSR / Real-ESRGAN RRDBNet weights (`.pth`, `.safetensors`) into
a Keras `.weights.h5`. The architecture is read from the tensors; the flags only check it or
pick scale 3 (indistinguishable from 2 by its weights). Thin driver: flags ->
`esrgan_tf.inference.state_dicts.convert`.
"""

from absl import flags

from esrgan_tf import cli
from esrgan_tf.inference import state_dicts


def define_flags(fv=flags.FLAGS):
    """Flags of `python -m esrgan_tf.convert` into the FlagValues `fv`."""
    kw = dict(flag_values=fv)
    flags.DEFINE_string(
        "input", None, "PyTorch checkpoint: .safetensors, or .pth/.pt (needs torch).", **kw
    )
    flags.DEFINE_string("output", None, "Keras weights file, ending .weights.h5.", **kw)
    flags.DEFINE_integer(
        "scale", None, "Upscaling factor; inferred (2, 4 or 8) unless given. 3 must be given.", **kw
    )
    flags.DEFINE_integer("num_block", None, "Number of RRDBs; checked if given.", **kw)
    flags.DEFINE_integer("num_feat", None, "Trunk channels; checked if given.", **kw)
    flags.DEFINE_integer(
        "num_grow_ch", None, "Dense-block growth channels; checked if given.", **kw
    )
    flags.mark_flags_as_required(["input", "output"], flag_values=fv)


def main():
    fv = flags.FLAGS
    state_dicts.convert(
        fv.input,
        fv.output,
        scale=fv.scale,
        num_block=fv.num_block,
        num_feat=fv.num_feat,
        num_grow_ch=fv.num_grow_ch,
    )


if __name__ == "__main__":
    define_flags()
    cli.run(main)
