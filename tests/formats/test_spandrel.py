"""Written `.pth` / `.safetensors` files as spandrel (the loader of chaiNNer, ComfyUI and
InvokeAI) reads them: the architecture and scale it detects, and its output against Keras.

spandrel needs torch and torchvision, and torchvision does not import beside the torch build
of the suite's environment, so the check runs in another Python: set
ESRGAN_TF_SPANDREL_PYTHON to one that has spandrel (e.g. torch 2.14.1, torchvision 0.29.1,
spandrel 0.4.2). Without it these tests are skipped, with that reason.
"""

import json
import os
import subprocess

import keras
import numpy as np
import pytest
import skimage.data

from esrgan_tf.formats import pytorch
from esrgan_tf.models.builders import built_generator
from esrgan_tf.models.config import ModelConfig

PYTHON = os.environ.get("ESRGAN_TF_SPANDREL_PYTHON", "")
CHECK = os.path.join(os.path.dirname(__file__), "spandrel_check.py")

pytestmark = pytest.mark.skipif(
    not (PYTHON and os.path.exists(PYTHON)),
    reason="set ESRGAN_TF_SPANDREL_PYTHON to a Python with spandrel (needs torchvision)",
)

RRDB = dict(num_feat=16, num_grow_ch=32)  # spandrel fixes the growth at 32
CASES = {
    # name: (architecture, layout, file ending, spandrel's architecture id)
    "rrdbnet x4 basicsr pth": (ModelConfig(num_block=2, **RRDB), "basicsr", ".pth", "ESRGAN"),
    "rrdbnet x4 old_arch safetensors": (
        ModelConfig(num_block=2, **RRDB),
        "old_arch",
        ".safetensors",
        "ESRGAN",
    ),
    "rrdbnet x2 old_arch pth": (
        ModelConfig(num_block=1, scale=2, **RRDB),
        "old_arch",
        ".pth",
        "ESRGAN",
    ),
    "x2plus basicsr safetensors": (
        ModelConfig(num_block=1, scale=2, unshuffle=True, **RRDB),
        "basicsr",
        ".safetensors",
        "ESRGAN",
    ),
    "srvgg x4 basicsr pth": (
        ModelConfig(generator="srvgg", num_feat=16, num_conv=4),
        "basicsr",
        ".pth",
        "Compact",
    ),
}


def test_spandrel_detects_and_runs_every_written_form(tmp_path):
    crop = skimage.data.coffee()[120:144, 200:232].astype(np.float32)[None] / 255
    np.save(tmp_path / "input.npy", crop)
    models, files = {}, []
    for i, (name, (config, layout, ending, _)) in enumerate(CASES.items()):
        if ending == ".pth":
            pytest.importorskip("torch", reason="writing a .pth needs torch")
        keras.utils.set_random_seed(i)
        model = built_generator(config)
        rng = np.random.default_rng(i)
        for variable in model.weights:  # larger than the init, so every tensor matters
            variable.assign(rng.uniform(-0.15, 0.15, variable.shape))
        path = str(tmp_path / f"model{i}{ending}")
        pytorch.save(model, path, layout)
        models[path] = (name, config, model)
        files.append(path)
    result = subprocess.run(
        [PYTHON, CHECK, str(tmp_path / "input.npy"), *files],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    lines = [json.loads(line) for line in result.stdout.splitlines() if line.startswith("{")]
    assert [line["file"] for line in lines] == files
    for line in lines:
        name, config, model = models[line["file"]]
        assert line["architecture"] == CASES[name][3], name
        assert line["scale"] == config.scale, name
        theirs = np.load(line["output"])
        ours = np.asarray(model(crop))
        assert theirs.shape == ours.shape, name
        assert np.std(ours) > 0.01, name
        assert np.max(np.abs(theirs - ours)) <= 1e-4, name
