"""Explicit mapping from a ModelConfig to model classes and descriptors (no registry)."""

import contextlib

import keras
import numpy as np

from esrgan_tf.models import rrdbnet, srresnet, srvgg
from esrgan_tf.models.config import PRECISIONS, ModelConfig
from esrgan_tf.models.discriminators import UNetDiscriminatorSN, VGGStyleDiscriminator
from esrgan_tf.models.rrdbnet import RRDBNet
from esrgan_tf.models.srresnet import SRResNet
from esrgan_tf.models.srvgg import SRVGGNetCompact


@contextlib.contextmanager
def dtype_policy_scope(policy):
    """Layers created inside use `policy` (e.g. "mixed_bfloat16"); None changes nothing.

    Keras 3 does not pass a model's `dtype` on to the layers it creates in `__init__`, so
    the global policy is set while the model is built, and restored afterwards.
    """
    if policy is None:
        yield
        return
    saved = keras.config.dtype_policy()
    keras.config.set_dtype_policy(policy)
    try:
        yield
    finally:
        keras.config.set_dtype_policy(saved)


def build_generator(model_config, dtype_policy=None):
    """The generator named by `model_config.generator` ('rrdbnet', 'srresnet' or 'srvgg').

    Args:
        model_config: the architecture.
        dtype_policy: Keras dtype policy of every layer ("mixed_float16", "bfloat16", ...);
            None: the global one (float32 unless changed).
    """
    c = model_config
    with dtype_policy_scope(dtype_policy):
        if c.generator == "rrdbnet":
            return RRDBNet(
                num_feat=c.num_feat,
                num_block=c.num_block,
                num_grow_ch=c.num_grow_ch,
                scale=c.scale,
                unshuffle=c.unshuffle,
                name="generator",
            )
        if c.generator == "srvgg":
            return SRVGGNetCompact(
                num_feat=c.num_feat, num_conv=c.num_conv, scale=c.scale, name="generator"
            )
        if c.generator == "srresnet":
            return SRResNet(
                num_feat=c.num_feat,
                num_block=c.num_block,
                scale=c.scale,
                use_bn=c.use_bn,
                name="generator",
            )
    raise ValueError(f"unknown generator {c.generator!r}; use 'rrdbnet', 'srresnet' or 'srvgg'")


def descriptor(model_config):
    """The `Descriptor` of the generator of `model_config` (without building it)."""
    describe = {
        "rrdbnet": rrdbnet.describe,
        "srvgg": srvgg.describe,
        "srresnet": srresnet.describe,
    }[model_config.generator]
    # Only the generator's fields: the discriminator's are no part of what runs it.
    return describe(ModelConfig(**model_config.architecture()))


def build_discriminator(model_config, hr_size, dtype_policy=None):
    """The discriminator named by `model_config.discriminator` ('vgg' or 'unet')."""
    c = model_config
    with dtype_policy_scope(dtype_policy):
        if c.discriminator == "vgg":
            return VGGStyleDiscriminator(
                hr_size,
                num_feat=c.d_num_feat,
                strided_kernel=c.d_strided_kernel,
                dense_units=c.d_dense_units,
                name="discriminator",
            )
        if c.discriminator == "unet":
            return UNetDiscriminatorSN(num_feat=c.d_num_feat, name="discriminator")
    raise ValueError(f"unknown discriminator {c.discriminator!r}; use 'vgg' or 'unet'")


def cast_generator(generator, model_config, precision):
    """`generator` itself for fp32, else a copy whose variables and maths are fp16/bf16.

    The copy is built under a pure float16/bfloat16 dtype policy (half the size of the
    float32 weights, as a serving model should be) and gets the rounded weights; the output
    layers stay float32 under any policy (see the generators).
    """
    if precision not in PRECISIONS:
        raise ValueError(f"precision must be one of {sorted(PRECISIONS)}, got {precision!r}")
    if precision == "fp32":
        return generator
    half = built_generator(model_config, dtype_policy=PRECISIONS[precision])
    if len(half.weights) != len(generator.weights):
        raise ValueError("the reduced-precision copy has other variables than the model")
    for target, source in zip(half.weights, generator.weights):
        target.assign(keras.ops.cast(source, target.dtype))
    return half


def built_generator(model_config, dtype_policy=None):
    """`build_generator`, with its variables created (ready for `load_weights`/`set_weights`).

    A generator with its own `build()` (RRDBNet) builds from the input shape alone; a
    subclassed Keras model without one creates its variables on the first call
    (`model.build(shape)` creates none), so it is called once on a small dummy batch. (The
    dummy call of the 23-block RRDBNet took 0.7 s of its 2.2 s build.)
    """
    model = build_generator(model_config, dtype_policy)
    if type(model).build is not keras.Model.build:
        model.build((None, None, None, 3))
    else:
        model(np.zeros((1, 8, 8, 3), np.float32))
    return model


def built_discriminator(model_config, hr_size, dtype_policy=None):
    """`build_discriminator` with its variables created (a call on one `hr_size` patch)."""
    model = build_discriminator(model_config, hr_size, dtype_policy)
    model(np.zeros((1, hr_size, hr_size, 3), np.float32))
    return model
