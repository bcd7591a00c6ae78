"""RRDBNet: the ESRGAN generator (Residual-in-Residual Dense Blocks, no BN).

Reference: Wang et al., "ESRGAN: Enhanced Super-Resolution Generative Adversarial
Networks", ECCV Workshops 2018, §3.1 (architecture), supplementary §A.2/A.3 of the
arXiv version (residual scaling, smaller initialisation).
"""

import math

import keras
import tensorflow as tf

from esrgan_tf.models.config import ModelConfig
from esrgan_tf.models.descriptor import Descriptor, Stage

_PKG = "esrgan_tf"

SUPPORTED_SCALES = (1, 2, 3, 4, 8)
# BasicSR's pixel-unshuffle RRDBNet (Real-ESRGAN x2plus and x1 models): the input is
# pixel-unshuffled by 4 / scale and the usual x4 tail upsamples it back.
UNSHUFFLE_SCALES = (1, 2)


def scaled_msra_init(scale=0.1):
    """MSRA (He) normal initialisation with its std multiplied by `scale`.

    ESRGAN supplementary §A.3: "multiplying 0.1 for all initialization parameters
    that calculated by MSRA initialization". Scaling the std by s scales the
    variance by s**2; MSRA itself has variance 2 / fan_in.
    """
    return keras.initializers.VarianceScaling(
        scale=2.0 * scale * scale, mode="fan_in", distribution="untruncated_normal"
    )


def torch_default_init():
    """PyTorch's default Conv2d kernel init, kaiming_uniform(a=sqrt(5)): U(±1/sqrt(fan_in)).

    The official ESRGAN code (BasicSR's `RRDBNet`) re-initialises only the five convs of
    every dense block, `default_init_weights(..., 0.1)`: MSRA normal x 0.1, bias 0. Every
    other conv (conv_first, conv_body, the upsampling convs, conv_hr, conv_last) keeps
    PyTorch's defaults: this kernel init, and a bias drawn from the same U(±1/sqrt(fan_in)).
    We keep the kernels so, but start every bias at zero (`conv3x3`), the official dense
    blocks' choice: a deliberate, documented deviation for the non-dense convs' biases.
    """
    return keras.initializers.VarianceScaling(
        scale=1.0 / 3.0, mode="fan_in", distribution="uniform"
    )


def conv3x3(filters, name, kernel_initializer=None, dtype=None):
    """A 3x3 'same' conv; kernel `kernel_initializer` (default PyTorch's), bias zero."""
    return keras.layers.Conv2D(
        filters,
        3,
        padding="same",
        name=name,
        kernel_initializer=kernel_initializer or torch_default_init(),
        bias_initializer="zeros",
        dtype=dtype,
    )


def nearest_upsample_grad(dy, factor):
    """The gradient of an integer-factor nearest upsampling: each input pixel receives
    the sum of the `factor` x `factor` output pixels it was copied to."""
    n, h, w, c = tf.unstack(tf.shape(dy))
    blocks = tf.reshape(dy, [n, h // factor, factor, w // factor, factor, c])
    return tf.reduce_sum(blocks, axis=[2, 4])


@keras.saving.register_keras_serializable(package=_PKG)
class NearestUpsample(keras.layers.Layer):
    """Nearest-neighbour upsampling by an integer factor, for dynamic H and W.

    `keras.layers.UpSampling2D` breaks dynamic-shape TFLite conversion and
    `keras.ops.image.resize` needs a static size, so this calls `tf.image.resize`
    with a size computed from the runtime shape. For integer factors TF's
    half-pixel nearest rule picks source index floor(i / factor), exactly what
    PyTorch's `F.interpolate(mode='nearest')` does in the official code.

    Its gradient is written out, `nearest_upsample_grad`: TF's own
    (ResizeNearestNeighborGrad) has no XLA kernel, which would keep a jit-compiled
    training step (`TrainConfig.jit_compile`) from compiling.

    Args:
        factor: integer upsampling factor.
    """

    def __init__(self, factor=2, **kwargs):
        super().__init__(**kwargs)
        self.factor = int(factor)

    def call(self, x):
        factor = self.factor

        @tf.custom_gradient
        def upsample(x):
            size = tf.shape(x)[1:3] * factor
            y = tf.image.resize(x, size, method="nearest")
            return y, lambda dy: nearest_upsample_grad(dy, factor)

        return tf.cast(upsample(x), x.dtype)

    def compute_output_shape(self, input_shape):
        b, h, w, c = input_shape
        return (
            b,
            None if h is None else h * self.factor,
            None if w is None else w * self.factor,
            c,
        )

    def get_config(self):
        return {**super().get_config(), "factor": self.factor}


@keras.saving.register_keras_serializable(package=_PKG)
class ResidualDenseBlock(keras.layers.Layer):
    """Residual dense block of five 3x3 convs with dense connections.

    out = x + res_scale * conv5(concat(x, f1, f2, f3, f4)), where
    f_i = LeakyReLU_0.2(conv_i(concat(x, f1, ..., f_{i-1}))).

    Args:
        num_feat: channels of the block's input and output.
        num_grow_ch: channels added by each of conv1..conv4 (growth rate).
        res_scale: residual scaling beta (0.2: ESRGAN §3.1, supplementary §A.2).
        init_scale: multiplier of the MSRA init (0.1: ESRGAN supplementary §A.3).
    Reference: ESRGAN §3.1, Fig. 4.
    """

    def __init__(self, num_feat=64, num_grow_ch=32, res_scale=0.2, init_scale=0.1, **kwargs):
        super().__init__(**kwargs)
        self.num_feat = num_feat
        self.num_grow_ch = num_grow_ch
        self.res_scale = res_scale
        self.init_scale = init_scale
        init = scaled_msra_init(init_scale)
        self.conv1 = conv3x3(num_grow_ch, "conv1", init)
        self.conv2 = conv3x3(num_grow_ch, "conv2", init)
        self.conv3 = conv3x3(num_grow_ch, "conv3", init)
        self.conv4 = conv3x3(num_grow_ch, "conv4", init)
        self.conv5 = conv3x3(num_feat, "conv5", init)
        self.lrelu = keras.layers.LeakyReLU(negative_slope=0.2)

    def build(self, input_shape):
        # Explicit, so that building never traces `call`: without a build(), Keras builds a
        # layer by tracing its call symbolically, and nested in RRDBs inside a Sequential
        # inside the model that repeated every conv four times (20 s of a 23-block
        # model's first call).
        for i, conv in enumerate((self.conv1, self.conv2, self.conv3, self.conv4, self.conv5)):
            conv.build((*input_shape[:-1], input_shape[-1] + i * self.num_grow_ch))

    def call(self, x):
        x1 = self.lrelu(self.conv1(x))
        x2 = self.lrelu(self.conv2(keras.ops.concatenate([x, x1], axis=-1)))
        x3 = self.lrelu(self.conv3(keras.ops.concatenate([x, x1, x2], axis=-1)))
        x4 = self.lrelu(self.conv4(keras.ops.concatenate([x, x1, x2, x3], axis=-1)))
        x5 = self.conv5(keras.ops.concatenate([x, x1, x2, x3, x4], axis=-1))
        return x + self.res_scale * x5

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {
            **super().get_config(),
            "num_feat": self.num_feat,
            "num_grow_ch": self.num_grow_ch,
            "res_scale": self.res_scale,
            "init_scale": self.init_scale,
        }


@keras.saving.register_keras_serializable(package=_PKG)
class RRDB(keras.layers.Layer):
    """Residual-in-Residual Dense Block: three dense blocks inside a scaled residual.

    out = x + res_scale * rdb3(rdb2(rdb1(x))).

    Args:
        num_feat: channels in and out.
        num_grow_ch: growth channels of each dense block.
        res_scale: residual scaling beta, used inside each dense block and around
            the RRDB (0.2: ESRGAN §3.1).
        init_scale: multiplier of the MSRA init of the dense-block convs.
    Reference: ESRGAN §3.1, Fig. 4.
    """

    def __init__(self, num_feat=64, num_grow_ch=32, res_scale=0.2, init_scale=0.1, **kwargs):
        super().__init__(**kwargs)
        self.num_feat = num_feat
        self.num_grow_ch = num_grow_ch
        self.res_scale = res_scale
        self.init_scale = init_scale
        args = dict(
            num_feat=num_feat, num_grow_ch=num_grow_ch, res_scale=res_scale, init_scale=init_scale
        )
        self.rdb1 = ResidualDenseBlock(name="rdb1", **args)
        self.rdb2 = ResidualDenseBlock(name="rdb2", **args)
        self.rdb3 = ResidualDenseBlock(name="rdb3", **args)

    def build(self, input_shape):  # explicit: see ResidualDenseBlock.build
        for rdb in (self.rdb1, self.rdb2, self.rdb3):
            rdb.build(input_shape)

    def call(self, x):
        return x + self.res_scale * self.rdb3(self.rdb2(self.rdb1(x)))

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {
            **super().get_config(),
            "num_feat": self.num_feat,
            "num_grow_ch": self.num_grow_ch,
            "res_scale": self.res_scale,
            "init_scale": self.init_scale,
        }


# LR context (pixels) that keeps tiled RRDBNet within 1/255 of untiled, measured on the
# Real-ESRGAN release's trained weights (realesrgan-x4plus-anime: 6 RRDBs; realesrgan-x4plus:
# 23) on crops of scikit-image photos with 40-px tiles (`python -m
# benchmarks.calibration.receptive_field`; kept true by tests/inference/
# test_tiling_trained.py). Other depths are interpolated linearly in the number of blocks,
# never beyond the receptive field (15 px per RRDB), which is far wider than the effective one.
RRDB_CONTEXT = {6: 48, 23: 64}
# Context of the HR tail of a two-stage RRDBNet, in feature (trunk) pixels: the x2 stages'
# convs, conv_hr and conv_last reach 0.5 + 0.25 * 3 = 1.25 LR pixels at x4.
TAIL_CONTEXT = 2


def rrdb_context(num_block):
    """LR context of an RRDBNet of `num_block` RRDBs (trunk + tail), see `RRDB_CONTEXT`."""
    (b0, c0), (b1, c1) = sorted(RRDB_CONTEXT.items())
    measured = c0 + (c1 - c0) * (num_block - b0) / (b1 - b0)
    receptive_field = 15 * num_block + 2 + TAIL_CONTEXT
    return int(min(math.ceil(measured), receptive_field))


def describe(config):
    """The `Descriptor` of the RRDBNet of `config` (a `ModelConfig`).

    Memory: a call holds, at the HR end, about three live feature maps of num_feat channels
    at 4x the LR size (the tail always ends at x4 resolution; measured peak of the full-size
    x4 model 8.8 KB per LR pixel). RRDBNet spends 92 % of its work, and needs all of its
    context, in the LR trunk, while its HR tail takes most of the memory but sees only 1.25
    LR pixels around it: so it splits into two stages, the trunk (about 4 num_feat + 4
    growth channels live) and the tail (three maps of num_feat at the output size). LiteRT's
    arena keeps more of the graph live: every dense block's input and growth channels in the
    trunk, five maps in the tail (marginal peak RSS measured with ai-edge-litert: 27 KB and
    19 KB per LR pixel for the 23-block x4 model; docs/benchmarks.md).
    """
    stride = 4 // config.scale if config.unshuffle else 1  # pixel-unshuffle of the input
    factor = config.scale * stride  # the tail's output / input size
    nf, gc, num_block = config.num_feat, config.num_grow_ch, config.num_block
    trunk_tflite = 4 * 3 * num_block * (nf + 2 * gc)
    tail_tflite = lambda f: 5 * 4 * nf * f**2  # noqa: E731
    tf_bytes = 3 * 4 * nf * 16
    context = rrdb_context(num_block) * stride
    trunk_bytes = 4 * (4 * nf + 4 * gc)
    trunk = Stage(
        "features",
        3,
        nf,
        1,
        stride,
        context,
        {
            "tf": trunk_bytes // stride**2,
            "xla": trunk_bytes // stride**2,
            "tflite": trunk_tflite // stride**2,
        },
        image_out=False,
    )
    tail_bytes = 3 * 4 * nf * factor**2
    tail = Stage(
        "reconstruct",
        nf,
        3,
        factor,
        1,
        TAIL_CONTEXT,
        {"tf": tail_bytes, "xla": tail_bytes, "tflite": tail_tflite(factor)},
    )
    return Descriptor(
        config,
        "ESRGAN generator (Wang et al. 2018, §3.1): Residual-in-Residual Dense Blocks",
        context,
        {"tf": tf_bytes, "xla": tf_bytes, "tflite": max(trunk_tflite, tail_tflite(4))},
        size_multiple=stride,
        stages=(trunk, tail),
    )


def upsample_factors(scale, unshuffle=False):
    """Upsampling stages of RRDBNet: one x2 stage per factor of 2, one x3 for scale 3; with
    `unshuffle`, always the two x2 stages of x4 (the input was unshuffled by 4 / scale)."""
    if unshuffle:
        if scale not in UNSHUFFLE_SCALES:
            raise ValueError(f"RRDBNet with unshuffle has scale 1 or 2, got {scale!r}")
        return (2, 2)
    if scale not in SUPPORTED_SCALES:
        raise ValueError(f"RRDBNet scale must be one of {SUPPORTED_SCALES}, got {scale!r}")
    return (3,) if scale == 3 else (2,) * {1: 0, 2: 1, 4: 2, 8: 3}[scale]


@keras.saving.register_keras_serializable(package=_PKG)
class PixelUnshuffle(keras.layers.Layer):
    """Space-to-depth by an integer factor (`tf.nn.space_to_depth`), for dynamic H and W.

    The channel order is TensorFlow's, (i * factor + j) * C + c for the pixel at offset
    (i, j) of channel c, not PyTorch's c * factor**2 + i * factor + j: weights converted
    from PyTorch have the input channels of the next conv permuted to match
    (`esrgan_tf.formats.pytorch`).

    Args:
        factor: the unshuffle factor; H and W must be multiples of it.
    """

    def __init__(self, factor=2, **kwargs):
        super().__init__(**kwargs)
        self.factor = int(factor)

    def call(self, x):
        return tf.nn.space_to_depth(x, self.factor)

    def compute_output_shape(self, input_shape):
        b, h, w, c = input_shape
        f = self.factor
        return (
            b,
            None if h is None else h // f,
            None if w is None else w // f,
            None if c is None else c * f * f,
        )

    def get_config(self):
        return {**super().get_config(), "factor": self.factor}


@keras.saving.register_keras_serializable(package=_PKG)
class RRDBNet(keras.Model):
    """ESRGAN generator.

    conv_first -> num_block RRDBs -> conv_body (+ long skip from conv_first) ->
    [nearest x2 upsample -> conv -> LeakyReLU 0.2] per factor of 2 (one x3 stage for
    scale 3, none for scale 1) -> conv_hr -> LeakyReLU 0.2 -> conv_last. No batch
    normalisation. Attribute names follow BasicSR's `RRDBNet` so weight import is a readable
    one-to-one mapping (`esrgan_tf.formats.pytorch`).

    Two kinds of x2 (and x1) model exist, and they must not be confused: this project's own
    (one x2 upsampling stage; no upsampling at x1, as the old ESRGAN code's 1x models), and
    BasicSR's `unshuffle` layout of Real-ESRGAN's `RealESRGAN_x2plus`: the input is
    pixel-unshuffled by 4 / scale (12 or 48 input channels for conv_first) and the x4 tail
    upsamples it back. Their tensors tell them apart (conv_first's input channels).

    Input and output: NHWC float32 RGB in [0, 1] (output not clipped); any H and W.
    Under a mixed-precision policy the body computes in float16/bfloat16 and the last
    conv in float32, so the output stays float32.

    Args:
        num_in_ch: input channels.
        num_out_ch: output channels.
        num_feat: trunk channels (64 in ESRGAN).
        num_block: number of RRDBs (23 in ESRGAN).
        num_grow_ch: dense-block growth channels (32 in ESRGAN).
        scale: upscaling factor, one of 1, 2, 3, 4, 8 (1 or 2 with `unshuffle`).
        unshuffle: BasicSR's pixel-unshuffle input for scales 1 and 2 (see above); H and W
            of the input must then be multiples of 4 / scale.
        res_scale: residual scaling beta (0.2 in ESRGAN).
        init_scale: multiplier of the MSRA init in the dense blocks (0.1 in ESRGAN).
    Reference: ESRGAN §3.1 and supplementary §A.2-A.3. 16,697,987 parameters at
    the defaults (x4), as the official `RRDB_ESRGAN_x4.pth`.
    """

    def __init__(
        self,
        num_in_ch=3,
        num_out_ch=3,
        num_feat=64,
        num_block=23,
        num_grow_ch=32,
        scale=4,
        res_scale=0.2,
        init_scale=0.1,
        unshuffle=False,
        **kwargs,
    ):
        super().__init__(**kwargs)
        factors = upsample_factors(scale, unshuffle)
        for arg, value in (
            ("num_in_ch", num_in_ch),
            ("num_out_ch", num_out_ch),
            ("num_feat", num_feat),
            ("num_block", num_block),
            ("num_grow_ch", num_grow_ch),
        ):
            if not isinstance(value, int) or value < 1:
                raise ValueError(f"RRDBNet {arg} must be a positive integer, got {value!r}")
        self.num_in_ch = num_in_ch
        self.num_out_ch = num_out_ch
        self.num_feat = num_feat
        self.num_block = num_block
        self.num_grow_ch = num_grow_ch
        self.scale = scale
        self.res_scale = res_scale
        self.init_scale = init_scale
        self.unshuffle = bool(unshuffle)

        self.pixel_unshuffle = (
            PixelUnshuffle(4 // scale, name="pixel_unshuffle") if unshuffle else None
        )
        self.conv_first = conv3x3(num_feat, "conv_first")
        # keras.Sequential (not a Python list) so tf.train.Checkpoint tracks every block.
        self.body = keras.Sequential(
            [
                RRDB(num_feat, num_grow_ch, res_scale, init_scale, name=f"rrdb_{i}")
                for i in range(num_block)
            ],
            name="body",
        )
        self.conv_body = conv3x3(num_feat, "conv_body")
        # No upsampling stage at x1: no (empty, never built) Sequential either.
        self.upsamplers = keras.Sequential(name="upsamplers") if factors else None
        for i, factor in enumerate(factors, start=1):
            self.upsamplers.add(NearestUpsample(factor, name=f"up{i}"))
            self.upsamplers.add(conv3x3(num_feat, f"conv_up{i}"))
            self.upsamplers.add(keras.layers.LeakyReLU(negative_slope=0.2, name=f"lrelu_up{i}"))
        self.conv_hr = conv3x3(num_feat, "conv_hr")
        # float32 whatever the dtype policy: in bfloat16 (8-bit mantissa) the image would
        # be coarser than 1/255 near white, and the pixel loss could not see that.
        self.conv_last = conv3x3(num_out_ch, "conv_last", dtype="float32")
        self.lrelu = keras.layers.LeakyReLU(negative_slope=0.2)

    @property
    def descriptor(self):
        """What runners need to know (`esrgan_tf.models.descriptor`)."""
        fields = ("scale", "num_feat", "num_block", "num_grow_ch", "unshuffle")
        return describe(ModelConfig("rrdbnet", **{f: getattr(self, f) for f in fields}))

    @property
    def up_convs(self):
        """The upsampling convs in order (conv_up1, conv_up2, ...)."""
        layers = self.upsamplers.layers if self.upsamplers is not None else []
        return [layer for layer in layers if isinstance(layer, keras.layers.Conv2D)]

    def build(self, input_shape):  # explicit: see ResidualDenseBlock.build
        shape = tuple(input_shape)
        if self.pixel_unshuffle is not None:
            shape = self.pixel_unshuffle.compute_output_shape(shape)
        self.conv_first.build(shape)
        feat = (*shape[:-1], self.num_feat)
        self.body.build(feat)
        self.conv_body.build(feat)
        if self.upsamplers is not None:
            self.upsamplers.build(feat)
            feat = self.upsamplers.compute_output_shape(feat)
        self.conv_hr.build(feat)
        self.conv_last.build(feat)

    def features(self, x):
        """The LR-resolution trunk: (unshuffle ->) conv_first -> RRDBs -> conv_body, plus
        the long skip. Most of the work and all of the wide context are here."""
        if self.pixel_unshuffle is not None:
            x = self.pixel_unshuffle(x)
        feat = self.conv_first(x)
        return feat + self.conv_body(self.body(feat))

    def reconstruct(self, feat):
        """The HR tail of `features`: the upsampling stages, conv_hr and conv_last."""
        if self.upsamplers is not None:
            feat = self.upsamplers(feat)
        return self.conv_last(self.lrelu(self.conv_hr(feat)))

    def call(self, x):
        return self.reconstruct(self.features(x))

    def get_config(self):
        return {
            **super().get_config(),
            "num_in_ch": self.num_in_ch,
            "num_out_ch": self.num_out_ch,
            "num_feat": self.num_feat,
            "num_block": self.num_block,
            "num_grow_ch": self.num_grow_ch,
            "scale": self.scale,
            "res_scale": self.res_scale,
            "init_scale": self.init_scale,
            "unshuffle": self.unshuffle,
        }
