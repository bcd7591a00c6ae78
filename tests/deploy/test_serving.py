"""esrgan_tf.deploy.serving: the SavedModel's signatures, limits and bad inputs, through
`tf.saved_model.load` and through `saved_model_cli run` (the session-based loader that
TF Serving also uses)."""

import io
import json
import os
import re
import subprocess

import numpy as np
from PIL import Image
import pytest
import tensorflow as tf

from esrgan_tf.deploy import serving
from esrgan_tf.formats import saved_model as saved_model_form
from esrgan_tf.metrics import psnr_ssim
from esrgan_tf.models import builders

MAX_PIXELS = 40 * 40
CLI_ENV = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"}


@pytest.fixture(scope="module")
def generator(make_generator, tiny_model):
    return make_generator(tiny_model, seed=3)


@pytest.fixture(scope="module")
def saved_model(generator, tmp_path_factory):
    path = str(tmp_path_factory.mktemp("serving") / "1")
    serving.write_saved_model(
        generator, path, max_pixels=MAX_PIXELS, metadata={"scale": 4, "model": {"num_feat": 8}}
    )
    return path


@pytest.fixture(scope="module")
def loaded(saved_model):
    return tf.saved_model.load(saved_model)


def rng_images(shape, seed=0):
    return np.random.default_rng(seed).random(shape, dtype=np.float32)


def encode(array, fmt, mode=None):
    buffer = io.BytesIO()
    Image.fromarray(array, mode).save(buffer, format=fmt)
    return buffer.getvalue()


def keras_sr(generator, images):
    return np.clip(generator(images).numpy(), 0.0, 1.0)


# ---------------------------------------------------------------------------------------
# Signatures through tf.saved_model.load
# ---------------------------------------------------------------------------------------


@pytest.mark.slow
def test_signatures_and_metadata(loaded, saved_model):
    assert set(serving.SIGNATURES) <= set(loaded.signatures)
    inputs = {
        name: loaded.signatures[name].structured_input_signature[1] for name in serving.SIGNATURES
    }
    assert inputs["serving_default"]["images"].dtype == tf.float32
    assert inputs["upscale_uint8"]["images"].dtype == tf.uint8
    assert inputs["upscale_image_bytes"]["images_bytes"].dtype == tf.string
    assert set(loaded.signatures["upscale_image_bytes"].structured_outputs) == {"sr_bytes"}
    with open(os.path.join(saved_model, saved_model_form.METADATA_FILE), encoding="utf-8") as f:
        metadata = json.load(f)
    assert metadata["scale"] == 4 and metadata["max_pixels"] == MAX_PIXELS
    assert metadata["signatures"] == list(serving.SIGNATURES)


@pytest.mark.parametrize("shape", [(2, 8, 12, 3), (1, 5, 7, 3), (3, 4, 4, 3)])
def test_float_signature_equals_keras_at_any_size(loaded, generator, shape):
    images = rng_images(shape)
    sr = loaded.signatures["serving_default"](images=tf.constant(images))["sr"].numpy()
    assert sr.shape == (shape[0], shape[1] * 4, shape[2] * 4, 3)
    assert sr.min() >= 0.0 and sr.max() <= 1.0
    np.testing.assert_allclose(sr, keras_sr(generator, images), atol=1e-6)


def test_uint8_signature_rounds_like_metrics_to_uint8(loaded):
    pixels = (rng_images((2, 9, 6, 3), 1) * 255).astype(np.uint8)
    out = loaded.signatures["upscale_uint8"](images=tf.constant(pixels))["sr"].numpy()
    assert out.dtype == np.uint8 and out.shape == (2, 36, 24, 3)
    float_sr = loaded.signatures["serving_default"](
        images=tf.constant(pixels.astype(np.float32) / 255.0)
    )["sr"].numpy()
    np.testing.assert_array_equal(out, psnr_ssim.to_uint8(float_sr))


def test_to_uint8_tf_rounds_half_up_like_matlab():
    values = np.array(
        [0.0, 0.5 / 255, 1.5 / 255, 2.5 / 255 - 1e-7, 0.999, 1.0, 1.2, -0.3], np.float32
    )
    np.testing.assert_array_equal(serving.to_uint8_tf(values).numpy(), psnr_ssim.to_uint8(values))
    assert serving.to_uint8_tf(np.float32(2.5 / 255)).numpy() == 3  # half up, not to even


def test_bytes_signature_every_format_and_size(loaded):
    rng = np.random.default_rng(2)
    rgb = rng.integers(0, 256, (7, 9, 3), dtype=np.uint8)
    gray = rng.integers(0, 256, (5, 6), dtype=np.uint8)
    rgba = rng.integers(0, 256, (6, 5, 4), dtype=np.uint8)
    cases = [
        (encode(rgb, "PNG"), rgb),
        (encode(gray, "PNG"), np.repeat(gray[..., None], 3, axis=2)),
        (encode(rgba, "PNG", "RGBA"), rgba[..., :3]),  # alpha dropped
        (encode(rgb, "BMP"), rgb),
    ]
    data = [c[0] for c in cases]
    outputs = loaded.signatures["upscale_image_bytes"](images_bytes=tf.constant(data))[
        "sr_bytes"
    ].numpy()
    assert len(outputs) == len(cases)
    uint8_sig = loaded.signatures["upscale_uint8"]
    for png, (_, pixels) in zip(outputs, cases):
        decoded = np.asarray(Image.open(io.BytesIO(png)))
        assert decoded.shape == (pixels.shape[0] * 4, pixels.shape[1] * 4, 3)
        expected = uint8_sig(images=tf.constant(pixels[None]))["sr"].numpy()[0]
        np.testing.assert_array_equal(decoded, expected)


def test_bytes_signature_jpeg(loaded):
    photo = np.asarray(Image.fromarray((rng_images((16, 20, 3), 4) * 255).astype(np.uint8)))
    out = loaded.signatures["upscale_image_bytes"](
        images_bytes=tf.constant([encode(photo, "JPEG")])
    )["sr_bytes"].numpy()[0]
    assert Image.open(io.BytesIO(out)).size == (80, 64)


@pytest.mark.parametrize(
    "fmt,mode,shape",
    [
        ("PNG", None, (7, 9, 3)),
        ("BMP", None, (6, 4, 3)),
        ("JPEG", None, (13, 17, 3)),
        ("PNG", "L", (3, 8)),
    ],
)
def test_header_pixels(fmt, mode, shape):
    array = np.zeros(shape, np.uint8)
    data = encode(array, fmt, mode)
    assert serving.header_pixels(tf.constant(data)).numpy() == shape[0] * shape[1]


def test_header_pixels_unknown_and_short_inputs():
    assert serving.header_pixels(tf.constant(b"not an image at all, just text")).numpy() == -1
    for fmt in ("GIF", "WEBP"):  # decodable by decode_image, but their size is not checked
        data = encode(np.zeros((4, 4, 3), np.uint8), fmt)
        assert serving.header_pixels(tf.constant(data)).numpy() == -1
    assert serving.header_pixels(tf.constant(b"")).numpy() == -1
    # A PNG signature without its IHDR: no crash, a declared size of 0 (decoding then fails).
    assert serving.header_pixels(tf.constant(b"\x89PNG\r\n\x1a\n")).numpy() == 0


# ---------------------------------------------------------------------------------------
# Limits and bad inputs
# ---------------------------------------------------------------------------------------


def test_request_above_max_pixels_is_refused(loaded):
    ok = rng_images((1, 40, 40, 3))
    loaded.signatures["serving_default"](images=tf.constant(ok))  # exactly at the limit
    for shape in [(1, 41, 40, 3), (2, 30, 30, 3)]:
        with pytest.raises(tf.errors.InvalidArgumentError, match="limit of 1600"):
            loaded.signatures["serving_default"](images=tf.constant(rng_images(shape)))
    with pytest.raises(tf.errors.InvalidArgumentError, match="limit of 1600"):
        loaded.signatures["upscale_uint8"](images=tf.constant(np.zeros((1, 50, 40, 3), np.uint8)))


def test_decompression_bomb_is_refused_before_decoding(loaded):
    # The PNG's CRC no longer matches its IHDR: had it been decoded, the error would differ.
    with pytest.raises(tf.errors.InvalidArgumentError, match="an image has more LR pixels"):
        loaded.signatures["upscale_image_bytes"](images_bytes=tf.constant([_bomb_png()]))


@pytest.mark.parametrize("shape", [(8, 8, 3), (1, 1, 8, 8, 3), (1, 8, 8, 4), (1, 8, 8, 1), ()])
def test_wrong_rank_or_channels_is_a_clear_error(loaded, shape):
    message = r"must be \[N, H, W, 3\] \(RGB\); got shape"
    for name, dtype in (("serving_default", np.float32), ("upscale_uint8", np.uint8)):
        with pytest.raises(tf.errors.InvalidArgumentError, match=message):
            loaded.signatures[name](images=tf.constant(np.zeros(shape, dtype)))


def test_wrong_dtype_and_bad_bytes_are_clear_errors(loaded):
    with pytest.raises(tf.errors.InvalidArgumentError, match="expected to be a float tensor"):
        loaded.signatures["serving_default"](images=tf.constant(np.zeros((1, 8, 8, 3))))
    with pytest.raises(tf.errors.InvalidArgumentError, match="expected to be a uint8"):
        loaded.signatures["upscale_uint8"](images=tf.constant(np.zeros((1, 8, 8, 3), np.float32)))
    for data in (
        b"garbage" * 10,
        encode(np.zeros((4, 4, 3), np.uint8), "GIF"),
        encode(np.zeros((4, 4, 3), np.uint8), "WEBP"),
    ):
        with pytest.raises(tf.errors.InvalidArgumentError, match="must hold PNG, JPEG or BMP"):
            loaded.signatures["upscale_image_bytes"](images_bytes=tf.constant([data]))
    with pytest.raises(tf.errors.InvalidArgumentError, match="must be a vector"):
        loaded.signatures["upscale_image_bytes"](images_bytes=tf.constant(b"a scalar"))


# ---------------------------------------------------------------------------------------
# saved_model_cli run: the session-based loader
# ---------------------------------------------------------------------------------------


def run_cli(saved_model, signature, inputs, tmp_path):
    """`saved_model_cli run` with each input saved as .npy; returns (process, outputs)."""
    args = []
    for key, array in inputs.items():
        path = tmp_path / f"{signature}_{key}.npy"
        np.save(path, array, allow_pickle=True)
        args.append(f"{key}={path}")
    outdir = tmp_path / f"out_{signature}"
    proc = subprocess.run(
        [
            "saved_model_cli",
            "run",
            "--dir",
            saved_model,
            "--tag_set",
            "serve",
            "--signature_def",
            signature,
            "--inputs",
            ";".join(args),
            "--outdir",
            str(outdir),
            "--overwrite",
        ],
        capture_output=True,
        text=True,
        env=CLI_ENV,
        timeout=300,
        check=False,
    )
    outputs = {}
    if outdir.is_dir():
        outputs = {p.stem: np.load(p, allow_pickle=True) for p in outdir.glob("*.npy")}
    return proc, outputs


@pytest.mark.slow
def test_saved_model_cli_runs_the_image_signature(saved_model, tmp_path):
    # Its graph decodes and encodes images in the session the loader makes. (serving_default
    # through saved_model_cli: the deployment guide's command, tests/deploy/test_export_guide.py;
    # upscale_uint8 is serving_default's graph with two casts, run in-process above.)
    pixels = (rng_images((2, 6, 5, 3), 5) * 255).astype(np.uint8)
    pngs = np.array([encode(pixels[0], "PNG"), encode(pixels[1, :4], "PNG")], dtype=object)
    proc, out = run_cli(saved_model, "upscale_image_bytes", {"images_bytes": pngs}, tmp_path)
    assert proc.returncode == 0, proc.stderr[-2000:]
    sizes = [Image.open(io.BytesIO(png)).size for png in out["sr_bytes"]]
    assert sizes == [(20, 24), (20, 16)]


def _bomb_png():
    png = bytearray(encode(np.zeros((4, 4, 3), np.uint8), "PNG"))
    png[16:24] = (100_000).to_bytes(4, "big") * 2  # IHDR now claims 100000 x 100000
    return bytes(png)


# What reaches a saved_model_cli user: a hostile image, refused before it is decoded. Every
# other refusal has the same path (a tf.debugging assert); they are tested in-process above.
@pytest.mark.slow
@pytest.mark.parametrize(
    "signature,key,array,message",
    [
        (
            "upscale_image_bytes",
            "images_bytes",
            np.array([_bomb_png()], dtype=object),
            "an image has more LR pixels than this model.{1,2}s limit of 1600",
        ),
    ],
)
def test_saved_model_cli_bad_inputs_fail_clearly(
    saved_model, tmp_path, signature, key, array, message
):
    proc, _ = run_cli(saved_model, signature, {key: array}, tmp_path)
    assert proc.returncode != 0
    assert re.search(message, proc.stderr), proc.stderr[-2000:]


# ---------------------------------------------------------------------------------------
# Precision, versions, loading back
# ---------------------------------------------------------------------------------------


@pytest.mark.slow
@pytest.mark.parametrize(
    "precision,dtype,min_psnr", [("fp16", "float16", 50.0), ("bf16", "bfloat16", 30.0)]
)
def test_reduced_precision_generator(generator, precision, dtype, min_psnr, tmp_path, tiny_model):
    half = builders.cast_generator(generator, tiny_model, precision)
    # Half-precision weights, but the output conv stays float32 under any policy.
    assert {v.dtype for v in half.weights if "conv_last" not in v.path} == {dtype}
    assert {v.dtype for v in half.conv_last.weights} == {"float32"}
    images = rng_images((1, 12, 12, 3), 6)
    reference = keras_sr(generator, images)
    path = str(tmp_path / "1")
    serving.write_saved_model(half, path, metadata={"scale": 4})
    out = (
        tf.saved_model.load(path)
        .signatures["serving_default"](images=tf.constant(images))["sr"]
        .numpy()
    )
    assert out.dtype == np.float32 and np.all(np.isfinite(out))
    mse = np.mean((out.astype(np.float64) - reference) ** 2)
    assert 10 * np.log10(1 / mse) > min_psnr
    assert builders.cast_generator(generator, tiny_model, "fp32") is generator
    with pytest.raises(ValueError, match="precision must be one of"):
        builders.cast_generator(generator, tiny_model, "int4")


def test_versions_and_resolving(tmp_path, saved_model):
    base = tmp_path / "base"
    assert serving.next_version(str(base)) == 1
    for name in ("1", "3", "tflite", ".staging-v4"):
        (base / name).mkdir(parents=True)
    assert serving.next_version(str(base)) == 4
    assert saved_model_form.resolve_saved_model(str(base)) is None  # no saved_model.pb anywhere
    os.symlink(saved_model, base / "7")
    assert saved_model_form.resolve_saved_model(str(base)) == str(base / "7")
    assert saved_model_form.resolve_saved_model(saved_model) == saved_model
    assert saved_model_form.resolve_saved_model(str(tmp_path / "missing")) is None


def test_saved_model_generator_splits_batches_to_the_limit(saved_model, generator):
    model = saved_model_form.SavedModelGenerator(os.path.dirname(saved_model))  # the base path
    assert model.scale == 4 and model.max_pixels == MAX_PIXELS
    images = rng_images((5, 20, 30, 3), 7)  # 5 x 600 px > 1600: calls of 2, 2, 1
    np.testing.assert_allclose(model(images), keras_sr(generator, images), atol=1e-6)
    with pytest.raises(ValueError, match="smaller --tile"):
        model(rng_images((1, 41, 40, 3)))


def test_saved_model_generator_needs_an_esrgan_export(tmp_path):
    with pytest.raises(FileNotFoundError, match="holds no SavedModel"):
        saved_model_form.SavedModelGenerator(str(tmp_path))
    plain = tf.Module()
    plain.v = tf.Variable(1.0)
    plain.f = tf.function(lambda x: x * plain.v, input_signature=[tf.TensorSpec([], tf.float32)])
    tf.saved_model.save(plain, str(tmp_path / "plain"))
    with pytest.raises(ValueError, match="not an esrgan_tf export"):
        saved_model_form.SavedModelGenerator(str(tmp_path / "plain"))
