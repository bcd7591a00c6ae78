r"""python -m esrgan_tf.prepare: HR photos -> sub-images -> sharded TFRecords + manifest.json.

  python -m esrgan_tf.prepare --input_dirs=data/DIV2K_train_HR,data/Flickr2K_HR \
      --output_dir=data/df2k --lr_scale=4
  python -m esrgan_tf.prepare --builtin=skimage --holdout=3 --crop_size=192 --step=96 \
      --output_dir=data/quickstart

Thin driver: flags -> `PrepareConfig` -> `esrgan_tf.data.preparation.prepare` (which
describes the sub-images, shards, manifest, determinism and resumption). Unusable inputs are
skipped and listed in the manifest; the exit status is non-zero only when nothing usable
was found or the output cannot be written.
"""

import os
import sys

from esrgan_tf import cli
from esrgan_tf.data.config import PrepareConfig


def main(config):
    from esrgan_tf.data import preparation

    manifest = preparation.prepare(config)
    print(
        f"prepare: {preparation.summary(manifest)}; manifest in "
        f"{os.path.join(config.output_dir, preparation.MANIFEST_FILE)}",
        file=sys.stderr,
    )


if __name__ == "__main__":
    cli.run(PrepareConfig, main, quiet=False)
