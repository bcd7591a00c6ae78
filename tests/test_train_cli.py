"""`python -m esrgan_tf.train` end to end: both stages, the report, and bad input."""

import os
import subprocess
import sys

import numpy as np
import pytest
import skimage.data
import tensorflow as tf
import keras

from esrgan_tf.data import image_io, records

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def run_train(*args):
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3", PYTHONPATH=ROOT)
    return subprocess.run([sys.executable, "-m", "esrgan_tf.train", *args], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=600)


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory):
    root = tmp_path_factory.mktemp("cli_data")
    photo = skimage.data.chelsea()
    with tf.io.TFRecordWriter(str(root / "train-00000-of-00001.tfrecord")) as writer:
        for y in range(0, 200, 40):
            crop = np.ascontiguousarray(photo[y:y + 40, y:y + 40])
            writer.write(records.make_example(image_io.encode_png(crop), source="c", y=y,
                                              x=y).SerializeToString())
    (root / "val_hr").mkdir()
    keras.utils.save_img(str(root / "val_hr" / "a.png"), photo[:40, 100:148])
    return root


TINY = ["--scale=4", "--hr_size=32", "--batch_size=2", "--num_feat=8", "--num_block=1",
        "--num_grow_ch=4", "--discriminator=unet", "--d_num_feat=4", "--num_cpu_devices=2",
        "--log_every=1", "--checkpoint_every=2", "--val_every=2", "--shuffle_buffer=4"]


def test_two_stages_with_report(data_dir, tmp_path):
    workdir = tmp_path / "run"
    result = run_train(f"--workdir={workdir}", f"--data={data_dir}",
                       f"--val_dir={data_dir / 'val_hr'}", "--pretrain_steps=2",
                       "--total_steps=2", "--gan_type=ragan", "--adversarial_weight=5e-3",
                       "--pixel_weight=1e-2", "--report", *TINY)
    assert result.returncode == 0, result.stderr[-3000:]
    report = (workdir / "report.md").read_text()
    for row in ("| bicubic |", "| psnr |", "| gan |"):
        assert row in report
    assert (workdir / "comparison" / "a.png").exists()
    strip = keras.utils.load_img(str(workdir / "comparison" / "a.png"))
    assert strip.size == (4 * 48, 40)  # bicubic | psnr | gan | HR
    assert "--pretrain_steps=2" in (workdir / "flags.txt").read_text()
    assert tf.train.latest_checkpoint(str(workdir / "psnr" / "checkpoints")).endswith("ckpt-2")
    assert tf.train.latest_checkpoint(str(workdir / "checkpoints")).endswith("ckpt-2")


def test_missing_data_is_a_clear_error(tmp_path):
    result = run_train(f"--workdir={tmp_path / 'run'}", f"--data={tmp_path / 'nothing'}", *TINY)
    assert result.returncode == 1
    assert "no TFRecord shards found" in result.stderr
    assert "Traceback" not in result.stderr
