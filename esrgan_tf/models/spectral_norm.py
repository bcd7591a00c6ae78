"""Spectral normalisation as Miyato et al. and PyTorch's `torch.nn.utils.spectral_norm` define it.

The wrapped layer's kernel stays the trainable parameter W; every call computes
W_sn = W / sigma(W) and convolves with it, so the gradient reaches W through sigma too.
`keras.layers.SpectralNormalization` instead overwrites the kernel with W / sigma in each
training call and back-propagates to that variable as if sigma were a constant.
"""

import math

import keras
from keras import ops

_PKG = "esrgan_tf"

# Layers whose kernel is [*spatial, in, out] (Dense: [in, out]) and whose PyTorch twin
# keeps out on dim 0, where torch's spectral_norm takes the matrix rows from (dim=0).
_SUPPORTED = (keras.layers.Dense, keras.layers.Conv1D, keras.layers.Conv2D, keras.layers.Conv3D)


def l2_normalize(x, eps):
    """x / max(||x||_2, eps): PyTorch's `F.normalize(x, dim=0, eps=eps)` of a vector."""
    return x / ops.maximum(ops.sqrt(ops.sum(ops.square(x))), eps)


def torch_weight_matrix(kernel):
    """A Keras kernel as PyTorch's `weight.view(out, -1)`, in the same element order.

    Keras keeps conv kernels as [*spatial, in, out] and Dense kernels as [in, out];
    PyTorch as [out, in, *spatial] and [out, in]. Row i is output channel i, its columns
    run over (in, *spatial) in row-major order, as in PyTorch; so u, v and sigma equal
    torch's for the same weights, and its `weight_u`, `weight_v` buffers load unchanged.
    """
    rank = len(kernel.shape)
    kernel = ops.transpose(kernel, (rank - 1, rank - 2, *range(rank - 2)))
    return ops.reshape(kernel, (kernel.shape[0], -1))


def _unit_normal_initializer():
    # PyTorch's spectral_norm: u, v ~ N(0, 1), then normalised. The seed is drawn now,
    # from Keras's global seed (`keras.utils.set_random_seed`).
    normal = keras.initializers.RandomNormal(mean=0.0, stddev=1.0)

    def initializer(shape, dtype=None):
        return l2_normalize(normal(shape, dtype=dtype), 1e-12)

    return initializer


@keras.saving.register_keras_serializable(package=_PKG)
class SpectralNorm(keras.layers.Wrapper):
    """Spectral normalisation of a Dense or Conv layer: W_sn = W / sigma(W).

    sigma(W) = u^T W v, the largest singular value of W estimated by power iteration on
    W viewed as PyTorch's `weight.view(out, -1)` (`torch_weight_matrix`). A training call
    first runs `power_iterations` steps v <- normalize(W^T u), u <- normalize(W v) from
    the stored u and stores the new u and v; an inference call uses the stored u and v
    as they are. u and v are then held constant (`stop_gradient`, as PyTorch computes
    them under `no_grad`), so dL/dW = G / sigma - <G, W> / sigma^2 * u v^T with
    G = dL/dW_sn: the gradient flows through sigma, unlike
    `keras.layers.SpectralNormalization`, which trains the normalised kernel as if sigma
    were a constant. As in PyTorch, an inference call before any training call divides
    by u^T W v of the random initial vectors.

    This layer's own dtype policy is float32: it reads W unrounded and computes the
    power iteration and sigma in float32 under any global policy (float16 would lose
    W's precision and can overflow in the normalisation); the wrapped op then runs in
    the wrapped layer's compute dtype (float16 under mixed_float16). u and v are
    non-trainable float32 variables (checkpointed; u has the shape of torch's
    `weight_u`, v of `weight_v`). Under tf.distribute they are updated with
    ONLY_FIRST_REPLICA aggregation: every replica computes the same u and v from the
    same W, and the first replica's values are kept, as PyTorch's DistributedDataParallel
    broadcasts rank 0's buffers. Inference reads u and v without a Python-side branch
    on tensors, so SavedModel and TFLite export trace a plain function of the variables.

    Args:
        layer: a `keras.layers.Dense`, `Conv1D`, `Conv2D` or `Conv3D` (no LoRA or
            quantisation); its `kernel` is the trainable W.
        power_iterations: power-iteration steps per training call (1, as Miyato et al.
            and PyTorch's default).
        eps: the floor of the norm in each normalisation (PyTorch's 1e-12).
    Reference: Miyato et al., "Spectral Normalization for Generative Adversarial
    Networks", ICLR 2018, §2.1 (W_sn = W / sigma(W)), §2.2 (the power iteration),
    §2.3 (the gradient through sigma) and Appendix A, Algorithm 1 (one power iteration
    per update, u reused across updates); PyTorch's
    `torch.nn.utils.spectral_norm` (`SpectralNorm.compute_weight`: the view(out, -1)
    matrix, eps, and eval mode using the stored u and v).
    """

    def __init__(self, layer, power_iterations=1, eps=1e-12, **kwargs):
        if not isinstance(layer, _SUPPORTED):
            raise ValueError(
                "SpectralNorm wraps a Dense, Conv1D, Conv2D or Conv3D layer, got "
                f"{type(layer).__name__}"
            )
        if power_iterations < 1:
            raise ValueError(f"power_iterations must be >= 1, got {power_iterations}")
        # This layer is float32 (the variables read unrounded, the power iteration and
        # sigma in float32) without autocasting its inputs: `call` casts the inputs and
        # W_sn to the wrapped layer's compute dtype itself.
        kwargs.setdefault("dtype", "float32")
        super().__init__(layer, autocast=False, **kwargs)
        if self.compute_dtype != "float32" or self.variable_dtype != "float32":
            raise ValueError(
                f"SpectralNorm runs in float32, got dtype={self.dtype_policy.name!r}; the "
                "wrapped op runs in the wrapped layer's dtype policy: set that one instead"
            )
        self.power_iterations = power_iterations
        self.eps = eps

    def build(self, input_shape):
        super().build(input_shape)
        if getattr(self.layer, "lora_enabled", False) or getattr(
            self.layer, "quantization_mode", None
        ):
            raise ValueError("SpectralNorm does not support LoRA or quantised layers")
        kernel_shape = tuple(self.layer.kernel.shape)
        rows, cols = kernel_shape[-1], math.prod(kernel_shape[:-1])
        for name, size in (("u", rows), ("v", cols)):
            variable = self.add_weight(
                shape=(size,),
                initializer=_unit_normal_initializer(),
                dtype="float32",
                trainable=False,
                autocast=False,
                aggregation="only_first_replica",
                name=name,
            )
            setattr(self, name, variable)

    def normalized_kernel(self, training=False):
        """W / sigma(W) in float32 (the kernel's shape); in training, updates u and v."""
        kernel = ops.cast(self.layer.kernel, "float32")
        matrix = torch_weight_matrix(kernel)
        u = ops.convert_to_tensor(self.u)
        v = ops.convert_to_tensor(self.v)
        if training:
            for _ in range(self.power_iterations):
                v = l2_normalize(ops.matmul(ops.transpose(matrix), u), self.eps)
                u = l2_normalize(ops.matmul(matrix, v), self.eps)
            self.u.assign(u)
            self.v.assign(v)
        u = ops.stop_gradient(u)
        v = ops.stop_gradient(v)
        sigma = ops.sum(u * ops.matmul(matrix, v))
        return kernel / sigma

    def call(self, inputs, training=False):
        layer = self.layer
        dtype = layer.compute_dtype
        kernel = ops.cast(self.normalized_kernel(training=bool(training)), dtype)
        inputs = ops.cast(inputs, dtype)
        # The wrapped layer's own call with W_sn in place of its kernel variable.
        if isinstance(layer, keras.layers.Dense):
            outputs = ops.matmul(inputs, kernel)
            bias_shape = (layer.units,)
        else:
            outputs = layer.convolution_op(inputs, kernel)
            if layer.data_format == "channels_last":
                bias_shape = (1,) * (layer.rank + 1) + (layer.filters,)
            else:
                bias_shape = (1, layer.filters) + (1,) * layer.rank
        if layer.bias is not None:
            outputs = outputs + ops.reshape(ops.cast(layer.bias, dtype), bias_shape)
        if layer.activation is not None:
            outputs = layer.activation(outputs)
        return outputs

    def compute_output_shape(self, input_shape):
        return self.layer.compute_output_shape(input_shape)

    def get_config(self):
        return {
            **super().get_config(),
            "power_iterations": self.power_iterations,
            "eps": self.eps,
        }
