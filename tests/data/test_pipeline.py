"""Tests for the training input pipeline, on tiny shard sets of real photo crops.

Alignment is checked independently of the pipeline's own bookkeeping: every HR patch is searched
for in the source sub-images under the 8 symmetries of the square, and its LR patch must be the
same symmetry of the matching LR window (stored LR) or equal NumPy ``imresize`` of the HR patch
(LR made on the fly).
"""

import dataclasses

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view
import pytest
import skimage.data
import tensorflow as tf

from esrgan_tf.data import degradations, image_io, pipeline, records
from esrgan_tf.data.config import TrainDataConfig
from esrgan_tf.data.imresize import imresize

SUB = 48  # sub-image side: a multiple of 2, 3, 4 and 8
PATCH = 24  # HR patch side: a multiple of 2, 3, 4 and 8


# ---------------------------------------------------------------------------------------
# Tiny shard sets
# ---------------------------------------------------------------------------------------


def _photo_crops(n, size=SUB):
    """n distinct size x size uint8 crops of two real photos, alternating between them."""
    photos = [skimage.data.astronaut(), skimage.data.chelsea()]
    per_photo = []
    for photo in photos:
        h, w = photo.shape[:2]
        per_photo.append(
            [
                photo[y : y + size, x : x + size]
                for y in range(40, h - size + 1, 67)
                for x in range(30, w - size + 1, 71)
            ]
        )
    crops = [c for pair in zip(*per_photo) for c in pair][:n]
    assert len(crops) == n
    return crops


def _stored_lr(hr, scale):
    """uint8 LR of a uint8 HR, as `prepare` stores it (any faithful downscale would do)."""
    lr = imresize(hr.astype(np.float64) / 255.0, 1.0 / scale)
    return np.round(np.clip(lr, 0.0, 1.0) * 255.0).astype(np.uint8)


@pytest.fixture(scope="module")
def shard_set(write_shards):
    """f(directory, sub_images, num_files, lr_scale=0): writes sub-images round-robin into
    num_files shards (stored LR + manifest.json with lr_scale) and returns
    (HR float32 [0, 1] arrays, LR float32 arrays or None, file index of each record)."""

    def make(directory, sub_images, num_files, lr_scale=0):
        write_shards(
            directory,
            sub_images,
            num_files=num_files,
            lr=lambda hr: _stored_lr(hr, lr_scale),
            lr_scale=lr_scale,
        )
        hrs = [hr.astype(np.float32) / np.float32(np.iinfo(hr.dtype).max) for hr in sub_images]
        lrs = (
            [_stored_lr(hr, lr_scale).astype(np.float32) / np.float32(255) for hr in sub_images]
            if lr_scale
            else None
        )
        return hrs, lrs, [i % num_files for i in range(len(sub_images))]

    return make


@pytest.fixture(scope="module")
def hr_only(tmp_path_factory, shard_set):
    directory = str(tmp_path_factory.mktemp("hr_only"))
    hrs, _, file_of = shard_set(directory, _photo_crops(8), num_files=2)
    return directory, hrs, file_of


@pytest.fixture(scope="module")
def with_lr(tmp_path_factory, shard_set):
    directory = str(tmp_path_factory.mktemp("with_lr"))
    hrs, lrs, _ = shard_set(directory, _photo_crops(6), num_files=2, lr_scale=4)
    return directory, hrs, lrs


def _config(shards, scale=4, **kwargs):
    """(TrainDataConfig, scale): the arguments of `pipeline.train_dataset`."""
    settings = dict(data=shards, hr_size=PATCH, batch_size=4, seed=3, shuffle_buffer=8)
    settings.update(kwargs)
    return TrainDataConfig(**settings), scale


def _batches(config, n, input_context=None):
    dataset = pipeline.train_dataset(*config, input_context)
    return [tuple(t.numpy() for t in batch) for batch in dataset.take(n)]


def _patches(config, n_batches, input_context=None):
    """(lr, hr) patch pairs of the first batches, unbatched."""
    return [
        (lr[b], hr[b])
        for lr, hr in _batches(config, n_batches, input_context)
        for b in range(lr.shape[0])
    ]


# ---------------------------------------------------------------------------------------
# Independent alignment checks
# ---------------------------------------------------------------------------------------


def _dihedral(image):
    """{(flip, k): image flipped left-right if flip, then rotated k x 90 degrees}: 8 arrays."""
    return {
        (flip, k): np.rot90(image[:, ::-1] if flip else image, k)
        for flip in (0, 1)
        for k in range(4)
    }


def _locate(patch, sub_images, step):
    """Every (sub-image i, symmetry t, y, x) with t(patch) == sub_images[i][y:y+n, x:x+n].

    Only y, x that are multiples of ``step`` are searched (the pipeline's scale-aligned crops).
    """
    n = patch.shape[0]
    hits = []
    for t, view in _dihedral(patch).items():
        for i, sub in enumerate(sub_images):
            windows = sliding_window_view(sub, (n, n, 3))[::step, ::step, 0]
            ys, xs = np.nonzero(np.all(windows == view, axis=(2, 3, 4)))
            hits += [(i, t, int(y) * step, int(x) * step) for y, x in zip(ys, xs)]
    return hits


def _transform_of(before, after):
    """The symmetries t with t(before) == after."""
    return {t for t, view in _dihedral(before).items() if np.array_equal(view, after)}


# ---------------------------------------------------------------------------------------
# Map functions: eagerly and inside tf.data
# ---------------------------------------------------------------------------------------


def _serialized_records(hrs_uint8, scale=0):
    out = []
    for hr in hrs_uint8:
        kwargs = {}
        if scale:
            kwargs = dict(lr_png=image_io.encode_png(_stored_lr(hr, scale)), lr_scale=scale)
        out.append(
            records.make_example(
                image_io.encode_png(hr), source="s", y=0, x=0, **kwargs
            ).SerializeToString()
        )
    return out


_SEEDS = np.array([[0, 0], [0, 1], [7, 5], [123, 456], [2, 99]], np.int64)


def _eager_and_tf_data(fn, serialized):
    """fn(parsed example, seed) for every (record, seed): eagerly, and mapped in tf.data."""
    pairs = [(s, seed) for s in serialized for seed in _SEEDS]
    eager = [fn(records.parse_example(tf.constant(s)), tf.constant(seed)) for s, seed in pairs]
    dataset = tf.data.Dataset.from_tensor_slices(
        ([s for s, _ in pairs], np.stack([seed for _, seed in pairs]))
    )
    dataset = dataset.map(lambda s, seed: fn(records.parse_example(s), seed))
    in_tf_data = list(dataset)
    assert len(eager) == len(in_tf_data)
    return eager, in_tf_data


def _assert_same(eager, in_tf_data):
    for a, b in zip(tf.nest.flatten(eager), tf.nest.flatten(in_tf_data)):
        assert a.dtype == b.dtype
        np.testing.assert_array_equal(a.numpy(), b.numpy())


def _assert_not_all_equal(outputs):
    first = tf.nest.flatten(outputs[0])[0].numpy()
    assert any(not np.array_equal(first, tf.nest.flatten(o)[0].numpy()) for o in outputs[1:]), (
        "every seed gave the same output: the comparison would prove nothing"
    )


@pytest.mark.parametrize("with_lr_crop", [True, False], ids=["with_lr", "hr_only"])
def test_random_crop_pair_eager_equals_tf_data(with_lr_crop):
    serialized = _serialized_records(_photo_crops(2), scale=4)

    def fn(example, seed):
        hr, lr = pipeline.random_crop_pair(
            example["hr"], example["lr"] if with_lr_crop else None, seed, PATCH, 4
        )
        return (hr, lr) if with_lr_crop else hr

    eager, in_tf_data = _eager_and_tf_data(fn, serialized)
    for e, d in zip(eager, in_tf_data):
        _assert_same(e, d)
    _assert_not_all_equal(eager)
    shapes = [(PATCH, PATCH, 3)] + ([(PATCH // 4, PATCH // 4, 3)] if with_lr_crop else [])
    assert [tuple(t.shape) for t in tf.nest.flatten(in_tf_data[0])] == shapes


def test_augment_pair_eager_equals_tf_data():
    serialized = _serialized_records(_photo_crops(2), scale=4)

    def fn(example, seed):
        return pipeline.augment_pair(example["hr"], example["lr"], seed)

    eager, in_tf_data = _eager_and_tf_data(fn, serialized)
    for e, d in zip(eager, in_tf_data):
        _assert_same(e, d)
    _assert_not_all_equal(eager)


@pytest.mark.slow
@pytest.mark.parametrize("with_stored_lr", [True, False], ids=["stored_lr", "lr_on_the_fly"])
@pytest.mark.parametrize("augment", [True, False], ids=["augment", "no_augment"])
def test_make_training_pair_eager_equals_tf_data(with_stored_lr, augment):
    serialized = _serialized_records(_photo_crops(2), scale=4)
    config, scale = _config("unused", augment=augment)

    def fn(example, seed):
        return pipeline.make_training_pair(example, seed, config, scale, with_stored_lr)

    eager, in_tf_data = _eager_and_tf_data(fn, serialized)
    for e, d in zip(eager, in_tf_data):
        # LR made on the fly is arithmetic; graph and eager kernels may differ in the last bit.
        np.testing.assert_allclose(
            e[0].numpy(), d[0].numpy(), rtol=0, atol=0 if with_stored_lr else 1e-6
        )
        np.testing.assert_array_equal(e[1].numpy(), d[1].numpy())
    _assert_not_all_equal([(hr, lr) for lr, hr in eager])


def test_augmentation_covers_the_8_symmetries_identically_on_lr_and_hr():
    rng = np.random.default_rng(0)
    hr = rng.random((8, 8, 3)).astype(np.float32)  # no symmetry: each transform is identifiable
    lr = rng.random((2, 2, 3)).astype(np.float32)
    seeds = np.stack([np.zeros(96, np.int64), np.arange(96)], axis=1)
    dataset = tf.data.Dataset.from_tensor_slices(seeds).map(
        lambda seed: pipeline.augment_pair(tf.constant(hr), tf.constant(lr), seed)
    )
    seen = set()
    for hr_out, lr_out in dataset:
        t_hr = _transform_of(hr, hr_out.numpy())
        t_lr = _transform_of(lr, lr_out.numpy())
        assert len(t_hr) == 1 and t_hr == t_lr
        seen |= t_hr
    assert seen == set(_dihedral(hr))


# ---------------------------------------------------------------------------------------
# LR/HR alignment through the whole pipeline
# ---------------------------------------------------------------------------------------


@pytest.mark.slow
@pytest.mark.parametrize("scale", [2, 3, 4])
def test_lr_on_the_fly_is_imresize_of_the_augmented_hr_patch(hr_only, scale):
    directory, hrs, _ = hr_only
    patches = _patches(_config(directory, scale=scale), n_batches=3)
    for lr, hr in patches:
        # Bicubic commutes with the square's symmetries, so a mismatched flip/rotation of LR and
        # HR would break this equality; the HR patch must also come from a sub-image.
        expected = np.clip(imresize(hr.astype(np.float64), 1.0 / scale), 0.0, 1.0)
        np.testing.assert_allclose(lr, expected, rtol=0, atol=1e-5)
        assert len(_locate(hr, hrs, scale)) == 1


def test_stored_lr_patch_is_the_matching_window_of_the_stored_lr(with_lr):
    directory, hrs, lrs = with_lr
    scale, n = 4, PATCH // 4
    symmetries = set()
    for lr, hr in _patches(_config(directory, scale=scale), n_batches=6):
        hits = _locate(hr, hrs, scale)
        assert len(hits) == 1, f"HR patch found {len(hits)} times in the sub-images"
        i, t, y, x = hits[0]
        window = lrs[i][y // scale : y // scale + n, x // scale : x // scale + n]
        np.testing.assert_array_equal(_dihedral(lr)[t], window)
        symmetries.add(t)
    assert len(symmetries) >= 4  # 24 patches, 8 equally likely symmetries


def test_manifest_at_another_scale_means_lr_on_the_fly(with_lr):
    directory, _, lrs = with_lr
    for lr, hr in _patches(_config(directory, scale=2), n_batches=1):
        expected = np.clip(imresize(hr.astype(np.float64), 0.5), 0.0, 1.0)
        np.testing.assert_allclose(lr, expected, rtol=0, atol=1e-5)


def test_use_stored_lr_false_makes_lr_on_the_fly(with_lr):
    directory, _, _ = with_lr
    lr, hr = _patches(_config(directory, use_stored_lr=False), n_batches=1)[0]
    np.testing.assert_allclose(
        lr, np.clip(imresize(hr.astype(np.float64), 0.25), 0, 1), rtol=0, atol=1e-5
    )
    # Stored LR is uint8-rounded; LR made on the fly from a 24x24 photo patch is not.
    assert not np.allclose(lr * 255, np.round(lr * 255), atol=1e-3)


# ---------------------------------------------------------------------------------------
# Colour augmentations (permute_channels, colour_affine)
# ---------------------------------------------------------------------------------------


def _photo_patch(size=PATCH):
    return skimage.data.coffee()[100 : 100 + size, 200 : 200 + size].astype(np.float32) / 255.0


def test_colour_affine_commutes_with_bicubic_downscaling():
    hr = _photo_patch()
    lr = imresize(hr.astype(np.float64), 0.25).astype(np.float32)  # unclipped, as the maps
    for i in range(10):
        hr2, lr2 = (t.numpy() for t in pipeline.colour_affine(hr, lr, [i, 1], probability=1.0))
        assert not np.allclose(hr2, hr, atol=1e-3)
        np.testing.assert_allclose(lr2, imresize(hr2.astype(np.float64), 0.25), atol=1e-5)


def test_colour_affine_maps_each_channel_of_the_unit_cube_into_itself():
    ends = np.array([[[0.0, 0.0, 0.0], [1.0, 1.0, 1.0]]], np.float32)  # 1x2 pixels
    applied, inverted, low_ends = 0, [], []
    for i in range(400):
        out, _ = pipeline.colour_affine(ends, None, [i, 7], probability=0.5)
        zero, one = out.numpy()[0]
        assert zero.min() >= 0.0 and one.max() <= 1.0 and zero.max() <= 1.0
        if np.array_equal(zero, ends[0, 0]) and np.array_equal(one, ends[0, 1]):
            continue
        applied += 1
        assert np.all((np.abs(one - zero) >= 0.5 - 1e-6) & (np.abs(one - zero) <= 1.0))
        inverted.extend(one < zero)
        low_ends.extend(np.minimum(zero, one))
    assert 160 <= applied <= 240  # binomial(400, 0.5): 5 standard deviations
    assert 0.4 <= np.mean(inverted) <= 0.6
    assert min(low_ends) < 0.02 and max(low_ends) > 0.4  # offsets span [0, 1 - contrast]


def test_colour_affine_probability_zero_is_identity_and_a_seed_fixes_the_map():
    hr = _photo_patch()
    same, _ = pipeline.colour_affine(hr, None, [5, 5], probability=0.0)
    np.testing.assert_array_equal(same.numpy(), hr)
    first, second = (pipeline.colour_affine(hr, None, [5, 6], 1.0)[0].numpy() for _ in range(2))
    np.testing.assert_array_equal(first, second)


def _channel_maps(before, after):
    """For each channel of `after`: (channel of `before`, a, b) with after = a before + b,
    least squares over the patch."""
    maps = []
    for c in range(after.shape[-1]):
        fits = []
        for source in range(before.shape[-1]):
            design = np.stack([before[..., source].ravel(), np.ones(before[..., 0].size)], 1)
            coefficients, residual, *_ = np.linalg.lstsq(design, after[..., c].ravel())
            fits.append((float(residual.sum()) if residual.size else 0.0, source, *coefficients))
        maps.append(min(fits)[1:])
    return maps


@pytest.mark.parametrize(
    "augmentation", [dict(permute_channels=True), dict(colour_affine=1.0)], ids=lambda a: [*a][0]
)
def test_colour_augmentations_map_lr_and_hr_alike_and_keep_the_crops(with_lr, augmentation):
    # The same seed with and without the colour augmentation: the same crops and flips, and
    # the HR map fitted per channel maps the stored LR window exactly as well.
    directory, _, _ = with_lr
    plain = _patches(_config(directory), n_batches=2)
    coloured = _patches(_config(directory, **augmentation), n_batches=2)
    changed = 0
    for (lr, hr), (lr2, hr2) in zip(plain, coloured):
        maps = _channel_maps(hr, hr2)
        for c, (source, a, b) in enumerate(maps):
            np.testing.assert_allclose(hr2[..., c], a * hr[..., source] + b, atol=1e-5)
            np.testing.assert_allclose(lr2[..., c], a * lr[..., source] + b, atol=1e-5)
        changed += not np.array_equal(hr, hr2)
        for image in (lr2, hr2):
            assert image.min() >= 0.0 and image.max() <= 1.0
    assert changed >= len(plain) // 2  # permutations: 5 of 6 orders change a photo patch


def test_colour_affine_outside_zero_one_is_refused():
    with pytest.raises(ValueError, match=r"colour_affine is a probability in \[0, 1\], got 1.5"):
        TrainDataConfig(data="x", colour_affine=1.5)


# ---------------------------------------------------------------------------------------
# Batches, reproducibility, bit depth
# ---------------------------------------------------------------------------------------


@pytest.mark.slow
@pytest.mark.parametrize("scale,hr_size", [(2, 24), (3, 24), (4, 24), (8, 48)])
def test_batch_shapes_dtype_and_range(hr_only, scale, hr_size):
    directory, _, _ = hr_only
    for lr, hr in _batches(_config(directory, scale=scale, hr_size=hr_size, batch_size=3), 2):
        assert lr.shape == (3, hr_size // scale, hr_size // scale, 3)
        assert hr.shape == (3, hr_size, hr_size, 3)
        assert lr.dtype == np.float32 and hr.dtype == np.float32
        for image in (lr, hr):
            assert image.min() >= 0.0 and image.max() <= 1.0


def test_dataset_element_spec_is_static(hr_only):
    directory, _, _ = hr_only
    lr_spec, hr_spec = pipeline.train_dataset(*_config(directory)).element_spec
    assert lr_spec.shape == (4, PATCH // 4, PATCH // 4, 3) and lr_spec.dtype == tf.float32
    assert hr_spec.shape == (4, PATCH, PATCH, 3) and hr_spec.dtype == tf.float32


def test_same_seed_same_batches_other_seed_other_batches(hr_only):
    directory, _, _ = hr_only
    first = _batches(_config(directory, seed=11), 4)
    again = _batches(_config(directory, seed=11), 4)
    other = _batches(_config(directory, seed=12), 4)
    for (lr_a, hr_a), (lr_b, hr_b) in zip(first, again):
        np.testing.assert_array_equal(hr_a, hr_b)
        np.testing.assert_array_equal(lr_a, lr_b)
    assert not all(np.array_equal(a[1], b[1]) for a, b in zip(first, other))


def test_16_bit_records_decode_to_the_right_values(tmp_path, shard_set):
    rng = np.random.default_rng(1)
    # Random 16-bit values use the low byte, which an 8-bit decode would lose.
    sixteen = [rng.integers(0, 65536, (PATCH, PATCH, 3)).astype(np.uint16) for _ in range(2)]
    shard_set(str(tmp_path), sixteen, num_files=1)
    config = _config(str(tmp_path), augment=False, batch_size=2)
    for lr, hr in _patches(config, n_batches=2):
        # The patch is the whole sub-image: it must be one of them, exactly, in [0, 1].
        assert any(np.array_equal(hr, (s / 65535.0).astype(np.float32)) for s in sixteen)
        np.testing.assert_allclose(
            lr, np.clip(imresize(hr.astype(np.float64), 0.25), 0, 1), rtol=0, atol=1e-5
        )


# ---------------------------------------------------------------------------------------
# Distribution: input_context sharding
# ---------------------------------------------------------------------------------------


def _context(i):
    return tf.distribute.InputContext(
        num_input_pipelines=2, input_pipeline_id=i, num_replicas_in_sync=2
    )


def _records_read(directory, hrs, input_context, n_batches):
    config = _config(directory, augment=False, batch_size=4, shuffle_buffer=2)
    seen = []
    for lr, hr in _batches(config, n_batches, input_context):
        assert lr.shape[0] == hr.shape[0] == 2  # per-replica share of the global batch of 4
        for patch in hr:
            hits = _locate(patch, hrs, 4)
            assert len(hits) == 1 and hits[0][1] == (0, 0)  # augment=False: no symmetry
            seen.append(hits[0][0])
    return set(seen)


def test_two_pipelines_read_disjoint_files(tmp_path, shard_set):
    hrs, _, file_of = shard_set(str(tmp_path), _photo_crops(8), num_files=4)
    # 4 records per pipeline; 4 batches of 2 = two passes over its share.
    seen = [_records_read(str(tmp_path), hrs, _context(i), n_batches=4) for i in range(2)]
    files = [{file_of[r] for r in s} for s in seen]
    assert files[0].isdisjoint(files[1])
    assert seen[0] | seen[1] == set(range(8))


def test_one_file_is_split_by_records(tmp_path, shard_set):
    hrs, _, _ = shard_set(str(tmp_path), _photo_crops(6), num_files=1)
    seen = [_records_read(str(tmp_path), hrs, _context(i), n_batches=3) for i in range(2)]
    assert seen[0].isdisjoint(seen[1])
    assert seen[0] | seen[1] == set(range(6))


def test_few_files_are_not_read_twice_at_once(hr_only):
    # 2 files, cycle_length 4: an epoch must still hold each record once, not 2-4 copies in a row.
    directory, hrs, _ = hr_only
    config = _config(directory, augment=False, batch_size=8, shuffle_buffer=1, cycle_length=4)
    ((_, hr),) = _batches(config, 1)
    assert sorted(_locate(p, hrs, 4)[0][0] for p in hr) == list(range(8))


# ---------------------------------------------------------------------------------------
# Errors
# ---------------------------------------------------------------------------------------


def test_no_shards_is_a_helpful_file_not_found(tmp_path):
    for shards in (str(tmp_path), str(tmp_path / "missing-*.tfrecord")):
        with pytest.raises(FileNotFoundError, match=r"no TFRecord shards.*esrgan_tf\.prepare"):
            pipeline.train_dataset(*_config(shards))


def test_sub_image_smaller_than_the_patch_is_a_clear_error(tmp_path, shard_set):
    shard_set(str(tmp_path), _photo_crops(2, size=16), num_files=1)
    message = r"smaller than the 24x24 patch size"
    with pytest.raises(tf.errors.InvalidArgumentError, match=message):
        next(iter(pipeline.train_dataset(*_config(str(tmp_path)))))
    with pytest.raises(tf.errors.InvalidArgumentError, match=message):
        pipeline.random_crop_pair(tf.zeros([16, 40, 3]), None, tf.constant([0, 0]), PATCH, 4)


@pytest.mark.parametrize("kwargs", [dict(hr_size=0), dict(batch_size=0)])
def test_bad_config_is_a_value_error(kwargs):
    with pytest.raises(ValueError):
        _config("unused", **kwargs)


@pytest.mark.parametrize("kwargs", [dict(hr_size=30, scale=4), dict(scale=5)])
def test_patch_size_not_a_multiple_of_the_scale_is_a_value_error(kwargs, tmp_path):
    with pytest.raises(ValueError, match="must be a multiple of scale"):
        pipeline.train_dataset(*_config(str(tmp_path), **kwargs))


# ---------------------------------------------------------------------------------------
# Checkpointing the iterator (the trainer resumes the data stream with the model)
# ---------------------------------------------------------------------------------------


@pytest.mark.slow
def test_restored_iterator_continues_with_the_same_batches(hr_only, tmp_path):
    directory, _, _ = hr_only
    config = _config(directory)
    iterator = iter(pipeline.train_dataset(*config))
    for _ in range(3):
        next(iterator)
    path = tf.train.Checkpoint(iterator=iterator).save(str(tmp_path / "ckpt"))
    expected = [next(iterator) for _ in range(3)]

    fresh = iter(pipeline.train_dataset(*config))
    from_start = [next(fresh) for _ in range(3)]
    restored = iter(pipeline.train_dataset(*config))
    tf.train.Checkpoint(iterator=restored).restore(path).assert_consumed()
    for (lr_e, hr_e), (lr_r, hr_r) in zip(expected, [next(restored) for _ in range(3)]):
        np.testing.assert_array_equal(hr_e.numpy(), hr_r.numpy())
        np.testing.assert_array_equal(lr_e.numpy(), lr_r.numpy())
    # Otherwise a restore that did nothing would pass too.
    assert not all(np.array_equal(e[1].numpy(), f[1].numpy()) for e, f in zip(expected, from_start))


# ---------------------------------------------------------------------------------------
# Real-ESRGAN degradation and USM targets
# ---------------------------------------------------------------------------------------

BIG_SUB, DEGRADED_PATCH = 88, 76  # the degradation needs >= 74 px HR at x4


def _degraded_config(directory, **kwargs):
    settings = dict(hr_size=DEGRADED_PATCH, batch_size=2, degradation="realesrgan", usm_target=True)
    return _config(directory, **{**settings, **kwargs})


@pytest.fixture(scope="module")
def degraded(tmp_path_factory, shard_set):
    """(sub-images, degraded dataset, the bicubic dataset of the same settings), flips only;
    one dataset for all tests (tracing the degradation takes seconds)."""
    directory = str(tmp_path_factory.mktemp("big_hr_only"))
    hrs, _, _ = shard_set(directory, _photo_crops(4, size=BIG_SUB), num_files=1)
    config = _degraded_config(directory, rotate=False, shuffle_buffer=4)
    bicubic = _config(directory, hr_size=DEGRADED_PATCH, batch_size=2, rotate=False)
    bicubic = (dataclasses.replace(bicubic[0], shuffle_buffer=4), bicubic[1])
    return hrs, pipeline.train_dataset(*config), pipeline.train_dataset(*bicubic)


def _numpy_batches(dataset, n):
    return [tuple(t.numpy() for t in batch) for batch in dataset.take(n)]


@pytest.mark.slow
def test_degraded_training_pair_eager_equals_tf_data():
    (serialized,) = _serialized_records(_photo_crops(1, size=BIG_SUB))
    config, scale = _degraded_config("unused")

    def fn(serialized, seed):
        example = records.parse_example(serialized)
        return pipeline.make_training_pair(example, seed, config, scale, False)

    seeds = _SEEDS[:2]
    eager = [fn(tf.constant(serialized), tf.constant(seed)) for seed in seeds]
    dataset = tf.data.Dataset.from_tensor_slices(seeds).map(lambda seed: fn(serialized, seed))
    in_tf_data = list(dataset)
    for e, d in zip(eager, in_tf_data, strict=True):
        # The HR side is pure indexing; the LR has been through FFT blurs, resizes and noise
        # and is rounded to 8 bits, where eager and graph kernels could round a level apart
        # (equal here on the CPU).
        np.testing.assert_array_equal(e[1].numpy(), d[1].numpy())
        np.testing.assert_allclose(e[2].numpy(), d[2].numpy(), rtol=0, atol=1e-5)
        np.testing.assert_allclose(e[0].numpy(), d[0].numpy(), rtol=0, atol=1.01 / 255)
    _assert_not_all_equal([(lr,) for lr, _, _ in eager])


@pytest.mark.slow
def test_degraded_stream_keeps_the_crops_flips_and_targets(degraded):
    hrs, dataset, bicubic = degraded
    scale, n = 4, DEGRADED_PATCH // 4
    batches = _numpy_batches(dataset, 3)
    for (lr, hr, hr_usm), (bicubic_lr, bicubic_hr) in zip(batches, _numpy_batches(bicubic, 3)):
        # The same crops and flips as the bicubic stream: only the LR is another one.
        np.testing.assert_array_equal(hr, bicubic_hr)
        assert lr.shape == bicubic_lr.shape == (2, n, n, 3)
        assert not np.allclose(lr, bicubic_lr, atol=2 / 255)
        # LR quantised to 8 bits, as Real-ESRGAN's `torch.clamp((out * 255).round(), 0, 255)`.
        np.testing.assert_allclose(lr * 255, np.round(lr * 255), rtol=0, atol=1e-3)
        for b in range(2):
            (_, (flip, k), _, _), *more = _locate(hr[b], hrs, scale)
            assert not more and k == 0  # rotate=False: flips only
            np.testing.assert_allclose(
                hr_usm[b], degradations.usm_sharpen(tf.constant(hr[b])).numpy(), atol=1e-6
            )
    # Sharpening changes the target (photo crops have edges above the 10/255 threshold).
    assert not np.allclose(batches[0][1], batches[0][2], atol=1e-3)


def test_usm_target_of_the_bicubic_stream(hr_only):
    directory, _, _ = hr_only
    config = _config(directory, hr_size=32, batch_size=2, usm_target=True)
    lr, hr, hr_usm = next(iter(pipeline.train_dataset(*config)))
    for b in range(2):
        np.testing.assert_allclose(
            lr[b].numpy(),
            np.clip(imresize(hr[b].numpy().astype(np.float64), 0.25), 0, 1),
            atol=1e-5,
        )
        np.testing.assert_allclose(
            hr_usm[b].numpy(), degradations.usm_sharpen(hr[b]).numpy(), atol=1e-6
        )


@pytest.mark.slow
def test_restored_degraded_iterator_continues_with_the_same_batches(degraded, tmp_path):
    _, dataset, _ = degraded
    iterator = iter(dataset)
    first = next(iterator)
    path = tf.train.Checkpoint(iterator=iterator).save(str(tmp_path / "ckpt"))
    expected = [next(iterator) for _ in range(2)]
    restored = iter(dataset)  # a new iterator: it starts at the beginning until restored
    tf.train.Checkpoint(iterator=restored).restore(path).assert_consumed()
    for e, r in zip(expected, [next(restored) for _ in range(2)]):
        for a, b in zip(e, r):
            np.testing.assert_array_equal(a.numpy(), b.numpy())
    # A restore that did nothing would start again with the first batch.
    assert not np.array_equal(first[0].numpy(), expected[0][0].numpy())


@pytest.mark.parametrize(
    "kwargs,message",
    [
        (dict(degradation="realesrgan", hr_size=72), "at least 74 px at x4"),
        (dict(usm_target=True, hr_size=24), "larger than 25 px"),
    ],
)
def test_patches_too_small_for_the_degradation_or_usm(hr_only, kwargs, message):
    with pytest.raises(ValueError, match=message):
        pipeline.train_dataset(*_config(hr_only[0], **kwargs))


def test_unknown_degradation_is_a_value_error():
    with pytest.raises(ValueError, match="degradation must be one of"):
        TrainDataConfig(data="s", degradation="bsrgan")
