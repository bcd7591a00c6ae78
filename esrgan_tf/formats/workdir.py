"""The layout of a training run's folder, written by `esrgan_tf.training`, read as a generator
form (`esrgan_tf.formats.keras`).

<workdir>/config.json        the stage's TrainConfig (the architecture travels with it)
<workdir>/flags.txt          the resolved command-line flags
<workdir>/checkpoints/       tf.train.CheckpointManager checkpoints (ckpt-<step>)
<workdir>/input_state/worker_<i>/   each worker's input position (multi-worker runs)
<workdir>/summaries/train/   TensorBoard summaries
<workdir>/psnr/              the PSNR stage of a two-stage command (a workdir itself)
"""

import dataclasses
import json

from esrgan_tf import atomic, files
from esrgan_tf.models.config import ModelConfig

CONFIG_FILE = "config.json"
FLAGS_FILE = "flags.txt"
CHECKPOINT_SUBDIR = "checkpoints"
INPUT_STATE_SUBDIR = "input_state"
SUMMARY_SUBDIR = "summaries/train"
PSNR_STAGE_SUBDIR = "psnr"


def write_config(workdir, config):
    """Writes a stage's TrainConfig to <workdir>/config.json."""
    atomic.write_json(files.join(workdir, CONFIG_FILE), dataclasses.asdict(config))


def model_config(path):
    """The ModelConfig a training workdir (or a checkpoint inside it) was trained with, or
    None when there is no config.json beside it."""
    directory = path if files.isdir(path) else files.parent(files.parent(path))
    for candidate in (directory, files.parent(directory)):
        config_path = files.join(candidate, CONFIG_FILE)
        if files.isfile(config_path):
            return ModelConfig(**json.loads(files.read_text(config_path))["model"])
    return None
