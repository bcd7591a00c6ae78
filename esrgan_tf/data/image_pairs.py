"""(LR, HR) pairs of whole images, for validation during training and for evaluation.

The literature's protocol (DESIGN.md): HR images mod-cropped to the scale, LR made with
MATLAB-exact bicubic downsampling, or read from a paired LR folder (names matched by stem,
with the usual `x4` / `_x4` / `_LRBI_x4` suffixes of DIV2K, Set5 and friends).
"""

import dataclasses
import os

import numpy as np

from esrgan_tf.data import image_io, sources
from esrgan_tf.data.imresize import imresize


@dataclasses.dataclass(frozen=True)
class ImagePair:
    name: str
    lr: np.ndarray  # h x w x 3 float32 in [0, 1]
    hr: np.ndarray  # (scale*h) x (scale*w) x 3 float32 in [0, 1]


def mod_crop(image, scale):
    """Crop H and W down to multiples of `scale` (the literature's convention)."""
    h, w = image.shape[0] - image.shape[0] % scale, image.shape[1] - image.shape[1] % scale
    if h == 0 or w == 0:
        raise ValueError(
            f"image of {image.shape[0]}x{image.shape[1]} is smaller than scale {scale}"
        )
    return image[:h, :w]


def stem(path):
    return os.path.splitext(os.path.basename(path))[0]


def _paired_lr(lr_files, name, scale):
    """The LR file of HR image `name`: same stem, or the stem + 'x4' / '_x4' (DIV2K, Set5)."""
    candidates = sources.lr_stems(name, scale)
    for candidate in candidates:
        if candidate in lr_files:
            return lr_files[candidate]
    raise FileNotFoundError(
        f"no LR image for HR image {name!r} (looked for "
        f"{', '.join(candidates)} with an image extension)"
    )


def bicubic_downscale(hr, scale):
    """The LR of an HR image: MATLAB imresize by 1 / scale, clipped to [0, 1]."""
    return np.clip(imresize(hr, 1.0 / scale), 0.0, 1.0).astype(np.float32)


def bicubic_upscale(lr, scale):
    """The bicubic baseline: MATLAB imresize upscaling, clipped to [0, 1]."""
    return np.clip(imresize(lr, float(scale)), 0.0, 1.0).astype(np.float32)


def load_pairs(hr_dir, scale, limit=0, lr_dir=""):
    """The images of an HR folder, mod-cropped, with their LR; `limit` > 0 keeps the first N.

    The LR is made with MATLAB-exact bicubic, or read from `lr_dir` when given.
    """
    files = image_io.image_files(hr_dir)
    if limit:
        files = files[:limit]
    lr_files = {stem(p): p for p in image_io.image_files(lr_dir)} if lr_dir else {}
    pairs = []
    for path in files:
        hr = mod_crop(image_io.read_image(path), scale)
        if lr_dir:
            lr = image_io.read_image(_paired_lr(lr_files, stem(path), scale))
            expected = (hr.shape[0] // scale, hr.shape[1] // scale)
            if lr.shape[:2] != expected:
                raise ValueError(
                    f"LR image of {stem(path)} is {lr.shape[1]}x{lr.shape[0]}, "
                    f"expected {expected[1]}x{expected[0]} for x{scale}"
                )
        else:
            lr = bicubic_downscale(hr, scale)
        pairs.append(ImagePair(stem(path), lr, hr))
    return pairs
