"""LPIPS, the Learned Perceptual Image Patch Similarity, computed as the `lpips` package does.

Reference: R. Zhang, P. Isola, A. A. Efros, E. Shechtman and O. Wang, "The Unreasonable
Effectiveness of Deep Features as a Perceptual Metric", CVPR 2018, §3 (Eq. 1, Fig. 3), and its
release, the PyPI package ``lpips`` 0.1.4 (richzhang/PerceptualSimilarity, BSD-2-Clause):
``lpips.LPIPS(net=..., version='0.1')``. Lower is more similar; LPIPS(x, x) = 0.

The computation, for RGB images in [0, 1] (the package's ``normalize=True``):

* x -> 2x - 1, then the package's ``ScalingLayer``: (x - shift) / scale per channel, constants
  that approximate torchvision's ImageNet mean and std on the [-1, 1] scale;
* the features of an ImageNet backbone at five layers: AlexNet (torchvision's
  ``alexnet().features``) at relu1..relu5, or VGG16 (``vgg16().features``) at relu1_2, relu2_2,
  relu3_3, relu4_3, relu5_3, with torchvision's ImageNet weights;
* each feature vector is divided by its L2 norm over channels plus 1e-10
  (``lpips.normalize_tensor``), the two images' unit features are subtracted and squared;
* a 1x1 convolution without bias, one per layer (the "lin" layers, non-negative weights fitted to
  human judgements: ``weights/v0.1/<net>.pth`` of the package), averaged over space;
* the five averages are summed: one distance per image pair.

Weights. The backbone is torchvision's ImageNet file (``BACKBONES``: ``alexnet-owt-7be5be79.pth``
or ``vgg16-397923af.pth``), which does not ship with esrgan_tf and is downloaded by hand
(``backbone_help`` says from where). The lin weights are tiny and do ship with it:
``lin_weights="bundled"`` reads ``lpips_v0.1_<net>.npz`` beside this module, converted unchanged
from the ``lpips`` 0.1.4 wheel (BSD-2-Clause, notice in ``lpips_v0.1_LICENSE.txt``); any other
value is a path (the wheel's own ``.pth`` works too). A ``.pth`` is read with torch,
which is then needed only for that; ``convert_weights`` turns a ``.pth`` into an ``.npz`` once,
after which LPIPS runs without torch. ``.safetensors`` copies are read as well.

Precision. On torchvision-structured random backbones with the real lin weights, the distances
equal those of ``lpips.LPIPS`` 0.1.4 over torchvision 0.29.1's ``alexnet()`` / ``vgg16()``
(torch 2.14.1, CPU) to 1.5e-8, at 64x64 and 97x97 (``tests/metrics/test_lpips.py`` repeats this
against the package, or a PyTorch transcription, when torch is installed). Not checked here: the
ImageNet weights themselves, which cannot be downloaded on the machines this was written on.

Minimum size: AlexNet needs images of at least 31x31 (its 11x11 stride-4 conv and two 3x3
stride-2 pools must leave one pixel), VGG16 16x16 (four 2x2 pools).
"""

import dataclasses
import importlib.resources
import importlib.util
import os
import re

import keras
from keras import ops
import numpy as np

from esrgan_tf import atomic, tensor_files
from esrgan_tf.metrics.psnr_ssim import to_uint8

_PKG = "esrgan_tf"

# lpips/lpips.py::ScalingLayer (package 0.1.4), on inputs in [-1, 1].
_SHIFT = (-0.030, -0.088, -0.188)
_SCALE = (0.458, 0.448, 0.450)
# lpips/__init__.py::normalize_tensor: x / (||x||_2 + eps), eps added to the norm.
_EPS = 1e-10

WEIGHT_EXTENSIONS = (".pth", ".pt", ".safetensors", ".npz")


@dataclasses.dataclass(frozen=True)
class Backbone:
    """A torchvision `features` network, block by block, and where its ImageNet weights are.

    Each block is (pool_before, convs): an optional max-pool, then convs each followed by a ReLU;
    LPIPS reads the last ReLU of every block. A conv is (index in torchvision's
    `features` Sequential, out channels, kernel, stride, padding), the index naming its
    state-dict keys `features.<index>.weight` / `.bias`.
    """

    title: str
    blocks: tuple
    pool: tuple  # (kernel, stride) of torchvision's MaxPool2d (padding 0, floor mode)
    layer_names: tuple
    file_name: str
    url: str
    size: str
    min_size: int

    @property
    def channels(self):
        """Channels of the five LPIPS layers (the lin layers' inputs)."""
        return tuple(convs[-1][1] for _, convs in self.blocks)


def _vgg16_blocks():
    # torchvision/models/vgg.py cfgs["D"]: 64, 64, M, 128, 128, M, 256 x3, M, 512 x3, M, 512 x3, M.
    blocks, index = [], 0
    for b, (filters, n) in enumerate(((64, 2), (128, 2), (256, 3), (512, 3), (512, 3))):
        if b:
            index += 1  # the MaxPool2d between blocks
        blocks.append((b > 0, tuple((index + 2 * k, filters, 3, 1, 1) for k in range(n))))
        index += 2 * n  # a Conv2d and a ReLU per conv
    return tuple(blocks)


BACKBONES = {
    # torchvision/models/alexnet.py::AlexNet.features (torchvision 0.28), sliced as
    # lpips/pretrained_networks.py::alexnet: [0:2] relu1, [2:5] relu2, [5:8] relu3,
    # [8:10] relu4, [10:12] relu5 (the last max-pool, index 12, is not used).
    "alex": Backbone(
        title="AlexNet",
        blocks=(
            (False, ((0, 64, 11, 4, 2),)),
            (True, ((3, 192, 5, 1, 2),)),
            (True, ((6, 384, 3, 1, 1),)),
            (False, ((8, 256, 3, 1, 1),)),
            (False, ((10, 256, 3, 1, 1),)),
        ),
        pool=(3, 2),
        layer_names=("relu1", "relu2", "relu3", "relu4", "relu5"),
        file_name="alexnet-owt-7be5be79.pth",
        url="https://download.pytorch.org/models/alexnet-owt-7be5be79.pth",
        size="233 MB",
        min_size=31,
    ),
    # torchvision/models/vgg.py::vgg16().features, sliced as pretrained_networks.py::vgg16:
    # [0:4] relu1_2, [4:9] relu2_2, [9:16] relu3_3, [16:23] relu4_3, [23:30] relu5_3.
    "vgg": Backbone(
        title="VGG16",
        blocks=_vgg16_blocks(),
        pool=(2, 2),
        layer_names=("relu1_2", "relu2_2", "relu3_3", "relu4_3", "relu5_3"),
        file_name="vgg16-397923af.pth",
        url="https://download.pytorch.org/models/vgg16-397923af.pth",
        size="528 MB",
        min_size=16,
    ),
}

# The keys LPIPS reads: torchvision's convs and the package's lin layers (lin<k>.model.1 is the
# Conv2d after NetLinLayer's Dropout).
_USED_KEY = re.compile(r"features\.\d+\.(weight|bias)|lin\d+\.model\.1\.weight")


def _backbone(net):
    if net not in BACKBONES:
        raise ValueError(f"LPIPS: unknown net {net!r}; expected one of {', '.join(BACKBONES)}")
    return BACKBONES[net]


def backbone_help(net="alex"):
    """Where to get the ImageNet backbone weights of `net` and how to pass them (one paragraph)."""
    spec = _backbone(net)
    return (
        f"LPIPS(net={net!r}) needs torchvision's ImageNet weights of {spec.title}, "
        f"{spec.file_name} ({spec.size}), which esrgan_tf does not ship: download {spec.url} "
        f"(torch.hub keeps it as ~/.cache/torch/hub/checkpoints/{spec.file_name}) and pass "
        f"its path as backbone_weights=PATH (python -m esrgan_tf.evaluate: "
        f"--lpips_weights=PATH). Reading a .pth needs torch; without it, convert the file "
        f"once where torch is installed, esrgan_tf.lpips.convert_weights(PTH, OUT.npz), and "
        f"pass the .npz."
    )


def bundled_lin_weights(net="alex"):
    """The v0.1 lin weights that come with esrgan_tf (`lpips_v0.1_<net>.npz`).

    Converted unchanged from the `lpips` 0.1.4 wheel's `weights/v0.1/<net>.pth` (BSD-2-Clause,
    its notice in `lpips_v0.1_LICENSE.txt` beside them); 6-7 KB each, so LPIPS needs only the
    backbone's ImageNet weights from the user.
    """
    _backbone(net)
    return str(importlib.resources.files("esrgan_tf.metrics") / f"lpips_v0.1_{net}.npz")


def read_weights(path):
    """The name -> numpy array mapping of a `.pth` / `.pt` (needs torch), `.safetensors` or `.npz`.

    A `.pth` is unpickled with torch's `weights_only=True`: a pickle of anything else could run
    code (`esrgan_tf.tensor_files`).
    """
    arrays = tensor_files.read_arrays(
        path,
        "LPIPS weights file",
        extensions=WEIGHT_EXTENSIONS,
        without_torch="convert it once where torch is installed, "
        "esrgan_tf.lpips.convert_weights(PTH, OUT.npz), and pass the .npz",
    )
    return {name: array.astype(np.float32) for name, array in arrays.items()}


def convert_weights(path, out_npz):
    """Writes the arrays LPIPS reads from a weights file (`.pth`: needs torch) as an `.npz`.

    Kept: torchvision's `features.*` (a backbone file; its classifier is dropped, so AlexNet's
    233 MB become 10 MB and VGG16's 528 MB 59 MB) and the package's `lin*` layers (a lin file).
    The `.npz` loads without torch.
    """
    arrays = {k: v for k, v in read_weights(path).items() if _USED_KEY.fullmatch(k)}
    if not arrays:
        raise ValueError(
            f"{os.fspath(path)!r} holds neither torchvision `features.*` convs nor lpips "
            "`lin*.model.1.weight` layers"
        )
    with atomic.atomic_path(out_npz) as tmp, open(tmp, "wb") as f:
        np.savez(f, **arrays)


def _expect(state_dict, key, shape, source, what):
    if key not in state_dict:
        raise ValueError(
            f"{source!r} does not hold {what}: no {key!r} "
            f"(it has {', '.join(sorted(state_dict)[:6])}{' ...' if len(state_dict) > 6 else ''})"
        )
    value = np.asarray(state_dict[key], np.float32)
    if value.shape != tuple(shape):
        raise ValueError(
            f"{source!r} does not hold {what}: {key!r} has shape {value.shape}, "
            f"expected {tuple(shape)}"
        )
    return value


def _build_backbone(spec):
    """Keras layers as torchvision's: symmetric zero padding then a valid conv; floor pools."""
    inputs = keras.Input((None, None, 3))
    x, outputs = inputs, []
    for pool_before, convs in spec.blocks:
        if pool_before:
            x = keras.layers.MaxPooling2D(*spec.pool, padding="valid")(x)
        for index, filters, kernel, stride, padding in convs:
            x = keras.layers.ZeroPadding2D(padding, name=f"features_{index}_pad")(x)
            x = keras.layers.Conv2D(filters, kernel, stride, name=f"features_{index}")(x)
            x = keras.layers.ReLU(name=f"features_{index + 1}")(x)
        outputs.append(x)
    return keras.Model(inputs, outputs, name=f"lpips_{spec.title.lower()}")


@keras.saving.register_keras_serializable(package=_PKG)
class LPIPS(keras.Model):
    """LPIPS v0.1 distances between two batches of RGB images in [0, 1] (NHWC).

    `model(images, references)` returns one distance per pair, shape [B] (the package returns
    [B, 1, 1, 1]). The images of a pair must have the same size, at least `min_size`.
    Frozen: all weights are loaded from files and never trained.

    Args:
        net: "alex" (the package's default, "best forward scores") or "vgg" (VGG16).
        backbone_weights: torchvision's ImageNet state dict of the backbone, as its `.pth`
            (`BACKBONES[net].file_name`; needs torch) or a `.npz` / `.safetensors` copy
            (`convert_weights`). Required: `backbone_help(net)` says where to get it.
        lin_weights: "bundled" (the v0.1 weights shipped with esrgan_tf,
            `bundled_lin_weights`), or the path of the lpips wheel's `.pth` or of an `.npz` /
            `.safetensors` copy of it.
    Reference: Zhang et al., "The Unreasonable Effectiveness of Deep Features as a Perceptual
    Metric", CVPR 2018, §3 (Eq. 1) and Fig. 3; `lpips` 0.1.4, `LPIPS.forward`.
    """

    def __init__(self, net="alex", backbone_weights=None, lin_weights="bundled", **kwargs):
        spec = _backbone(net)
        if backbone_weights is None:
            raise FileNotFoundError(backbone_help(net))
        backbone_weights = os.fspath(backbone_weights)
        if not os.path.isfile(backbone_weights):
            raise FileNotFoundError(
                f"LPIPS: backbone weights file {backbone_weights!r} does not exist. "
                + backbone_help(net)
            )
        lin_weights = os.fspath(lin_weights)
        lin_path = bundled_lin_weights(net) if lin_weights == "bundled" else lin_weights
        if not os.path.isfile(lin_path):
            raise FileNotFoundError(
                f"LPIPS: lin weights file {lin_path!r} does not exist; pass "
                f"lin_weights='bundled' (the v0.1 weights shipped with esrgan_tf) or a copy of the "
                f"lpips package's v0.1/{net}.pth"
            )
        super().__init__(**kwargs)
        self.net = net
        self.backbone_weights = backbone_weights
        self.lin_weights = lin_weights
        self.min_size = spec.min_size
        self.backbone = _build_backbone(spec)
        self._load_backbone(spec, read_weights(backbone_weights), backbone_weights)
        self.lins = [
            keras.layers.Conv2D(
                1,
                1,
                use_bias=False,
                kernel_constraint=keras.constraints.NonNeg(),
                name=f"lin{k}",
            )
            for k in range(len(spec.channels))
        ]
        self._load_lins(spec, read_weights(lin_path), lin_path)
        self.trainable = False
        self.built = True

    def _load_backbone(self, spec, state_dict, source):
        what = f"torchvision's {spec.title} ImageNet weights ({spec.file_name})"
        in_channels = 3
        for _, convs in spec.blocks:
            for index, filters, kernel, _, _ in convs:
                shape = (filters, in_channels, kernel, kernel)
                w = _expect(state_dict, f"features.{index}.weight", shape, source, what)
                b = _expect(state_dict, f"features.{index}.bias", (filters,), source, what)
                # torch OIHW -> Keras HWIO.
                self.backbone.get_layer(f"features_{index}").set_weights(
                    [w.transpose(2, 3, 1, 0), b]
                )
                in_channels = filters

    def _load_lins(self, spec, state_dict, source):
        what = f"the lpips v0.1 lin layers of net={self.net!r}"
        for k, (lin, channels) in enumerate(zip(self.lins, spec.channels)):
            w = _expect(state_dict, f"lin{k}.model.1.weight", (1, channels, 1, 1), source, what)
            if (w < 0).any():
                # The package's training clamps them at 0 (trainer.py::clamp_weights), which is
                # what keeps every distance >= 0.
                raise ValueError(f"{source!r} does not hold {what}: lin{k} has negative weights")
            lin.build((None, None, None, channels))
            lin.set_weights([w.transpose(2, 3, 1, 0)])

    def features(self, images):
        """The five backbone features of RGB images in [0, 1], as the package scales them."""
        x = images * 2.0 - 1.0
        x = (x - ops.convert_to_tensor(_SHIFT, x.dtype)) / ops.convert_to_tensor(_SCALE, x.dtype)
        return self.backbone(x, training=False)

    def compare(self, features_a, features_b):
        """[B] distances of two lists of the five backbone features (NHWC, same shapes).

        Unit-normalise over channels, square the difference, weigh the channels by the lin
        layer, average over space, sum over the layers.
        """
        total = 0.0
        for lin, fa, fb in zip(self.lins, features_a, features_b):
            diff = ops.square(_unit_normalize(fa) - _unit_normalize(fb))
            total = total + ops.mean(lin(diff), axis=(1, 2, 3))
        return total

    def call(self, images, references):
        return self.compare(self.features(images), self.features(references))

    def get_config(self):
        return {
            **super().get_config(),
            "net": self.net,
            "backbone_weights": self.backbone_weights,
            "lin_weights": self.lin_weights,
        }


def _unit_normalize(x):
    norm = ops.sqrt(ops.sum(ops.square(x), axis=-1, keepdims=True))
    return x / (norm + _EPS)


def lpips_distance(a, b, model, crop_border=0):
    """LPIPS of two HxWx3 RGB images with an `LPIPS` model, as a Python float.

    Args:
      a, b: images of equal shape, float in [0, 1] or uint8. Floats are rounded to the uint8 of
        the saved image first (``metrics.to_uint8``), as PSNR, SSIM and NIQE are here and as
        LPIPS is usually computed, from PNG files.
      model: an `LPIPS`, built once and reused.
      crop_border: pixels removed from every edge first.

    Raises:
      ValueError: shapes that differ or are not HxWx3, or fewer than `model.min_size` pixels a
        side after cropping.
    """
    a, b = np.asarray(a), np.asarray(b)
    if a.shape != b.shape or a.ndim != 3 or a.shape[-1] != 3:
        raise ValueError(f"LPIPS needs two HxWx3 RGB images of one shape, got {a.shape}, {b.shape}")
    if int(crop_border) != crop_border or crop_border < 0:
        raise ValueError(f"crop_border must be a non-negative integer, got {crop_border}.")
    crop_border = int(crop_border)
    height, width = a.shape[:2]
    if min(height, width) - 2 * crop_border < model.min_size:
        raise ValueError(
            f"LPIPS(net={model.net!r}) needs at least {model.min_size}x{model.min_size} pixels "
            f"after removing crop_border={crop_border} from each edge; got a {height}x{width} "
            "image"
        )
    crop = (slice(crop_border, height - crop_border), slice(crop_border, width - crop_border))
    pair = [to_uint8(image)[crop][None].astype(np.float32) / np.float32(255) for image in (a, b)]
    return float(ops.convert_to_numpy(model(*pair))[0])
