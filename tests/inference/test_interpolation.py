"""Tests for esrgan_tf.inference.interpolation (network interpolation, ESRGAN §3.4).

Golden values: the paper's formula (1 - a) p + a g written out here in float64 on
the raw arrays of the .weights.h5 files, read with h5py, not through the module.
"""

import csv
import dataclasses
import os
import sys

import numpy as np
from PIL import Image
import pytest
import skimage.data

from esrgan_tf.data.imresize import imresize
from esrgan_tf.formats import generators
from esrgan_tf.formats.keras import h5_arrays
from esrgan_tf.inference import interpolation as interp
from esrgan_tf.inference.config import Tiling
from esrgan_tf.inference.tiling import tile_upscale
from esrgan_tf.metrics import niqe, psnr_ssim
from esrgan_tf.models.builders import built_generator


def make_model(config, seed=0, negative_zero=False):
    model = built_generator(config)
    rng = np.random.default_rng(seed)
    values = [(0.1 * rng.standard_normal(v.shape)).astype(np.float32) for v in model.weights]
    if negative_zero:  # (1 - 0) * -0.0 + 0 * g == +0.0: endpoints must be copies
        values[0].flat[0] = -0.0
    model.set_weights(values)
    return model


def save(model, path):
    model.save_weights(str(path))
    return str(path)


@pytest.fixture(name="pair")
def _pair(tmp_path, tiny_model):
    psnr = save(make_model(tiny_model, seed=1, negative_zero=True), tmp_path / "psnr.weights.h5")
    gan = save(make_model(tiny_model, seed=2), tmp_path / "gan.weights.h5")
    return psnr, gan


def assert_bitwise_equal(a, b):
    assert a.keys() == b.keys()
    for key in a:
        assert a[key].dtype == b[key].dtype and a[key].shape == b[key].shape, key
        assert a[key].tobytes() == b[key].tobytes(), key


@pytest.mark.slow
@pytest.mark.parametrize("alpha,source", [(0.0, 0), (1.0, 1)])
def test_endpoints_reproduce_inputs_bitwise(pair, tmp_path, alpha, source, tiny_model):
    out = str(tmp_path / "out.weights.h5")
    interp.interpolate_files(*pair, alpha, out, tiny_model.architecture())
    assert_bitwise_equal(h5_arrays(out), h5_arrays(pair[source]))


def test_negative_zero_survives_alpha_zero(pair, tmp_path, tiny_model):
    out = str(tmp_path / "out.weights.h5")
    interp.interpolate_files(*pair, 0.0, out, tiny_model.architecture())
    model = generators.load(out, tiny_model.architecture()).model
    assert np.signbit(model.weights[0].numpy().flat[0])


def test_alpha_0_3_is_the_formula(pair, tmp_path, tiny_model):
    out = str(tmp_path / "out.weights.h5")
    interp.interpolate_files(*pair, 0.3, out, tiny_model.architecture())
    p, g, got = h5_arrays(pair[0]), h5_arrays(pair[1]), h5_arrays(out)
    assert got.keys() == p.keys() and len(got) == 42
    for key, value in got.items():
        expected = 0.7 * p[key].astype(np.float64) + 0.3 * g[key].astype(np.float64)
        np.testing.assert_allclose(value, expected, rtol=1e-6, atol=1e-8, err_msg=key)
        assert not np.allclose(value, p[key]) and not np.allclose(value, g[key])


def test_interpolate_weights_in_memory_order(tiny_model):
    psnr, gan = make_model(tiny_model, seed=3), make_model(tiny_model, seed=4)
    blended = interp.interpolate_weights(psnr, gan, 0.25)
    for value, vp, vg in zip(blended, psnr.weights, gan.weights):
        np.testing.assert_allclose(
            value, 0.75 * vp.numpy().astype(np.float64) + 0.25 * vg.numpy(), rtol=1e-6, atol=1e-8
        )


@pytest.mark.slow
@pytest.mark.parametrize("alpha", [-0.1, 1.5, float("nan")])
def test_alpha_outside_unit_interval(pair, tmp_path, alpha, tiny_model):
    out = tmp_path / "out.weights.h5"
    with pytest.raises(ValueError, match="alpha must be in"):
        interp.interpolate_files(*pair, alpha, str(out), tiny_model.architecture())
    with pytest.raises(ValueError, match="alpha must be in"):
        interp.interpolate_weights(make_model(tiny_model), make_model(tiny_model, seed=1), alpha)
    assert set(os.listdir(tmp_path)) == {"psnr.weights.h5", "gan.weights.h5"}


def test_different_depth_names_the_variable(tiny_model):
    deeper = dataclasses.replace(tiny_model, num_block=2)
    with pytest.raises(ValueError, match=r"conv_body/kernel.*rrdb_1") as err:
        interp.interpolate_weights(make_model(tiny_model), make_model(deeper), 0.5)
    # By hand: 2 variables per conv; 15 convs per RRDB; 6 convs outside (first, body,
    # 2 upsampling, hr, last): 12 + 30 * num_block.
    assert "42 vs 72 variables" in str(err.value)


def test_different_width_names_the_variable_and_shapes(tiny_model):
    wider = dataclasses.replace(tiny_model, num_feat=16)
    with pytest.raises(ValueError) as err:
        interp.interpolate_weights(make_model(tiny_model), make_model(wider), 0.5)
    message = str(err.value)
    assert "conv_first/kernel (3, 3, 3, 8)" in message
    assert "conv_first/kernel (3, 3, 3, 16)" in message


@pytest.mark.parametrize("other", [dict(num_block=2), dict(num_feat=16)])
def test_mismatched_files_leave_no_output(tmp_path, other, tiny_model):
    psnr = save(make_model(tiny_model), tmp_path / "psnr.weights.h5")
    gan = save(make_model(dataclasses.replace(tiny_model, **other)), tmp_path / "gan.weights.h5")
    out = tmp_path / "out.weights.h5"
    with pytest.raises(ValueError):
        interp.interpolate_files(psnr, gan, 0.5, str(out), tiny_model.architecture())
    assert set(os.listdir(tmp_path)) == {"psnr.weights.h5", "gan.weights.h5"}


def write_photo(path, size=(20, 24)):
    """A crop of a real photo (skimage's astronaut), h x w = size."""
    Image.fromarray(skimage.data.astronaut()[100 : 100 + size[0], 180 : 180 + size[1]]).save(path)
    return str(path)


@pytest.mark.slow
def test_comparison_strip_layout_and_endpoint(pair, tmp_path, tiny_model, panel_offsets):
    image = write_photo(tmp_path / "lr.png")
    alphas = (0.0, 0.5, 1.0)
    out = str(tmp_path / "strip.png")
    tiling = Tiling(tile=16, tile_pad=4)
    strip = interp.comparison_strip(*pair, alphas, image, out, tiny_model.architecture(), tiling)
    assert np.array_equal(np.asarray(Image.open(out)), strip)
    lr = np.asarray(Image.open(image), np.float32) / 255.0
    ends = []
    for path in pair:
        model = generators.load(path, tiny_model.architecture()).model
        sr = np.clip(tile_upscale(model, lr, 4, tiling), 0, 1).astype(np.float64)
        ends.append(np.floor(sr * 255 + 0.5).astype(np.uint8))
    assert not np.array_equal(*ends)
    # Alpha 0 is the PSNR model and alpha 1 the GAN model, pixel for pixel, in that order;
    # the 80x96 panels have only their alpha as a title (no HR; too small for NIQE).
    offsets = panel_offsets(strip, [ends[0], ends[1]])
    assert offsets[1] - offsets[0] >= 2 * (96 + interp.STRIP_GAP)
    assert strip.shape[0] > 80 and np.any(strip[: strip.shape[0] - 80] < 128)
    # With the photo's HR, the HR is the last panel.
    hr = tmp_path / "hr.png"
    Image.fromarray(skimage.data.astronaut()[:81, :98]).save(hr)  # mod-cropped to 80x96
    with_hr = interp.comparison_strip(
        *pair, (0.0,), image, out, tiny_model.architecture(), tiling, hr_path=str(hr)
    )
    panel_offsets(with_hr, [ends[0], skimage.data.astronaut()[:80, :96]])
    Image.fromarray(skimage.data.astronaut()[:90, :96]).save(hr)
    with pytest.raises(ValueError, match=r"--image_hr .* is 96x90, but x4 of --image is 96x80"):
        interp.comparison_strip(
            *pair, (0.0,), image, out, tiny_model.architecture(), tiling, hr_path=str(hr)
        )


def test_denoise_strength_blends_the_general_model_with_its_twin(tmp_path):
    """Real-ESRGAN's -dn: theta = dn * general + (1 - dn) * wdn, with the twin found by name."""
    from safetensors.numpy import save_file  # pylint: disable=import-outside-toplevel

    def compact(seed):
        r = np.random.default_rng(seed)
        return {
            "body.0.weight": r.normal(size=(4, 3, 3, 3)).astype(np.float32),
            "body.0.bias": r.normal(size=4).astype(np.float32),
            "body.1.weight": r.uniform(size=4).astype(np.float32),
            "body.2.weight": r.normal(size=(4, 4, 3, 3)).astype(np.float32),
            "body.2.bias": r.normal(size=4).astype(np.float32),
            "body.3.weight": r.uniform(size=4).astype(np.float32),
            "body.4.weight": r.normal(size=(48, 4, 3, 3)).astype(np.float32),
            "body.4.bias": r.normal(size=48).astype(np.float32),
        }

    general, wdn = compact(1), compact(2)
    save_file(general, str(tmp_path / "realesr-general-x4v3.safetensors"))
    save_file(wdn, str(tmp_path / "realesr-general-wdn-x4v3.safetensors"))
    path = str(tmp_path / "realesr-general-x4v3.safetensors")
    model, config = interp.denoise_blend(path, 0.3)
    assert config.generator == "srvgg" and config.num_conv == 1
    # By hand from the two files: the first conv's kernel, HWIO.
    expected = (0.3 * general["body.0.weight"] + 0.7 * wdn["body.0.weight"]).transpose(2, 3, 1, 0)
    np.testing.assert_allclose(model.body.layers[0].kernel.numpy(), expected, rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(
        model.body.layers[1].alpha.numpy().ravel(),
        0.3 * general["body.1.weight"] + 0.7 * wdn["body.1.weight"],
        rtol=1e-5,
    )
    with pytest.raises(ValueError, match="not the former"):
        interp.denoise_blend(str(tmp_path / "realesr-general-wdn-x4v3.safetensors"), 0.5)
    os.remove(tmp_path / "realesr-general-wdn-x4v3.safetensors")
    with pytest.raises(FileNotFoundError, match="weak-denoise model"):
        interp.denoise_blend(path, 0.5)


# ---------------------------------------------------------------------------------------
# The perception-distortion sweep
# ---------------------------------------------------------------------------------------


@pytest.fixture(name="sweep_inputs")
def _sweep_inputs(tmp_path, tiny_model, make_generator):
    """A generator and a "fine-tuned" one (its weights perturbed by 30 %, as two independent
    inits would blend into a flat image), and a photo big enough for NIQE and a tiny one."""
    model = make_generator(tiny_model, seed=1)
    psnr = save(model, tmp_path / "psnr.weights.h5")
    rng = np.random.default_rng(2)
    model.set_weights(
        [w * (1 + 0.3 * rng.standard_normal(w.shape)).astype(w.dtype) for w in model.get_weights()]
    )
    gan = save(model, tmp_path / "gan.weights.h5")
    val_dir = tmp_path / "val"
    val_dir.mkdir()
    big = skimage.data.astronaut()[40:148, 100:308]  # 108x208: two 96x96 blocks after crop 4
    Image.fromarray(big).save(val_dir / "big.png")
    write_photo(val_dir / "tiny.png", size=(44, 60))
    return psnr, gan, str(val_dir), big.astype(np.float32) / 255


@pytest.mark.slow
def test_sweep_writes_one_row_per_alpha_with_the_metrics_of_each_blend(
    sweep_inputs, tmp_path, tiny_model, caplog
):
    psnr, gan, val_dir, hr = sweep_inputs
    alphas = (0.0, 0.5, 1.0)
    out = str(tmp_path / "sweep")
    rows, csv_path, png_path = interp.perception_distortion_files(
        psnr, gan, alphas, val_dir, out, tiny_model.architecture(), progress=False
    )
    assert "too small for NIQE" in caplog.text and "tiny" in caplog.text
    with open(csv_path, newline="", encoding="utf-8") as f:
        on_disk = list(csv.DictReader(f))
    assert [float(r["alpha"]) for r in on_disk] == list(alphas)
    assert list(on_disk[0]) == ["alpha", "psnr_y", "ssim_y", "psnr_rgb", "ssim_rgb", "niqe"]
    # Each blend recomputed here: the formula's weights, the whole LR, the psnr_ssim.
    lr = np.clip(imresize(hr, 0.25), 0, 1).astype(np.float32)
    p = generators.load(psnr, tiny_model.architecture()).model
    g = generators.load(gan, tiny_model.architecture()).model
    blend = built_generator(tiny_model)
    niqes = []
    for alpha, row in zip(alphas, on_disk):
        blend.set_weights(
            [(1 - alpha) * a.numpy() + alpha * b.numpy() for a, b in zip(p.weights, g.weights)]
        )
        sr = np.clip(np.asarray(blend(lr[None], training=False))[0], 0, 1)
        niqes.append(niqe.niqe(sr, crop_border=4))
        assert float(row["psnr_y"]) == pytest.approx(psnr_ssim.psnr(sr, hr, 4), abs=1e-6)
        assert float(row["ssim_y"]) == pytest.approx(psnr_ssim.ssim(sr, hr, 4), abs=1e-6)
        assert float(row["niqe"]) == pytest.approx(niqes[-1], abs=1e-4)
    assert len(set(np.round(niqes, 3))) == 3  # three different points
    assert rows[1]["niqe"] == pytest.approx(float(on_disk[1]["niqe"]), abs=0)
    plot = np.asarray(Image.open(png_path).convert("RGB"))
    assert plot.shape == (480, 640, 3) and len(np.unique(plot.reshape(-1, 3), axis=0)) > 10


def test_sweep_without_matplotlib_still_writes_the_csv(
    sweep_inputs, tmp_path, tiny_model, monkeypatch, caplog
):
    psnr, gan, val_dir, _ = sweep_inputs
    for name in [m for m in sys.modules if m == "matplotlib" or m.startswith("matplotlib.")]:
        monkeypatch.delitem(sys.modules, name)
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # `import matplotlib` fails
    out = tmp_path / "sweep"
    rows, csv_path, png_path = interp.perception_distortion_files(
        psnr, gan, (0.0, 1.0), val_dir, str(out), tiny_model.architecture(), progress=False
    )
    assert png_path is None and sorted(os.listdir(out)) == ["perception_distortion.csv"]
    assert len(rows) == 2 and os.path.getsize(csv_path) > 0
    assert "pip install -e '.[plot]'" in caplog.text


def test_sweep_of_tiny_images_only_is_a_clear_error(tmp_path, sweep_inputs, tiny_model):
    psnr, gan, _, _ = sweep_inputs
    val_dir = tmp_path / "tiny_only"
    val_dir.mkdir()
    write_photo(val_dir / "a.png", size=(44, 60))
    with pytest.raises(ValueError, match="no image in .* is big enough for NIQE"):
        interp.perception_distortion_files(
            psnr,
            gan,
            (0.0,),
            str(val_dir),
            str(tmp_path / "o"),
            tiny_model.architecture(),
            progress=False,
        )
    assert not os.path.exists(tmp_path / "o")
