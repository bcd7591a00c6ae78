"""LR/HR patch pairs for export checks: calibration data and parity samples.

Sources, as a user names them on the command line:
  "skimage"      scikit-image's sample photos (offline; `sources.SKIMAGE_PHOTOS`);
  a folder       HR photos (any supported image file, not recursive);
  training data  a `python -m esrgan_tf.prepare` output directory or a TFRecord glob.

Each pair is an HR crop of ``scale * lr_size`` and its MATLAB-bicubic LR (or, for training
shards, the pipeline's own LR), float32 RGB in [0, 1]. Crops are deterministic for a seed.
"""

import glob
import os

import numpy as np

from esrgan_tf.data import image_io, pipeline, sources
from esrgan_tf.data.config import SKIMAGE, TrainDataConfig
from esrgan_tf.data.image_pairs import bicubic_downscale


def _is_shards(source):
    if any(c in source for c in "*?["):
        return bool(glob.glob(source))
    return os.path.isdir(source) and any(
        n.endswith(".tfrecord") or ".tfrecord-" in n for n in os.listdir(source)
    )


def _photos(source, names=None):
    """HxWx3 float32 photos of 'skimage' (optionally only `names`) or of an image folder."""
    if source == SKIMAGE:
        for name, pixels in sources.skimage_photos():
            if names is None or name.split("/", 1)[1] in names:
                yield name, image_io.to_rgb(pixels).astype(np.float32) / 255.0
        return
    for path in image_io.image_files(source):
        yield path, image_io.read_image(path)


def _pair(hr, scale):
    return bicubic_downscale(hr, scale), np.ascontiguousarray(hr, dtype=np.float32)


def _check_size(lr_size, scale):
    h, w = lr_size
    if h < 1 or w < 1 or scale < 1:
        raise ValueError(f"need a positive LR size and scale, got {lr_size} and {scale}")
    return h * scale, w * scale


def centre_pairs(source, scale, lr_size, count, names=None):
    """One centre crop per photo, for up to `count` photos: [(name, lr, hr)].

    Photos smaller than the crop are skipped; none left is a clear error.
    """
    crop_h, crop_w = _check_size(lr_size, scale)
    pairs = []
    for name, photo in _photos(source, names):
        if len(pairs) == count:
            break
        if photo.shape[0] < crop_h or photo.shape[1] < crop_w:
            continue
        top, left = (photo.shape[0] - crop_h) // 2, (photo.shape[1] - crop_w) // 2
        pairs.append((name, *_pair(photo[top : top + crop_h, left : left + crop_w], scale)))
    if not pairs:
        raise ValueError(
            f"no photo in {source!r} is at least {crop_w}x{crop_h} "
            f"(LR {lr_size[1]}x{lr_size[0]} at x{scale})"
        )
    return pairs


def random_lr_patches(source, scale, lr_size, count, seed=0, exclude=()):
    """`count` LR patches of `lr_size` (H, W) from random crops of `source` (see module).

    Photos are visited in turn, one random crop each, until `count` are taken; names in
    `exclude` are not used (e.g. the photos a parity check scores on).
    """
    crop_h, crop_w = _check_size(lr_size, scale)
    if _is_shards(source):
        return _shard_lr_patches(source, scale, lr_size, count, seed)
    rng = np.random.default_rng(seed)
    photos = [
        p
        for name, p in _photos(source)
        if name.split("/")[-1] not in exclude and p.shape[0] >= crop_h and p.shape[1] >= crop_w
    ]
    if not photos:
        raise ValueError(
            f"no usable photo in {source!r} is at least {crop_w}x{crop_h} "
            f"(LR {lr_size[1]}x{lr_size[0]} at x{scale})"
        )
    patches = []
    while len(patches) < count:
        photo = photos[len(patches) % len(photos)]
        top = rng.integers(0, photo.shape[0] - crop_h + 1)
        left = rng.integers(0, photo.shape[1] - crop_w + 1)
        patches.append(_pair(photo[top : top + crop_h, left : left + crop_w], scale)[0])
    return patches


def _shard_lr_patches(shards, scale, lr_size, count, seed):
    """LR patches of the training pipeline itself (square: `lr_size` must be)."""
    if lr_size[0] != lr_size[1]:
        raise ValueError(f"training shards give square patches; got LR size {lr_size}")
    config = TrainDataConfig(
        data=shards, hr_size=lr_size[0] * scale, batch_size=1, seed=seed, shuffle_buffer=64
    )
    return [lr[0].numpy() for lr, _ in pipeline.train_dataset(config, scale).take(count)]
