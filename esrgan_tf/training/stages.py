"""A whole `python -m esrgan_tf.train` command: its stages, one after the other.

Stages are linked by `init_checkpoint`: with `RunConfig.pretrain_steps` a PSNR-oriented
stage (pixel loss only) is trained first in <workdir>/psnr and the configured stage starts
from it. With `prepare_if_missing` the built-in photos are prepared first when the data folder
holds none (the quickstart), and with `report` the run ends with a bicubic / PSNR / GAN
comparison on the validation set (`esrgan_tf.training.report`).
"""

import dataclasses

from absl import logging

from esrgan_tf import atomic, files
from esrgan_tf.data import preparation
from esrgan_tf.data.config import PrepareConfig
from esrgan_tf.formats import workdir as workdir_layout
from esrgan_tf.training import loop, report
from esrgan_tf.training.config import LossConfig
from esrgan_tf.training.distribute import is_chief, make_strategy, multi_worker

# Sub-images of the built-in photos: 192 px every 96 px gives a few hundred patches.
BUILTIN_CROP_SIZE = 192
BUILTIN_STEP = 96


def prepare_builtin_if_missing(builtin, data_dir, holdout):
    """Prepare the built-in photos into `data_dir` unless it already holds a finished set.

    The manifest is written last, so its absence means an interrupted preparation, which
    `prepare` resumes. Returns the manifest of a new preparation, or None.
    """
    if files.exists(files.join(data_dir, preparation.MANIFEST_FILE)):
        logging.info("Using the prepared data in %s", data_dir)
        return None
    if multi_worker():
        raise ValueError(
            "preparing the built-in photos is for one machine: prepare the "
            "data (python -m esrgan_tf.prepare) before a multi-worker run"
        )
    logging.info(
        "No shards in %s: preparing the built-in %r photos (holding out %d).",
        data_dir,
        builtin,
        holdout,
    )
    return preparation.prepare(
        PrepareConfig(
            output_dir=data_dir,
            builtin=builtin,
            holdout=holdout,
            crop_size=BUILTIN_CROP_SIZE,
            step=BUILTIN_STEP,
        )
    )


def psnr_stage(run_config):
    """The PSNR-oriented pretraining stage (pixel loss only) that the GAN stage starts from.

    Its pixel loss is the GAN stage's: L1 for ESRGAN (§4.1), MSE for SRGAN (§3.2).
    """
    stage = run_config.stage
    return dataclasses.replace(
        stage,
        workdir=files.join(stage.workdir, workdir_layout.PSNR_STAGE_SUBDIR),
        total_steps=run_config.pretrain_steps,
        lr_g=run_config.pretrain_lr,
        loss=LossConfig(pixel_loss=stage.loss.pixel_loss, pixel_weight=1.0),
        init_checkpoint="",
        lr_milestones=tuple(run_config.pretrain_lr_milestones),
    )


def plan(run_config):
    """[(stage name, TrainConfig)] in training order."""
    stage = run_config.stage
    stages = []
    if run_config.pretrain_steps:
        pretrain = psnr_stage(run_config)
        stages.append(("psnr", pretrain))
        stage = dataclasses.replace(stage, init_checkpoint=pretrain.workdir)
    stages.append(("gan" if stage.is_gan else "psnr", stage))
    return stages


def run(run_config, flags_text=None):
    """Every stage of `run_config`, then the optional report.

    Args:
        run_config: a `RunConfig`.
        flags_text: the resolved command-line flags, written to <workdir>/flags.txt.
    Returns:
        {stage name: its `loop.Controller`}.
    """
    stage = run_config.stage
    if run_config.prepare_if_missing:
        prepare_builtin_if_missing(
            run_config.prepare_if_missing, stage.input.data, run_config.holdout
        )
    # One strategy for every stage: a second MultiWorkerMirroredStrategy in the same
    # process is refused by TF.
    strategy = make_strategy(stage.num_cpu_devices, stage.tpu)
    chief = is_chief(strategy)
    if chief and flags_text is not None:
        files.makedirs(stage.workdir)
        atomic.write_text(files.join(stage.workdir, workdir_layout.FLAGS_FILE), flags_text)
    trained = {}
    for name, config in plan(run_config):
        logging.info("Stage %s: %d steps in %s", name, config.total_steps, config.workdir)
        trained[name] = loop.train(config, strategy)
    if run_config.report and chief:
        report.compare_and_write(trained, stage)
    return trained
