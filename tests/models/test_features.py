"""Frozen VGG19 / ResNet50 feature extractors, tested with local random-weight files.

`weights='imagenet'` needs a download, impossible here: each network is built once
per module with weights=None, saved, and loaded back through the local-file path.
"""

import json
import os

import keras
import numpy as np
import pytest
from safetensors.numpy import save_file
import tensorflow as tf

from esrgan_tf.models.features import (
    RESNET50_LAYERS,
    VGG19_LAYERS,
    ResNetFeatures,
    VGGFeatures,
    imagenet_caffe_preprocess,
)

VGG_PAIR = ("block2_conv2", "block5_conv4")

GOLDEN = os.path.join(os.path.dirname(os.path.dirname(__file__)), "golden")
TORCHVISION = os.path.join(GOLDEN, "torchvision_0.29.1_vgg19")


@pytest.fixture(scope="module")
def images():
    return np.random.default_rng(0).random((2, 32, 32, 3), dtype=np.float32)


@pytest.fixture(scope="module")
def vgg19(tmp_path_factory):
    """Full keras.applications.VGG19 (include_top=False) and its weights file."""
    full = keras.applications.VGG19(include_top=False, weights=None, input_shape=(None, None, 3))
    path = str(tmp_path_factory.mktemp("vgg") / "vgg19_notop.weights.h5")
    full.save_weights(path)
    return full, path


@pytest.fixture(scope="module")
def vgg_pre(vgg19):
    return VGGFeatures(VGG_PAIR, pre_activation=True, weights=vgg19[1])


@pytest.fixture(scope="module")
def resnet50(tmp_path_factory):
    """Full ResNet50 with non-trivial BatchNorm moving statistics, and its file."""
    full = keras.applications.ResNet50(include_top=False, weights=None, input_shape=(None, None, 3))
    rng = np.random.default_rng(1)
    for layer in full.layers:
        if isinstance(layer, keras.layers.BatchNormalization):
            n = layer.moving_mean.shape[0]
            layer.moving_mean.assign(rng.normal(0.0, 0.5, n).astype(np.float32))
            layer.moving_variance.assign(rng.uniform(0.5, 2.0, n).astype(np.float32))
    path = str(tmp_path_factory.mktemp("resnet") / "resnet50_notop.weights.h5")
    full.save_weights(path)
    return full, path


@pytest.fixture(scope="module")
def resnet_feats(resnet50):
    return ResNetFeatures("conv4_block6_out", weights=resnet50[1])


def keras_intermediate(full, names, x, preprocess):
    """Outputs of the full Keras application at `names`, with Keras's own preprocessing."""
    model = keras.Model(full.input, [full.get_layer(n).output for n in names])
    out = model(preprocess(x * 255.0), training=False)
    return [np.asarray(o) for o in (out if isinstance(out, (list, tuple)) else [out])]


def assert_close(actual, expected):
    scale = np.abs(expected).max()
    np.testing.assert_allclose(actual, expected, rtol=1e-4, atol=1e-5 * scale)


# ---------------------------------------------------------------------------
# Preprocessing
# ---------------------------------------------------------------------------
def test_caffe_preprocess_equals_keras_preprocess_input(images):
    ours = np.asarray(imagenet_caffe_preprocess(images))
    np.testing.assert_allclose(
        ours, keras.applications.vgg19.preprocess_input(images * 255.0), atol=1e-4
    )
    np.testing.assert_allclose(
        ours, keras.applications.resnet50.preprocess_input(images * 255.0), atol=1e-4
    )
    # Symbolic (graph) path too.
    graph = tf.function(imagenet_caffe_preprocess)(tf.constant(images))
    np.testing.assert_allclose(graph, ours, atol=1e-4)
    # One pixel by hand: RGB (1, 0.5, 0) -> BGR (0, 127.5, 255) minus the BGR mean.
    pixel = np.array([[[[1.0, 0.5, 0.0]]]], np.float32)
    np.testing.assert_allclose(
        np.asarray(imagenet_caffe_preprocess(pixel)).ravel(),
        [-103.939, 127.5 - 116.779, 255.0 - 123.68],
        atol=1e-4,
    )


# ---------------------------------------------------------------------------
# VGG19
# ---------------------------------------------------------------------------
def test_vgg_pre_activation_is_the_conv_before_its_relu(vgg19, vgg_pre, images):
    full, _ = vgg19
    pre = vgg_pre(images)
    assert set(pre) == set(VGG_PAIR)
    assert pre["block2_conv2"].shape == (2, 16, 16, 128)
    assert pre["block5_conv4"].shape == (2, 2, 2, 512)
    post_ref = keras_intermediate(full, VGG_PAIR, images, keras.applications.vgg19.preprocess_input)
    for name, ref in zip(VGG_PAIR, post_ref):
        p = np.asarray(pre[name])
        assert (p < 0).mean() > 0.1  # really before the ReLU
        assert_close(np.maximum(p, 0.0), ref)


def test_vgg_post_activation_matches_keras_vgg19(vgg19, images):
    full, path = vgg19
    post = VGGFeatures(VGG_PAIR, pre_activation=False, weights=path)(images)
    refs = keras_intermediate(full, VGG_PAIR, images, keras.applications.vgg19.preprocess_input)
    for name, ref in zip(VGG_PAIR, refs):
        assert np.asarray(post[name]).min() >= 0.0
        assert_close(np.asarray(post[name]), ref)


def test_vgg_is_truncated_and_frozen(vgg_pre, images):
    names = [layer.name for layer in vgg_pre.network.layers]
    assert names[-1] == "block5_conv4" and "block5_pool" not in names
    assert "block5_relu4" not in names  # pre-activation: the last ReLU is never run
    assert vgg_pre.trainable_weights == []
    assert len(vgg_pre.non_trainable_weights) == 2 * len(VGG19_LAYERS)
    x = tf.Variable(images)
    with tf.GradientTape() as tape:
        loss = tf.reduce_sum(vgg_pre(x)["block5_conv4"] ** 2)
    grad = tape.gradient(loss, x)
    assert grad is not None and float(tf.reduce_max(tf.abs(grad))) > 0.0


def test_vgg_shallow_layer_builds_only_what_it_needs(vgg19):
    f = VGGFeatures("block2_conv2", pre_activation=False, weights=None)
    assert len(f.weights) == 2 * 4  # block1_conv1..2, block2_conv1..2
    assert f.network.layers[-1].name == "block2_relu2"
    assert f(np.zeros((1, 8, 8, 3), np.float32))["block2_conv2"].shape == (1, 4, 4, 128)


def test_vgg_config_round_trip(vgg19, vgg_pre, images):
    config = vgg_pre.get_config()
    assert config["layer_names"] == VGG_PAIR and config["weights"] == vgg19[1]
    clone = VGGFeatures.from_config(config)
    assert clone.pre_activation and clone.layer_names == VGG_PAIR
    np.testing.assert_array_equal(
        np.asarray(clone(images)["block5_conv4"]), np.asarray(vgg_pre(images)["block5_conv4"])
    )


@pytest.mark.slow
def test_keras_save_and_load(tmp_path):
    x = np.random.default_rng(2).random((1, 8, 8, 3), dtype=np.float32)
    for model, path in (
        (VGGFeatures("block2_conv2", weights=None), "vgg.keras"),
        (ResNetFeatures("conv2_block3_out", weights=None), "resnet.keras"),
    ):
        expected = keras.tree.flatten(model(x))
        model.save(tmp_path / path)
        loaded = keras.models.load_model(tmp_path / path)
        assert loaded.trainable_weights == []
        for a, b in zip(keras.tree.flatten(loaded(x)), expected):
            np.testing.assert_array_equal(np.asarray(a), np.asarray(b))


def test_vgg_bad_layer_names():
    with pytest.raises(ValueError, match="block5_conv4"):
        VGGFeatures(("block5_pool",), weights=None)
    with pytest.raises(ValueError, match="unknown VGG19"):
        VGGFeatures(("block3_conv5", "block1_conv1"), weights=None)


# ---------------------------------------------------------------------------
# ResNet50
# ---------------------------------------------------------------------------
@pytest.mark.slow
def test_resnet_features_equal_full_resnet50_at_the_layer(resnet50, resnet_feats, images):
    full, _ = resnet50
    (ref,) = keras_intermediate(
        full, ["conv4_block6_out"], images, keras.applications.resnet50.preprocess_input
    )
    out = np.asarray(resnet_feats(images))
    assert out.shape == (2, 2, 2, 1024)
    assert out.min() >= 0.0  # after the stage's ReLU
    assert_close(out, ref)


def test_resnet_batchnorm_always_in_inference_mode(resnet_feats, images):
    inference = np.asarray(resnet_feats(images, training=False))
    np.testing.assert_array_equal(np.asarray(resnet_feats(images, training=True)), inference)
    np.testing.assert_array_equal(np.asarray(resnet_feats(images)), inference)
    # Even if someone unfreezes it (Keras BatchNorm then honours training=True)...
    resnet_feats.trainable = True
    try:
        unfrozen = np.asarray(resnet_feats(images, training=True))
        raw = np.asarray(resnet_feats.network(imagenet_caffe_preprocess(images), training=True))
    finally:
        resnet_feats.trainable = False
    np.testing.assert_array_equal(unfrozen, inference)
    # ...whereas the bare network in training mode uses batch statistics: the check can fail.
    assert np.abs(raw - inference).max() > 1e-3


def test_resnet_is_truncated_and_frozen(resnet_feats, images):
    names = [layer.name for layer in resnet_feats.network.layers]
    assert names[-1] == "conv4_block6_out"
    assert not any(n.startswith("conv5_") for n in names)
    assert resnet_feats.trainable_weights == []
    x = tf.Variable(images)
    with tf.GradientTape() as tape:
        loss = tf.reduce_sum(resnet_feats(x) ** 2)
    grad = tape.gradient(loss, x)
    assert grad is not None and float(tf.reduce_max(tf.abs(grad))) > 0.0
    assert resnet_feats.get_config()["layer_name"] == "conv4_block6_out"


@pytest.mark.slow
@pytest.mark.parametrize("layer", ["conv2_block3_out", "conv3_block4_out"])
def test_resnet_other_stages(resnet50, layer, images):
    full, path = resnet50
    out = ResNetFeatures(layer, weights=path)(images)
    (ref,) = keras_intermediate(full, [layer], images, keras.applications.resnet50.preprocess_input)
    assert_close(np.asarray(out), ref)


@pytest.mark.slow
def test_resnet_several_stages_and_unnormalised_input(resnet50, resnet_feats, images):
    # ESRGAN-DP's public code: stages 1-3 of a ResNet50 fed the [0, 1] image as it is.
    full, path = resnet50
    names = RESNET50_LAYERS[:3]
    feats = ResNetFeatures(names, weights=path, preprocess="none")
    out = feats(images)
    assert sorted(out) == sorted(names)
    refs = keras_intermediate(full, list(names), images, lambda x: x / 255.0)  # no preprocessing
    for name, ref in zip(names, refs):
        assert_close(np.asarray(out[name]), ref)
    # The default input is Caffe's: a different network input, different features.
    caffe = np.asarray(resnet_feats(images))  # conv4_block6_out, preprocess="caffe"
    assert np.abs(caffe - refs[2]).max() > 1e-2 * np.abs(refs[2]).max()
    # Nothing past the deepest stage is built; the config round-trips.
    assert not any(layer.name.startswith("conv5_") for layer in feats.network.layers)
    config = feats.get_config()
    assert config["layer_name"] == list(names) and config["preprocess"] == "none"
    with pytest.raises(ValueError, match="preprocess must be one of"):
        ResNetFeatures(weights=None, preprocess="torch")


def test_resnet_bad_layer_name():
    with pytest.raises(ValueError, match="conv4_block6_out") as err:
        ResNetFeatures("conv4_block5_out", weights=None)
    assert all(name in str(err.value) for name in RESNET50_LAYERS)


# ---------------------------------------------------------------------------
# Weights files
# ---------------------------------------------------------------------------
def test_missing_weights_file_is_a_clear_error(tmp_path):
    missing = str(tmp_path / "nope.h5")
    with pytest.raises(FileNotFoundError, match="does not exist"):
        VGGFeatures(weights=missing)
    with pytest.raises(FileNotFoundError, match="ResNet50"):
        ResNetFeatures(weights=missing)


def test_mismatched_weights_file_is_a_clear_error(vgg19, resnet50, tmp_path):
    with pytest.raises(ValueError, match=r"does not hold the weights of .*VGG19"):
        VGGFeatures(weights=resnet50[1])
    with pytest.raises(ValueError, match=r"does not hold the weights of .*ResNet50"):
        ResNetFeatures(weights=vgg19[1])
    # A partial file (a truncated VGG's weights) would load silently without the check.
    partial = str(tmp_path / "partial.weights.h5")
    VGGFeatures("block2_conv2", weights=None).network.save_weights(partial)
    with pytest.raises(ValueError, match="8 weight arrays"):
        VGGFeatures(weights=partial)


def test_legacy_h5_file_round_trip(vgg19, images, tmp_path):
    # The Keras ImageNet downloads are legacy .h5 files; load one written by Keras.
    full, _ = vgg19
    legacy = str(tmp_path / "vgg19_notop.h5")
    keras.saving.save_model(full, legacy)
    feats = VGGFeatures("block1_conv2", pre_activation=False, weights=legacy)(images)
    (ref,) = keras_intermediate(
        full, ["block1_conv2"], images, keras.applications.vgg19.preprocess_input
    )
    assert_close(np.asarray(feats["block1_conv2"]), ref)


# ---------------------------------------------------------------------------
# torchvision's VGG19 file (what BasicSR trains with)
# ---------------------------------------------------------------------------
@pytest.fixture(scope="module")
def torchvision_vgg19(tmp_path_factory, golden_vgg19_state_dict):
    """The golden script's weights as a .safetensors file, with a classifier entry (which
    torchvision's file has and the features never read), and torchvision's outputs."""
    state = dict(golden_vgg19_state_dict)
    state["classifier.6.bias"] = np.zeros(1000, np.float32)
    path = str(tmp_path_factory.mktemp("tv") / "vgg19-dcbb9e9d.safetensors")
    save_file(state, path)
    with np.load(TORCHVISION + ".npz") as golden:
        return path, state, dict(golden)


def test_torchvision_vgg19_file_gives_torchvision_features(torchvision_vgg19):
    path, _, golden = torchvision_vgg19
    with open(TORCHVISION + ".json") as f:
        assert json.load(f)["torchvision"].startswith("0.29.1")
    pre = VGGFeatures(("block2_conv2", "block3_conv4", "block5_conv4"), weights=path)
    assert pre.preprocessing == "torchvision"
    out = pre(golden["image"])
    for name in ("block2_conv2", "block3_conv4", "block5_conv4"):
        assert_close(np.asarray(out[name]), golden[f"{name}_pre"])
    post = VGGFeatures("block5_conv4", pre_activation=False, weights=path)(golden["image"])
    assert_close(np.asarray(post["block5_conv4"]), golden["block5_conv4_post"])
    # Caffe preprocessing on the same weights would be other features: the test can fail.
    caffe = VGGFeatures("block2_conv2", weights=None)
    caffe.network.set_weights(VGGFeatures("block2_conv2", weights=path).network.get_weights())
    wrong = np.asarray(caffe(golden["image"])["block2_conv2"])
    assert np.abs(wrong - golden["block2_conv2_pre"]).max() > 1.0


def test_torchvision_vgg19_pth(torchvision_vgg19, tmp_path):
    torch = pytest.importorskip("torch")
    _, state, golden = torchvision_vgg19
    path = str(tmp_path / "vgg19-dcbb9e9d.pth")
    torch.save({k: torch.from_numpy(v) for k, v in state.items()}, path)
    out = VGGFeatures("block3_conv4", weights=path)(golden["image"])
    assert_close(np.asarray(out["block3_conv4"]), golden["block3_conv4_pre"])


def test_torchvision_vgg19_bad_files(torchvision_vgg19, tmp_path):
    _, state, _ = torchvision_vgg19
    shallow = str(tmp_path / "shallow.safetensors")
    save_file({k: v for k, v in state.items() if int(k.split(".")[1]) < 10}, shallow)
    VGGFeatures("block2_conv2", weights=shallow)  # enough for block2
    with pytest.raises(
        ValueError, match=r"no features\.10\.weight / features\.10\.bias \(block3_conv1\)"
    ):
        VGGFeatures("block3_conv4", weights=shallow)
    wide = dict(state, **{"features.5.weight": np.zeros((128, 32, 3, 3), np.float32)})
    save_file(wide, str(tmp_path / "wide.safetensors"))
    with pytest.raises(ValueError, match=r"features\.5 \(block2_conv1\) is \(128, 32, 3, 3\)"):
        VGGFeatures("block2_conv2", weights=str(tmp_path / "wide.safetensors"))


def test_resnet_refuses_torchvision_files_with_the_reason(torchvision_vgg19):
    with pytest.raises(ValueError, match=r"v1\.5.*--resnet_weights"):
        ResNetFeatures(weights=torchvision_vgg19[0])
