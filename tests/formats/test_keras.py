"""Loading generator weights: all-or-nothing, with clear errors for other architectures."""

import dataclasses
import json

import numpy as np
import pytest

from esrgan_tf.formats import generators
from esrgan_tf.models.config import ModelConfig


def test_weights_file_round_trip_through_load(tmp_path, tiny_model, make_generator):
    source = make_generator(tiny_model)
    source.save_weights(str(tmp_path / "g.weights.h5"))
    loaded = generators.load(str(tmp_path / "g.weights.h5"), tiny_model.architecture())
    model, config = loaded.model, loaded.config
    assert config.num_feat == 8
    for a, b in zip(source.weights, model.weights):
        np.testing.assert_array_equal(a.numpy(), b.numpy())


@pytest.mark.parametrize(
    "other, message",
    [
        (dict(num_block=2), "holds 42 arrays"),  # more blocks
        (dict(num_feat=16), "arrays of other shapes"),  # same count
    ],
)
def test_other_architecture_is_a_clear_error_and_loads_nothing(
    tmp_path, other, message, tiny_model, make_generator
):
    make_generator(tiny_model).save_weights(str(tmp_path / "g.weights.h5"))
    target = make_generator(dataclasses.replace(tiny_model, **other))
    before = [w.numpy().copy() for w in target.weights]
    with pytest.raises(ValueError, match=message):
        generators.load_into(target, str(tmp_path / "g.weights.h5"))
    for a, b in zip(before, target.weights):
        np.testing.assert_array_equal(a, b.numpy())


def test_missing_path_is_a_clear_error(tmp_path, tiny_model, make_generator):
    with pytest.raises(FileNotFoundError, match="neither a .weights.h5"):
        generators.load_into(make_generator(tiny_model), str(tmp_path / "nothing"))


def test_architecture_of_a_workdir_and_its_overrides(tmp_path, tiny_model):
    run = tmp_path / "run"
    (run / "checkpoints").mkdir(parents=True)
    with open(run / "config.json", "w", encoding="utf-8") as f:
        json.dump({"model": dataclasses.asdict(tiny_model)}, f)
    assert generators.read_architecture(str(run)) == tiny_model
    # A checkpoint prefix inside the workdir finds the same config.json.
    assert generators.read_architecture(str(run / "checkpoints" / "ckpt-2")) == tiny_model
    assert generators.read_architecture(str(run), {"scale": 2}).scale == 2
    # A .weights.h5 carries no architecture: ESRGAN's x4 / 23 blocks unless overridden.
    assert generators.read_architecture(str(run / "g.weights.h5")) == ModelConfig()
    assert generators.read_architecture("g.weights.h5", {"num_block": 6}).num_block == 6
