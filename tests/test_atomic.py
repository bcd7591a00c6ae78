"""Atomic writes: the final name holds the whole new file or the old one, never a part."""

import os

import pytest

from esrgan_tf import atomic
from esrgan_tf.formats import keras as keras_form


def test_write_replaces_whole_files_with_the_usual_mode(tmp_path):
    path = tmp_path / "report.json"
    atomic.write_json(str(path), {"a": 1})
    assert path.read_text() == '{\n  "a": 1\n}\n'
    atomic.write_text(str(path), "second")
    assert path.read_text() == "second"
    umask = os.umask(0)
    os.umask(umask)
    assert (path.stat().st_mode & 0o777) == (0o666 & ~umask)
    assert os.listdir(tmp_path) == ["report.json"]


def test_a_failed_write_keeps_the_old_file_and_leaves_no_temporary(tmp_path):
    path = tmp_path / "model.weights.h5"
    path.write_bytes(b"old")
    with pytest.raises(OSError, match="disk full"):
        with atomic.atomic_path(str(path)) as tmp:
            assert tmp.endswith("-model.weights.h5")  # writers that check the suffix
            with open(tmp, "wb") as f:
                f.write(b"half")
            raise OSError("disk full")
    assert path.read_bytes() == b"old" and os.listdir(tmp_path) == ["model.weights.h5"]


def test_temporary_files_of_a_crash_are_removed(tmp_path):
    leftover = atomic.temporary_path(str(tmp_path / "shard.tfrecord"))
    (tmp_path / "keep.png").write_bytes(b"x")
    assert os.path.basename(leftover).startswith(atomic.TMP_PREFIX)
    atomic.remove_temporary_files(str(tmp_path))
    assert os.listdir(tmp_path) == ["keep.png"]


def test_failed_save_leaves_no_partial_file(tmp_path, monkeypatch, tiny_model, make_generator):
    def broken_save(self, path):
        with open(path, "wb") as f:
            f.write(b"half")
        raise OSError("disk full")

    model = make_generator(tiny_model)
    monkeypatch.setattr(type(model), "save_weights", broken_save)
    with pytest.raises(OSError, match="disk full"):
        keras_form.save_weights(model, str(tmp_path / "out.weights.h5"))
    assert not os.listdir(tmp_path)


def test_saved_weights_get_the_usual_file_mode(tmp_path, tiny_model, make_generator):
    path = tmp_path / "g.weights.h5"
    keras_form.save_weights(make_generator(tiny_model), str(path))
    umask = os.umask(0)
    os.umask(umask)
    assert (path.stat().st_mode & 0o777) == (0o666 & ~umask)
