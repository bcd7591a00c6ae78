"""`python -m esrgan_tf.train` end to end: both stages, the report, and bad input."""

import os
import pathlib
import re

import keras
import numpy as np
import pytest
from safetensors.numpy import save_file
import skimage.data
import tensorflow as tf

from esrgan_tf import cli, train
from esrgan_tf.data import image_io
from esrgan_tf.training.config import RunConfig


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory, photo_crops, write_shards):
    root = write_shards(
        tmp_path_factory.mktemp("cli_data"), photo_crops("chelsea", size=40, step=40, area=200)
    )
    os.makedirs(os.path.join(root, "val_hr"))
    image_io.write_png(
        os.path.join(root, "val_hr", "a.png"),
        np.ascontiguousarray(skimage.data.chelsea()[:40, 100:148]),
    )
    return pathlib.Path(root)


TINY_FLAGS = [
    "--scale=4",
    "--hr_size=32",
    "--batch_size=2",
    "--num_feat=8",
    "--num_block=1",
    "--num_grow_ch=4",
    "--discriminator=unet",
    "--d_num_feat=4",
    "--num_cpu_devices=2",
    "--log_every=1",
    "--checkpoint_every=2",
    "--val_every=2",
    "--shuffle_buffer=4",
]


@pytest.mark.slow
def test_two_stages_with_report(data_dir, tmp_path, run_command, monkeypatch, panel_offsets):
    monkeypatch.delenv("TF_ENABLE_ONEDNN_OPTS", raising=False)
    workdir = tmp_path / "run"
    result = run_command(
        "esrgan_tf.train",
        f"--workdir={workdir}",
        f"--data={data_dir}",
        f"--val_dir={data_dir / 'val_hr'}",
        "--pretrain_steps=2",
        "--total_steps=2",
        "--gan_type=ragan",
        "--adversarial_weight=5e-3",
        "--pixel_weight=1e-2",
        "--report",
        *TINY_FLAGS,
        env={"TF_CPP_MIN_LOG_LEVEL": None},  # the command quiets TensorFlow itself
    )
    assert result.returncode == 0, result.stderr[-3000:]
    # A quiet console: no TensorFlow C++ log lines (grappler's remapper report included).
    assert not re.search(r"^[IWE]\d{4} ", result.stderr, flags=re.M), result.stderr[-3000:]
    # The command turns oneDNN on unless told otherwise (esrgan_tf.hardware.prefer_onednn).
    assert "TensorFlow oneDNN kernels: on (TF_ENABLE_ONEDNN_OPTS=1)" in result.stderr
    report = (workdir / "report.md").read_text()
    for row in ("| bicubic |", "| psnr |", "| gan |"):
        assert row in report
    strip = np.asarray(keras.utils.load_img(str(workdir / "comparison" / "a.png")))
    hr = skimage.data.chelsea()[:40, 100:148]
    offsets = panel_offsets(strip, [hr])  # bicubic | psnr | gan | HR, titled
    assert offsets[0] >= 3 * 48 and strip.shape[0] > 40
    assert "--pretrain_steps=2" in (workdir / "flags.txt").read_text()
    assert tf.train.latest_checkpoint(str(workdir / "psnr" / "checkpoints")).endswith("ckpt-2")
    assert tf.train.latest_checkpoint(str(workdir / "checkpoints")).endswith("ckpt-2")


@pytest.mark.slow
@pytest.mark.parametrize("perceptual", ["vgg", "dual"])
def test_offline_perceptual_weights_are_one_clear_paragraph(
    perceptual, data_dir, tmp_path, run_command, golden_vgg19_state_dict
):
    """No network: Keras's ImageNet download fails (a proxy on a closed port stands in for a
    machine without internet, whatever this one has)."""
    torch_cache = tmp_path / "torch" / "hub" / "checkpoints" / "vgg19-dcbb9e9d.pth"
    torch_cache.parent.mkdir(parents=True)
    torch_cache.write_bytes(b"found in the torch cache")
    vgg = "imagenet"
    if perceptual == "dual":  # VGG from a torchvision file, ResNet50 still to download
        vgg = tmp_path / "vgg19.safetensors"
        save_file(golden_vgg19_state_dict, str(vgg))
    no_network = "http://127.0.0.1:9"
    result = run_command(
        "esrgan_tf.train",
        f"--workdir={tmp_path / 'run'}",
        f"--data={data_dir}",
        "--pretrain_steps=0",
        "--total_steps=1",
        f"--perceptual={perceptual}",
        f"--vgg_weights={vgg}",
        *TINY_FLAGS,
        env={
            "KERAS_HOME": str(tmp_path / "keras"),
            "TORCH_HOME": str(tmp_path / "torch"),
            "https_proxy": no_network,
            "HTTPS_PROXY": no_network,
            "no_proxy": None,
            "NO_PROXY": None,
        },
    )
    assert result.returncode == 1, result.stderr[-3000:]
    assert "Traceback" not in result.stderr
    (line,) = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    if perceptual == "vgg":
        expected = [
            "VGG19 could not be downloaded",
            "vgg19_weights_tf_dim_ordering_tf_kernels_notop.h5 from https://storage.googleapis"
            ".com/tensorflow/keras-applications/vgg19/",
            f"put it in {tmp_path / 'keras' / 'models'}/",
            f"there is one at --vgg_weights={torch_cache}",
        ]
    else:
        expected = [
            "ResNet50 could not be downloaded",
            "resnet50_weights_tf_dim_ordering_tf_kernels_notop.h5 from",
            "--resnet_weights=PATH",
        ]
    for text in expected:
        assert text in line, line


def test_missing_data_is_a_clear_error(tmp_path):
    config = cli.parse(RunConfig, [f"--workdir={tmp_path / 'run'}", f"--data={tmp_path / 'no'}"])
    with pytest.raises(FileNotFoundError, match="no TFRecord shards found"):
        train.main(config)


def test_flags_become_one_run_config(tmp_path):
    config = cli.parse(
        RunConfig,
        [
            f"--workdir={tmp_path}",
            "--data=d",
            "--scale=2",
            "--hr_size=64",
            "--pretrain_steps=5",
            "--pretrain_lr_milestones=2,4",
            "--lr_milestones=10",
            "--vgg_layers=block1_conv2,block5_conv4",
            "--vgg_layer_weights=0.1,1",
        ],
    )
    # --scale has one owner: the model; the data pipeline and metrics read it from there.
    assert config.stage.model.scale == 2 and not hasattr(config.stage.input, "scale")
    assert config.pretrain_steps == 5 and config.pretrain_lr_milestones == (2, 4)
    assert config.stage.lr_milestones == (10,)
    assert config.stage.loss.vgg_layer_weights == (0.1, 1.0)
    base = [f"--workdir={tmp_path}", "--data=d"]
    with pytest.raises(ValueError, match="--lr_milestones must be comma-separated int values"):
        cli.parse(RunConfig, base + ["--lr_milestones=ten"])
    with pytest.raises(ValueError, match="hr_size=64 must be a multiple of scale=3"):
        cli.parse(RunConfig, base + ["--scale=3", "--hr_size=64"])


def test_dual_loss_variant_and_augmentation_flags(tmp_path):
    base = [f"--workdir={tmp_path}", "--data=d"]
    stage = cli.parse(RunConfig, base).stage
    # ESRGAN-DP's beta_{3,6} on Caffe-preprocessed input by default, flips and rotations on.
    assert stage.loss.resnet_layers == ("conv4_block6_out",)
    assert stage.loss.resnet_preprocess == "caffe" and stage.input.augment
    # The authors' code's variant; --resnet_layer is the flag's old name.
    stages = "conv2_block3_out,conv3_block4_out,conv4_block6_out"
    config = cli.parse(
        RunConfig, base + [f"--resnet_layer={stages}", "--resnet_preprocess=none", "--noaugment"]
    ).stage
    assert config.loss.resnet_layers == tuple(stages.split(","))
    assert config.loss.resnet_preprocess == "none" and not config.input.augment
    with pytest.raises(ValueError, match="resnet_layers must be some of"):
        cli.parse(RunConfig, base + ["--resnet_layers=conv4_block5_out"])
