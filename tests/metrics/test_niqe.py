"""esrgan_tf.metrics.niqe: golden values from BasicSR 1.4.2, and properties NIQE must have.

The golden values (``tests/golden/niqe_basicsr_1.4.2.json``) come from BasicSR 1.4.2's
``basicsr/metrics/niqe.py::calculate_niqe``, unmodified, run from the PyPI sdist
basicsr-1.4.2.tar.gz (sha256 b89b595a87ef964cda9913b4d99380ddb6554c965577c0c10cb7b78e31301e87)
with torch 2.13.0+cpu, numpy 2.4.6, scipy 1.17.1 on an AMD EPYC (AVX2). The inputs are
scikit-image's photos (full size, crops, a zeroed region) and three photos downscaled 2x by
BasicSR's own imresize, stored beside the json as PNGs (``niqe_*_bicubic_half.png``); the json
holds the sha256 of every input array, checked here, and says how each was made. ``niqe`` null
means BasicSR raised (fewer than two 96x96 blocks), where ``niqe`` must raise a ValueError.
"""

import hashlib
import importlib.resources
import json
import os
import warnings

import numpy as np
from PIL import Image
import pytest
from scipy import ndimage
import skimage.data

from esrgan_tf.data.imresize import imresize
from esrgan_tf.metrics import niqe

GOLDEN_DIR = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "golden")
with open(os.path.join(GOLDEN_DIR, "niqe_basicsr_1.4.2.json"), encoding="utf-8") as _f:
    GOLDEN = json.load(_f)
CASES = [case for case in GOLDEN["cases"] if case["niqe"] is not None]
ERROR_CASES = [case for case in GOLDEN["cases"] if case["niqe"] is None]
# |ours - BasicSR| on every photo. The implementation reproduces BasicSR's float32 arithmetic
# and matches it to the last bit on the machine the goldens were made on; 1e-3 leaves room for
# other CPUs, where numpy's, scipy's and MKL's summation orders (BasicSR's too) may differ.
TOLERANCE = 1e-3


def _photo(name, item=None):
    photo = getattr(skimage.data, name)()
    return photo if item is None else photo[item]


def _golden_input(case):
    """The exact uint8 array BasicSR scored (RGB or grey; BasicSR was fed it as BGR)."""
    if "file" in case:
        with Image.open(os.path.join(GOLDEN_DIR, case["file"])) as png:
            image = np.asarray(png)
    else:
        image = _photo(case["skimage"], case.get("item"))
        if "window" in case:
            y0, y1, x0, x1 = case["window"]
            image = image[y0:y1, x0:x1]
        if "zeroed" in case:
            y0, y1, x0, x1 = case["zeroed"]
            image = image.copy()
            image[y0:y1, x0:x1] = 0
    image = np.ascontiguousarray(image)
    assert hashlib.sha256(image.tobytes()).hexdigest() == case["sha256"], case["id"]
    return image


@pytest.mark.slow
@pytest.mark.parametrize("case", CASES, ids=[case["id"] for case in CASES])
def test_matches_basicsr(case):
    value = niqe.niqe(_golden_input(case), crop_border=case["crop_border"])
    assert isinstance(value, float)
    assert abs(value - case["niqe"]) <= TOLERANCE, (value, case["niqe"])


def test_golden_cases_cover_grey_colour_sizes_and_borders():
    """The table itself: grey and colour, several sizes, both crop borders, the NaN path."""
    inputs = [_golden_input(case) for case in CASES if "skimage" in case]
    assert {image.ndim for image in inputs} == {2, 3}
    assert len({image.shape[:2] for image in inputs}) >= 8
    assert {case["crop_border"] for case in CASES} == {0, 4}
    assert sum("zeroed" in case for case in CASES) == 2
    assert sum("file" in case for case in CASES) == 6


@pytest.mark.parametrize("case", ERROR_CASES, ids=[case["id"] for case in ERROR_CASES])
def test_raises_where_basicsr_fails(case):
    with pytest.raises(ValueError, match="at least two 96x96 blocks"):
        niqe.niqe(_golden_input(case), crop_border=case["crop_border"])


def test_pristine_model_is_basicsr_file():
    resource = importlib.resources.files("esrgan_tf.metrics").joinpath("niqe_pris_params.npz")
    digest = hashlib.sha256(resource.read_bytes()).hexdigest()
    assert digest == GOLDEN["provenance"]["niqe_pris_params_npz_sha256"]
    mu, cov, window = niqe.pristine_model()
    assert (mu.shape, cov.shape, window.shape) == ((1, 36), (36, 36), (7, 7))
    assert mu.dtype == cov.dtype == window.dtype == np.float64
    np.testing.assert_array_equal(cov, cov.T)
    assert np.linalg.eigvalsh(cov).min() > 0


def test_window_is_fspecial_gaussian_7_sigma_7_over_6():
    # MATLAB's fspecial('gaussian', 7, sigma): exp(-(x^2 + y^2) / (2 sigma^2)) on x, y in -3..3,
    # divided by its sum.
    x = np.arange(-3, 4, dtype=np.float64)
    g = np.exp(-(x[:, None] ** 2 + x[None, :] ** 2) / (2 * (7 / 6) ** 2))
    np.testing.assert_allclose(niqe.pristine_model()[2], g / g.sum(), rtol=0, atol=1e-16)


def test_halving_is_matlab_imresize():
    """The float32 bicubic /2 of the second scale is MATLAB's imresize (the float64 one)."""
    image = skimage.data.camera()[:192, 5:293].astype(np.float32) / np.float32(255)
    halved = niqe.halve(image)
    assert halved.shape == (96, 144) and halved.dtype == np.float32
    np.testing.assert_allclose(halved, imresize(image.astype(np.float64), 0.5), atol=1e-6)


def test_float_input_is_rounded_like_uint8():
    photo = skimage.data.astronaut()[:200, :300]
    expected = niqe.niqe(photo)
    assert niqe.niqe(photo.astype(np.float32) / 255) == expected
    # Anything that rounds to the same uint8 image scores the same: NIQE of the saved image.
    offset = np.random.default_rng(0).uniform(-0.45, 0.45, photo.shape)
    assert niqe.niqe((photo + offset) / 255.0) == expected


def test_grey_with_channel_axis_equals_grey():
    photo = skimage.data.camera()[:200, :300]
    assert niqe.niqe(photo[..., None], crop_border=4) == niqe.niqe(photo, crop_border=4)


def test_two_blocks_in_either_direction_are_enough():
    photo = skimage.data.camera()
    assert np.isfinite(niqe.niqe(photo[:192, :96]))
    assert np.isfinite(niqe.niqe(photo[:96, :192]))
    with pytest.raises(ValueError, match="at least two 96x96 blocks.*got 191x96"):
        niqe.niqe(photo[:191, :96])
    with pytest.raises(ValueError, match="got 92x188 of a 96x192 image"):
        niqe.niqe(photo[:96, :192], crop_border=2)


@pytest.mark.parametrize(
    "image, crop_border, message",
    [
        (np.zeros((192, 192, 4), np.uint8), 0, "HxWx3"),
        (np.zeros((192, 192), np.uint16), 0, "dtype"),
        (np.zeros((192, 192), np.uint8), -1, "crop_border"),
        (np.zeros((192, 192), np.uint8), 1.5, "crop_border"),
        (np.full((192, 192), 128, np.uint8), 0, "undefined"),
    ],
    ids=["four_channels", "uint16", "negative_border", "fractional_border", "flat"],
)
def test_invalid_inputs_raise(image, crop_border, message):
    with pytest.raises(ValueError, match=message):
        niqe.niqe(image, crop_border=crop_border)


def test_flat_region_needs_no_warning():
    """Flat blocks take the NaN path (see the module docstring) quietly."""
    photo = skimage.data.astronaut().copy()
    photo[:200, :200] = 0
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert np.isfinite(niqe.niqe(photo))


@pytest.mark.parametrize("name", ["camera", "astronaut"])
def test_noise_and_blur_raise_niqe(name):
    """A property, not a golden: heavy noise or blur makes a photo much less natural."""
    photo = getattr(skimage.data, name)().astype(np.float64) / 255
    clean = niqe.niqe(photo)
    noisy = np.clip(photo + np.random.default_rng(0).normal(0.0, 0.1, photo.shape), 0, 1)
    blurred = ndimage.gaussian_filter(photo, (2, 2, 0)[: photo.ndim])
    assert niqe.niqe(noisy) > clean + 2
    assert niqe.niqe(blurred) > clean + 2
