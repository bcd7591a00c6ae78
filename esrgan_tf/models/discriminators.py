"""Discriminators: the VGG-style network of SRGAN/ESRGAN and Real-ESRGAN's U-Net.

Both output raw logits (no sigmoid): the GAN losses in `esrgan_tf.losses` work on
logits, which is both numerically safer and what the relativistic GAN needs. The logit
layer is float32 even under a mixed-precision policy.
"""

import keras
import tensorflow as tf

from esrgan_tf.models.spectral_norm import SpectralNorm

_PKG = "esrgan_tf"

# Stages (conv pairs) per input size: each halves H and W. 128 -> 4x4 and 192 -> 6x6
# with 5 stages (ESRGAN's discriminator_VGG_128); 256 -> 4x4 with 6 stages;
# 96 -> 6x6 with 4 stages (SRGAN Fig. 4).
DEFAULT_STAGES = {96: 4, 128: 5, 192: 5, 256: 6}


def batch_norm(name):
    # PyTorch BatchNorm2d defaults (momentum 0.1 = Keras 0.9, eps 1e-5).
    # synchronized: batch statistics over the global batch, so N replicas train (and
    # update the moving averages) like one device with the whole batch.
    return keras.layers.BatchNormalization(momentum=0.9, epsilon=1e-5, synchronized=True, name=name)


@keras.saving.register_keras_serializable(package=_PKG)
class VGGStyleDiscriminator(keras.Model):
    """VGG-style discriminator for fixed-size HR patches.

    Stage i (i = 0..num_stages-1) has channels num_feat * min(2**i, 8): a 3x3
    stride-1 conv then a stride-2 conv (kernel `strided_kernel`), each followed by
    BN (except the very first conv) and LeakyReLU 0.2; then flatten ->
    dense(dense_units) -> LeakyReLU 0.2 -> dense(1) logit.

    Args:
        input_size: height = width of the patches (96, 128, 192 or 256; other sizes
            work when divisible by 2**num_stages).
        num_in_ch: input channels.
        num_feat: channels of the first stage (64).
        num_stages: conv pairs; default from `DEFAULT_STAGES`.
        strided_kernel: kernel of the stride-2 convs: 4 in ESRGAN's official
            discriminator_VGG_128, 3 in SRGAN Fig. 4.
        dense_units: hidden dense width: 100 in ESRGAN, 1024 in SRGAN.
        use_bn: batch normalisation after every conv but the first.
    Reference: SRGAN §2.2 and Fig. 4; ESRGAN §3.2 and the official
    discriminator_VGG_128 (64 -> 512 channels, 4x4 feature map before the dense layers).
    """

    def __init__(
        self,
        input_size=128,
        num_in_ch=3,
        num_feat=64,
        num_stages=None,
        strided_kernel=4,
        dense_units=100,
        use_bn=True,
        **kwargs,
    ):
        super().__init__(**kwargs)
        if num_stages is None:
            if input_size not in DEFAULT_STAGES:
                raise ValueError(
                    f"VGGStyleDiscriminator has no default depth for input_size="
                    f"{input_size}; pass num_stages or use one of {sorted(DEFAULT_STAGES)}"
                )
            num_stages = DEFAULT_STAGES[input_size]
        if input_size % (2**num_stages):
            raise ValueError(
                f"input_size={input_size} is not divisible by 2**num_stages={2**num_stages}"
            )
        self.input_size = input_size
        self.num_in_ch = num_in_ch
        self.num_feat = num_feat
        self.num_stages = num_stages
        self.strided_kernel = strided_kernel
        self.dense_units = dense_units
        self.use_bn = use_bn

        self.features = keras.Sequential(name="features")
        for i in range(num_stages):
            ch = num_feat * min(2**i, 8)
            for j, (kernel, stride) in enumerate(((3, 1), (strided_kernel, 2))):
                first = i == 0 and j == 0
                bn = use_bn and not first
                if stride == 2:
                    # PyTorch's padding=1 on every side (BasicSR's discriminator_VGG_128):
                    # Keras's "same" pads 0 / 1 for a 3x3 stride-2 conv on an even input,
                    # which samples a grid shifted by one pixel (SRGAN's variant).
                    self.features.add(
                        keras.layers.ZeroPadding2D((kernel - 1) // 2, name=f"pad{i}_{j}")
                    )
                self.features.add(
                    keras.layers.Conv2D(
                        ch,
                        kernel,
                        strides=stride,
                        padding="same" if stride == 1 else "valid",
                        use_bias=not bn,
                        name=f"conv{i}_{j}",
                    )
                )
                if bn:
                    self.features.add(batch_norm(f"bn{i}_{j}"))
                self.features.add(keras.layers.LeakyReLU(negative_slope=0.2, name=f"lrelu{i}_{j}"))
        self.flatten = keras.layers.Flatten()
        self.dense1 = keras.layers.Dense(dense_units, name="dense1")
        self.lrelu = keras.layers.LeakyReLU(negative_slope=0.2)
        # Logits in float32 under any dtype policy: RaGAN compares them with batch means.
        self.dense2 = keras.layers.Dense(1, name="dense2", dtype="float32")

    def call(self, x, training=None):
        h, w = x.shape[1], x.shape[2]
        if (h, w) != (self.input_size, self.input_size):
            raise ValueError(
                f"VGGStyleDiscriminator(input_size={self.input_size}) got patches of "
                f"{h}x{w}; its dense layers need exactly "
                f"{self.input_size}x{self.input_size} inputs"
            )
        feat = self.features(x, training=training)
        return self.dense2(self.lrelu(self.dense1(self.flatten(feat))))

    def get_config(self):
        return {
            **super().get_config(),
            "input_size": self.input_size,
            "num_in_ch": self.num_in_ch,
            "num_feat": self.num_feat,
            "num_stages": self.num_stages,
            "strided_kernel": self.strided_kernel,
            "dense_units": self.dense_units,
            "use_bn": self.use_bn,
        }


@keras.saving.register_keras_serializable(package=_PKG)
class BilinearUpsample2x(keras.layers.Layer):
    """x2 bilinear upsampling (half-pixel centres, as PyTorch align_corners=False)."""

    def call(self, x):
        return tf.image.resize(x, tf.shape(x)[1:3] * 2, method="bilinear")

    def compute_output_shape(self, input_shape):
        b, h, w, c = input_shape
        return (b, None if h is None else 2 * h, None if w is None else 2 * w, c)


@keras.saving.register_keras_serializable(package=_PKG)
class UNetDiscriminatorSN(keras.Model):
    """U-Net discriminator with spectral normalisation; one logit per pixel.

    conv0 -> three stride-2 4x4 convs (x2 channels each) -> three bilinear x2
    upsampling + conv stages with skip connections -> two convs -> 1-channel conv.
    Every conv but the first and the last is spectrally normalised (`SpectralNorm`:
    Miyato et al.'s reparametrisation with one power iteration per training call and the
    gradient through sigma, as PyTorch's spectral_norm); LeakyReLU 0.2.
    Works on any H and W divisible by 8.

    Args:
        num_in_ch: input channels.
        num_feat: channels of the first conv (64).
        skip_connection: add the encoder features to the decoder (Real-ESRGAN: True).
    Reference: Wang et al., "Real-ESRGAN", ICCVW 2021, §3.3 and Fig. 6.
    """

    def __init__(self, num_in_ch=3, num_feat=64, skip_connection=True, **kwargs):
        super().__init__(**kwargs)
        self.num_in_ch = num_in_ch
        self.num_feat = num_feat
        self.skip_connection = skip_connection
        f = num_feat

        def sn_conv(filters, kernel, stride, name):
            # Miyato et al.'s W / sigma(W), with the gradient through sigma as PyTorch's
            # spectral_norm (which Real-ESRGAN uses); the power iteration in float32.
            return SpectralNorm(
                keras.layers.Conv2D(
                    filters, kernel, strides=stride, padding="same", use_bias=False
                ),
                power_iterations=1,
                name=name,
            )

        self.conv0 = keras.layers.Conv2D(f, 3, padding="same", name="conv0")
        self.conv1 = sn_conv(f * 2, 4, 2, "conv1")
        self.conv2 = sn_conv(f * 4, 4, 2, "conv2")
        self.conv3 = sn_conv(f * 8, 4, 2, "conv3")
        self.conv4 = sn_conv(f * 4, 3, 1, "conv4")
        self.conv5 = sn_conv(f * 2, 3, 1, "conv5")
        self.conv6 = sn_conv(f, 3, 1, "conv6")
        self.conv7 = sn_conv(f, 3, 1, "conv7")
        self.conv8 = sn_conv(f, 3, 1, "conv8")
        # Logits in float32 under any dtype policy (see VGGStyleDiscriminator.dense2).
        self.conv9 = keras.layers.Conv2D(1, 3, padding="same", name="conv9", dtype="float32")
        self.up = BilinearUpsample2x(name="up")
        self.lrelu = keras.layers.LeakyReLU(negative_slope=0.2)

    def call(self, x, training=None):
        h, w = x.shape[1], x.shape[2]
        if (h is not None and h % 8) or (w is not None and w % 8):
            raise ValueError(f"UNetDiscriminatorSN needs H and W divisible by 8, got {h}x{w}")
        act = self.lrelu
        x0 = act(self.conv0(x))
        x1 = act(self.conv1(x0, training=training))
        x2 = act(self.conv2(x1, training=training))
        x3 = act(self.conv3(x2, training=training))
        y = act(self.conv4(self.up(x3), training=training))
        if self.skip_connection:
            y = y + x2
        y = act(self.conv5(self.up(y), training=training))
        if self.skip_connection:
            y = y + x1
        y = act(self.conv6(self.up(y), training=training))
        if self.skip_connection:
            y = y + x0
        y = act(self.conv7(y, training=training))
        y = act(self.conv8(y, training=training))
        return self.conv9(y)

    def get_config(self):
        return {
            **super().get_config(),
            "num_in_ch": self.num_in_ch,
            "num_feat": self.num_feat,
            "skip_connection": self.skip_connection,
        }
