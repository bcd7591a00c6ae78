"""Config and .keras round trips, and checkpoint restore of every variable."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from esrgan_tf.models.discriminators import UNetDiscriminatorSN, VGGStyleDiscriminator
from esrgan_tf.models.rrdbnet import RRDBNet
from esrgan_tf.models.srresnet import SRResNet
from esrgan_tf.models.srvgg import SRVGGNetCompact

CASES = [
    (lambda: RRDBNet(num_feat=8, num_block=2, num_grow_ch=4, scale=2), (1, 6, 5, 3)),
    (
        lambda: RRDBNet(num_feat=8, num_block=1, num_grow_ch=4, scale=2, unshuffle=True),
        (1, 8, 6, 3),
    ),
    (lambda: RRDBNet(num_feat=8, num_block=1, num_grow_ch=4, scale=1), (1, 6, 5, 3)),
    (lambda: SRVGGNetCompact(num_feat=8, num_conv=2, scale=3), (1, 6, 5, 3)),
    (lambda: SRResNet(num_feat=8, num_block=2, scale=3), (1, 6, 5, 3)),
    (lambda: SRResNet(num_feat=8, num_block=2, use_bn=False), (1, 6, 5, 3)),
    (lambda: VGGStyleDiscriminator(96, num_feat=4, dense_units=8), (2, 96, 96, 3)),
    (lambda: UNetDiscriminatorSN(num_feat=4), (1, 16, 24, 3)),
]
IDS = [
    "rrdbnet",
    "rrdbnet_unshuffle",
    "rrdbnet_x1",
    "srvgg",
    "srresnet",
    "srresnet_nobn",
    "vgg_disc",
    "unet_disc",
]


def make(case):
    factory, shape = case
    model = factory()
    x = np.random.default_rng(1).random(shape, dtype=np.float32)
    model(x)
    return model, x


@pytest.mark.slow
@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_config_round_trip(case):
    model, x = make(case)
    clone = type(model).from_config(model.get_config())
    clone(x)
    assert clone.get_config() == model.get_config()
    assert clone.count_params() == model.count_params()


@pytest.mark.slow
@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_keras_file_round_trip(case, tmp_path):
    model, x = make(case)
    path = tmp_path / "model.keras"
    model.save(path)
    loaded = keras.models.load_model(path)
    assert type(loaded) is type(model)
    np.testing.assert_array_equal(loaded(x), model(x))


@pytest.mark.slow
@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_checkpoint_restores_every_variable(case, tmp_path):
    model, x = make(case)
    prefix = tf.train.Checkpoint(model=model).save(str(tmp_path / "ckpt"))
    saved = {name for name, _ in tf.train.list_variables(prefix)}
    # Every model variable must be in the checkpoint (a plain Python list of layers
    # would silently drop some in Keras 3).
    assert sum(1 for n in saved if n.startswith("model/")) == len(model.weights)

    other, _ = make(case)
    for v in other.weights:  # make sure nothing already matches by chance
        v.assign(v + 1.0)
    tf.train.Checkpoint(model=other).restore(prefix).assert_consumed()
    for a, b in zip(model.weights, other.weights):
        np.testing.assert_array_equal(a.numpy(), b.numpy(), err_msg=a.path)
