"""Optimisers of the training stages: Adam with a multi-step schedule, and updates with
dynamic loss scaling for float16 that stay consistent across replicas."""

import keras
import tensorflow as tf


def learning_rate(initial, milestones, gamma):
    """The multi-step schedule: `initial` without milestones, else `rate(update)`.

    The k-th update (k = 1, 2, ...) uses `initial * gamma**j`, j = the number of milestones
    <= k: a milestone m applies from the m-th update on, as BasicSR's MultiStepLR does
    (ESRGAN §4.1 halves the rate at 50k, 100k, 200k and 300k iterations). The trainer
    evaluates it on its own step counter, not on the optimiser's: a LossScaleOptimizer
    does not count the updates it skips, which would shift every milestone.
    """
    if not milestones:
        return initial
    boundaries = tf.constant(list(milestones), tf.int64)

    def rate(update):
        passed = tf.reduce_sum(tf.cast(tf.cast(update, tf.int64) >= boundaries, tf.float32))
        return initial * tf.pow(tf.cast(gamma, tf.float32), passed)

    return rate


def adam(schedule, beta_1, beta_2, loss_scaling=False):
    """Adam; wrapped in a `LossScaleOptimizer` for float16 training (`loss_scaling`).

    float16 gradients underflow without loss scaling; bfloat16 has float32's range.
    """
    optimizer = keras.optimizers.Adam(schedule, beta_1=beta_1, beta_2=beta_2)
    return keras.optimizers.LossScaleOptimizer(optimizer) if loss_scaling else optimizer


def apply_gradients(optimizer, tape, loss, variables, num_replicas, prefix):
    """One update of `variables` from `loss` (already scaled for a LossScaleOptimizer).

    Runs in a replica context. Returns logs to be summed over replicas:
    `<prefix>_grad_norm` (the mean over replicas of the gradient norm; part of the logs
    so that a finiteness check also catches a NaN update whose loss was still finite)
    and, with loss scaling, `<prefix>_overflow` and `<prefix>_loss_scale`. An overflow
    is not divergence: the update is skipped and the scale halved.
    """
    grads = tape.gradient(loss, variables)
    if not isinstance(optimizer, keras.optimizers.LossScaleOptimizer):
        optimizer.apply_gradients(zip(grads, variables))
        return {f"{prefix}_grad_norm": tf.linalg.global_norm(grads) / num_replicas}
    scale = tf.identity(optimizer.dynamic_scale)  # before the update may change it
    # Keras's LossScaleOptimizer skips or applies by the *first* replica's gradients, so
    # an overflow on another replica would be summed into the update: make an overflow
    # anywhere an overflow everywhere.
    local = tf.reduce_all([tf.reduce_all(tf.math.is_finite(g)) for g in grads])
    ctx = tf.distribute.get_replica_context()
    overflow = ctx.all_reduce("sum", 1.0 - tf.cast(local, tf.float32)) > 0
    poison = tf.where(overflow, float("nan"), 1.0)
    grads = [g * tf.cast(poison, g.dtype) for g in grads]
    optimizer.apply_gradients(zip(grads, variables))
    norm = tf.linalg.global_norm(grads) / tf.cast(scale, tf.float32)
    return {
        f"{prefix}_grad_norm": tf.where(overflow, 0.0, norm) / num_replicas,
        f"{prefix}_overflow": tf.cast(overflow, tf.float32) / num_replicas,
        f"{prefix}_loss_scale": tf.cast(scale, tf.float32) / num_replicas,
    }
