"""What a runner needs to know about a generator, in one place (after spandrel's
`ModelDescriptor`): its scale and channels, the input size it needs, the context a tile needs,
its activation memory per pixel on each runtime, how it splits into stages, the precisions it
runs in and what it is for.

Every generator class has a `descriptor` property, and `esrgan_tf.models.builders.descriptor`
gives the same from a `ModelConfig` (for models known by their config alone, such as exported
SavedModels). Tiling, runtimes, exporters and the commands read the descriptor; none of them
asks which class a generator is.
"""

import dataclasses

from esrgan_tf.models.config import PRECISIONS, ModelConfig

# What can execute a generator's forward pass (`esrgan_tf.inference.runtimes`).
RUNTIMES = ("tf", "xla", "tflite")
# ModelConfig.generator -> the class.
ARCHITECTURES = {"rrdbnet": "RRDBNet", "srresnet": "SRResNet", "srvgg": "SRVGGNetCompact"}


@dataclasses.dataclass(frozen=True)
class Stage:
    """One pass of a generator that tiled inference can run on its own.

    Attributes:
        method: the model's method that runs it ("call", "features", "reconstruct").
        in_channels, out_channels: channels of its input and output.
        num, den: its output is num / den times the size of its input.
        context: input pixels of context a tile of it needs (tiled == untiled within 1/255).
        bytes_per_pixel: {runtime: peak activation bytes per input pixel of one call}.
        image_out: whether it makes the final image (a collapsed half-precision output can
            only be told there).
    """

    method: str
    in_channels: int
    out_channels: int
    num: int
    den: int
    context: int
    bytes_per_pixel: dict
    image_out: bool = True


@dataclasses.dataclass(frozen=True)
class Descriptor:
    """A generator as its runners see it.

    Attributes:
        config: its `ModelConfig` (the generator's fields; `scale` is its factor).
        purpose: what it is for, and its paper.
        context: LR pixels of context a tile of the whole model needs.
        bytes_per_pixel: {runtime: peak activation bytes per LR pixel of one call}.
        size_multiple: input height and width must be multiples of this.
        stages: the passes tiling runs one after the other when the image does not fit one
            call (RRDBNet: its LR trunk and its HR tail); () runs the whole model.
        precisions: the inference precisions it runs in (`models.config.PRECISIONS`).
        runtimes: what can run it (`RUNTIMES`).
        max_call_pixels: LR pixels one call may take (an export's request limit), 0: any.
        in_channels, out_channels: image channels (RGB: 3).
    """

    config: ModelConfig
    purpose: str
    context: int
    bytes_per_pixel: dict
    size_multiple: int = 1
    stages: tuple = ()
    precisions: tuple = tuple(PRECISIONS)
    runtimes: tuple = RUNTIMES
    max_call_pixels: int = 0
    in_channels: int = 3
    out_channels: int = 3

    @property
    def scale(self):
        return self.config.scale

    @property
    def architecture(self):
        """The class's name: "RRDBNet", "SRResNet" or "SRVGGNetCompact"."""
        return ARCHITECTURES[self.config.generator]

    @property
    def summary(self):
        """One line naming the architecture and its size (for messages)."""
        c = self.config
        if c.generator == "srvgg":
            size = f"num_feat={c.num_feat}, num_conv={c.num_conv}"
        elif c.generator == "srresnet":
            size = f"num_feat={c.num_feat}, num_block={c.num_block}" + (
                "" if c.use_bn else ", no BN"
            )
        else:
            size = f"num_feat={c.num_feat}, num_block={c.num_block}, num_grow_ch={c.num_grow_ch}"
        kind = " (BasicSR pixel-unshuffle)" if c.unshuffle else ""
        return f"{self.architecture} x{c.scale}{kind} with {size}"

    def whole(self):
        """The whole model as one `Stage`."""
        return Stage(
            "call",
            self.in_channels,
            self.out_channels,
            self.scale,
            1,
            self.context,
            self.bytes_per_pixel,
        )
