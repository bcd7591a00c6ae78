"""`Trainer`'s step: the same update on 1 and 2 replicas for the PSNR, ESRGAN and ESRGAN-DP
recipes, and the SR the discriminator scores.

Replica equivalence is checked on the Adam moments as well as on the weights: Adam's first
update is lr * g / (|g| + eps), blind to the scale of the gradient, so a wrong reduction
(gradients summed where they should be averaged, a per-replica instead of the global batch)
leaves the weights alike after one step, but not m = (1 - beta_1) g and v = (1 - beta_2) g^2.
The loss networks are the real VGG19 / ResNet50 with random weights, read at shallow layers
(less work, the same step) and shared by both trainers; generator and discriminator are
tiny, their weights copied from one trainer to the other. The steps run eagerly: the loop
runs the same function in a tf.function, and tracing it for every trainer would cost far
more than the step.
"""

import numpy as np
import pytest
import tensorflow as tf

from esrgan_tf import losses
from esrgan_tf.data.config import TrainDataConfig
from esrgan_tf.models.config import ModelConfig
from esrgan_tf.training import distribute
from esrgan_tf.training import trainer as trainer_module
from esrgan_tf.training.config import LossConfig, TrainConfig
from esrgan_tf.training.trainer import Trainer

BATCH = 2  # global batch: one example per replica on 2 replicas
G = dict(num_feat=8, num_block=1, num_grow_ch=4, scale=4)
RECIPES = {
    # ESRGAN §4.1 stage 1: L1 only.
    "psnr": (ModelConfig(**G), LossConfig(pixel_loss="l1", pixel_weight=1.0), 32),
    # ESRGAN §4.1 stage 2: VGG perceptual + 5e-3 RaGAN + 1e-2 L1, with the VGG-style D
    # (its batch norm is synchronised across replicas) at its smallest patch size.
    "esrgan": (
        ModelConfig(**G, discriminator="vgg", d_num_feat=4, d_dense_units=8),
        LossConfig(
            pixel_weight=1e-2,
            perceptual="vgg",
            vgg_layers=("block1_conv2",),  # shallow: less work, the same step
            gan_type="ragan",
            adversarial_weight=5e-3,
            vgg_weights=None,
        ),
        96,
    ),
    # ESRGAN-DP §4.2: the dual perceptual loss (mu = 0.5; its global-batch dynamic weight)
    # with the U-Net D (spectral norm).
    "dp": (
        ModelConfig(**G, discriminator="unet", d_num_feat=4),
        LossConfig(
            pixel_weight=1e-2,
            perceptual="dual",
            vgg_layers=("block1_conv2",),
            resnet_layers=("conv2_block3_out",),
            gan_type="ragan",
            adversarial_weight=5e-3,
            vgg_weights=None,
            resnet_weights=None,
        ),
        32,
    ),
}


@pytest.fixture(scope="module", autouse=True)
def shared_loss_networks():
    """One VGG19 and one ResNet50 (random weights) for every trainer of this module, built
    outside any strategy: frozen, they can be read from both strategies' replicas, and each
    is built once instead of once per trainer. The trainer asks for them with the arguments
    below; other arguments would build their own."""
    built = {}

    def key(cls, args, kwargs):
        return cls.__name__, repr(args), repr(sorted(kwargs.items()))

    def shared(cls):
        def make(*args, **kwargs):
            return built.get(key(cls, args, kwargs)) or cls(*args, **kwargs)

        return make

    vgg, resnet = trainer_module.VGGFeatures, trainer_module.ResNetFeatures
    for cls, args, kwargs in (
        (vgg, (("block1_conv2",), True), dict(weights=None)),
        (resnet, ("conv2_block3_out",), dict(weights=None, preprocess="caffe")),
    ):
        built[key(cls, args, kwargs)] = cls(*args, **kwargs)
    patch = pytest.MonkeyPatch()
    patch.setattr(trainer_module, "VGGFeatures", shared(vgg))
    patch.setattr(trainer_module, "ResNetFeatures", shared(resnet))
    yield built
    patch.undo()


def make_trainer(recipe, replicas, workdir):
    model, loss, hr = RECIPES[recipe]
    config = TrainConfig(
        workdir=str(workdir),
        input=TrainDataConfig(data="unused", hr_size=hr, batch_size=BATCH),
        model=model,
        loss=loss,
        lr_g=1e-2,  # large, so that one update visibly changes the SR
        lr_d=1e-3,
    )
    return Trainer(config, distribute.make_strategy(replicas))


def adam_slots(optimizer, variables):
    """Adam's momentum of every variable, then its velocity (Keras 3 names them
    "<variable>_momentum" and "<variable>_velocity", in the order the optimiser was built)."""
    slots = {
        kind: [v.numpy() for v in optimizer.variables if v.name.endswith(f"_{kind}")]
        for kind in ("momentum", "velocity")
    }
    assert len(slots["momentum"]) == len(slots["velocity"]) == len(variables)
    return slots["momentum"] + slots["velocity"]


def batch(hr_size):
    rng = np.random.default_rng(5)
    hr = rng.random((BATCH, hr_size, hr_size, 3), dtype=np.float32)
    lr = rng.random((BATCH, hr_size // 4, hr_size // 4, 3), dtype=np.float32)
    return tf.constant(lr), tf.constant(hr)


def assert_all_close(a, b, what, atol=None, rtol=1e-4):
    """Arrays equal to `rtol`, and atol (default: 1e-5 of the largest value of all)."""
    assert len(a) == len(b)
    if atol is None:
        atol = 1e-5 * max(np.abs(y).max() for y in b)
    for i, (x, y) in enumerate(zip(a, b)):
        np.testing.assert_allclose(x, y, rtol=rtol, atol=atol, err_msg=f"{what} {i}")


def assert_same_state(
    model_two, model_one, optimizer_two, optimizer_one, what, slot_tolerance=1e-4
):
    """Equal Adam moments; equal non-trainable state (batch-norm moving statistics,
    spectral-norm vectors); equal trainable weights wherever the gradient is well above
    Adam's eps. Moments to `slot_tolerance` (relative, and a tenth of it of the largest);
    weights to 1e-5 (atol 1e-6), or `slot_tolerance` (atol 1e-4) when that is looser than
    1e-4."""
    m_one = adam_slots(optimizer_one, model_one.trainable_variables)
    m_two = adam_slots(optimizer_two, model_two.trainable_variables)
    assert max(np.abs(m).max() for m in m_one) > 0
    scale = max(np.abs(m).max() for m in m_one)
    assert_all_close(
        m_two, m_one, f"{what} Adam slot", 0.1 * slot_tolerance * scale, slot_tolerance
    )
    assert_all_close(
        [v.numpy() for v in model_two.non_trainable_variables],
        [v.numpy() for v in model_one.non_trainable_variables],
        f"{what} non-trainable",
        atol=1e-6,
    )
    # Adam's first update is lr * g / (|g| + 1e-7): lr * sign(g) where |g| >> 1e-7, but a
    # gradient that cancels to near 0 (RaGAN's logit bias has an exact gradient of 0, which
    # two replicas sum to ~1e-9) has a large relative rounding error that Adam turns into
    # an update of a few % of lr. Compare where the gradient is not such a cancellation.
    beta_1 = optimizer_one.beta_1
    for i, (w2, w1, m) in enumerate(
        zip(model_two.trainable_variables, model_one.trainable_variables, m_one)
    ):
        g = np.abs(m) / (1 - beta_1)
        clear = (g > 1e-5) & (g > 1e-2 * g.max())
        np.testing.assert_allclose(
            w2.numpy()[clear],
            w1.numpy()[clear],
            rtol=1e-5 if slot_tolerance <= 1e-4 else slot_tolerance,
            atol=1e-6 if slot_tolerance <= 1e-4 else 1e-4,
            err_msg=f"{what} {i}",
        )


def d_gradient(d, hr, sr):
    """The discriminator's gradient of its RaGAN loss on (hr, sr), on one device."""
    with tf.GradientTape() as tape:
        d_total, _ = losses.discriminator_loss("ragan", hr, sr, d)
        loss = tf.reduce_mean(d_total)
    return [g.numpy() for g in tape.gradient(loss, d.trainable_variables)]


@pytest.mark.slow
@pytest.mark.parametrize("recipe", sorted(RECIPES))
def test_one_step_on_two_replicas_equals_one_replica(recipe, tmp_path):
    one = make_trainer(recipe, 1, tmp_path / "one")
    two = make_trainer(recipe, 2, tmp_path / "two")
    assert (one.num_replicas, two.num_replicas) == (1, 2)
    two.generator.set_weights(one.generator.get_weights())
    d = one.discriminator
    if d is not None:
        two.discriminator.set_weights(d.get_weights())
    lr, hr = batch(RECIPES[recipe][2])
    g0 = one.generator.get_weights()
    vgg_d = recipe == "esrgan"
    if vgg_d:
        # The gradient D should get: that of the SR of G *before* this step's update. (The
        # VGG-style D: its training-mode output has no state, while the U-Net's spectral
        # norm advances its power iteration in every training call.)
        d0 = d.get_weights()
        before = d_gradient(d, hr, one.generator(lr, training=True))
        d.set_weights(d0)  # that call moved the batch-norm moving averages

    stop = tf.constant(0.0)
    logs_one = one.step_on_batch(lr, hr, stop)
    logs_two = two.step_on_batch(lr, hr, stop)

    # The same losses, logged as sums over replicas of per-replica shares of the mean.
    # (Not g_grad_norm / d_grad_norm: the mean over replicas of the norms of each replica's
    # own gradient, which shrinks with the replica count by design of that log.)
    for key in logs_one:
        if not key.endswith("_grad_norm"):
            got, want = float(logs_two[key]), float(logs_one[key])
            assert got == pytest.approx(want, rel=1e-4, abs=1e-7), key
    assert any(not np.array_equal(w.numpy(), w0) for w, w0 in zip(one.generator.weights, g0))
    assert_same_state(two.generator, one.generator, two.g_optimizer, one.g_optimizer, "G")
    if d is None:
        return
    assert_same_state(two.discriminator, d, two.d_optimizer, one.d_optimizer, "D")
    if not vgg_d:
        return
    # Which SR D scored (G first, then D on the same SR: BasicSR's order). Adam's first
    # moment after one update is (1 - beta_1) times the gradient it was given.
    beta_1 = one.d_optimizer.beta_1
    momentum = adam_slots(one.d_optimizer, d.trainable_variables)[: len(before)]
    assert_all_close(momentum, [(1 - beta_1) * g for g in before], "D momentum")
    # The updated G's SR would have given another gradient: that check can fail.
    d.set_weights(d0)
    after = d_gradient(d, hr, one.generator(lr, training=True))
    gap = max(np.abs((1 - beta_1) * a - m).max() / np.abs(m).max() for a, m in zip(after, momentum))
    assert gap > 1e-3


@pytest.mark.slow
def test_the_whole_step_compiles_with_xla_as_a_tpu_needs(tmp_path):
    """TPUStrategy runs a step as one XLA computation: G, the VGG19 loss, RaGAN, both Adam
    updates and batch norm's moving statistics. On the CPU the ESRGAN step, compiled whole
    (`jit_compile=True`) on static shapes, makes the same update as the uncompiled one."""
    plain = make_trainer("esrgan", 1, tmp_path / "plain")
    xla = make_trainer("esrgan", 1, tmp_path / "xla")
    xla.generator.set_weights(plain.generator.get_weights())
    xla.discriminator.set_weights(plain.discriminator.get_weights())
    lr, hr = batch(RECIPES["esrgan"][2])
    stop = tf.constant(0.0)
    compiled = tf.function(lambda lr, hr, stop: xla.step_on_batch(lr, hr, stop), jit_compile=True)
    assert compiled.experimental_get_compiler_ir(lr, hr, stop)(stage="hlo")  # XLA, not TF ops
    logs_xla = compiled(lr, hr, stop)
    logs_plain = plain.step_on_batch(lr, hr, stop)
    assert set(logs_xla) == set(logs_plain)
    # XLA fuses and reorders float32 sums; through the VGG19 loss that reaches 7e-4 of a
    # log and 5e-5 of the largest gradient (measured): the same update, to 2e-3.
    for key in logs_plain:
        np.testing.assert_allclose(
            logs_xla[key], logs_plain[key], rtol=2e-3, atol=1e-6, err_msg=key
        )
    assert_same_state(xla.generator, plain.generator, xla.g_optimizer, plain.g_optimizer, "G", 2e-3)
    assert_same_state(
        xla.discriminator, plain.discriminator, xla.d_optimizer, plain.d_optimizer, "D", 2e-3
    )
