"""`python -m esrgan_tf.prepare`: its errors, and end to end with spawned workers, determinism."""

import glob
import os

import numpy as np
from PIL import Image
import pytest

from esrgan_tf import cli, prepare
from esrgan_tf.data import preparation
from esrgan_tf.data.config import PrepareConfig


def _noise_png(path, shape, seed):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    rng = np.random.default_rng(seed)
    Image.fromarray(rng.integers(0, 256, shape, dtype=np.uint8)).save(path)


def _shard_bytes(output_dir):
    return {
        os.path.basename(p): open(p, "rb").read()  # noqa: SIM115
        for p in sorted(glob.glob(os.path.join(output_dir, "*.tfrecord")))
    }


def test_errors_name_what_is_wrong(tmp_path):
    (tmp_path / "bad").mkdir()
    (tmp_path / "bad" / "text.png").write_bytes(b"not an image")
    _noise_png(str(tmp_path / "bad" / "small.png"), (8, 8, 3), seed=0)
    main = prepare.main
    with pytest.raises(preparation.PrepareError, match="nothing usable") as err:
        main(
            cli.parse(
                PrepareConfig,
                [f"--input_dirs={tmp_path / 'bad'}", f"--output_dir={tmp_path / 'o'}"],
            )
        )
    assert "too small" in str(err.value)
    (tmp_path / "a_file").write_bytes(b"")
    _noise_png(str(tmp_path / "good" / "00.png"), (48, 64, 3), seed=0)
    with pytest.raises(preparation.PrepareError, match="cannot write to output folder"):
        main(
            cli.parse(
                PrepareConfig,
                [f"--input_dirs={tmp_path / 'good'}", f"--output_dir={tmp_path / 'a_file'}"],
            )
        )


@pytest.mark.slow
def test_cli_spawned_workers_and_determinism(tmp_path, run_command):
    for i in range(2):
        _noise_png(str(tmp_path / "good" / f"{i:02d}.png"), (48, 64, 3), seed=i)

    # The real path: spawned workers re-import the command module as __mp_main__. Another
    # process with another string-hash seed must still write the same bytes as this one
    # (protobuf maps serialize in hash order unless asked to be deterministic).
    settings = dict(crop_size=32, step=16, lr_scale=4, num_shards=2)
    run = run_command(
        "esrgan_tf.prepare",
        f"--input_dirs={tmp_path / 'good'}",
        f"--output_dir={tmp_path / 'out'}",
        "--num_workers=2",
        *(f"--{k}={v}" for k, v in settings.items()),
        env={"PYTHONHASHSEED": "1"},
    )
    assert run.returncode == 0, run.stderr
    assert "12 sub-images in 2 shards from 2 of 2 inputs" in run.stderr
    assert os.path.isfile(tmp_path / "out" / preparation.MANIFEST_FILE)
    preparation.prepare(
        PrepareConfig(
            output_dir=str(tmp_path / "in_process"),
            input_dirs=(str(tmp_path / "good"),),
            num_workers=1,
            progress=False,
            **settings,
        )
    )
    in_process = _shard_bytes(str(tmp_path / "in_process"))
    assert len(in_process) == 2 and _shard_bytes(str(tmp_path / "out")) == in_process
