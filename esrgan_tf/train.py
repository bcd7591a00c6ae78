"""python -m esrgan_tf.train --flagfile=configs/esrgan.flags

Trains one stage of SRGAN, ESRGAN or ESRGAN-DP (or, with --pretrain_steps, a PSNR stage and
then the configured one). Thin driver: flags -> `RunConfig` -> `esrgan_tf.training.stages.run`.
Defaults are ESRGAN's PSNR stage; the papers' stages are the flagfiles in `configs/`.

Runs TensorFlow's oneDNN kernels unless TF_ENABLE_ONEDNN_OPTS is set (`hardware.prefer_onednn`:
TensorFlow leaves them off on CPUs without AVX-512 VNNI / BF16, where the training step is
slower without them); TF_ENABLE_ONEDNN_OPTS=0 keeps TensorFlow's choice.
"""

import os

from absl import flags, logging

from esrgan_tf import cli, hardware
from esrgan_tf.training.config import RunConfig


def main(config):
    hardware.prefer_onednn()  # before TensorFlow loads
    # The library loads TensorFlow: imported once the flags are parsed (a quick --help).
    from esrgan_tf.training import stages

    logging.info(
        "TensorFlow oneDNN kernels: %s (%s=%s)",
        "on" if hardware.onednn() else "off",
        hardware.ONEDNN_ENV,
        os.environ.get(hardware.ONEDNN_ENV, "unset: TensorFlow's default for this CPU"),
    )
    stages.run(config, flags_text=flags.FLAGS.flags_into_string())


if __name__ == "__main__":
    cli.run(RunConfig, main, quiet=False)
