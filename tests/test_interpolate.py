"""`python -m esrgan_tf.interpolate` end to end: weights, a strip, and a bad alpha."""

import os

import numpy as np
from PIL import Image
import skimage.data

from esrgan_tf.data import image_io
from esrgan_tf.inference.interpolation import STRIP_GAP
from esrgan_tf.inference.weights import h5_arrays

ARCH_FLAGS = ["--num_feat=8", "--num_block=1", "--num_grow_ch=4", "--scale=4"]


def test_cli_end_to_end(tmp_path, tiny_model, make_generator, run_command):
    psnr, gan = str(tmp_path / "psnr.weights.h5"), str(tmp_path / "gan.weights.h5")
    make_generator(tiny_model, seed=1).save_weights(psnr)
    make_generator(tiny_model, seed=2).save_weights(gan)
    image = str(tmp_path / "lr.png")
    image_io.write_png(image, np.ascontiguousarray(skimage.data.astronaut()[100:112, 180:196]))
    out, strip = str(tmp_path / "blend.weights.h5"), str(tmp_path / "strip.png")
    result = run_command(
        "esrgan_tf.interpolate",
        f"--psnr={psnr}",
        f"--gan={gan}",
        "--alpha=0.5",
        f"--output={out}",
        "--alphas=0,1",
        f"--image={image}",
        f"--strip={strip}",
        *ARCH_FLAGS,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    p, g, got = h5_arrays(psnr), h5_arrays(gan), h5_arrays(out)
    for key, value in got.items():
        np.testing.assert_allclose(
            value, 0.5 * p[key].astype(np.float64) + 0.5 * g[key], rtol=1e-6, atol=1e-8
        )
    assert np.asarray(Image.open(strip)).shape == (48, 2 * 64 + STRIP_GAP, 3)

    bad = run_command(
        "esrgan_tf.interpolate",
        f"--psnr={psnr}",
        f"--gan={gan}",
        "--alpha=2",
        f"--output={tmp_path / 'bad.weights.h5'}",
        *ARCH_FLAGS,
    )
    assert bad.returncode == 1 and "alpha must be in" in bad.stderr
    assert "Traceback" not in bad.stderr
    assert not os.path.exists(tmp_path / "bad.weights.h5")
