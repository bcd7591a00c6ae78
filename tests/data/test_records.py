"""Tests for the TFRecord schema: make_example → parse_example, eagerly and inside tf.data."""

import numpy as np
import pytest
import tensorflow as tf

from esrgan_tf.data import image_io, records


def _pixels(shape, dtype, seed=0):
    peak = np.iinfo(dtype).max
    return np.random.default_rng(seed).integers(0, peak + 1, shape, dtype=np.int64).astype(dtype)


def _serialized(hr, lr=None, scale=0, **kwargs):
    example = records.make_example(
        image_io.encode_png(hr),
        source=kwargs.pop("source", "folder/a.png"),
        y=kwargs.pop("y", 7),
        x=kwargs.pop("x", 3),
        lr_png=None if lr is None else image_io.encode_png(lr),
        lr_scale=scale,
    )
    return example.SerializeToString()


def _parse_in_tf_data(serialized):
    dataset = tf.data.Dataset.from_tensors(serialized).map(records.parse_example)
    return next(iter(dataset))


@pytest.mark.parametrize(
    "parse", [records.parse_example, _parse_in_tf_data], ids=["eager", "tf.data"]
)
@pytest.mark.parametrize("dtype", [np.uint8, np.uint16])
def test_round_trip_without_lr(parse, dtype):
    hr = _pixels((6, 10, 3), dtype)
    parsed = parse(_serialized(hr, source="DIV2K/0001.png", y=240, x=480))
    peak = np.iinfo(dtype).max
    assert parsed["hr"].dtype == tf.float32
    assert parsed["hr"].shape == (6, 10, 3)
    # Exact: k * 257 / 65535 == k / 255 for 8-bit, computed in float32 either way.
    np.testing.assert_array_equal(parsed["hr"].numpy(), (hr / peak).astype(np.float32))
    assert parsed["bit_depth"].numpy() == 8 * np.dtype(dtype).itemsize
    assert (parsed["hr_height"].numpy(), parsed["hr_width"].numpy()) == (6, 10)
    assert (parsed["y"].numpy(), parsed["x"].numpy()) == (240, 480)
    assert parsed["source"].numpy() == b"DIV2K/0001.png"
    assert parsed["lr_scale"].numpy() == 0
    assert parsed["lr"].shape == (0, 0, 3) and parsed["lr"].dtype == tf.float32


@pytest.mark.parametrize(
    "parse", [records.parse_example, _parse_in_tf_data], ids=["eager", "tf.data"]
)
@pytest.mark.parametrize("dtype", [np.uint8, np.uint16])
def test_round_trip_with_lr(parse, dtype):
    hr, lr = _pixels((12, 8, 3), dtype, seed=1), _pixels((3, 2, 3), dtype, seed=2)
    parsed = parse(_serialized(hr, lr, scale=4))
    peak = np.iinfo(dtype).max
    np.testing.assert_array_equal(parsed["lr"].numpy(), (lr / peak).astype(np.float32))
    np.testing.assert_array_equal(parsed["hr"].numpy(), (hr / peak).astype(np.float32))
    assert parsed["lr_scale"].numpy() == 4


def test_feature_names_are_the_documented_schema():
    # Built by hand with the literal names, so a renamed constant breaks this test.
    hr = _pixels((4, 6, 3), np.uint8)

    def feature(value):
        if isinstance(value, bytes):
            return tf.train.Feature(bytes_list=tf.train.BytesList(value=[value]))
        return tf.train.Feature(int64_list=tf.train.Int64List(value=[value]))

    values = {
        "hr": image_io.encode_png(hr),
        "hr_height": 4,
        "hr_width": 6,
        "bit_depth": 8,
        "source": b"x.png",
        "y": 1,
        "x": 2,
    }
    example = tf.train.Example(
        features=tf.train.Features(feature={k: feature(v) for k, v in values.items()})
    )
    parsed = records.parse_example(example.SerializeToString())
    assert parsed["lr_scale"].numpy() == 0  # optional features default to "no LR"
    np.testing.assert_array_equal(np.round(parsed["hr"].numpy() * 255), hr)
    made = records.make_example(values["hr"], source="x.png", y=1, x=2)
    assert set(made.features.feature) == set(values) | {"lr_scale"}
    assert (
        records.HR,
        records.HR_HEIGHT,
        records.HR_WIDTH,
        records.BIT_DEPTH,
        records.SOURCE,
        records.Y,
        records.X,
        records.LR,
        records.LR_SCALE,
    ) == ("hr", "hr_height", "hr_width", "bit_depth", "source", "y", "x", "lr", "lr_scale")


def test_parse_fails_loudly_when_the_stored_size_is_wrong():
    example = records.make_example(
        image_io.encode_png(_pixels((4, 6, 3), np.uint8)), source="x.png", y=0, x=0
    )
    example.features.feature["hr_height"].int64_list.value[0] = 5
    with pytest.raises(tf.errors.InvalidArgumentError):
        records.parse_example(example.SerializeToString())


def test_make_example_rejects_inconsistent_lr():
    hr = image_io.encode_png(_pixels((8, 8, 3), np.uint8))
    lr = image_io.encode_png(_pixels((4, 4, 3), np.uint8))
    lr16 = image_io.encode_png(_pixels((2, 2, 3), np.uint16))
    with pytest.raises(ValueError, match="LR PNG"):
        records.make_example(hr, source="a", y=0, x=0, lr_png=lr, lr_scale=4)  # wrong size
    with pytest.raises(ValueError, match="LR PNG"):
        records.make_example(hr, source="a", y=0, x=0, lr_png=lr16, lr_scale=4)  # 16 vs 8 bit
    with pytest.raises(ValueError, match="together"):
        records.make_example(hr, source="a", y=0, x=0, lr_png=lr)
    with pytest.raises(ValueError, match="not a PNG"):
        records.make_example(b"GIF89a...", source="a", y=0, x=0)
