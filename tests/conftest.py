"""Shared test set-up: quiet TensorFlow, two logical CPUs, deterministic seeds, and the
fixtures every test file uses (tiny models, tiny shards, running a command)."""

import fcntl
import importlib.util
import json
import os
import subprocess
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
# Under xdist the two workers share the two cores: PyTorch's OpenMP threads then spin-wait
# against the other worker's TensorFlow (its tiny benchmark took 39 s there, 1.4 s alone).
# One OpenMP thread per worker; TensorFlow's own thread pools do not read this.
if os.environ.get("PYTEST_XDIST_WORKER"):
    os.environ.setdefault("OMP_NUM_THREADS", "1")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
import skimage.data  # noqa: E402

from esrgan_tf.data import image_io, records  # noqa: E402
from esrgan_tf.models.builders import built_generator  # noqa: E402
from esrgan_tf.models.config import ModelConfig  # noqa: E402
from esrgan_tf.training.distribute import split_cpu  # noqa: E402

# Two logical CPU devices for the whole session, so the multi-replica training path
# runs here. This must happen before TensorFlow initialises its runtime.
split_cpu(2)

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# The smallest RRDBNet x4 worth testing: one RRDB of 8 features, growth 4.
TINY = ModelConfig(num_feat=8, num_block=1, num_grow_ch=4, scale=4)


@pytest.fixture(autouse=True)
def _seed():
    keras.utils.set_random_seed(0)


@pytest.fixture(autouse=True, scope="session")
def _tflite_cache(tmp_path_factory):
    """Converted TFLite stages (`esrgan_tf.inference.runtimes`) go to a session folder, never
    to the user's ~/.cache; commands run by the tests inherit it."""
    os.environ["ESRGAN_TF_CACHE"] = str(tmp_path_factory.mktemp("tflite_cache"))


@pytest.fixture(scope="session")
def repo_root():
    """The repository root (commands run from there, as the README says)."""
    return ROOT


@pytest.fixture(scope="session")
def tiny_model():
    """`TINY`: a tiny RRDBNet x4 ModelConfig."""
    return TINY


def _make_generator(model_config, seed=0):
    keras.utils.set_random_seed(seed)
    return built_generator(model_config)


@pytest.fixture(scope="session")
def make_generator():
    """Builds a generator of a ModelConfig with seeded random weights: f(config, seed)."""
    return _make_generator


# ---------------------------------------------------------------------------------------
# Shards
# ---------------------------------------------------------------------------------------


def _photo_crops(name="astronaut", size=48, step=None, area=192, offset=(0, 0)):
    """Square uint8 crops of a scikit-image photo, row by row over an `area` x `area` region
    starting at `offset` (every `step` pixels, default `size`)."""
    photo = getattr(skimage.data, name)()
    step = step or size
    y0, x0 = offset
    return [
        np.ascontiguousarray(photo[y0 + y : y0 + y + size, x0 + x : x0 + x + size])
        for y in range(0, area - size + 1, step)
        for x in range(0, area - size + 1, step)
    ]


def _write_shards(directory, crops, num_files=1, lr=None, lr_scale=0, source="photo"):
    """Writes HR crops round-robin into `num_files` TFRecord shards, as `prepare` names them.

    Args:
        crops: uint8 or uint16 HxWx3 arrays.
        lr: with `lr_scale`, a function HR crop -> its stored LR crop (same dtype); a
            manifest.json then says the shards store LR at that scale.
    Returns:
        `directory` (a str).
    """
    import tensorflow as tf  # pylint: disable=import-outside-toplevel

    directory = str(directory)
    os.makedirs(directory, exist_ok=True)
    names = [
        os.path.join(directory, f"train-{k:05d}-of-{num_files:05d}.tfrecord")
        for k in range(num_files)
    ]
    writers = [tf.io.TFRecordWriter(name) for name in names]
    for i, hr in enumerate(crops):
        kwargs = {}
        if lr_scale:
            kwargs = dict(lr_png=image_io.encode_png(lr(hr)), lr_scale=lr_scale)
        example = records.make_example(
            image_io.encode_png(hr), source=f"{source}/{i}", y=0, x=0, **kwargs
        )
        writers[i % num_files].write(example.SerializeToString())
    for writer in writers:
        writer.close()
    if lr_scale:
        with open(os.path.join(directory, "manifest.json"), "w", encoding="utf-8") as f:
            json.dump({"settings": {"lr_scale": lr_scale}}, f)
    return directory


@pytest.fixture(scope="session")
def photo_crops():
    """f(name="astronaut", size=48, step=size, area=192, offset=(0, 0)) -> uint8 crops."""
    return _photo_crops


@pytest.fixture(scope="session")
def write_shards():
    """f(directory, crops, num_files=1, lr=None, lr_scale=0) -> directory (see above)."""
    return _write_shards


@pytest.fixture(scope="session")
def tiny_shards(tmp_path_factory):
    """16 astronaut crops of 48 px in one shard, and a validation folder `<dir>/val`."""
    root = tmp_path_factory.mktemp("tiny_shards")
    _write_shards(root, _photo_crops())
    (root / "val").mkdir()
    photo = skimage.data.astronaut()
    image_io.write_png(str(root / "val" / "v.png"), np.ascontiguousarray(photo[300:348, 300:340]))
    return root


# torchvision 0.28's AlexNet.features convs, {index: (out, in, kernel)}: the keys and shapes of
# alexnet-owt-7be5be79.pth that LPIPS reads (tests/metrics/test_lpips.py checks them against torch).
_ALEXNET_CONVS = {
    0: (64, 3, 11),
    3: (192, 64, 5),
    6: (384, 192, 3),
    8: (256, 384, 3),
    10: (256, 256, 3),
}


@pytest.fixture(scope="session")
def lpips_backbone(tmp_path_factory):
    """An .npz of torchvision's AlexNet `features.*` structure with seeded random weights
    (the ImageNet file cannot be downloaded here): a backbone for `metrics.lpips.LPIPS`."""
    rng = np.random.default_rng(0)
    state_dict = {}
    for index, (out, inp, k) in _ALEXNET_CONVS.items():
        std = np.sqrt(2.0 / (inp * k * k))
        state_dict[f"features.{index}.weight"] = (
            rng.standard_normal((out, inp, k, k)) * std
        ).astype(np.float32)
        state_dict[f"features.{index}.bias"] = rng.normal(0.0, 0.05, out).astype(np.float32)
    path = tmp_path_factory.mktemp("lpips") / "alexnet_features.npz"
    np.savez(path, **state_dict)
    return str(path)


# ---------------------------------------------------------------------------------------
# Exports
# ---------------------------------------------------------------------------------------

# The export of the tiny generator (seed 4) that the export and deployment-guide tests share:
# fp32 and int8 TFLite at 16x16 and dynamic, and the SavedModel. Read it, never change it
# (copy it first: `shutil.copytree`).
TINY_EXPORT = dict(
    weights="tiny.weights.h5",
    tflite=("fp32", "int8"),
    input_size=(16, 16),
    num_calibration=4,
    latency_runs=1,
    progress=False,
)


def _export_config(output_dir, **kwargs):
    from esrgan_tf.deploy.config import ExportConfig  # pylint: disable=import-outside-toplevel

    return ExportConfig(**{**TINY_EXPORT, "output_dir": str(output_dir), **kwargs})


@pytest.fixture(scope="session")
def export_config():
    """f(output_dir, **fields) -> the ExportConfig of the shared tiny export, changed."""
    return _export_config


@pytest.fixture(scope="session")
def tiny_export(tmp_path_factory):
    """(Serving base path, export report, the generator) of the shared tiny export.

    Made once per test session, not once per xdist worker: the workers share the folder
    above their own temporary roots, and a file lock lets the first one write it.
    """
    from esrgan_tf.deploy import export  # pylint: disable=import-outside-toplevel

    generator = _make_generator(TINY, seed=4)  # seeded: the same weights in every worker
    shared = tmp_path_factory.getbasetemp().parent / "tiny_export"
    shared.mkdir(exist_ok=True)
    out, report_path = shared / "tiny", shared / "report.json"
    with open(shared / "lock", "w", encoding="utf-8") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not report_path.exists():
            report = export.export(_export_config(out), generator, TINY)
            report_path.write_text(json.dumps(report), encoding="utf-8")
    return out, json.loads(report_path.read_text(encoding="utf-8")), generator


# ---------------------------------------------------------------------------------------
# Commands
# ---------------------------------------------------------------------------------------


def _run_command(module, *args, cwd=ROOT, timeout=600, env=None):
    """`python -m <module> args...` from `cwd` (the repository root by default), quiet TF
    (an `env` value of None unsets that variable); returns the CompletedProcess (text
    stdout/stderr)."""
    environment = {
        **os.environ,
        "PYTHONPATH": ROOT,
        "TF_CPP_MIN_LOG_LEVEL": "3",
        "CUDA_VISIBLE_DEVICES": "",
        **(env or {}),
    }
    environment = {k: v for k, v in environment.items() if v is not None}
    return subprocess.run(
        [sys.executable, "-m", module, *map(str, args)],
        cwd=cwd,
        env=environment,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


@pytest.fixture(scope="session")
def run_command():
    """f(module, *args, cwd=ROOT, timeout=600, env=None) -> CompletedProcess (env: extra
    variables, None unsets one)."""
    return _run_command


@pytest.fixture(scope="session")
def golden_vgg19_state_dict():
    """The VGG19 weights (torchvision's names) behind tests/golden/torchvision_0.29.1_vgg19.npz,
    from the script that recorded torchvision's features with them."""
    path = os.path.join(ROOT, "tests", "golden", "make_torchvision_vgg19.py")
    spec = importlib.util.spec_from_file_location("make_torchvision_vgg19", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.vgg19_features_state_dict()


def _panel_offsets(strip, panels):
    """The column where each panel sits, unchanged, at the bottom of a titled strip (left to
    right, none overlapping); fails if a panel is not there pixel for pixel."""
    offsets, start = [], 0
    for panel in panels:
        height, width = panel.shape[:2]
        bottom = strip[-height:]
        found = [
            x
            for x in range(start, strip.shape[1] - width + 1)
            if np.array_equal(bottom[:, x : x + width], panel)
        ]
        assert found, f"panel {len(offsets)} ({width}x{height}) is not in the strip"
        offsets.append(found[0])
        start = found[0] + width
    return offsets


@pytest.fixture(scope="session")
def panel_offsets():
    """f(strip, panels) -> the x offset of each panel (exact pixels) in a titled strip."""
    return _panel_offsets
