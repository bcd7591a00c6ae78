"""Tests for esrgan_tf.training.validation: NIQE beside PSNR/SSIM, and validation images too
small for it (no NaN scalar, one clear sentence). Golden values: `esrgan_tf.metrics.niqe.niqe` and
`esrgan_tf.metrics` recomputed here on the generator's output."""

import glob

import numpy as np
import pytest
import skimage.data
import tensorflow as tf

from esrgan_tf.data.image_pairs import ImagePair
from esrgan_tf.data.imresize import imresize
from esrgan_tf.metrics import niqe, psnr_ssim
from esrgan_tf.training import validation


def pair(name, photo, y, x, h, w):
    hr = getattr(skimage.data, photo)()[y : y + h, x : x + w].astype(np.float32) / 255
    return ImagePair(name, np.clip(imresize(hr, 0.25), 0, 1).astype(np.float32), hr)


def summary_tags(folder):
    return {
        v.tag
        for path in glob.glob(f"{folder}/events.*")
        for event in tf.compat.v1.train.summary_iterator(path)
        for v in event.summary.value
    }


def test_niqe_is_scored_beside_psnr_and_tiny_images_are_left_out(
    tmp_path, tiny_model, make_generator
):
    generator = make_generator(tiny_model)
    big = pair("big", "astronaut", 40, 100, 108, 208)  # two 96x96 blocks after the crop of 4
    tiny = pair("tiny", "chelsea", 60, 150, 44, 60)
    result = validation.evaluate(generator, [big, tiny], 4)
    sr = result["outputs"]["big"]
    np.testing.assert_array_equal(
        sr, np.clip(np.asarray(generator(big.lr[None], training=False))[0], 0, 1)
    )
    per_image = dict(result["per_image"])
    assert per_image["big"]["niqe"] == pytest.approx(niqe.niqe(sr, 4), abs=1e-9)
    assert per_image["tiny"]["niqe"] is None
    assert result["mean"]["niqe"] == per_image["big"]["niqe"]  # over the images that have it
    psnrs = [psnr_ssim.psnr(result["outputs"][p.name], p.hr, 4) for p in (big, tiny)]
    assert result["mean"]["psnr_y"] == pytest.approx(np.mean(psnrs), abs=1e-9)
    bicubic = validation.evaluate_bicubic([big], 4)["mean"]["niqe"]
    assert bicubic == pytest.approx(niqe.niqe(np.clip(imresize(big.lr, 4.0), 0, 1), 4), abs=1e-9)
    assert validation.niqe_note([big, tiny], 4) == (
        "NIQE needs two 96x96 blocks, at least 96x192 pixels after the crop of 4: none for "
        "tiny; the mean is over the other 1 image."
    )
    assert validation.niqe_note([big], 4) == ""

    # Only tiny images: NIQE is left out of the summaries instead of written as NaN.
    only_tiny = validation.evaluate(generator, [tiny], 4)
    assert only_tiny["mean"]["niqe"] is None
    writer = tf.summary.create_file_writer(str(tmp_path))
    validation.write_summaries(writer, 1, only_tiny, grid_images=0)
    writer.flush()
    tags = summary_tags(tmp_path)
    assert "val/psnr_y" in tags and "val/niqe" not in tags
