"""`python -m esrgan_tf.upscale`: end to end (files, a glob, a broken file, a quiet console),
and its outcomes through `main`."""

import io
import os
import re

import numpy as np
from PIL import Image
import pytest

from esrgan_tf import cli, upscale
from esrgan_tf.inference.config import Tiling, UpscaleConfig
from esrgan_tf.inference.tiling import tile_upscale

ARCH = ["--num_feat=8", "--num_block=1", "--num_grow_ch=4", "--scale=4"]


def pil_bytes(array, mode, fmt="PNG"):
    buffer = io.BytesIO()
    Image.fromarray(array, mode).save(buffer, format=fmt)
    return buffer.getvalue()


@pytest.mark.slow
def test_cli_end_to_end(tmp_path, tiny_model, make_generator, run_command):
    rrdbnet = make_generator(tiny_model, seed=1)
    weights = tmp_path / "g.weights.h5"
    rrdbnet.save_weights(str(weights))
    src = tmp_path / "in"
    src.mkdir()
    image = np.random.default_rng(0).integers(0, 256, (20, 12, 3), dtype=np.uint8)
    (src / "a.png").write_bytes(pil_bytes(image, "RGB"))
    (src / "b.jpg").write_bytes(pil_bytes(image, "RGB", "JPEG"))
    (src / "broken.png").write_bytes(b"\x89PNG garbage")
    out = tmp_path / "out"
    result = run_command(
        "esrgan_tf.upscale",
        f"--weights={weights}",
        f"--input={src / 'a.png'},{src / '*.jpg'},{src / 'broken.png'}",
        f"--output_dir={out}",
        "--tile=8",
        "--tile_pad=4",
        "--noprogress",
        *ARCH,
        env={"TF_CPP_MIN_LOG_LEVEL": None},  # the command quiets TensorFlow itself
    )
    assert result.returncode == 1, result.stderr[-3000:]
    failed = [line for line in result.stderr.splitlines() if line.startswith("FAILED")]
    assert len(failed) == 1 and "broken.png" in failed[0], result.stderr[-3000:]
    assert "2 written" in result.stderr and "1 failed" in result.stderr
    assert sorted(os.listdir(out)) == ["a_x4.png", "b_x4.png"]
    # A quiet console: no TensorFlow / absl INFO or WARNING lines (they need --verbose).
    info = [line for line in result.stderr.splitlines() if re.match(r"[IWE]\d{4} ", line)]
    assert info == [], info
    # The saved file is the library's output rounded by metrics.to_uint8.
    expected = tile_upscale(rrdbnet, image.astype(np.float32) / 255, 4, Tiling())
    saved = np.asarray(Image.open(out / "a_x4.png"))
    np.testing.assert_array_equal(saved, np.floor(np.clip(expected, 0, 1) * 255 + 0.5))


def test_all_good_is_status_0_and_another_architecture_a_clear_error(
    tmp_path, tiny_model, make_generator
):
    weights = tmp_path / "g.weights.h5"
    make_generator(tiny_model).save_weights(str(weights))
    image = np.random.default_rng(0).integers(0, 256, (12, 10, 3), dtype=np.uint8)
    (tmp_path / "a.png").write_bytes(pil_bytes(image, "RGB"))
    args = [f"--weights={weights}", f"--input={tmp_path / 'a.png'}", "--noprogress"]
    out = tmp_path / "out"
    config = cli.parse(
        UpscaleConfig, [*args, *ARCH, f"--output_dir={out}", "--outscale=2", "--ext=webp"]
    )
    assert upscale.main(config) == 0
    assert sorted(os.listdir(out)) == ["a_x2.webp"]
    with Image.open(out / "a_x2.webp") as written:
        assert written.size == (20, 24)
    wrong = ["--num_feat=8", "--num_block=2", "--num_grow_ch=4", "--suffix=_wrong"]
    with pytest.raises(ValueError, match="different architecture"):
        upscale.main(cli.parse(UpscaleConfig, [*args, *wrong, f"--output_dir={out}"]))
    assert sorted(os.listdir(out)) == ["a_x2.webp"]
