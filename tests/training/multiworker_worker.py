"""One worker of the 2-process MultiWorkerMirroredStrategy test (test_multiworker.py).

  TF_CONFIG='{"cluster": ...}' python tests/training/multiworker_worker.py WORKDIR SHARDS STEPS OUT

Trains the tiny ESRGAN stage of the test through `esrgan_tf.training.loop` and writes OUT
(JSON): the step it resumed from, a hash of every model variable after each call of the loop (an
action of the Controller), its logs and how it ended. Each step's progress is also appended to
OUT + ".steps" so the test can signal a worker mid-run. Not collected by pytest (no test_
prefix).
"""

import hashlib
import json
import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402

from esrgan_tf.data.config import TrainDataConfig  # noqa: E402
from esrgan_tf.models.config import ModelConfig  # noqa: E402
from esrgan_tf.training import loop  # noqa: E402
from esrgan_tf.training.config import LossConfig, TrainConfig  # noqa: E402


def weights_hash(controller):
    digest = hashlib.sha256()
    for model in (controller.trainer.generator, controller.trainer.discriminator):
        for variable in model.weights:
            digest.update(np.ascontiguousarray(variable.numpy()).tobytes())
    return digest.hexdigest()


def main(workdir, shards, total_steps, out):
    config = TrainConfig(
        workdir=workdir,
        input=TrainDataConfig(data=shards, hr_size=32, batch_size=4, shuffle_buffer=8, seed=5),
        model=ModelConfig(
            num_feat=8, num_block=1, num_grow_ch=4, discriminator="unet", d_num_feat=4
        ),
        loss=LossConfig(pixel_weight=1.0, gan_type="ragan", adversarial_weight=5e-3),
        total_steps=int(total_steps),
        log_every=1,
        checkpoint_every=2,
        lr_g=1e-3,
        deterministic=True,
    )
    report = {"hashes": [], "ended": "done"}

    def record(controller, logs):  # after every call of the loop (2 steps here)
        report["hashes"].append(weights_hash(controller))
        report["logs"] = logs
        with open(out + ".steps", "a", encoding="utf-8") as f:
            f.write(f"{controller.step}\n")

    controller = loop.Controller(config, actions=[record])
    report.update(
        chief=controller.chief,
        replicas=controller.trainer.num_replicas,
        start_step=controller.step,
        restored_hash=weights_hash(controller),
    )
    try:
        controller.train()
    except loop.TrainingInterrupted as e:
        report["ended"] = str(e)
    report["final_step"] = controller.step
    with open(out, "w", encoding="utf-8") as f:
        json.dump(report, f)
    return 143 if report["ended"] != "done" else 0


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:]))
