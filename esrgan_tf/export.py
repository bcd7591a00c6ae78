"""python -m esrgan_tf.export --weights=PATH --output_dir=export/<name> [--tflite=fp32,int8]

A SavedModel for TensorFlow Serving and TFLite models, each compared with the Keras model
and timed, published only when all are within tolerance. Thin driver: flags ->
`ExportConfig` -> `esrgan_tf.deploy.export.export` (layout, staging, tolerances: see
there).
"""

import sys

from esrgan_tf import cli
from esrgan_tf.deploy.config import ExportConfig


def main(config):
    # The library loads TensorFlow: imported once the flags are parsed (a quick --help).
    from esrgan_tf.deploy import export

    report = export.export(config)
    print(f"published {report['published']}", file=sys.stderr)


if __name__ == "__main__":
    cli.run(ExportConfig, main)
