"""Generators and discriminators (Keras 3, NHWC float32 RGB in [0, 1])."""

from esrgan_tf.models.discriminators import UNetDiscriminatorSN, VGGStyleDiscriminator
from esrgan_tf.models.rrdbnet import RRDB, ResidualDenseBlock, RRDBNet
from esrgan_tf.models.srresnet import SRResNet
from esrgan_tf.models.srvgg import SRVGGNetCompact

__all__ = [
    "RRDB",
    "RRDBNet",
    "ResidualDenseBlock",
    "SRResNet",
    "SRVGGNetCompact",
    "UNetDiscriminatorSN",
    "VGGStyleDiscriminator",
]
