"""Frozen, truncated ImageNet networks for perceptual losses: VGG19 and ResNet50.

Both take RGB images in [0, 1] (NHWC) and apply the preprocessing their weights were
trained with, so the models plug straight onto generator outputs. All weights are frozen
and every call runs in inference mode.

The ImageNet weights of `keras.applications` are ported from the original Caffe models
("caffe" preprocessing: x255, RGB -> BGR, minus the ImageNet mean pixel, no scaling), not
torchvision's: features (hence perceptual-loss magnitudes) differ from the official
PyTorch ESRGAN / ESRGAN-DP / BasicSR code, which normalises RGB by the ImageNet mean and
std for torchvision's weights. `VGGFeatures` also reads torchvision's VGG19 file
(`vgg19-dcbb9e9d.pth`, or the same tensors as `.safetensors` / `.npz`) and then applies
torchvision's preprocessing: the perceptual loss of those codes, with their weights.

ResNet50 in particular differs from the one ESRGAN-DP's authors used. Keras's is He et
al.'s v1 (the stride-2 of stages 3-5 on the first 1x1 conv of the first bottleneck, Caffe
weights, BGR minus the mean pixel in [0, 255]); torchvision's is "v1.5" (the stride on the
3x3 conv, trained on RGB normalised by the ImageNet mean and std), and the authors' code
feeds it the [0, 1] image without that normalisation, summing the L1 distances of stages
1, 2 and 3. `ResNetFeatures(RESNET50_LAYERS[:3], preprocess="none")` is that loss's
shape (layers, input range) on Keras's v1 weights; torchvision's weights cannot be loaded
into it. What this does to the balance of the dual loss: ESRGAN-DP's dynamic weight makes
the ResNet term equal l_VGG / mu in value whatever the ResNet loss's magnitude, and its
gradient (l_VGG / mu) * grad(log l_RES) does not change either when the features are
rescaled (`esrgan_tf.losses.dual_perceptual_loss`). The magnitude gap between Caffe and
torchvision features therefore does not tilt the balance; what the network, the weights
and the input range change is which features respond to the SR's errors, and with summed
stages, the stage of largest L1 dominates the sum. Their magnitudes with ImageNet weights
cannot be measured here (no network, no weights on this machine).
"""

import dataclasses
import os

import h5py
import keras
from keras import ops
import numpy as np

from esrgan_tf import tensor_files
from esrgan_tf.models.config import RESNET50_LAYERS, RESNET_PREPROCESSING

_PKG = "esrgan_tf"

# BGR order, as `keras.applications.imagenet_utils.preprocess_input(mode="caffe")`.
_CAFFE_MEAN_BGR = (103.939, 116.779, 123.68)
# RGB, torchvision's ImageNet normalisation (torchvision.models.VGG19_Weights.IMAGENET1K_V1
# transforms; BasicSR's VGGFeatureExtractor(use_input_norm=True) uses the same).
_TORCHVISION_MEAN = (0.485, 0.456, 0.406)
_TORCHVISION_STD = (0.229, 0.224, 0.225)

# conv layers per VGG19 block (Simonyan & Zisserman, Table 1, column E).
_VGG19_CONVS_PER_BLOCK = (2, 2, 4, 4, 4)
VGG19_LAYERS = tuple(
    f"block{b}_conv{c}" for b, n in enumerate(_VGG19_CONVS_PER_BLOCK, 1) for c in range(1, n + 1)
)


def _torchvision_vgg19_indices():
    """VGG19 conv name -> its index in torchvision's `vgg19().features` (Conv2d, ReLU per
    conv; one MaxPool2d after each block): block1_conv1 -> 0, ..., block5_conv4 -> 34."""
    indices, index = {}, 0
    for block, convs in enumerate(_VGG19_CONVS_PER_BLOCK, 1):
        for conv in range(1, convs + 1):
            indices[f"block{block}_conv{conv}"] = index
            index += 2
        index += 1
    return indices


TORCHVISION_VGG19_INDICES = _torchvision_vgg19_indices()


@dataclasses.dataclass(frozen=True)
class ImageNetWeights:
    """The Keras download of one application's ImageNet weights, for the offline message."""

    file_name: str
    url: str
    flag: str
    torchvision: str = ""  # a torchvision file the model also reads, if any


KERAS_WEIGHTS = {
    "VGG19": ImageNetWeights(
        "vgg19_weights_tf_dim_ordering_tf_kernels_notop.h5",
        "https://storage.googleapis.com/tensorflow/keras-applications/vgg19/"
        "vgg19_weights_tf_dim_ordering_tf_kernels_notop.h5",
        "--vgg_weights",
        torchvision="vgg19-dcbb9e9d.pth",
    ),
    "ResNet50": ImageNetWeights(
        "resnet50_weights_tf_dim_ordering_tf_kernels_notop.h5",
        "https://storage.googleapis.com/tensorflow/keras-applications/resnet/"
        "resnet50_weights_tf_dim_ordering_tf_kernels_notop.h5",
        "--resnet_weights",
    ),
}
_TORCHVISION_URL = "https://download.pytorch.org/models/"


def imagenet_caffe_preprocess(images):
    """RGB in [0, 1] -> the input of Keras's ImageNet VGG19 / ResNet50 weights.

    Equals `keras.applications.vgg19.preprocess_input(images * 255)` (and the
    resnet50 one), written with `keras.ops` so it works on symbolic tensors and
    inside `tf.function` / `tf.data` without NumPy's in-place arithmetic.
    """
    bgr = ops.flip(images, axis=-1) * 255.0
    return bgr - ops.convert_to_tensor(_CAFFE_MEAN_BGR, dtype=bgr.dtype)


def torchvision_preprocess(images):
    """RGB in [0, 1] -> the input of torchvision's ImageNet weights: (x - mean) / std."""
    mean = ops.convert_to_tensor(_TORCHVISION_MEAN, dtype=images.dtype)
    std = ops.convert_to_tensor(_TORCHVISION_STD, dtype=images.dtype)
    return (images - mean) / std


def _offline_message(factory, error):
    """One paragraph for a failed ImageNet download: the file, its URL, the flag."""
    spec = KERAS_WEIGHTS[factory.__name__]
    keras_cache = os.path.join(
        os.environ.get("KERAS_HOME") or os.path.join(os.path.expanduser("~"), ".keras"), "models"
    )
    reason = str(error).rsplit(" -- ", 1)[-1]  # get_file's "URL fetch failure on URL: code -- "
    message = (
        f"the ImageNet weights of {factory.__name__} could not be downloaded ({reason}). "
        f"The perceptual loss needs {spec.file_name} from {spec.url}: put it in {keras_cache}/ "
        f"(Keras looks there first), or pass its path as {spec.flag}=PATH."
    )
    if spec.torchvision:
        torch_cache = os.path.join(
            os.environ.get("TORCH_HOME") or os.path.expanduser("~/.cache/torch"),
            "hub",
            "checkpoints",
            spec.torchvision,
        )
        found = os.path.isfile(torch_cache)
        message += (
            f" torchvision's {spec.torchvision} ({_TORCHVISION_URL}{spec.torchvision}, the file "
            f"BasicSR trains with) works too, with torchvision's preprocessing: "
            + (
                f"there is one at {spec.flag}={torch_cache}."
                if found
                else f"{spec.flag}=PATH/{spec.torchvision}."
            )
        )
    return message


def _build_application(factory, weights, owner):
    """`factory(include_top=False, weights=...)` with a clear error for local files and
    for an ImageNet download that fails (no network)."""
    if weights is None:
        return factory(include_top=False, weights=None, input_shape=(None, None, 3))
    if weights == "imagenet":
        try:
            return factory(include_top=False, weights="imagenet", input_shape=(None, None, 3))
        except Exception as error:  # pylint: disable=broad-except
            # keras.utils.get_file raises a bare Exception("URL fetch failure on ...").
            if "fetch failure" not in str(error) and not isinstance(error, OSError):
                raise
            raise OSError(f"{owner}: {_offline_message(factory, error)}") from error
    path = os.fspath(weights)
    expected = f"keras.applications.{factory.__name__}(include_top=False)"
    if not os.path.isfile(path):
        raise FileNotFoundError(
            f"{owner}: weights file {path!r} does not exist. Pass weights='imagenet', "
            f"None, or a local copy of the weights of {expected} (the Keras download "
            f"'*_notop.h5' or a file written by save_weights, '*.weights.h5')."
        )
    model = factory(include_top=False, weights=None, input_shape=(None, None, 3))
    try:
        if path.endswith(".weights.h5"):
            # Keras skips file entries it cannot match with only a warning; count them.
            with h5py.File(path, "r") as f:
                found = []
                f.visititems(
                    lambda _, obj: found.append(1) if isinstance(obj, h5py.Dataset) else None
                )
            if len(found) != len(model.weights):
                raise ValueError(
                    f"the file holds {len(found)} weight arrays, the model has {len(model.weights)}"
                )
        model.load_weights(path)
    except (ValueError, OSError, KeyError) as e:
        raise ValueError(f"{owner}: {path!r} does not hold the weights of {expected}: {e}") from e
    return model


@keras.saving.register_keras_serializable(package=_PKG)
class VGGFeatures(keras.Model):
    """Frozen VGG19 features at chosen conv layers, before or after their ReLU.

    Keras's VGG19 fuses each ReLU into its Conv2D, so this model rebuilds the
    network up to the deepest requested layer with linear convs followed by
    separate ReLU layers (like torchvision's VGG), copies the weights over, and
    reads each requested layer at the conv output (`pre_activation=True`) or at its
    ReLU. Nothing past the deepest requested layer is built or run.

    Calling the model on RGB images in [0, 1] (NHWC) returns a dict mapping each
    name in `layer_names` to its features.

    Args:
        layer_names: VGG19 conv layer names (`VGG19_LAYERS`), e.g.
            ("block5_conv4",) for VGG19-54.
        pre_activation: features before the ReLU (ESRGAN, ESRGAN-DP) or after
            it (SRGAN).
        weights: "imagenet" (downloaded to the Keras cache), None (random, for
            tests), the path of a local copy of the weights of
            `keras.applications.VGG19(include_top=False)` (the Keras download `.h5` or a
            `save_weights` file `.weights.h5`), or torchvision's VGG19 (`vgg19-dcbb9e9d.pth`,
            or its `features.*` tensors as `.safetensors` / `.npz`): then the input is
            normalised as torchvision's (`preprocessing == "torchvision"`), as in BasicSR.
    Reference: ESRGAN (Wang et al., 2018) §3.3 (VGG19-54 before activation);
    SRGAN (Ledig et al., 2017) §2.2.1 (phi_{i,j} after activation).
    """

    def __init__(
        self, layer_names=("block5_conv4",), pre_activation=True, weights="imagenet", **kwargs
    ):
        if isinstance(layer_names, str):
            layer_names = (layer_names,)
        layer_names = tuple(layer_names)
        bad = [n for n in layer_names if n not in VGG19_LAYERS]
        if bad or not layer_names:
            raise ValueError(
                f"VGGFeatures: unknown VGG19 conv layer(s) {bad or '(none)'};"
                f" valid names: {', '.join(VGG19_LAYERS)}"
            )
        super().__init__(**kwargs)
        self.layer_names = layer_names
        self.pre_activation = pre_activation
        self.weights_source = weights
        deepest = max(VGG19_LAYERS.index(n) for n in self.layer_names)
        needed = VGG19_LAYERS[: deepest + 1]
        if _is_tensor_file(weights):
            self.preprocessing = "torchvision"
            convs = _torchvision_vgg19(weights, needed)
        else:
            self.preprocessing = "caffe"
            vgg = _build_application(keras.applications.VGG19, weights, "VGGFeatures")
            convs = {name: vgg.get_layer(name).get_weights() for name in needed}
        self.network = self._build_network(convs)
        self.trainable = False

    def _build_network(self, convs):
        """Linear convs with the given (HWIO kernel, bias) and separate ReLUs."""
        inputs = keras.Input((None, None, 3))
        x = inputs
        outputs = {}
        for name, (kernel, bias) in convs.items():
            block, conv = name.split("_")
            if conv == "conv1" and block != "block1":
                x = keras.layers.MaxPooling2D(2, name=f"block{int(block[5:]) - 1}_pool")(x)
            linear = keras.layers.Conv2D(
                kernel.shape[-1], kernel.shape[:2], padding="same", name=name
            )
            x = linear(x)
            linear.set_weights([kernel, bias])
            if name in self.layer_names and self.pre_activation:
                outputs[name] = x
            x = keras.layers.ReLU(name=f"{block}_relu{conv[4:]}")(x)
            if name in self.layer_names and not self.pre_activation:
                outputs[name] = x
        return keras.Model(inputs, outputs, name="vgg19_truncated")

    def call(self, images):
        if self.preprocessing == "torchvision":
            return self.network(torchvision_preprocess(images), training=False)
        return self.network(imagenet_caffe_preprocess(images), training=False)

    def get_config(self):
        return {
            **super().get_config(),
            "layer_names": self.layer_names,
            "pre_activation": self.pre_activation,
            "weights": _config_weights(self.weights_source),
        }


@keras.saving.register_keras_serializable(package=_PKG)
class ResNetFeatures(keras.Model):
    """Frozen ResNet50 truncated at the output of one or more stages (after their ReLU).

    Calling the model on RGB images in [0, 1] (NHWC) returns the features of
    `layer_name` (a tensor), or with several names a dict name -> features (which
    `esrgan_tf.losses.perceptual_loss` sums with weight 1 each). BatchNorm always runs in
    inference mode (moving statistics), whatever `training` the caller passes.

    Args:
        layer_name: the last bottleneck of a stage, one of `RESNET50_LAYERS`:
            "conv2_block3_out" (beta_{1,3}), "conv3_block4_out" (beta_{2,4}),
            "conv4_block6_out" (beta_{3,6}, ESRGAN-DP's choice) or
            "conv5_block3_out" (beta_{4,3}); or a tuple of them (ESRGAN-DP's public code
            sums stages 1-3: `RESNET50_LAYERS[:3]`).
        weights: "imagenet", None (random, for tests), or the path of a local copy
            of the weights of `keras.applications.ResNet50(include_top=False)`
            (`.h5` Keras download or `.weights.h5` from save_weights).
        preprocess: "caffe" (what Keras's ImageNet weights expect, the default) or "none"
            (the [0, 1] RGB image as it is, as ESRGAN-DP's public code feeds its ResNet).
    Reference: Song et al., "Dual Perceptual Loss for Single Image Super-Resolution
    Using ESRGAN", §3.2.1 (Eq. 5, Fig. 3) and §4.3.2 (beta_{3,6}). Keras's ResNet50 is
    v1, not torchvision's v1.5 (see the module docstring).
    """

    def __init__(
        self, layer_name="conv4_block6_out", weights="imagenet", preprocess="caffe", **kwargs
    ):
        names = (layer_name,) if isinstance(layer_name, str) else tuple(layer_name)
        bad = [n for n in names if n not in RESNET50_LAYERS]
        if bad or not names:
            raise ValueError(
                f"ResNetFeatures: unknown layer(s) {bad or '(none)'}; valid "
                f"names: {', '.join(RESNET50_LAYERS)}"
            )
        if preprocess not in RESNET_PREPROCESSING:
            raise ValueError(
                f"ResNetFeatures: preprocess must be one of {RESNET_PREPROCESSING}, "
                f"got {preprocess!r}"
            )
        super().__init__(**kwargs)
        self.layer_name = layer_name if isinstance(layer_name, str) else names
        self.weights_source = weights
        self.preprocess = preprocess
        if _is_tensor_file(weights):
            raise ValueError(_TORCHVISION_RESNET_REFUSAL.format(path=os.fspath(weights)))
        resnet = _build_application(keras.applications.ResNet50, weights, "ResNetFeatures")
        outputs = (
            resnet.get_layer(names[0]).output
            if isinstance(self.layer_name, str)
            else {n: resnet.get_layer(n).output for n in names}
        )
        # The functional model keeps only the layers these outputs need: nothing deeper.
        self.network = keras.Model(resnet.input, outputs, name="resnet50_truncated")
        self.trainable = False

    def call(self, images, training=None):
        del training  # frozen feature extractor: BatchNorm uses its moving statistics
        if self.preprocess == "caffe":
            images = imagenet_caffe_preprocess(images)
        return self.network(images, training=False)

    def get_config(self):
        return {
            **super().get_config(),
            "layer_name": self.layer_name
            if isinstance(self.layer_name, str)
            else list(self.layer_name),
            "weights": _config_weights(self.weights_source),
            "preprocess": self.preprocess,
        }


_TORCHVISION_RESNET_REFUSAL = (
    "ResNetFeatures: {path!r} is a PyTorch-style tensor file; only Keras's ResNet50 weights "
    "(resnet50_weights_tf_dim_ordering_tf_kernels_notop.h5, or a save_weights .weights.h5) "
    "load here. torchvision's ResNet50 is v1.5: the first bottleneck of stages 3-5 strides "
    "on its 3x3 conv, where Keras's v1 strides on the 1x1 before it, so its 3x3 kernels were "
    "trained on the full-resolution grid and would run here on a subsampled one, with "
    "BatchNorm statistics of other features: neither torchvision's features nor Keras's. "
    "ESRGAN-DP's dynamic weight makes the balance of the two losses independent of the "
    "ResNet's magnitude, so Keras's weights change only which features are compared: pass "
    "the Keras file as --resnet_weights=PATH."
)


def _is_tensor_file(weights):
    return (
        isinstance(weights, (str, os.PathLike))
        and os.path.splitext(os.fspath(weights))[1].lower() in tensor_files.EXTENSIONS
    )


def _torchvision_vgg19(path, names):
    """{conv name: (HWIO kernel, bias)} from torchvision's VGG19 state dict (`features.N.*`;
    the classifier, if present, is not read)."""
    arrays = tensor_files.read_arrays(
        path,
        "VGG19 weights file",
        without_torch="convert the file's `features.*` tensors to .safetensors once where "
        "torch is installed",
    )
    convs = {}
    in_channels = 3
    for name in names:
        key = f"features.{TORCHVISION_VGG19_INDICES[name]}"
        kernel, bias = arrays.get(f"{key}.weight"), arrays.get(f"{key}.bias")
        if kernel is None or bias is None:
            raise ValueError(
                f"VGGFeatures: {os.fspath(path)!r} is not torchvision's VGG19: no {key}.weight "
                f"/ {key}.bias ({name}); it holds {len(arrays)} tensors"
            )
        out_channels = 64 * 2 ** min(int(name[5]) - 1, 3)
        if kernel.shape != (out_channels, in_channels, 3, 3) or bias.shape != (out_channels,):
            raise ValueError(
                f"VGGFeatures: {os.fspath(path)!r}: {key} ({name}) is {kernel.shape} + "
                f"{bias.shape}, VGG19's is {(out_channels, in_channels, 3, 3)} + "
                f"{(out_channels,)}"
            )
        # PyTorch's OIHW cross-correlation -> Keras's HWIO (also a cross-correlation).
        convs[name] = [
            np.transpose(kernel, (2, 3, 1, 0)).astype(np.float32),
            bias.astype(np.float32),
        ]
        in_channels = out_channels
    return convs


def _config_weights(weights):
    return weights if weights is None else os.fspath(weights)
