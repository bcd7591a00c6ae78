"""python -m esrgan_tf.degrade --input=photos/ --output=grid.png --samples=4 --seed=0

Shows what `python -m esrgan_tf.train --degradation=realesrgan` trains on: one row per
photo, its HR centre crop (256 px, Real-ESRGAN's patch) beside --samples LR images drawn by
Real-ESRGAN x4plus's degradation model, each upscaled by nearest neighbour to the crop's
size, and one line per sample of what it drew (blur kernels, resizes, noise, JPEG
qualities). Thin driver: flags -> `GridConfig` -> `esrgan_tf.data.degradation_grid.write_grid`.

  python -m esrgan_tf.degrade --input=data/quickstart/val_hr --output=degraded.png
"""

import sys

from absl import flags

from esrgan_tf import cli
from esrgan_tf.data import degradation_grid, image_io
from esrgan_tf.inference.upscaling import expand_inputs


def define_flags(fv=flags.FLAGS):
    """Flags of `python -m esrgan_tf.degrade` into the FlagValues `fv`."""
    kw = dict(flag_values=fv)
    flags.DEFINE_list("input", None, "Comma-separated image files, folders, globs.", **kw)
    flags.DEFINE_string("output", None, "The grid, a .png file.", **kw)
    flags.DEFINE_integer("seed", 0, "Seeds every sample (the same seed, the same picture).", **kw)
    flags.DEFINE_integer("samples", 4, "Degraded samples per photo.", **kw)
    flags.DEFINE_integer("crop_size", 256, "HR centre-crop size (Real-ESRGAN trains on 256).", **kw)
    flags.DEFINE_integer("scale", 4, "SR factor of the degradation: 2, 3 or 4.", **kw)
    flags.mark_flags_as_required(["input", "output"], flag_values=fv)


def config_from_flags(fv=flags.FLAGS):
    """The `GridConfig` of parsed flags, and the inputs that are not images."""
    files, not_taken = expand_inputs(fv.input)
    images = [f for f in files if image_io.is_image_file(f)]
    not_taken += [(f, "not an image file") for f in files if f not in images]
    if not images:
        raise ValueError(
            "no image files: " + "; ".join(f"{path}: {reason}" for path, reason in not_taken)
        )
    config = degradation_grid.GridConfig(
        inputs=tuple(images),
        output=fv.output,
        seed=fv.seed,
        samples=fv.samples,
        crop_size=fv.crop_size,
        scale=fv.scale,
    )
    return config, not_taken


def main():
    config, not_taken = config_from_flags()
    _, described, skipped = degradation_grid.write_grid(config)
    for path, reason in not_taken + skipped:
        print(f"skipped {path}: {reason}", file=sys.stderr)
    for path, lines in described:
        print(path)
        for j, line in enumerate(lines, start=1):
            print(f"  sample {j}: {line}")
    print(f"degrade: {len(described)} photos x {config.samples} samples -> {config.output}")


if __name__ == "__main__":
    define_flags()
    cli.run(main, quiet=False)
