"""`python -m esrgan_tf.export` end to end, and the architecture flags it needs."""

import json
import os

import pytest

from esrgan_tf import cli, export
from esrgan_tf.deploy.config import ExportConfig


@pytest.mark.slow
def test_cli_end_to_end(tmp_path, tiny_model, make_generator, run_command):
    weights = tmp_path / "tiny.weights.h5"
    make_generator(tiny_model, seed=4).save_weights(str(weights))
    args = [
        f"--weights={weights}",
        f"--output_dir={tmp_path / 'out'}",
        "--num_feat=8",
        "--num_block=1",
        "--num_grow_ch=4",
        "--tflite=fp16",
        "--tflite_shapes=dynamic",
        "--input_size=12x20",
        "--latency_runs=1",
        "--progress=false",
    ]
    # (Without TF_CPP_MIN_LOG_LEVEL: the command quiets TensorFlow itself.)
    proc = run_command("esrgan_tf.export", *args, env={"TF_CPP_MIN_LOG_LEVEL": None})
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "| tflite fp16 dynamic |" in proc.stdout
    # A quiet console: none of the converter's or LiteRT's chatter.
    assert "fully_quantize" not in proc.stderr and "INFO:" not in proc.stderr
    assert os.path.isfile(tmp_path / "out" / "tflite" / "v1" / "fp16_dynamic.tflite")
    with open(tmp_path / "out" / "1" / "assets.extra" / "esrgan_tf.json", encoding="utf-8") as f:
        assert json.load(f)["model"]["num_feat"] == 8


def test_weights_of_another_architecture_are_a_clear_error(tmp_path, tiny_model, make_generator):
    weights = tmp_path / "tiny.weights.h5"
    make_generator(tiny_model, seed=4).save_weights(str(weights))
    # The architecture flags are needed: a 23-block default does not fit these weights.
    config = cli.parse(ExportConfig, [f"--weights={weights}", f"--output_dir={tmp_path / 'o'}"])
    with pytest.raises(ValueError, match="different architecture"):
        export.main(config)
    assert not os.path.exists(tmp_path / "o")
