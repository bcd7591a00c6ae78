"""SRVGGNetCompact: the released sizes, its residual over nearest upsampling, pixel shuffle
order, and mixed precision."""

import numpy as np
import pytest
import tensorflow as tf

from esrgan_tf.models.builders import built_generator
from esrgan_tf.models.config import ModelConfig
from esrgan_tf.models.srvgg import DepthToSpace, SRVGGNetCompact


def conv_params(c_in, c_out):
    return 9 * c_in * c_out + c_out


@pytest.mark.parametrize("num_conv", [16, 32])
def test_released_sizes(num_conv):
    # realesr-animevideov3 (16 convs) and realesr-general-x4v3 (32 convs), 64 features:
    # by hand, convs + one PReLU slope per channel after every conv but the last.
    by_hand = (
        conv_params(3, 64)
        + num_conv * conv_params(64, 64)
        + conv_params(64, 48)
        + 64 * (num_conv + 1)
    )
    model = SRVGGNetCompact(num_conv=num_conv)
    assert model(np.zeros((1, 8, 8, 3), np.float32)).shape == (1, 32, 32, 3)
    assert model.count_params() == by_hand
    if num_conv == 16:  # the byte count of realesr-animevideov3's ncnn .bin says so
        assert by_hand == 621_424


def test_zero_body_is_nearest_upsampling():
    model = SRVGGNetCompact(num_feat=4, num_conv=1, scale=3)
    x = np.random.default_rng(0).random((1, 5, 4, 3), dtype=np.float32)
    model(x)
    model.set_weights([np.zeros_like(w) for w in model.get_weights()])
    np.testing.assert_array_equal(model(x).numpy()[0], np.repeat(np.repeat(x[0], 3, 0), 3, 1))


def test_depth_to_space_channel_order():
    # TF's order: output pixel (i, j) of channel c takes input channel (i * f + j) * C + c.
    x = np.arange(8, dtype=np.float32).reshape(1, 1, 1, 8)
    out = DepthToSpace(2)(x).numpy()[0]
    for i in range(2):
        for j in range(2):
            for c in range(2):
                assert out[i, j, c] == x[0, 0, 0, (i * 2 + j) * 2 + c]


def test_mixed_precision_keeps_the_image_path_float32():
    model = built_generator(
        ModelConfig(generator="srvgg", num_feat=8, num_conv=2), "mixed_bfloat16"
    )
    assert model.compute_dtype == "float32"  # the input is upsampled in float32
    assert model.body.layers[0].compute_dtype == "bfloat16"
    assert model.body.layers[-1].compute_dtype == "float32"
    y = model(tf.random.uniform((1, 6, 6, 3)))
    assert y.dtype == tf.float32


def test_bad_arguments():
    with pytest.raises(ValueError, match="scale"):
        SRVGGNetCompact(scale=8)
    with pytest.raises(ValueError, match="num_conv"):
        SRVGGNetCompact(num_conv=0)
