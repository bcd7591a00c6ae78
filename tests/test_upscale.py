"""`python -m esrgan_tf.upscale` end to end: files, a glob, a broken file, a wrong model."""

import io
import os
import re
import subprocess
import sys

import numpy as np
from PIL import Image

from esrgan_tf.inference.config import Tiling
from esrgan_tf.inference.tiling import tile_upscale


def pil_bytes(array, mode, fmt="PNG"):
    buffer = io.BytesIO()
    Image.fromarray(array, mode).save(buffer, format=fmt)
    return buffer.getvalue()


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
    arch = ["--num_feat=8", "--num_block=1", "--num_grow_ch=4", "--scale=4"]
    result = run_command(
        "esrgan_tf.upscale",
        f"--weights={weights}",
        f"--input={src / 'a.png'},{src / '*.jpg'},{src / 'broken.png'}",
        f"--output_dir={out}",
        "--tile=8",
        "--tile_pad=4",
        "--noprogress",
        *arch,
    )
    assert result.returncode == 1, result.stderr[-3000:]
    failed = [line for line in result.stderr.splitlines() if line.startswith("FAILED")]
    assert len(failed) == 1 and "broken.png" in failed[0], result.stderr[-3000:]
    assert "2 written" in result.stderr and "1 failed" in result.stderr
    assert sorted(os.listdir(out)) == ["a_x4.png", "b_x4.png"]
    # The saved file is the library's output rounded by metrics.to_uint8.
    expected = tile_upscale(rrdbnet, image.astype(np.float32) / 255, 4, Tiling())
    saved = np.asarray(Image.open(out / "a_x4.png"))
    np.testing.assert_array_equal(saved, np.floor(np.clip(expected, 0, 1) * 255 + 0.5))

    # All good -> exit 0; a mismatching architecture is one clear error.
    again = run_command(
        "esrgan_tf.upscale",
        f"--weights={weights}",
        f"--input={src / 'a.png'}",
        f"--output_dir={out}",
        "--suffix=_again",
        *arch,
    )
    assert again.returncode == 0, again.stderr[-2000:]
    assert (out / "a_again.png").exists()
    wrong = run_command(
        "esrgan_tf.upscale",
        f"--weights={weights}",
        f"--input={src / 'a.png'}",
        f"--output_dir={out}",
        "--num_feat=8",
        "--num_block=2",
        "--num_grow_ch=4",
        "--suffix=_wrong",
    )
    assert wrong.returncode == 1 and "different architecture" in wrong.stderr
    assert not (out / "a_wrong.png").exists()


def test_console_is_quiet_unless_verbose(tmp_path, tiny_model, make_generator, repo_root):
    """No TensorFlow / absl INFO lines around the results (they need --verbose)."""
    weights = tmp_path / "g.weights.h5"
    make_generator(tiny_model).save_weights(str(weights))
    image = np.random.default_rng(0).integers(0, 256, (12, 10, 3), dtype=np.uint8)
    (tmp_path / "a.png").write_bytes(pil_bytes(image, "RGB"))
    args = [
        sys.executable,
        "-m",
        "esrgan_tf.upscale",
        f"--weights={weights}",
        f"--input={tmp_path / 'a.png'}",
        f"--output_dir={tmp_path / 'out'}",
        "--noprogress",
        "--num_feat=8",
        "--num_block=1",
        "--num_grow_ch=4",
        "--outscale=2",
        "--ext=webp",
    ]
    env = {k: v for k, v in os.environ.items() if k != "TF_CPP_MIN_LOG_LEVEL"}
    env["PYTHONPATH"] = repo_root
    quiet = subprocess.run(
        args, capture_output=True, text=True, env=env, cwd=repo_root, timeout=300, check=False
    )
    assert quiet.returncode == 0, quiet.stderr[-2000:]
    info = [line for line in quiet.stderr.splitlines() if re.match(r"[IW]\d{4} ", line)]
    assert info == [], info
    assert "upscale: 1 written" in quiet.stderr
    assert sorted(os.listdir(tmp_path / "out")) == ["a_x2.webp"]
    with Image.open(tmp_path / "out" / "a_x2.webp") as out:
        assert out.size == (20, 24)
