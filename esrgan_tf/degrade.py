"""python -m esrgan_tf.degrade --input=photos/ --output=grid.png --samples=4 --seed=0

Shows what `python -m esrgan_tf.train --degradation=realesrgan` trains on: one row per
photo, its HR centre crop (256 px, Real-ESRGAN's patch) beside --samples LR images drawn by
Real-ESRGAN x4plus's degradation model, each upscaled by nearest neighbour to the crop's
size, and one line per sample of what it drew (blur kernels, resizes, noise, JPEG
qualities). Thin driver: flags -> `GridConfig` -> `esrgan_tf.data.degradation_grid.write_grid`.

  python -m esrgan_tf.degrade --input=data/quickstart/val_hr --output=degraded.png
"""

import sys

from esrgan_tf import cli
from esrgan_tf.data.config import GridConfig


def main(config):
    # The library loads TensorFlow: imported once the flags are parsed (a quick --help).
    from esrgan_tf.data import degradation_grid

    _, described, skipped = degradation_grid.write_grid(config)
    for path, reason in skipped:
        print(f"skipped {path}: {reason}", file=sys.stderr)
    for path, lines in described:
        print(path)
        for j, line in enumerate(lines, start=1):
            print(f"  sample {j}: {line}")
    print(f"degrade: {len(described)} photos x {config.samples} samples -> {config.output}")


if __name__ == "__main__":
    cli.run(GridConfig, main, quiet=False)
