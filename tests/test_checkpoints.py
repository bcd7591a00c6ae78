"""Loading generator weights: all-or-nothing, with clear errors for other architectures."""

import os

import numpy as np
import pytest

from esrgan_tf import checkpoints
from esrgan_tf.config import ModelConfig
from esrgan_tf.models import RRDBNet

TINY = dict(num_feat=8, num_block=1, num_grow_ch=4)


def built(**kwargs):
    model = RRDBNet(**kwargs)
    model(np.zeros((1, 4, 4, 3), np.float32))
    return model


def test_weights_file_round_trip_through_load_generator(tmp_path):
    source = built(**TINY)
    source.save_weights(str(tmp_path / "g.weights.h5"))
    model, config = checkpoints.load_generator(str(tmp_path / "g.weights.h5"),
                                               ModelConfig(**TINY))
    assert config.num_feat == 8
    for a, b in zip(source.weights, model.weights):
        np.testing.assert_array_equal(a.numpy(), b.numpy())


@pytest.mark.parametrize("other, message", [
    (dict(num_feat=8, num_block=2, num_grow_ch=4), "holds 42 arrays"),  # more blocks
    (dict(num_feat=16, num_block=1, num_grow_ch=4), "arrays of other shapes"),  # same count
])
def test_other_architecture_is_a_clear_error_and_loads_nothing(tmp_path, other, message):
    built(**TINY).save_weights(str(tmp_path / "g.weights.h5"))
    target = built(**other)
    before = [w.numpy().copy() for w in target.weights]
    with pytest.raises(ValueError, match=message):
        checkpoints.load_generator_weights(target, str(tmp_path / "g.weights.h5"))
    for a, b in zip(before, target.weights):
        np.testing.assert_array_equal(a, b.numpy())


def test_missing_path_is_a_clear_error(tmp_path):
    with pytest.raises(FileNotFoundError, match="neither a .weights.h5"):
        checkpoints.load_generator_weights(built(**TINY), str(tmp_path / "nothing"))


def test_failed_save_leaves_no_partial_file(tmp_path, monkeypatch):
    def broken_save(self, path):
        with open(path, "wb") as f:
            f.write(b"half")
        raise OSError("disk full")

    model = built(**TINY)
    monkeypatch.setattr(type(model), "save_weights", broken_save)
    with pytest.raises(OSError, match="disk full"):
        checkpoints.save_weights_atomically(model, str(tmp_path / "out.weights.h5"))
    assert not os.listdir(tmp_path)


def test_saved_weights_get_the_usual_file_mode(tmp_path):
    path = tmp_path / "g.weights.h5"
    checkpoints.save_weights_atomically(built(**TINY), str(path))
    umask = os.umask(0)
    os.umask(umask)
    assert (path.stat().st_mode & 0o777) == (0o666 & ~umask)
