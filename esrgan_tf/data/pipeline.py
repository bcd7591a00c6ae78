"""tf.data input pipelines: random LR/HR training patches and whole validation images.

Training follows ESRGAN §4.1 / BasicSR: random 128x128 HR crops of sub-images
(LR 32x32 at x4), random horizontal flips and 90-degree rotations applied
identically to LR and HR, LR made with MATLAB-exact bicubic (`imresize_tf`) when
the shards hold only HR. Images are float32 RGB in [0, 1].
"""

import dataclasses
import glob
import json
import os

import tensorflow as tf

from esrgan_tf.data import records
from esrgan_tf.data.imresize import imresize_tf


@dataclasses.dataclass(frozen=True)
class TrainDataConfig:
    """Settings of the training pipeline.

    The SR factor is not part of it: it belongs to the model (`ModelConfig.scale`), and
    `train_dataset` takes it from there, so data and model can never disagree.

    Attributes:
        shards: a directory written by `esrgan_tf.prepare`, or a glob of
            TFRecord shards.
        hr_size: HR patch size (128 in ESRGAN §4.1, 96 in SRGAN §3.2); LR patches are
            hr_size // scale.
        batch_size: GLOBAL batch size; each input pipeline makes its share.
        seed: makes file order, shuffling, crops and flips reproducible.
        shuffle_buffer: examples in the shuffle buffer.
        augment: random horizontal flip + rotation by multiples of 90 degrees.
        use_stored_lr: use the shards' LR when they hold it at this scale;
            otherwise (or when False) LR is made from each HR crop on the fly.
        cycle_length: shards read in parallel.
    """

    shards: str
    hr_size: int = 128
    batch_size: int = 16
    seed: int = 0
    shuffle_buffer: int = 1024
    augment: bool = True
    use_stored_lr: bool = True
    cycle_length: int = 4

    def __post_init__(self):
        if self.hr_size <= 0:
            raise ValueError(f"hr_size must be positive, got {self.hr_size}")
        if self.batch_size <= 0:
            raise ValueError(f"batch_size must be positive, got {self.batch_size}")


def shard_files(shards):
    """Sorted shard paths from a prepare output directory or a glob; clear error if none."""
    if os.path.isdir(shards):
        files = sorted(glob.glob(os.path.join(shards, "*.tfrecord")))
    else:
        files = sorted(glob.glob(shards))
    if not files:
        raise FileNotFoundError(
            f"no TFRecord shards found at {shards!r}; make them with `python -m esrgan_tf.prepare`"
        )
    return files


def stored_lr_scale(shards):
    """The LR scale stored in the shards according to their manifest (0 if none/unknown)."""
    if not os.path.isdir(shards):
        return 0
    path = os.path.join(shards, "manifest.json")
    if not os.path.exists(path):
        return 0
    with open(path, encoding="utf-8") as f:
        return int(json.load(f).get("settings", {}).get("lr_scale", 0) or 0)


# ---------------------------------------------------------------------------------------
# Map functions (pure, seeded with stateless RNG so order and content are reproducible)
# ---------------------------------------------------------------------------------------


def random_crop_pair(hr, lr, seed, hr_size, scale):
    """Aligned random crops: LR at (y, x), HR at (scale*y, scale*x).

    Args:
        hr: [H, W, 3] float32.
        lr: [H/scale, W/scale, 3] float32, or None to crop HR only (the LR is
            made from the crop afterwards).
        seed: int32/int64 [2] stateless seed.
    """
    lr_size = hr_size // scale
    hr_shape = tf.shape(hr)
    check = tf.debugging.assert_greater_equal(
        hr_shape[:2],
        hr_size,
        message=f"an HR sub-image is smaller than the {hr_size}x{hr_size} patch size",
    )
    with tf.control_dependencies([check]):  # before the RNG's own, less clear, error
        hr_shape = tf.identity(hr_shape)
    # Positions on the LR grid, so the HR crop starts on a multiple of the scale.
    max_y = hr_shape[0] // scale - lr_size
    max_x = hr_shape[1] // scale - lr_size
    seeds = tf.random.experimental.stateless_split(seed, 2)
    y = tf.random.stateless_uniform([], seeds[0], 0, max_y + 1, dtype=tf.int32)
    x = tf.random.stateless_uniform([], seeds[1], 0, max_x + 1, dtype=tf.int32)
    hr_crop = hr[y * scale : (y + lr_size) * scale, x * scale : (x + lr_size) * scale]
    hr_crop = tf.ensure_shape(hr_crop, [hr_size, hr_size, None])
    if lr is None:
        return hr_crop, None
    lr_crop = tf.ensure_shape(lr[y : y + lr_size, x : x + lr_size], [lr_size, lr_size, None])
    return hr_crop, lr_crop


def augment_pair(hr, lr, seed):
    """The same random horizontal flip and rotation by k*90 degrees on HR and LR.

    Flip x rot90 covers all 8 symmetries of the square (BasicSR's hflip, vflip
    and transpose), ESRGAN §4.1 "horizontal flips and 90 degree rotations".
    """
    seeds = tf.random.experimental.stateless_split(seed, 2)
    flip = tf.random.stateless_uniform([], seeds[0], 0, 2, dtype=tf.int32) > 0
    k = tf.random.stateless_uniform([], seeds[1], 0, 4, dtype=tf.int32)

    def apply(img):
        img = tf.cond(flip, lambda: tf.reverse(img, axis=[1]), lambda: img)
        return tf.image.rot90(img, k)

    return apply(hr), apply(lr)


def make_training_pair(example, seed, config, scale, with_stored_lr):
    """Parsed example -> (lr, hr) patch pair at `scale`, augmented."""
    seeds = tf.random.experimental.stateless_split(seed, 2)
    hr = example["hr"]
    lr = example["lr"] if with_stored_lr else None
    hr, lr = random_crop_pair(hr, lr, seeds[0], config.hr_size, scale)
    if lr is None:
        lr = tf.clip_by_value(imresize_tf(hr, 1.0 / scale), 0.0, 1.0)
    if config.augment:
        hr, lr = augment_pair(hr, lr, seeds[1])
    return lr, hr


# ---------------------------------------------------------------------------------------
# Datasets
# ---------------------------------------------------------------------------------------


def train_dataset(config, scale, input_context=None):
    """Infinite, batched (lr, hr) training dataset at SR factor `scale`.

    With a `tf.distribute.InputContext` (one input pipeline per worker), each
    pipeline reads its own shards (file-level sharding) and makes its share of the
    global batch, `batch_size / num_input_pipelines`: the examples of all replicas
    of that worker. (With one pipeline per replica, as
    `distribute_datasets_from_function` makes, that is the per-replica batch.)
    """
    if config.hr_size % scale:
        raise ValueError(f"hr_size={config.hr_size} must be a multiple of scale={scale}")
    files = shard_files(config.shards)
    with_stored_lr = config.use_stored_lr and stored_lr_scale(config.shards) == scale
    batch_size = config.batch_size
    seed = file_seed = config.seed
    shard_records = False
    if input_context is not None and input_context.num_input_pipelines > 1:
        if config.batch_size % input_context.num_input_pipelines:
            raise ValueError(
                f"batch_size {config.batch_size} is not divisible by the "
                f"{input_context.num_input_pipelines} input pipelines"
            )
        batch_size = config.batch_size // input_context.num_input_pipelines
        seed = file_seed = config.seed * 1000 + input_context.input_pipeline_id
        if len(files) >= input_context.num_input_pipelines:
            files = files[input_context.input_pipeline_id :: input_context.num_input_pipelines]
        else:  # too few files to split: every pipeline reads all and keeps its share, so all
            shard_records = True  # must read the records in the same order (one file seed).
            file_seed = config.seed
    # Repeat after the interleave, and never more slots than files: repeating the file list
    # first lets the interleave open one file in several slots at once, which puts copies of
    # each record next to each other (and, with record sharding, into every pipeline).
    ds = tf.data.Dataset.from_tensor_slices(files)
    ds = ds.shuffle(len(files), seed=file_seed, reshuffle_each_iteration=True)
    ds = ds.interleave(
        tf.data.TFRecordDataset,
        cycle_length=min(config.cycle_length, len(files)),
        num_parallel_calls=tf.data.AUTOTUNE,
        deterministic=True,
    )
    if shard_records:
        ds = ds.shard(input_context.num_input_pipelines, input_context.input_pipeline_id)
    ds = ds.repeat().shuffle(config.shuffle_buffer, seed=seed)
    # One stateless seed per example: (seed, position in the stream).
    counter = tf.data.Dataset.counter().map(lambda i: tf.stack([tf.cast(seed, tf.int64), i]))
    ds = tf.data.Dataset.zip((ds, counter))
    ds = ds.map(
        lambda s, sd: make_training_pair(
            records.parse_example(s), sd, config, scale, with_stored_lr
        ),
        num_parallel_calls=tf.data.AUTOTUNE,
        deterministic=True,
    )
    return ds.batch(batch_size, drop_remainder=True).prefetch(tf.data.AUTOTUNE)
