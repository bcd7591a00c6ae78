"""A run that dies by SIGKILL mid-stage (test_loop.py's resume test).

  python tests/training/killed_run.py SHARDS WORKDIR KILL_AT

Trains `config(...)` with `steps_per_loop=3` and kills its own process with SIGKILL (no
handler, no checkpoint, nothing flushed) after the first call of the loop that ends at or
past step KILL_AT. Not collected by pytest (no test_ prefix); the test builds the same
config from `config`.
"""

import os
import signal
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from esrgan_tf.data.config import TrainDataConfig  # noqa: E402
from esrgan_tf.models.config import ModelConfig  # noqa: E402
from esrgan_tf.training import loop  # noqa: E402
from esrgan_tf.training.config import LossConfig, TrainConfig  # noqa: E402


def config(shards, workdir, steps_per_loop):
    """8 steps of a tiny ESRGAN stage with checkpoints every 4."""
    return TrainConfig(
        workdir=str(workdir),
        input=TrainDataConfig(data=str(shards), hr_size=32, batch_size=4, shuffle_buffer=8, seed=7),
        model=ModelConfig(
            num_feat=8, num_block=1, num_grow_ch=4, discriminator="unet", d_num_feat=4
        ),
        loss=LossConfig(pixel_weight=1.0, gan_type="ragan", adversarial_weight=5e-3),
        total_steps=8,
        log_every=1,
        checkpoint_every=4,
        ema_decay=0.5,
        lr_g=1e-3,
        deterministic=True,
        steps_per_loop=steps_per_loop,
    )


def main(shards, workdir, kill_at):
    def kill(controller, logs):
        del logs
        if controller.step >= int(kill_at):
            os.kill(os.getpid(), signal.SIGKILL)

    loop.Controller(config(shards, workdir, 3), actions=[kill]).train()
    return 0  # not reached


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:]))
