"""Optimisation: the multi-step schedule, and updates with loss scaling across replicas."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from esrgan_tf.training import optimization
from esrgan_tf.training.distribute import make_strategy


def test_multistep_schedule_follows_basicsr():
    """MultiStepLR in BasicSR: milestone m applies from the m-th iteration on."""
    rate = optimization.learning_rate(1e-3, (2, 4), 0.5)
    assert [float(rate(k)) for k in range(1, 6)] == pytest.approx(
        [1e-3, 5e-4, 5e-4, 2.5e-4, 2.5e-4]
    )
    assert optimization.learning_rate(1e-3, (), 0.5) == 1e-3


def test_esrgan_gan_stage_milestones():
    # ESRGAN §4.1: 1e-4 halved at 50k, 100k, 200k and 300k.
    rate = optimization.learning_rate(1e-4, (50_000, 100_000, 200_000, 300_000), 0.5)
    expected = {
        1: 1e-4,
        49_999: 1e-4,
        50_000: 5e-5,
        100_000: 2.5e-5,
        299_999: 1.25e-5,
        300_000: 6.25e-6,
        400_000: 6.25e-6,
    }
    for update, value in expected.items():
        assert float(rate(update)) == pytest.approx(value)


def test_adam_wraps_a_loss_scale_optimizer_only_for_fp16():
    plain = optimization.adam(1e-3, 0.9, 0.99)
    assert isinstance(plain, keras.optimizers.Adam) and plain.beta_2 == 0.99
    scaled = optimization.adam(1e-3, 0.9, 0.99, loss_scaling=True)
    assert isinstance(scaled, keras.optimizers.LossScaleOptimizer)


def _one_update(loss_scaling, grads_by_replica):
    """Applies per-replica gradient values to a 2-variable model on 2 replicas."""
    strategy = make_strategy(2)
    with strategy.scope():
        variable = tf.Variable([1.0, 2.0])
        optimizer = optimization.adam(0.1, 0.9, 0.999, loss_scaling=loss_scaling)
        optimizer.build([variable])
    per_replica = tf.constant(grads_by_replica, tf.float32)

    @tf.function
    def step():
        def replica_fn():
            replica = tf.distribute.get_replica_context().replica_id_in_sync_group
            target = tf.gather(per_replica, replica)
            with tf.GradientTape() as tape:
                loss = tf.reduce_sum(variable * target)  # gradient = target
                if loss_scaling:
                    loss = optimizer.scale_loss(loss)
            return optimization.apply_gradients(optimizer, tape, loss, [variable], 2, "g")

        logs = strategy.run(replica_fn)
        return {k: strategy.reduce("sum", v, axis=None) for k, v in logs.items()}

    return variable, optimizer, {k: float(v) for k, v in step().items()}


def test_gradient_norm_is_the_mean_over_replicas():
    variable, _, logs = _one_update(False, [[3.0, 4.0], [6.0, 8.0]])
    assert logs["g_grad_norm"] == pytest.approx((5.0 + 10.0) / 2)
    assert not np.allclose(variable.numpy(), [1.0, 2.0])


def test_overflow_on_one_replica_skips_the_update_everywhere():
    variable, optimizer, logs = _one_update(True, [[1.0, 1.0], [np.inf, 1.0]])
    assert logs["g_overflow"] == 1.0 and logs["g_grad_norm"] == 0.0
    np.testing.assert_array_equal(variable.numpy(), [1.0, 2.0])  # not NaN, not applied
    assert float(optimizer.dynamic_scale.numpy()) == logs["g_loss_scale"] / 2
