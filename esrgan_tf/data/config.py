"""Configs of the data commands and of the training input (light: no TensorFlow).

`PrepareConfig` is one `python -m esrgan_tf.prepare` run (`esrgan_tf.data.preparation`),
`GridConfig` one `python -m esrgan_tf.degrade` picture (`esrgan_tf.data.degradation_grid`),
`TrainDataConfig` the training input pipeline (`esrgan_tf.data.pipeline`).
"""

import dataclasses

from esrgan_tf.options import check_choice, option

# The built-in photo sets (`esrgan_tf.data.sources`): the colour photos bundled in installed
# wheels, or scikit-image's sample photos (gray ones included).
BUILTINS = ("skimage", "photos")
# The source name of scikit-image's sample photos where a command takes samples or patches
# (`esrgan_tf.data.patches`).
SKIMAGE = "skimage"
# How LR patches are made from HR ones when the shards hold no LR at the model's scale (or
# `use_stored_lr` is off): MATLAB bicubic (ESRGAN), or Real-ESRGAN's degradation model.
DEGRADATIONS = ("none", "realesrgan")


@dataclasses.dataclass(frozen=True)
class TrainDataConfig:
    """The training input pipeline. The SR factor is not part of it: it belongs to the model
    (`ModelConfig.scale`), and `pipeline.train_dataset` takes it from there, so data and model
    can never disagree."""

    data: str = option(help="Shard directory from `python -m esrgan_tf.prepare`, or a glob.")
    hr_size: int = option(
        128, "HR patch size (ESRGAN §4.1: 128, SRGAN §3.2: 96); LR patches are hr_size / scale."
    )
    batch_size: int = option(16, "Global batch size; each input pipeline makes its share.")
    seed: int = option(0, "Seeds data order, augmentation and initialisation.")
    shuffle_buffer: int = option(
        256, "Records in the shuffle buffer (it is saved in every checkpoint)."
    )
    augment: bool = option(
        True,
        "Random horizontal flips (and, with --rotate, 90-degree rotations) of the training "
        "patches (ESRGAN §4.2); SRGAN mentions none (configs/srresnet_mse.flags: false).",
    )
    rotate: bool = option(
        True, "Augment with 90-degree rotations as well as flips (Real-ESRGAN x4plus: flips only)."
    )
    permute_channels: bool = option(
        False,
        "Put each training patch's R, G, B in a random one of their 6 orders (LR and HR "
        "alike): more colours from few photos (the quickstart). Exact for bicubic LR.",
    )
    colour_affine: float = option(
        0.0,
        "Probability that a training patch's channels are each mapped by a random affine "
        "map of [0, 1] into itself (contrast 0.5-1, an offset, half of them inverted), LR "
        "and HR alike: patches of few photos then span the colour cube (the quickstart). "
        "Exact for bicubic LR. 0 = off.",
    )
    use_stored_lr: bool = option(
        True,
        "Use the shards' stored LR when they hold it at the model's scale; else each LR is "
        "made from its HR patch on the fly.",
    )
    degradation: str = option(
        "none",
        "How each LR patch is made from its HR patch: 'none' = MATLAB bicubic (or the "
        "shards' stored LR), 'realesrgan' = Real-ESRGAN x4plus's second-order degradation "
        "(blur, resize, noise, JPEG twice, sinc), on the fly.",
        choices=DEGRADATIONS,
    )
    usm_target: bool = option(
        False,
        "Pixel and perceptual losses against the unsharp-masked HR, the GAN losses against "
        "the plain HR (Real-ESRGAN).",
    )
    cycle_length: int = option(4, "Shards read in parallel.")

    def __post_init__(self):
        if self.hr_size <= 0:
            raise ValueError(f"hr_size must be positive, got {self.hr_size}")
        if self.batch_size <= 0:
            raise ValueError(f"batch_size must be positive, got {self.batch_size}")
        if not 0.0 <= self.colour_affine <= 1.0:
            raise ValueError(f"colour_affine is a probability in [0, 1], got {self.colour_affine}")
        check_choice("degradation", self.degradation, DEGRADATIONS)


@dataclasses.dataclass(frozen=True)
class PrepareConfig:
    """One `python -m esrgan_tf.prepare` run: HR photos -> sub-images -> sharded TFRecords.

    Exactly one source: `input_dirs`, `tfds` or `builtin`. `crop_size=0` keeps whole images
    (mod-cropped to `lr_scale`); with `lr_scale` each sub-image's LR is cut from the LR of its
    whole photo (so `step` must be a multiple of it), from `lr_dirs` when given (the user's
    LR/HR pairs, matched by name: `sources.lr_stems`), else from the MATLAB bicubic.
    """

    output_dir: str = option(help="Where shards and manifest.json are written.")
    input_dirs: tuple[str, ...] = option((), "Folders of HR images, searched recursively.")
    tfds: str = option("", "TFDS dataset instead of folders, e.g. div2k/bicubic_x4.")
    tfds_split: str = option("train", "TFDS split.")
    tfds_key: str = option("hr", "TFDS feature holding the HR image.")
    tfds_data_dir: str = option("", "TFDS data folder ('' = TFDS's own).")
    builtin: str = option(
        "",
        "Built-in photos instead of folders: 'photos' (the colour photos of the scikit-image, "
        "scikit-learn and matplotlib wheels) or 'skimage' (scikit-image's sample photos).",
        choices=("", *BUILTINS),
    )
    holdout: int = option(
        0,
        "Keep the last N usable photos out of the records and write them as PNGs to "
        "<output_dir>/val_hr/ for validation.",
    )
    crop_size: int = option(480, "Sub-image size; 0 keeps whole images.")
    step: int = option(240, "Distance between sub-images.")
    thresh_size: int = option(
        0,
        "Add an edge-aligned last crop when more than this many pixels would be left over "
        "(BasicSR's thresh_size).",
    )
    lr_scale: int = option(
        0,
        "Also store each sub-image's LR at this scale (2, 3 or 4; 0: none), cut from the "
        "MATLAB-bicubic LR of the whole photo, as DIV2K's LR.",
    )
    lr_dirs: tuple[str, ...] = option(
        (),
        "Folders of the LR images of --input_dirs' photos (your own LR/HR pairs, matched by "
        "name: a.png <-> a.png, ax4.png, a_x4.png or a_LRBI_x4.png; searched recursively): "
        "with --lr_scale, each sub-image's LR is cut from them instead of the bicubic.",
    )
    min_size: int = option(
        0,
        "Skip photos whose shorter side is below this many pixels (with --crop_size=0: the "
        "training --hr_size, e.g. 96 for SRGAN's ImageNet).",
    )
    num_shards: int = option(0, "Number of shards; 0: about one per 500 MB.")
    prefix: str = option("train", "Shard file name prefix.")
    num_workers: int = option(0, "Worker processes; 0: one per CPU.")
    max_pixels: int = option(
        200_000_000, "Skip images declaring more pixels than this (decompression bombs)."
    )
    progress: bool = option(True, "Show progress bars on stderr.")

    def __post_init__(self):
        object.__setattr__(self, "input_dirs", tuple(self.input_dirs))
        object.__setattr__(self, "lr_dirs", tuple(self.lr_dirs))
        if self.lr_dirs and not (self.input_dirs and self.lr_scale):
            raise ValueError("lr_dirs pair with input_dirs and need the scale: set lr_scale")
        if self.lr_dirs and self.holdout:
            raise ValueError(
                "holdout is for HR-only data: keep the validation pairs in folders of their "
                "own (train --val_dir with --val_lr_dir)"
            )
        if sum(map(bool, (self.input_dirs, self.tfds, self.builtin))) != 1:
            raise ValueError("give exactly one source: input_dirs, tfds or builtin")
        check_choice("builtin", self.builtin, ("", *BUILTINS))
        if self.lr_scale not in (0, 2, 3, 4):
            raise ValueError(f"lr_scale must be 0, 2, 3 or 4, got {self.lr_scale}")
        if self.crop_size < 0 or self.step <= 0 or self.thresh_size < 0:
            raise ValueError("need crop_size >= 0, step > 0 and thresh_size >= 0")
        if self.lr_scale and self.crop_size % self.lr_scale:
            raise ValueError(
                f"crop_size {self.crop_size} is not divisible by lr_scale {self.lr_scale}"
            )
        if self.lr_scale and self.crop_size and self.step % self.lr_scale:
            raise ValueError(
                f"step {self.step} is not divisible by lr_scale {self.lr_scale}: the LR "
                "sub-images are cut from the LR of the whole photo, on its grid"
            )
        if self.min_size < 0:
            raise ValueError(f"min_size must be >= 0, got {self.min_size}")
        if min(self.holdout, self.num_shards, self.num_workers) < 0 or self.max_pixels <= 0:
            raise ValueError("holdout, num_shards and num_workers must be >= 0, max_pixels > 0")
        if not self.prefix or "/" in self.prefix or self.prefix.startswith("."):
            raise ValueError(f"bad shard prefix {self.prefix!r}")


# Sample indices are packed into 16 bits of each sample's seed (`degradation_grid`).
MAX_GRID_SAMPLES = 2**16 - 1


@dataclasses.dataclass(frozen=True)
class GridConfig:
    """One `python -m esrgan_tf.degrade` picture: a row per photo, its HR centre crop beside
    `samples` LR images drawn by Real-ESRGAN x4plus's degradation."""

    input: tuple[str, ...] = option(
        help="Comma-separated image files, folders and globs (one row per image)."
    )
    output: str = option(help="The grid, a .png file.")
    seed: int = option(0, "Seeds every sample (the same seed, the same picture).")
    samples: int = option(4, "Degraded samples per photo.")
    crop_size: int = option(
        256,
        "HR centre-crop size (Real-ESRGAN trains on 256): the centre crop of each photo, or "
        "its largest centred square when smaller, mod-cropped to the scale.",
    )
    scale: int = option(4, "SR factor of the degradation: 2, 3 or 4.")

    def __post_init__(self):
        object.__setattr__(self, "input", tuple(self.input))
        if not self.input:
            raise ValueError("no input images")
        if not 1 <= self.samples <= MAX_GRID_SAMPLES:
            raise ValueError(f"samples must be in [1, {MAX_GRID_SAMPLES}], got {self.samples}")
        if self.scale not in (2, 3, 4):
            raise ValueError(f"scale must be 2, 3 or 4, got {self.scale}")
        if not self.output.lower().endswith(".png"):
            raise ValueError(f"output must be a .png file, got {self.output!r}")
