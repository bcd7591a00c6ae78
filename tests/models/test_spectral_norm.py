"""SpectralNorm against a NumPy derivation (always) and torch's spectral_norm (if installed).

The NumPy side derives everything from Miyato et al. 2018 and PyTorch's definition:
M = W viewed as torch's weight.view(out, -1); one power iteration v = normalize(M^T u),
u = normalize(M v); sigma = u^T M v; W_sn = W / sigma; and, with u and v held constant,
dL/dW = G / sigma - <G, W> / sigma^2 * u v^T where G = dL/dW_sn.
"""

import copy

import keras
import numpy as np
import pytest
import tensorflow as tf

from esrgan_tf.models.spectral_norm import SpectralNorm, torch_weight_matrix
from esrgan_tf.training.distribute import make_strategy

IN, OUT = 3, 5  # channels of the tiny conv


def assert_close(actual, expected, rtol=1e-5):
    """max |actual - expected| <= rtol * max |expected| (relative to the array's scale)."""
    actual, expected = np.asarray(actual, np.float64), np.asarray(expected, np.float64)
    assert actual.shape == expected.shape
    error = np.abs(actual - expected).max() / np.abs(expected).max()
    assert error <= rtol, f"relative error {error:.2e} > {rtol:.0e}"


# ---- the NumPy derivation --------------------------------------------------------------


def np_normalize(x, eps=1e-12):
    return x / max(np.linalg.norm(x), eps)


def np_matrix(kernel):
    """Keras [kh, kw, in, out] (or Dense [in, out]) -> torch's weight.view(out, -1)."""
    rank = kernel.ndim
    return kernel.transpose(rank - 1, rank - 2, *range(rank - 2)).reshape(kernel.shape[-1], -1)


def np_from_matrix(matrix, kernel_shape):
    """Inverse of `np_matrix`: an (out, in * kh * kw) matrix in a Keras kernel's layout."""
    kh, kw, cin, cout = kernel_shape
    return matrix.reshape(cout, cin, kh, kw).transpose(2, 3, 1, 0)


def np_power_iteration(kernel, u):
    matrix = np_matrix(kernel)
    v = np_normalize(matrix.T @ u)
    u = np_normalize(matrix @ v)
    return u, v, u @ matrix @ v


def np_patches(x, k):
    """'same' k x k stride-1 patches of NHWC x: [N, H, W, k * k, C] (k odd)."""
    p = k // 2
    padded = np.pad(x, ((0, 0), (p, p), (p, p), (0, 0)))
    h, w = x.shape[1:3]
    return np.stack([padded[:, i : i + h, j : j + w] for i in range(k) for j in range(k)], -2)


def np_conv(x, kernel, bias):
    k = kernel.shape[0]
    flat = kernel.reshape(k * k, *kernel.shape[2:])
    return np.einsum("nhwkc,kco->nhwo", np_patches(x, k), flat) + bias


def np_kernel_gradient(x, upstream, kernel_shape):
    """G = dL/dW_sn of L = sum(upstream * conv(x, W_sn)), in the kernel's layout."""
    k = kernel_shape[0]
    g = np.einsum("nhwkc,nhwo->kco", np_patches(x, k), upstream)
    return g.reshape(kernel_shape)


# ---- fixtures ----------------------------------------------------------------------------


def conv_layer(seed=0, **kwargs):
    keras.utils.set_random_seed(seed)
    layer = SpectralNorm(keras.layers.Conv2D(OUT, 3, padding="same", name="conv"), **kwargs)
    layer.build((None, 6, 7, IN))
    # A kernel with a clear top singular value, so one power iteration is far from sigma
    # and the term through sigma in the gradient is large.
    layer.layer.kernel.assign(np.random.default_rng(seed).normal(size=(3, 3, IN, OUT)))
    layer.layer.bias.assign(np.random.default_rng(seed + 1).normal(size=OUT))
    return layer


def inputs(seed=2, batch=2):
    rng = np.random.default_rng(seed)
    return (
        rng.normal(size=(batch, 6, 7, IN)).astype(np.float32),
        rng.normal(size=(batch, 6, 7, OUT)).astype(np.float32),
    )


def gradient(layer, x, upstream, training=True):
    """dL/dW of L = sum(upstream * layer(x)) and the output."""
    with tf.GradientTape() as tape:
        y = layer(x, training=training)
        loss = tf.reduce_sum(upstream * tf.cast(y, tf.float32))
    return tape.gradient(loss, layer.layer.kernel).numpy(), y.numpy()


# ---- against the NumPy derivation ----------------------------------------------------------


def test_initial_vectors_are_unit_normal_draws_like_torch():
    layer = conv_layer()
    assert layer.u.shape == (OUT,) and layer.v.shape == (IN * 9,)
    for vector in (layer.u, layer.v):
        assert vector.dtype == "float32" and not vector.trainable
        assert np.linalg.norm(vector.numpy()) == pytest.approx(1.0, abs=1e-6)
    # Seeded by Keras's global seed: the same seed gives the same vectors.
    np.testing.assert_array_equal(conv_layer().u.numpy(), layer.u.numpy())
    assert not np.allclose(conv_layer(seed=3).u.numpy(), layer.u.numpy())


def test_torch_weight_matrix_is_torch_view_order():
    kernel = np.arange(2 * 3 * 4 * 5, dtype=np.float32).reshape(2, 3, 4, 5)
    torch_weight = kernel.transpose(3, 2, 0, 1)  # [out, in, kh, kw], as a converter writes it
    np.testing.assert_array_equal(torch_weight_matrix(kernel), torch_weight.reshape(5, -1))
    dense = np.arange(12, dtype=np.float32).reshape(3, 4)
    np.testing.assert_array_equal(torch_weight_matrix(dense), dense.T)


def test_training_forward_is_one_power_iteration_then_w_over_sigma():
    layer = conv_layer()
    x, _ = inputs()
    kernel, bias, u0 = layer.layer.kernel.numpy(), layer.layer.bias.numpy(), layer.u.numpy()
    u1, v1, sigma = np_power_iteration(kernel.astype(np.float64), u0.astype(np.float64))
    y = layer(x, training=True).numpy()
    assert_close(y, np_conv(x, kernel / sigma, bias))
    assert_close(layer.u.numpy(), u1)
    assert_close(layer.v.numpy(), v1)
    # One iteration from a random u is well below the true sigma: the test would notice
    # if the layer used the exact SVD instead.
    assert sigma < 0.99 * np.linalg.svd(np_matrix(kernel), compute_uv=False)[0]


def test_inference_uses_the_stored_u_and_v_and_does_not_update_them():
    layer = conv_layer()
    x, _ = inputs()
    layer(x, training=True)
    u, v = layer.u.numpy(), layer.v.numpy()
    kernel, bias = layer.layer.kernel.numpy(), layer.layer.bias.numpy()
    sigma = u @ np_matrix(kernel) @ v
    for training in (False, None):
        assert_close(layer(x, training=training), np_conv(x, kernel / sigma, bias))
        np.testing.assert_array_equal(layer.u.numpy(), u)
        np.testing.assert_array_equal(layer.v.numpy(), v)
    # The kernel variable stays W (Keras's SpectralNormalization would hold W / sigma).
    np.testing.assert_array_equal(layer.layer.kernel.numpy(), kernel)
    layer(x, training=True)
    assert not np.allclose(layer.u.numpy(), u)


def test_gradient_flows_through_sigma():
    layer = conv_layer()
    x, upstream = inputs()
    kernel, u0 = layer.layer.kernel.numpy().astype(np.float64), layer.u.numpy().astype(np.float64)
    got, _ = gradient(layer, x, upstream)

    u, v, sigma = np_power_iteration(kernel, u0)
    g = np_kernel_gradient(x.astype(np.float64), upstream.astype(np.float64), kernel.shape)
    # d(W / sigma) with dsigma/dW = u v^T (u, v constant, as torch's autograd sees them):
    # dL/dW = G / sigma - <G, W> / sigma^2 * u v^T.
    through_sigma = np.sum(g * kernel) / sigma**2 * np_from_matrix(np.outer(u, v), kernel.shape)
    expected = g / sigma - through_sigma
    assert_close(got, expected)
    # The term through sigma matters here: dropping it would fail the comparison above.
    assert np.abs(through_sigma).max() > 0.05 * np.abs(expected).max()


def test_gradient_differs_from_keras_spectral_normalization():
    ours = conv_layer()
    x, upstream = inputs()
    theirs = keras.layers.SpectralNormalization(keras.layers.Conv2D(OUT, 3, padding="same"))
    theirs.build(x.shape)
    kernel, u0 = ours.layer.kernel.numpy(), ours.u.numpy()
    theirs.layer.kernel.assign(kernel)
    theirs.layer.bias.assign(ours.layer.bias.numpy())
    theirs.vector_u.assign(u0[None])

    g_ours, y_ours = gradient(ours, x, upstream)
    g_theirs, y_theirs = gradient(theirs, x, upstream)
    # Same forward (the same power iteration from the same u) ...
    assert_close(y_theirs, y_ours)
    # ... but Keras's gradient is G, taken at its kernel variable now holding W / sigma,
    # with neither the 1 / sigma factor nor the term through sigma.
    _, _, sigma = np_power_iteration(kernel.astype(np.float64), u0.astype(np.float64))
    np.testing.assert_allclose(theirs.layer.kernel.numpy(), kernel / sigma, rtol=1e-5)
    assert_close(g_theirs, np_kernel_gradient(x, upstream, kernel.shape))
    assert np.abs(g_ours - g_theirs).max() > 0.1 * np.abs(g_ours).max()


def test_several_power_iterations_and_dense():
    keras.utils.set_random_seed(0)
    layer = SpectralNorm(keras.layers.Dense(4, activation="tanh"), power_iterations=3)
    x = np.random.default_rng(0).normal(size=(5, 6)).astype(np.float32)
    layer.build(x.shape)
    kernel, bias, u = layer.layer.kernel.numpy(), layer.layer.bias.numpy(), layer.u.numpy()
    for _ in range(3):
        v = np_normalize(kernel @ u)  # matrix = kernel.T for a Dense kernel [in, out]
        u = np_normalize(kernel.T @ v)
    sigma = u @ kernel.T @ v
    assert_close(layer(x, training=True), np.tanh(x @ (kernel / sigma) + bias))
    assert_close(layer.u.numpy(), u)


# ---- against PyTorch ---------------------------------------------------------------------------


def torch_copy(torch, layer):
    """torch's spectral_norm(Conv2d) with the Keras layer's W, bias, u and v."""
    conv = layer.layer
    module = torch.nn.utils.spectral_norm(torch.nn.Conv2d(IN, OUT, 3, padding=1))
    with torch.no_grad():
        module.weight_orig.copy_(torch.from_numpy(conv.kernel.numpy().transpose(3, 2, 0, 1)))
        module.bias.copy_(torch.from_numpy(conv.bias.numpy()))
        module.weight_u.copy_(torch.from_numpy(layer.u.numpy()))
        module.weight_v.copy_(torch.from_numpy(layer.v.numpy()))
    return module


def test_matches_torch_spectral_norm_forward_gradient_and_buffers():
    torch = pytest.importorskip("torch")
    layer = conv_layer()
    module = torch_copy(torch, layer)
    x, upstream = inputs()
    x_t = torch.from_numpy(x.transpose(0, 3, 1, 2))
    upstream_t = torch.from_numpy(upstream.transpose(0, 3, 1, 2))

    # Two training calls, each one power iteration from the stored u; then inference.
    for _ in range(2):
        module.train()
        module.zero_grad()
        y_t = module(x_t)
        (upstream_t * y_t).sum().backward()
        g, y = gradient(layer, x, upstream)
        assert_close(y, y_t.detach().numpy().transpose(0, 2, 3, 1))
        assert_close(g, module.weight_orig.grad.numpy().transpose(2, 3, 1, 0))
        assert_close(layer.u.numpy(), module.weight_u.numpy())
        assert_close(layer.v.numpy(), module.weight_v.numpy())

    module.eval()
    with torch.no_grad():
        y_t = module(x_t).numpy().transpose(0, 2, 3, 1)
    assert_close(layer(x, training=False), y_t)


def test_matches_torch_on_a_dense_layer():
    torch = pytest.importorskip("torch")
    keras.utils.set_random_seed(0)
    layer = SpectralNorm(keras.layers.Dense(4))
    x = np.random.default_rng(0).normal(size=(5, 6)).astype(np.float32)
    layer.build(x.shape)
    module = torch.nn.utils.spectral_norm(torch.nn.Linear(6, 4))
    with torch.no_grad():
        module.weight_orig.copy_(torch.from_numpy(layer.layer.kernel.numpy().T))
        module.bias.copy_(torch.from_numpy(layer.layer.bias.numpy()))
        module.weight_u.copy_(torch.from_numpy(layer.u.numpy()))
    y_t = module(torch.from_numpy(x))
    y_t.sum().backward()
    with tf.GradientTape() as tape:
        y = layer(x, training=True)
        loss = tf.reduce_sum(y)
    assert_close(y, y_t.detach().numpy())
    assert_close(tape.gradient(loss, layer.layer.kernel), module.weight_orig.grad.numpy().T)


# ---- state: checkpoints, configs, files ---------------------------------------------------------


def test_checkpoint_saves_and_restores_u_and_v(tmp_path):
    layer = conv_layer()
    x, _ = inputs()
    layer(x, training=True)
    prefix = tf.train.Checkpoint(layer=layer).save(str(tmp_path / "ckpt"))
    names = {name for name, _ in tf.train.list_variables(prefix)}
    assert {"layer/u/.ATTRIBUTES/VARIABLE_VALUE", "layer/v/.ATTRIBUTES/VARIABLE_VALUE"} <= names

    other = conv_layer(seed=5)
    tf.train.Checkpoint(layer=other).restore(prefix).assert_consumed()
    for a, b in zip(layer.weights, other.weights):
        np.testing.assert_array_equal(a.numpy(), b.numpy(), err_msg=a.path)
    np.testing.assert_array_equal(other(x), layer(x))


def test_config_and_keras_file_round_trip(tmp_path):
    layer = conv_layer(power_iterations=2, eps=1e-10)
    config = layer.get_config()
    assert config["power_iterations"] == 2 and config["eps"] == 1e-10
    clone = SpectralNorm.from_config(copy.deepcopy(config))  # Wrapper.from_config pops
    assert clone.get_config() == config
    assert clone.layer.get_config() == layer.layer.get_config()

    x, _ = inputs()
    model = keras.Sequential([keras.Input(x.shape[1:]), conv_layer()])
    model(x, training=True)
    model.save(tmp_path / "model.keras")
    loaded = keras.models.load_model(tmp_path / "model.keras")
    assert isinstance(loaded.layers[0], SpectralNorm)
    for a, b in zip(model.weights, loaded.weights):
        np.testing.assert_array_equal(a.numpy(), b.numpy(), err_msg=a.path)
    np.testing.assert_array_equal(loaded(x), model(x))


def test_bad_arguments():
    with pytest.raises(ValueError, match="Dense, Conv1D, Conv2D or Conv3D"):
        SpectralNorm(keras.layers.Conv2DTranspose(2, 3))
    with pytest.raises(ValueError, match="power_iterations"):
        SpectralNorm(keras.layers.Dense(2), power_iterations=0)
    with pytest.raises(ValueError, match="runs in float32"):
        SpectralNorm(keras.layers.Dense(2), dtype="mixed_float16")


# ---- precision, distribution, export -------------------------------------------------------------


def test_mixed_precision_keeps_the_power_iteration_in_float32():
    x, _ = inputs()
    reference = conv_layer()
    expected = reference(x, training=True).numpy()
    keras.mixed_precision.set_global_policy("mixed_float16")
    try:
        layer = conv_layer()
    finally:
        keras.mixed_precision.set_global_policy("float32")
    assert layer.layer.compute_dtype == "float16" and layer.compute_dtype == "float32"
    y = layer(x, training=True)
    assert y.dtype == "float16"
    # u, v and sigma from the unrounded float32 W: the same as a float32 run.
    assert_close(layer.u.numpy(), reference.u.numpy())
    assert_close(layer.v.numpy(), reference.v.numpy())
    assert_close(y, expected, rtol=3e-3)  # the float16 conv itself


def test_mirrored_strategy_matches_one_device():
    strategy = make_strategy(2)
    assert strategy.num_replicas_in_sync == 2
    with strategy.scope():
        replicated = conv_layer()
    single = conv_layer()
    x, upstream = inputs(batch=4)

    @tf.function
    def step(batch):
        def replica_fn(x, upstream):
            with tf.GradientTape() as tape:
                loss = tf.reduce_sum(upstream * replicated(x, training=True))
            return tape.gradient(loss, replicated.layer.kernel)

        per_replica = strategy.run(replica_fn, args=batch)
        return strategy.reduce("sum", per_replica, axis=None)

    dataset = tf.data.Dataset.from_tensor_slices((x, upstream)).batch(4)
    batch = next(iter(strategy.experimental_distribute_dataset(dataset)))
    assert [t.shape[0] for t in strategy.experimental_local_results(batch[0])] == [2, 2]
    g_replicated = step(batch).numpy()
    g_single, _ = gradient(single, x, upstream)

    assert_close(g_replicated, g_single)
    for name in ("u", "v"):
        copies = [c.numpy() for c in getattr(replicated, name).value.values]
        assert len(copies) == 2
        np.testing.assert_array_equal(copies[0], copies[1])
        assert_close(copies[0], getattr(single, name).numpy())

    # Should the copies ever differ, the first replica's update is kept on all of them
    # (as DDP broadcasts rank 0's buffers), so they cannot drift apart.
    first, second = replicated.u.value.values
    second.assign(-first.numpy())
    single.u.assign(first.numpy())
    step(batch)
    gradient(single, x, upstream)
    for component in replicated.u.value.values:
        assert_close(component.numpy(), single.u.numpy())


def test_inference_exports_to_saved_model_and_tflite(tmp_path):
    interpreter_lib = pytest.importorskip("ai_edge_litert.interpreter")
    layer = conv_layer()
    x, _ = inputs(batch=1)
    layer(x, training=True)
    expected = layer(x, training=False).numpy()

    serve = tf.function(lambda images: layer(images, training=False))
    spec = tf.TensorSpec([1, 6, 7, IN], tf.float32)
    # Inference only reads u and v: no variable writes for the exported graph to carry.
    ops = {op.type for op in serve.get_concrete_function(spec).graph.get_operations()}
    assert "ReadVariableOp" in ops and "AssignVariableOp" not in ops
    archive = keras.export.ExportArchive()
    archive.track(layer)
    archive.add_endpoint("serve", serve, input_signature=[spec])
    archive.write_out(str(tmp_path / "saved"), verbose=False)
    restored = tf.saved_model.load(str(tmp_path / "saved"))
    assert_close(restored.serve(x), expected)

    converter = tf.lite.TFLiteConverter.from_saved_model(str(tmp_path / "saved"), ["serve"])
    interpreter = interpreter_lib.Interpreter(model_content=converter.convert())
    interpreter.allocate_tensors()
    interpreter.set_tensor(interpreter.get_input_details()[0]["index"], x)
    interpreter.invoke()
    assert_close(interpreter.get_tensor(interpreter.get_output_details()[0]["index"]), expected)
