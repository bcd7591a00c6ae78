"""Data, runs and results on a TensorFlow filesystem: prepare, train, resume, report and
evaluate with every path on `ram://`, TensorFlow's in-memory filesystem, in one process. It
stands in for `gs://` and `hdfs://`, which go through the same `tf.io.gfile` calls
(`esrgan_tf.files`); nothing may land on the local disk instead."""

import dataclasses
import os
import uuid

import numpy as np
import pytest
import skimage.data
import tensorflow as tf

from esrgan_tf import atomic, files
from esrgan_tf.data import image_io, preparation
from esrgan_tf.data.config import PrepareConfig, TrainDataConfig
from esrgan_tf.formats import generators
from esrgan_tf.formats import keras as keras_format
from esrgan_tf.inference import evaluation
from esrgan_tf.models.config import ModelConfig
from esrgan_tf.training import stages
from esrgan_tf.training.config import RunConfig, TrainConfig


@pytest.mark.slow
def test_prepare_train_resume_report_and_evaluate_on_ram(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # where a path that missed the filesystem would land
    root = f"ram://esrgan_tf_{uuid.uuid4().hex}"
    photos = {
        "cat": skimage.data.chelsea()[:192, :192],
        "coffee": skimage.data.coffee()[:192, :192],
        "astronaut": skimage.data.astronaut()[:192, 200:392],
    }
    for name, pixels in photos.items():
        atomic.write_bytes(
            f"{root}/photos/{name}.png", image_io.encode_png(np.ascontiguousarray(pixels))
        )

    manifest = preparation.prepare(
        PrepareConfig(
            output_dir=f"{root}/data",
            input_dirs=(f"{root}/photos",),
            crop_size=96,
            step=96,
            holdout=1,
            num_workers=1,
        )
    )
    assert manifest["totals"]["ok"] == 2 and manifest["totals"]["holdout"] == 1
    assert tf.io.gfile.glob(f"{root}/data/*.tfrecord")
    (held_out,) = files.listdir(f"{root}/data/val_hr")

    stage = TrainConfig(
        workdir=f"{root}/run",
        input=TrainDataConfig(data=f"{root}/data", hr_size=32, batch_size=2, shuffle_buffer=4),
        model=ModelConfig(
            num_feat=8, num_block=1, num_grow_ch=4, discriminator="unet", d_num_feat=4
        ),
        total_steps=2,
        checkpoint_every=2,
        val_every=2,
        val_dir=f"{root}/data/val_hr",
        steps_per_loop=2,
    )
    run = RunConfig(stage=stage, report=True)
    first = stages.run(dataclasses.replace(run, report=False), flags_text="--flags\n")
    assert first["psnr"].step == 2
    resumed = stages.run(dataclasses.replace(run, stage=dataclasses.replace(stage, total_steps=4)))
    assert resumed["psnr"].restored_from == f"{root}/run/checkpoints/ckpt-2"
    assert resumed["psnr"].step == 4
    for path in (
        "flags.txt",
        "config.json",
        "checkpoints/ckpt-4.index",
        "report.md",
        f"comparison/{held_out}",
    ):
        assert files.isfile(f"{root}/run/{path}"), path
    assert tf.io.gfile.glob(f"{root}/run/summaries/train/events.*")

    loaded = generators.load(f"{root}/run")
    summary = evaluation.evaluate(
        loaded.model,
        {"held_out": (f"{root}/data/val_hr", "")},
        scale=4,
        output_dir=f"{root}/eval",
        save_images=True,
        progress=False,
        with_niqe=False,
    )
    assert summary["held_out"]["images"] == 1
    assert set(files.listdir(f"{root}/eval")) == {
        "held_out",
        "held_out.csv",
        "summary.md",
        "summary.json",
    }
    # A .weights.h5 written to and read from the filesystem (h5py itself reads local files).
    keras_format.save_weights(loaded.model, f"{root}/g.weights.h5")
    again = generators.load(f"{root}/g.weights.h5", dataclasses.asdict(stage.model))
    for a, b in zip(loaded.model.weights, again.model.weights):
        np.testing.assert_array_equal(a.numpy(), b.numpy())
    assert os.listdir(tmp_path) == []
