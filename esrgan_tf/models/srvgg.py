"""SRVGGNetCompact: Real-ESRGAN's compact VGG-style generator.

Reference: Wang, Xie, Dong and Shan, "Real-ESRGAN: Training Real-World Blind
Super-Resolution with Pure Synthetic Data", ICCV Workshops 2021; the compact net of its
release (`realesr-animevideov3`, 64 features and 16 convs; `realesr-general-x4v3`, 64 and 32).
"""

import keras
import tensorflow as tf

from esrgan_tf.models.config import ModelConfig
from esrgan_tf.models.descriptor import Descriptor
from esrgan_tf.models.rrdbnet import NearestUpsample, torch_default_init

_PKG = "esrgan_tf"

SUPPORTED_SCALES = (1, 2, 3, 4)


def prelu(name):
    # One slope per channel, 0.25 at init: PyTorch's nn.PReLU(num_parameters=num_feat).
    return keras.layers.PReLU(
        alpha_initializer=keras.initializers.Constant(0.25), shared_axes=[1, 2], name=name
    )


@keras.saving.register_keras_serializable(package=_PKG)
class DepthToSpace(keras.layers.Layer):
    """Pixel shuffle by an integer factor (`tf.nn.depth_to_space`), for dynamic H and W.

    TensorFlow's channel order: output pixel (i, j) of channel c comes from input channel
    (i * factor + j) * C + c, where PyTorch's `pixel_shuffle` takes c * factor**2 +
    i * factor + j. Converted PyTorch weights have the output channels of the conv before
    it permuted to match (`esrgan_tf.formats.pytorch`).
    """

    def __init__(self, factor=4, **kwargs):
        super().__init__(**kwargs)
        self.factor = int(factor)

    def call(self, x):
        return tf.nn.depth_to_space(x, self.factor)

    def compute_output_shape(self, input_shape):
        b, h, w, c = input_shape
        f = self.factor
        return (
            b,
            None if h is None else h * f,
            None if w is None else w * f,
            None if c is None else c // (f * f),
        )

    def get_config(self):
        return {**super().get_config(), "factor": self.factor}


def describe(config):
    """The `Descriptor` of the SRVGGNetCompact of `config` (a `ModelConfig`).

    Context: its receptive field (conv_first, the body, conv_last): nothing farther has any
    effect. Memory: three maps of num_feat channels and the output at LR size (measured peak
    1 KB per LR pixel at 64 features); on LiteRT every other body map stays live (2.2 KB
    measured for 16 convs of 64).
    """
    tf_bytes = 4 * (3 * config.num_feat + 2 * 3 * config.scale**2)
    tflite_bytes = 4 * config.num_feat * (config.num_conv // 2 + 1) + tf_bytes
    return Descriptor(
        config,
        "Real-ESRGAN's compact generator (Wang et al. 2021): conv + PReLU at LR size",
        config.num_conv + 2,
        {"tf": tf_bytes, "xla": tf_bytes, "tflite": tflite_bytes},
    )


@keras.saving.register_keras_serializable(package=_PKG)
class SRVGGNetCompact(keras.Model):
    """Real-ESRGAN's compact generator: a plain conv + PReLU stack at LR resolution.

    body: conv 3x3 (num_in_ch -> num_feat) + PReLU, then num_conv x (conv 3x3 + PReLU),
    then a conv 3x3 to num_out_ch * scale**2; pixel shuffle by `scale`; plus the input
    upsampled by nearest neighbour (the net learns the residual over it).
    `body` holds the layers in BasicSR's order, so `body.layers[i]` is the state dict's
    `body.{i}` (convs at even indices, PReLUs at odd ones).

    Input and output: NHWC float32 RGB in [0, 1] (output not clipped); any H and W. Under a
    mixed-precision policy the body computes in float16/bfloat16; the last conv, the
    nearest-upsampled input and the sum stay float32 (the model itself is float32).

    Args:
        num_in_ch, num_out_ch: image channels.
        num_feat: channels of the body (64 in the released models).
        num_conv: convs between the first and the last (16 for realesr-animevideov3, 32
            for realesr-general-x4v3).
        scale: upscaling factor, 1 to 4.
    Reference: Real-ESRGAN (Wang et al., ICCVW 2021) and its release's SRVGGNetCompact.
    """

    def __init__(self, num_in_ch=3, num_out_ch=3, num_feat=64, num_conv=16, scale=4, **kwargs):
        # The outer model stays float32 so that the input it upsamples is not rounded
        # to half precision; the layers below follow the dtype policy they are built in.
        kwargs.setdefault("dtype", "float32")
        super().__init__(**kwargs)
        if scale not in SUPPORTED_SCALES:
            raise ValueError(
                f"SRVGGNetCompact scale must be one of {SUPPORTED_SCALES}, got {scale!r}"
            )
        for arg, value in (
            ("num_in_ch", num_in_ch),
            ("num_out_ch", num_out_ch),
            ("num_feat", num_feat),
            ("num_conv", num_conv),
        ):
            if not isinstance(value, int) or value < 1:
                raise ValueError(f"SRVGGNetCompact {arg} must be a positive integer, got {value!r}")
        self.num_in_ch = num_in_ch
        self.num_out_ch = num_out_ch
        self.num_feat = num_feat
        self.num_conv = num_conv
        self.scale = scale

        def conv(filters, index, dtype=None):
            # PyTorch's default init (the release's nets keep it).
            return keras.layers.Conv2D(
                filters,
                3,
                padding="same",
                name=f"conv_{index}",
                kernel_initializer=torch_default_init(),
                bias_initializer="zeros",
                dtype=dtype,
            )

        layers = [conv(num_feat, 0), prelu("prelu_1")]
        for i in range(num_conv):
            layers += [conv(num_feat, 2 * i + 2), prelu(f"prelu_{2 * i + 3}")]
        # float32 whatever the policy (see RRDBNet.conv_last).
        layers.append(conv(num_out_ch * scale * scale, 2 * num_conv + 2, dtype="float32"))
        self.body = keras.Sequential(layers, name="body")
        self.upsampler = DepthToSpace(scale, name="upsampler", dtype="float32")
        self.base = NearestUpsample(scale, name="base", dtype="float32")

    @property
    def descriptor(self):
        """What runners need to know (`esrgan_tf.models.descriptor`)."""
        fields = ("scale", "num_feat", "num_conv")
        return describe(ModelConfig("srvgg", **{f: getattr(self, f) for f in fields}))

    @property
    def convs(self):
        """(BasicSR state-dict index, Conv2D) of every conv of the body."""
        return [
            (i, layer)
            for i, layer in enumerate(self.body.layers)
            if isinstance(layer, keras.layers.Conv2D)
        ]

    @property
    def prelus(self):
        """(BasicSR state-dict index, PReLU) of every activation of the body."""
        return [
            (i, layer)
            for i, layer in enumerate(self.body.layers)
            if isinstance(layer, keras.layers.PReLU)
        ]

    def call(self, x):
        out = self.upsampler(self.body(x))
        return out + self.base(x)

    def get_config(self):
        return {
            **super().get_config(),
            "num_in_ch": self.num_in_ch,
            "num_out_ch": self.num_out_ch,
            "num_feat": self.num_feat,
            "num_conv": self.num_conv,
            "scale": self.scale,
        }
