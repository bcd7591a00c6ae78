"""SRResNet: the SRGAN generator.

Reference: Ledig et al., "Photo-Realistic Single Image Super-Resolution Using a
Generative Adversarial Network", CVPR 2017, §2.2 and Fig. 4.
"""

import keras

from esrgan_tf.models.config import ModelConfig
from esrgan_tf.models.descriptor import Descriptor

_PKG = "esrgan_tf"

SUPPORTED_SCALES = (2, 3, 4, 8)


def prelu(name):
    # Per-channel slopes initialised at 0.25, as in He et al. 2015 (PReLU paper)
    # and PyTorch's nn.PReLU; Keras's default of 0 would start as a plain ReLU.
    return keras.layers.PReLU(
        alpha_initializer=keras.initializers.Constant(0.25), shared_axes=[1, 2], name=name
    )


def batch_norm(name):
    # PyTorch's BatchNorm2d defaults (momentum 0.1 = Keras 0.9, eps 1e-5), which
    # the SR reference implementations inherit.
    # synchronized: batch statistics over the global batch, so N replicas train (and
    # update the moving averages) like one device with the whole batch.
    return keras.layers.BatchNormalization(momentum=0.9, epsilon=1e-5, synchronized=True, name=name)


@keras.saving.register_keras_serializable(package=_PKG)
class ResidualBlock(keras.layers.Layer):
    """conv3x3 - [BN] - PReLU - conv3x3 - [BN], plus the identity.

    Args:
        num_feat: channels in and out.
        use_bn: batch normalisation after each conv (SRGAN); False gives the
            BN-removal ablation of ESRGAN §3.1 / EDSR.
    Reference: SRGAN Fig. 4 (generator residual block).
    """

    def __init__(self, num_feat=64, use_bn=True, **kwargs):
        super().__init__(**kwargs)
        self.num_feat = num_feat
        self.use_bn = use_bn
        self.conv1 = keras.layers.Conv2D(num_feat, 3, padding="same", name="conv1")
        self.bn1 = batch_norm("bn1") if use_bn else None
        self.act = prelu("prelu")
        self.conv2 = keras.layers.Conv2D(num_feat, 3, padding="same", name="conv2")
        self.bn2 = batch_norm("bn2") if use_bn else None

    def build(self, input_shape):
        # Explicit: otherwise Keras builds it by tracing `call` inside the body's Sequential
        # (see rrdbnet.ResidualDenseBlock.build).
        feat = (*input_shape[:-1], self.num_feat)
        self.conv1.build(input_shape)
        for layer in (self.bn1, self.act, self.conv2, self.bn2):
            if layer is not None:
                layer.build(feat)

    def call(self, x, training=None):
        y = self.conv1(x)
        if self.use_bn:
            y = self.bn1(y, training=training)
        y = self.conv2(self.act(y))
        if self.use_bn:
            y = self.bn2(y, training=training)
        return x + y

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {**super().get_config(), "num_feat": self.num_feat, "use_bn": self.use_bn}


@keras.saving.register_keras_serializable(package=_PKG)
class SubPixelUpsample(keras.layers.Layer):
    """conv3x3 to factor**2 * num_feat channels, depth_to_space(factor), PReLU.

    Args:
        num_feat: channels after the shuffle.
        factor: upsampling factor (2 or 3).
    Reference: Shi et al. 2016 (ESPCN); SRGAN Fig. 4 ("PixelShuffler x2").
    """

    def __init__(self, num_feat=64, factor=2, **kwargs):
        super().__init__(**kwargs)
        self.num_feat = num_feat
        self.factor = factor
        self.conv = keras.layers.Conv2D(num_feat * factor * factor, 3, padding="same", name="conv")
        self.act = prelu("prelu")

    def call(self, x):
        return self.act(keras.ops.depth_to_space(self.conv(x), self.factor))

    def compute_output_shape(self, input_shape):
        b, h, w, _ = input_shape
        f = self.factor
        return (b, None if h is None else h * f, None if w is None else w * f, self.num_feat)

    def get_config(self):
        return {**super().get_config(), "num_feat": self.num_feat, "factor": self.factor}


def upsample_factors(scale):
    """Sub-pixel stages of SRResNet: one x2 per factor of 2, one x3 for scale 3."""
    if scale not in SUPPORTED_SCALES:
        raise ValueError(f"SRResNet scale must be one of {SUPPORTED_SCALES}, got {scale!r}")
    return (3,) if scale == 3 else (2,) * {2: 1, 4: 2, 8: 3}[scale]


def describe(config):
    """The `Descriptor` of the SRResNet of `config` (a `ModelConfig`).

    Context: its receptive field in LR pixels: the 9x9 convs at both ends, two 3x3 per
    residual block, conv_body and one per sub-pixel stage. Memory: three maps of num_feat
    channels at the output size; LiteRT about four times that.
    """
    tf_bytes = 3 * 4 * config.num_feat * config.scale**2
    return Descriptor(
        config,
        "SRGAN generator (Ledig et al. 2017, §2.2): residual blocks, sub-pixel upsampling",
        4 + 2 * config.num_block + 1 + len(upsample_factors(config.scale)) + 4,
        {"tf": tf_bytes, "xla": tf_bytes, "tflite": 4 * tf_bytes},
    )


@keras.saving.register_keras_serializable(package=_PKG)
class SRResNet(keras.Model):
    """SRGAN generator (SRResNet).

    conv9x9 + PReLU -> num_block residual blocks -> conv3x3 + [BN] (+ long skip) ->
    sub-pixel x2 stages (one x3 stage for scale 3) -> conv9x9 to num_out_ch.

    Input and output: NHWC float32 RGB in [0, 1] (output not clipped); any H and W.

    Args:
        num_in_ch: input channels.
        num_out_ch: output channels.
        num_feat: feature channels (64 in SRGAN).
        num_block: residual blocks (B = 16 in SRGAN).
        scale: upscaling factor, one of 2, 3, 4, 8.
        use_bn: batch normalisation in the residual blocks and after the trunk
            (SRGAN); False is the BN-removal ablation (ESRGAN §3.1). Note BasicSR's
            MSRResNet also swaps PReLU for ReLU/LeakyReLU and the 9x9 convs for
            3x3; this class keeps SRGAN's layout and only drops BN.
    Reference: SRGAN §2.2, Fig. 4 and §3.2 (B = 16).
    """

    def __init__(
        self, num_in_ch=3, num_out_ch=3, num_feat=64, num_block=16, scale=4, use_bn=True, **kwargs
    ):
        super().__init__(**kwargs)
        factors = upsample_factors(scale)
        self.num_in_ch = num_in_ch
        self.num_out_ch = num_out_ch
        self.num_feat = num_feat
        self.num_block = num_block
        self.scale = scale
        self.use_bn = use_bn

        self.conv_first = keras.layers.Conv2D(num_feat, 9, padding="same", name="conv_first")
        self.act_first = prelu("prelu_first")
        self.body = keras.Sequential(
            [ResidualBlock(num_feat, use_bn, name=f"block_{i}") for i in range(num_block)],
            name="body",
        )
        self.conv_body = keras.layers.Conv2D(num_feat, 3, padding="same", name="conv_body")
        self.bn_body = batch_norm("bn_body") if use_bn else None
        self.upsamplers = keras.Sequential(
            [SubPixelUpsample(num_feat, f, name=f"up{i}") for i, f in enumerate(factors, 1)],
            name="upsamplers",
        )
        # float32 under any dtype policy (see RRDBNet.conv_last).
        self.conv_last = keras.layers.Conv2D(
            num_out_ch, 9, padding="same", name="conv_last", dtype="float32"
        )

    @property
    def descriptor(self):
        """What runners need to know (`esrgan_tf.models.descriptor`)."""
        fields = ("scale", "num_feat", "num_block", "use_bn")
        return describe(ModelConfig("srresnet", **{f: getattr(self, f) for f in fields}))

    def call(self, x, training=None):
        feat = self.act_first(self.conv_first(x))
        body = self.conv_body(self.body(feat, training=training))
        if self.use_bn:
            body = self.bn_body(body, training=training)
        return self.conv_last(self.upsamplers(feat + body))

    def get_config(self):
        return {
            **super().get_config(),
            "num_in_ch": self.num_in_ch,
            "num_out_ch": self.num_out_ch,
            "num_feat": self.num_feat,
            "num_block": self.num_block,
            "scale": self.scale,
            "use_bn": self.use_bn,
        }
