"""A picture of what `--degradation=realesrgan` trains on: photos beside degraded samples.

The library of `python -m esrgan_tf.degrade`. Each row is one photo: its HR crop, then
`samples` LR images made from it by Real-ESRGAN x4plus's degradation
(`esrgan_tf.data.degradations.degrade`, the function the training pipeline maps), each
nearest-neighbour upscaled back to the crop's size so every LR pixel shows as a
scale x scale block. Sample j of photo i uses the stateless seed (seed, i * 2^16 + j): the
same command draws the same picture, and `describe` says what each sample drew.
"""

import dataclasses

import numpy as np
import tensorflow as tf

from esrgan_tf.data import degradations, image_io, inputs

GAP = 4  # white pixels between panels and rows
_SAMPLE_BITS = 16


@dataclasses.dataclass(frozen=True)
class GridConfig:
    """Settings of one grid.

    Attributes:
        inputs: image files (one row each, in this order).
        output: the PNG to write.
        seed: seeds every sample.
        samples: degraded samples per photo.
        crop_size: HR crop side (Real-ESRGAN trains on 256); the centre crop of each photo,
            or its largest centred square when smaller, mod-cropped to the scale.
        scale: SR factor of the degradation (the LR is crop / scale).
    """

    inputs: tuple
    output: str
    seed: int = 0
    samples: int = 4
    crop_size: int = 256
    scale: int = 4

    def __post_init__(self):
        object.__setattr__(self, "inputs", tuple(self.inputs))
        if not self.inputs:
            raise ValueError("no input images")
        if not 1 <= self.samples < 2**_SAMPLE_BITS:
            raise ValueError(f"samples must be in [1, {2**_SAMPLE_BITS}), got {self.samples}")
        if self.scale not in (2, 3, 4):
            raise ValueError(f"scale must be 2, 3 or 4, got {self.scale}")
        minimum = degradations.minimum_hr_size(self.scale)
        if self.crop_size < minimum:
            raise ValueError(
                f"crop_size must be at least {minimum} at x{self.scale} (the degradation's "
                f"blurs pad by reflection), got {self.crop_size}"
            )
        if not self.output.lower().endswith(".png"):
            raise ValueError(f"output must be a .png file, got {self.output!r}")


def centre_crop(photo, crop_size, scale):
    """The centred crop_size square of an HxWx3 photo (smaller photos: their largest centred
    square), its side a multiple of `scale`."""
    side = min(crop_size, photo.shape[0], photo.shape[1])
    side -= side % scale
    top, left = (photo.shape[0] - side) // 2, (photo.shape[1] - side) // 2
    return photo[top : top + side, left : left + side]


def sample_seed(seed, photo, sample):
    return np.array([seed, (photo << _SAMPLE_BITS) + sample], np.int64)


def describe(params):
    """One line of what a `degradations.sample_degradation` dict drew (NumPy values)."""
    p = tf.nest.map_structure(np.asarray, params)

    def kernel(k):
        return f"{degradations.KERNEL_KINDS[int(k['kind'])]} {int(k['size'])}px"

    def resize(r):
        mode = degradations.RESIZE_MODES[int(r["mode"])]
        return f"resize x{float(r['scale']):.2f} {mode}"

    def noise(n):
        gray = " gray" if bool(n["gray"]) else ""
        if bool(n["gaussian"]):
            return f"gaussian{gray} sigma {float(n['sigma']):.1f}"
        return f"poisson{gray} scale {float(n['poisson_scale']):.2f}"

    second_blur = kernel(p["kernel2"]) if bool(p["blur2"]) else "no blur"
    final = "sinc" if int(p["final_sinc"]["kind"]) == degradations.SINC else "no sinc"
    order = (
        f"{final} -> jpeg {int(p['jpeg2'])}"
        if bool(p["resize_sinc_first"])
        else f"jpeg {int(p['jpeg2'])} -> {final}"
    )
    return (
        f"1: {kernel(p['kernel1'])}, {resize(p['resize1'])}, {noise(p['noise1'])}, "
        f"jpeg {int(p['jpeg1'])} | 2: {second_blur}, {resize(p['resize2'])}, "
        f"{noise(p['noise2'])} | final: {order}"
    )


@tf.function(reduce_retracing=True)
def _degrade(hr, seed, scale):
    params = degradations.sample_degradation(seed)
    lr, _ = degradations.apply_degradation(hr, params, scale)
    return lr, params


def _panels(row):
    """HxW x 3 panels side by side with GAP white columns."""
    h = row[0].shape[0]
    gap = np.ones((h, GAP, 3), np.float32)
    return np.concatenate([x for panel in row for x in (panel, gap)][:-1], axis=1)


def make_grid(config, progress=None):
    """(grid float32 HxWx3 in [0, 1], [(input, [description per sample])], [(input, reason)]).

    `config.input` is expanded (`esrgan_tf.data.inputs`): inputs that are not image files,
    and photos whose largest centred square is below the degradation's minimum, are skipped
    with a reason; none usable is a ValueError.
    """
    minimum = degradations.minimum_hr_size(config.scale)
    if config.crop_size < minimum:
        raise ValueError(
            f"crop_size must be at least {minimum} at x{config.scale} (the degradation's "
            f"blurs pad by reflection), got {config.crop_size}"
        )
    images, skipped = inputs.expand_images(config.input)
    rows, described = [], []
    for i, path in enumerate(images):
        try:
            photo = image_io.read_image(path)
        except (OSError, image_io.UnusableImage) as e:
            skipped.append((path, str(e)))
            continue
        hr = centre_crop(photo, config.crop_size, config.scale)
        if hr.shape[0] < minimum:
            skipped.append((path, f"smaller than {minimum} px, the degradation's minimum"))
            continue
        row, lines = [hr], []
        for j in range(config.samples):
            lr, params = _degrade(
                tf.constant(hr), tf.constant(sample_seed(config.seed, i, j)), config.scale
            )
            up = np.repeat(np.repeat(lr.numpy(), config.scale, axis=0), config.scale, axis=1)
            row.append(up)
            lines.append(describe(params))
        rows.append(_panels(row))
        described.append((path, lines))
        if progress is not None:
            progress(path)
    if not rows:
        raise ValueError(
            "no usable photo: " + "; ".join(f"{path}: {reason}" for path, reason in skipped)
        )
    width = max(r.shape[1] for r in rows)
    padded = [
        np.pad(r, ((0, 0), (0, width - r.shape[1]), (0, 0)), constant_values=1.0) for r in rows
    ]
    gap = np.ones((GAP, width, 3), np.float32)
    grid = np.concatenate([x for r in padded for x in (r, gap)][:-1], axis=0)
    return grid, described, skipped


def write_grid(config, progress=None):
    """`make_grid`, written to `config.output` as an 8-bit PNG (atomically); returns what
    `make_grid` returns."""
    grid, described, skipped = make_grid(config, progress)
    pixels = np.round(np.clip(grid, 0.0, 1.0) * 255.0).astype(np.uint8)
    image_io.write_png(config.output, pixels)
    return grid, described, skipped
