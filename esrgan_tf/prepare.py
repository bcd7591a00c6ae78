"""python -m esrgan_tf.prepare: HR photos -> sub-images -> sharded TFRecords + manifest.json.

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

from absl import flags

from esrgan_tf import cli
from esrgan_tf.data import preparation, sources


def define_flags(fv=flags.FLAGS):
    """Flags of `python -m esrgan_tf.prepare` into the FlagValues `fv`."""
    kw = dict(flag_values=fv)
    flags.DEFINE_list("input_dirs", [], "Folders of HR images, searched recursively.", **kw)
    flags.DEFINE_string("tfds", "", "TFDS dataset instead of folders, e.g. div2k/bicubic_x4.", **kw)
    flags.DEFINE_string("tfds_split", "train", "TFDS split.", **kw)
    flags.DEFINE_string("tfds_key", "hr", "TFDS feature holding the HR image.", **kw)
    flags.DEFINE_string("tfds_data_dir", "", "TFDS data folder (default: TFDS's own).", **kw)
    flags.DEFINE_enum(
        "builtin",
        "",
        ["", *sources.BUILTINS],
        "Built-in photos instead of folders: 'photos' (the colour photos of the scikit-image, "
        "scikit-learn and matplotlib wheels) or 'skimage' (scikit-image's sample photos).",
        **kw,
    )
    flags.DEFINE_integer(
        "holdout",
        0,
        "Keep the last N usable photos out of the records and "
        "write them as PNGs to <output_dir>/val_hr/ for validation.",
        **kw,
    )
    flags.DEFINE_string("output_dir", None, "Where shards and manifest.json are written.", **kw)
    flags.DEFINE_integer("crop_size", 480, "Sub-image size; 0 keeps whole images.", **kw)
    flags.DEFINE_integer("step", 240, "Distance between sub-images.", **kw)
    flags.DEFINE_integer(
        "thresh_size",
        0,
        "Add an edge-aligned last crop when more than this "
        "many pixels would be left over (BasicSR's thresh_size).",
        **kw,
    )
    flags.DEFINE_integer(
        "lr_scale",
        0,
        "Also store each sub-image's LR at this scale (2, 3 or 4; 0: none), cut from the "
        "MATLAB-bicubic LR of the whole photo, as DIV2K's LR.",
        **kw,
    )
    flags.DEFINE_list(
        "lr_dirs",
        [],
        "Folders of the LR images of --input_dirs' photos (your own LR/HR pairs, matched by "
        "name: a.png <-> a.png, ax4.png, a_x4.png or a_LRBI_x4.png; searched recursively): "
        "with --lr_scale, each sub-image's LR is cut from them instead of the bicubic.",
        **kw,
    )
    flags.DEFINE_integer(
        "min_size",
        0,
        "Skip photos whose shorter side is below this many pixels (with --crop_size=0: the "
        "training --hr_size, e.g. 96 for SRGAN's ImageNet).",
        **kw,
    )
    flags.DEFINE_integer("num_shards", 0, "Number of shards; 0: about one per 500 MB.", **kw)
    flags.DEFINE_string("prefix", "train", "Shard file name prefix.", **kw)
    flags.DEFINE_integer("num_workers", os.cpu_count(), "Worker processes.", **kw)
    flags.DEFINE_integer(
        "max_pixels",
        200_000_000,
        "Skip images declaring more pixels than this (decompression bombs).",
        **kw,
    )
    cli.define_progress_flag(fv)
    flags.adopt_module_key_flags(cli, flag_values=fv)  # --help lists the shared ones too
    flags.mark_flag_as_required("output_dir", flag_values=fv)


def config_from_flags(fv=flags.FLAGS):
    """The `PrepareConfig` of parsed flags."""
    return preparation.PrepareConfig(
        output_dir=fv.output_dir,
        input_dirs=tuple(fv.input_dirs),
        tfds=fv.tfds,
        tfds_split=fv.tfds_split,
        tfds_key=fv.tfds_key,
        tfds_data_dir=fv.tfds_data_dir,
        builtin=fv.builtin,
        holdout=fv.holdout,
        crop_size=fv.crop_size,
        step=fv.step,
        thresh_size=fv.thresh_size,
        lr_scale=fv.lr_scale,
        lr_dirs=tuple(fv.lr_dirs),
        min_size=fv.min_size,
        num_shards=fv.num_shards,
        prefix=fv.prefix,
        num_workers=fv.num_workers,
        max_pixels=fv.max_pixels,
        progress=fv.progress,
    )


def main():
    config = config_from_flags()
    manifest = preparation.prepare(config)
    print(
        f"prepare: {preparation.summary(manifest)}; manifest in "
        f"{os.path.join(config.output_dir, preparation.MANIFEST_FILE)}",
        file=sys.stderr,
    )


if __name__ == "__main__":
    define_flags()
    cli.run(main, quiet=False)
