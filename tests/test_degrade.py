"""`python -m esrgan_tf.degrade` end to end on scikit-image photos: the grid's layout, its HR
panels, nearest-upscaled LR panels, the per-sample descriptions, and skipped inputs."""

import os

import numpy as np
import pytest
import skimage.data
import tensorflow as tf

from esrgan_tf.data import degradation_grid, degradations, image_io

CROP, SAMPLES, GAP = 80, 2, degradation_grid.GAP


@pytest.mark.slow
def test_grid_of_degraded_samples(tmp_path, run_command):
    photos = {
        "astronaut.png": skimage.data.astronaut()[100:220, 150:300],
        "chelsea.png": skimage.data.chelsea()[:96, 100:196],
        "tiny.png": skimage.data.coffee()[:40, :40],  # below the degradation's 74 px
    }
    for name, pixels in photos.items():
        image_io.write_png(str(tmp_path / name), np.ascontiguousarray(pixels))
    output = tmp_path / "grid.png"
    result = run_command(
        "esrgan_tf.degrade",
        f"--input={tmp_path}",
        f"--output={output}",
        f"--samples={SAMPLES}",
        f"--crop_size={CROP}",
        "--seed=3",
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert "skipped" in result.stderr and "tiny.png" in result.stderr
    assert result.stdout.count("sample ") == 2 * SAMPLES and "jpeg" in result.stdout

    grid = image_io.read_image(str(output))
    assert grid.shape == (2 * CROP + GAP, (1 + SAMPLES) * CROP + SAMPLES * GAP, 3)
    panel = CROP + GAP
    for row, name in enumerate(("astronaut.png", "chelsea.png")):  # sorted, as listed
        cells = [
            grid[row * panel : row * panel + CROP, k * panel : k * panel + CROP]
            for k in range(1 + SAMPLES)
        ]
        photo = photos[name].astype(np.float32) / 255
        top, left = (photo.shape[0] - CROP) // 2, (photo.shape[1] - CROP) // 2
        np.testing.assert_allclose(cells[0], photo[top : top + CROP, left : left + CROP], atol=1e-6)
        for up in cells[1:]:
            blocks = up.reshape(CROP // 4, 4, CROP // 4, 4, 3)
            assert np.all(blocks == blocks[:, :1, :, :1])  # each LR pixel a 4x4 block
            assert np.abs(up - cells[0]).mean() > 1 / 255
        assert not np.array_equal(cells[1], cells[2])
    assert np.all(grid[CROP : CROP + GAP] == 1.0)  # the white gap between rows

    # The first sample of the first photo is `degrade` of its crop with that sample's seed.
    hr = tf.constant(photos["astronaut.png"].astype(np.float32) / 255)
    hr = hr[20 : 20 + CROP, 35 : 35 + CROP]
    lr, _ = degradations.degrade(hr, degradation_grid.sample_seed(3, 0, 0), 4)
    np.testing.assert_allclose(grid[:CROP:4, panel : panel + CROP : 4], lr.numpy(), atol=1e-6)
    assert not os.path.exists(str(output) + ".tmp")
