"""tf.data input pipelines: random LR/HR training patches and whole validation images.

Training follows ESRGAN §4.1 / BasicSR: random 128x128 HR crops of sub-images
(LR 32x32 at x4), random horizontal flips and 90-degree rotations applied
identically to LR and HR, LR made with MATLAB-exact bicubic (`imresize_tf`) when
the shards hold only HR. Images are float32 RGB in [0, 1].

With ``degradation="realesrgan"`` each LR is instead Real-ESRGAN's second-order degradation
of its (augmented) HR patch (`esrgan_tf.data.degradations.degrade`), drawn from the example's
own stateless seed; with ``usm_target`` every element also carries the unsharp-masked HR, the
target of the pixel and perceptual losses (Real-ESRGAN's ``l1_gt_usm`` / ``percep_gt_usm``).

No training-pair pool. Real-ESRGAN keeps a queue of 180 degraded pairs and swaps each new
batch with random pairs from it (``RealESRGANModel._dequeue_and_enqueue``) because its
``feed_data`` draws the resize scales and modes, the noise type, the second blur and the final
order once per *batch*: without the pool every image of a batch would share them. Here every
one of those draws is per example (each has its own seed), so a batch already mixes
degradations as the pool makes it do, and the record shuffle already mixes images across
batches; a pool of degraded pairs (a tf.data shuffle after the map) would only add memory
(~1.6 MB per 256-px pair) and a longer warm-up.
"""

import json

import tensorflow as tf

from esrgan_tf.data import degradations, records
from esrgan_tf.data.imresize_tf import imresize_tf

# `degrade` is written with tf.cond / tf.switch_case, never Python control flow on tensors:
# AutoGraph's conversion of its large graph would only add a second of tracing per dataset.
_degrade = tf.autograph.experimental.do_not_convert(degradations.degrade)


def shard_files(shards):
    """Sorted shard paths from a prepare output directory or a glob; clear error if none."""
    if tf.io.gfile.isdir(shards):
        files = sorted(tf.io.gfile.glob(f"{shards.rstrip('/')}/*.tfrecord"))
    else:
        files = sorted(tf.io.gfile.glob(shards))
    if not files:
        raise FileNotFoundError(
            f"no TFRecord shards found at {shards!r}; make them with `python -m esrgan_tf.prepare`"
        )
    return files


def stored_lr_scale(shards):
    """The LR scale stored in the shards according to their manifest (0 if none/unknown)."""
    path = f"{shards.rstrip('/')}/manifest.json"
    if not tf.io.gfile.isdir(shards) or not tf.io.gfile.exists(path):
        return 0
    with tf.io.gfile.GFile(path) as f:
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


def augment_pair(hr, lr, seed, rotate=True):
    """The same random horizontal flip and rotation by k*90 degrees on HR and LR.

    Flip x rot90 covers all 8 symmetries of the square (BasicSR's hflip, vflip
    and transpose), ESRGAN §4.1 "horizontal flips and 90 degree rotations".
    `rotate=False`: the flip only (the same flips as with rotations, for a seed).
    `lr` may be None (an HR patch alone, degraded afterwards).
    """
    seeds = tf.random.experimental.stateless_split(seed, 2)
    flip = tf.random.stateless_uniform([], seeds[0], 0, 2, dtype=tf.int32) > 0
    k = tf.random.stateless_uniform([], seeds[1], 0, 4, dtype=tf.int32) if rotate else 0

    def apply(img):
        if img is None:
            return None
        img = tf.cond(flip, lambda: tf.reverse(img, axis=[1]), lambda: img)
        return tf.image.rot90(img, k)

    return apply(hr), apply(lr)


# The 6 orders of R, G, B (`permute_channels`).
_CHANNEL_ORDERS = ((0, 1, 2), (0, 2, 1), (1, 0, 2), (1, 2, 0), (2, 0, 1), (2, 1, 0))


def permute_channels(hr, lr, seed):
    """HR and LR (or None) with their channels in the same random one of the 6 orders."""
    order = tf.random.stateless_uniform([], seed, 0, len(_CHANNEL_ORDERS), dtype=tf.int32)
    order = tf.gather(tf.constant(_CHANNEL_ORDERS), order)
    return tf.gather(hr, order, axis=-1), None if lr is None else tf.gather(lr, order, axis=-1)


def colour_affine(hr, lr, seed, probability=0.5, min_contrast=0.5):
    """With `probability`, HR and LR (or None) with each channel mapped by one random affine
    map of [0, 1] into itself: x -> a x + b (a in [min_contrast, 1], b in [0, 1 - a]), or
    its inversion 1 - (a x + b), per channel with probability 1/2.

    Such maps are linear with weights summing to one, as the bicubic kernel's are, so the LR
    of the mapped HR is the mapped LR (exact, the [0, 1] range is never left). Patches of a
    few photos then cover the whole colour cube (dark and bright, saturated and gray),
    which is what the network must reproduce on photos unlike its training ones.
    """
    seeds = tf.random.experimental.stateless_split(seed, 4)
    channels = tf.shape(hr)[-1:]
    contrast = tf.random.stateless_uniform(channels, seeds[0], min_contrast, 1.0)
    offset = tf.random.stateless_uniform(channels, seeds[1]) * (1.0 - contrast)
    invert = tf.random.stateless_uniform(channels, seeds[2]) < 0.5
    apply = tf.random.stateless_uniform([], seeds[3]) < probability
    scale = tf.where(apply, tf.where(invert, -contrast, contrast), 1.0)
    shift = tf.where(apply, tf.where(invert, 1.0 - offset, offset), 0.0)

    def mapped(image):
        return None if image is None else image * scale + shift

    return mapped(hr), mapped(lr)


def make_training_pair(example, seed, config, scale, with_stored_lr):
    """Parsed example -> (lr, hr) patch pair at `scale`, augmented; (lr, hr, hr_usm) with
    `config.usm_target`.

    With `config.degradation == "realesrgan"` the HR crop is augmented first and then
    degraded (Real-ESRGAN augments the ground truth before synthesising its LR) with a
    third seed split from the example's, so the crops and flips are those of the bicubic
    stream.
    """
    seeds = tf.random.experimental.stateless_split(seed, 2)
    hr = example["hr"]
    lr = example["lr"] if with_stored_lr else None
    hr, lr = random_crop_pair(hr, lr, seeds[0], config.hr_size, scale)
    if config.permute_channels:  # a seed of its own: crops and flips stay as without it
        hr, lr = permute_channels(hr, lr, tf.random.experimental.stateless_split(seed, 4)[3])
    if config.colour_affine:  # likewise
        hr, lr = colour_affine(
            hr, lr, tf.random.experimental.stateless_split(seed, 5)[4], config.colour_affine
        )
    hr_usm = None
    if config.degradation == "realesrgan":
        if config.augment:
            hr, _ = augment_pair(hr, None, seeds[1], config.rotate)
        # `degrade` sharpens the HR first (it degrades the sharpened one): reuse that.
        degradation_seed = tf.random.experimental.stateless_split(seed, 3)[2]
        lr, hr_usm = _degrade(hr, degradation_seed, scale)
    else:
        if lr is None:
            lr = tf.clip_by_value(imresize_tf(hr, 1.0 / scale), 0.0, 1.0)
        if config.augment:
            hr, lr = augment_pair(hr, lr, seeds[1], config.rotate)
    if not config.usm_target:
        return lr, hr
    if hr_usm is None:
        hr_usm = degradations.usm_sharpen(hr)
    return lr, hr, hr_usm


def check_patch_size(config, scale):
    """Raises ValueError when `config.hr_size` cannot be used at `scale`."""
    if config.hr_size % scale:
        raise ValueError(f"hr_size={config.hr_size} must be a multiple of scale={scale}")
    if config.degradation == "realesrgan":
        minimum = degradations.minimum_hr_size(scale)
        if config.hr_size < minimum:
            raise ValueError(
                f"the realesrgan degradation needs HR patches of at least {minimum} px at "
                f"x{scale} (its 21x21 blurs and 51x51 USM pad by reflection), got "
                f"hr_size={config.hr_size}"
            )
    usm_pad = degradations.usm_size() // 2
    if config.usm_target and config.hr_size <= usm_pad:
        raise ValueError(
            f"usm_target needs HR patches larger than {usm_pad} px (the USM blur is "
            f"{2 * usm_pad + 1}x{2 * usm_pad + 1}), got hr_size={config.hr_size}"
        )


# ---------------------------------------------------------------------------------------
# Datasets
# ---------------------------------------------------------------------------------------


def train_dataset(config, scale, input_context=None):
    """Infinite, batched (lr, hr) training dataset at SR factor `scale` ((lr, hr, hr_usm)
    with `config.usm_target`).

    Deterministic for `config.seed` and resumable: every example's crop, flips and
    degradation are functions of its own stateless seed (seed, position in the stream), and
    the iterator (with its shuffle buffer) is saved in the run's checkpoints.

    With a `tf.distribute.InputContext` (one input pipeline per worker), each
    pipeline reads its own shards (file-level sharding) and makes its share of the
    global batch, `batch_size / num_input_pipelines`: the examples of all replicas
    of that worker. (With one pipeline per replica, as
    `distribute_datasets_from_function` makes, that is the per-replica batch.)
    """
    check_patch_size(config, scale)
    files = shard_files(config.data)
    with_stored_lr = (
        config.use_stored_lr
        and config.degradation == "none"
        and stored_lr_scale(config.data) == scale
    )
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
