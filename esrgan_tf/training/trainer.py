"""The training step of one stage (PSNR-oriented or GAN) of SRGAN, ESRGAN or ESRGAN-DP.

The shape of Orbit's single-task trainer: a `Trainer` owns a stage's networks, optimisers
and step counter; `distribute` splits a worker's batch among its replicas' devices and
`step_on_replicas` runs `strategy.run(replica_step)` on it (call them inside a `tf.function`).
The loop around it -- input, checkpoints, summaries, validation, signals -- is
`esrgan_tf.training.loop`; each recipe's loss composition is
`esrgan_tf.losses.generator_loss` / `discriminator_loss`.

Losses are per example and reduced with the GLOBAL batch size (`tf.nn.compute_average_loss`):
gradients are summed across replicas, so each replica's loss must already be divided by the
global batch for the sum to be the mean.
"""

import functools

import tensorflow as tf

from esrgan_tf import losses
from esrgan_tf.formats import generators
from esrgan_tf.models.builders import built_discriminator, built_generator
from esrgan_tf.models.features import ResNetFeatures, VGGFeatures
from esrgan_tf.training import optimization
from esrgan_tf.training.config import MIXED_PRECISION
from esrgan_tf.training.distribute import is_tpu


def _op_determinism():
    """Whether `tf.config.experimental.enable_op_determinism` is on in this process (it
    cannot be turned off again, so an earlier run's setting holds)."""
    from tensorflow.python.framework import config  # pylint: disable=import-outside-toplevel

    return config.is_op_determinism_enabled()


class Trainer:
    """The networks, optimisers and step of one stage described by a `TrainConfig`.

    Everything that owns variables is created in `strategy.scope()`.

    Args:
        config: the stage.
        strategy: its `tf.distribute` strategy.
        num_workers: hosts of a multi-worker strategy; each feeds its local replicas.
    Attributes:
        compiled: the networks the step runs as XLA computations (with `jit_compile`).
    """

    def __init__(self, config, strategy, num_workers=1):
        self.config = config
        self.strategy = strategy
        self.num_replicas = strategy.num_replicas_in_sync
        if config.input.batch_size % self.num_replicas:
            raise ValueError(
                f"batch_size {config.input.batch_size} is not divisible by the "
                f"{self.num_replicas} replicas"
            )
        self.global_batch = config.input.batch_size
        self.local_replicas = self.num_replicas // num_workers
        hr = config.input.hr_size
        # Mixed precision: G and D compute in bf16/fp16 (float32 variables and output
        # layers); the loss networks are built under the float32 default.
        policy = MIXED_PRECISION[config.precision]
        self.loss_scaling = config.precision == "fp16"
        loss = config.loss
        with strategy.scope():
            self.generator = built_generator(config.model, policy)
            self.ema_generator = built_generator(config.model, policy) if config.ema_decay else None
            self.discriminator = (
                built_discriminator(config.model, hr, policy) if config.is_gan else None
            )
            self.vgg = self.resnet = None
            if loss.perceptual != "none":
                self.vgg = VGGFeatures(
                    loss.vgg_layers, loss.vgg_pre_activation, weights=loss.vgg_weights
                )
            if loss.perceptual == "dual":
                layers = loss.resnet_layers
                self.resnet = ResNetFeatures(
                    layers[0] if len(layers) == 1 else tuple(layers),
                    weights=loss.resnet_weights,
                    preprocess=loss.resnet_preprocess,
                )
            adam = functools.partial(
                optimization.adam,
                beta_1=config.adam_beta1,
                beta_2=config.adam_beta2,
                loss_scaling=self.loss_scaling,
            )
            self.schedules = {
                name: optimization.learning_rate(rate, config.lr_milestones, config.lr_gamma)
                for name, rate in (("lr_g", config.lr_g), ("lr_d", config.lr_d))
            }
            self.step = tf.Variable(0, dtype=tf.int64, trainable=False, name="step")
            self.g_optimizer = adam(self._rate("lr_g"))
            self.g_optimizer.build(self.generator.trainable_variables)
            self.d_optimizer = None
            if self.discriminator is not None:
                self.d_optimizer = adam(self._rate("lr_d"))
                self.d_optimizer.build(self.discriminator.trainable_variables)
        self._networks = self._network_calls(config.jit_compile)

    # -------------------------------------------------------------------- state
    def trackables(self):
        """{name: trackable} of everything a checkpoint of this stage holds."""
        tracked = dict(generator=self.generator, g_optimizer=self.g_optimizer, step=self.step)
        if self.ema_generator is not None:
            tracked["ema_generator"] = self.ema_generator
        if self.discriminator is not None:
            tracked.update(discriminator=self.discriminator, d_optimizer=self.d_optimizer)
        return tracked

    def initialise(self, init_checkpoint):
        """Start a new run: the generator from `init_checkpoint` ('' = random init), and the
        EMA generator equal to it (BasicSR). Returns what was loaded, or None."""
        loaded = None
        if init_checkpoint:
            # From a training run, start from its EMA generator when it kept one: that is
            # the model its validation reported.
            loaded = generators.load_into(self.generator, init_checkpoint, use_ema=True)
        if self.ema_generator is not None:
            for e, w in zip(self.ema_generator.weights, self.generator.weights):
                e.assign(w)
        return loaded

    def _rate(self, name):
        """An optimiser's learning rate: a float, or the schedule of the update being made
        (number `step + 1`), read when the optimiser applies it."""
        schedule = self.schedules[name]
        return (lambda: schedule(self.step + 1)) if callable(schedule) else schedule

    def reset_constant_learning_rates(self):
        """After a restore: a constant rate is an optimiser variable and was restored with
        it, but this run's flags decide it (schedules are recomputed from the step)."""
        for name, optimizer in (("lr_g", self.g_optimizer), ("lr_d", self.d_optimizer)):
            if optimizer is not None and not callable(self.schedules[name]):
                optimizer.learning_rate = self.schedules[name]

    def learning_rate_tensors(self):
        """{name: rate} of the last update (number `step`) as tensors, for summaries inside
        a `tf.function`."""
        names = ("lr_g", "lr_d") if self.d_optimizer is not None else ("lr_g",)
        return {
            k: tf.cast(
                self.schedules[k](self.step) if callable(self.schedules[k]) else self.schedules[k],
                tf.float32,
            )
            for k in names
        }

    def learning_rates(self):
        """The rates of the last update (number `step`), for the summaries."""
        step = self.step.numpy()
        names = ("lr_g", "lr_d") if self.d_optimizer is not None else ("lr_g",)
        return {
            k: float(self.schedules[k](step) if callable(self.schedules[k]) else self.schedules[k])
            for k in names
        }

    def eval_generator(self):
        """The generator used for validation and export (EMA when enabled)."""
        return self.ema_generator if self.ema_generator is not None else self.generator

    # -------------------------------------------------------------------- the step
    def _network_calls(self, jit_compile):
        """{name: callable} of the networks as the step calls them: each its own XLA
        computation with `jit_compile` (TrainConfig), else the networks themselves. Sets
        `compiled`, the names of the compiled ones.

        A network that updates state in training stays uncompiled: batch norm's moving
        statistics (SRResNet, the VGG-style discriminator) and spectral norm's power
        iteration (the U-Net discriminator) update variables that a `tf.distribute`
        strategy must synchronise, which it cannot do inside a function nested in
        `strategy.run`. Under op determinism (`deterministic`), so do the VGG19 / ResNet50
        loss networks: XLA has no deterministic max-pooling gradient.
        """
        self.compiled = []

        def compiled(name, fn, network, trains):
            stateful = trains and bool(network.non_trainable_weights)
            if jit_compile and not stateful:
                self.compiled.append(name)
                return tf.function(fn, jit_compile=True)
            return fn

        calls = {
            "generator": compiled(
                "generator", lambda x: self.generator(x, training=True), self.generator, True
            )
        }
        if self.discriminator is not None:
            calls["discriminator"] = compiled(
                "discriminator",
                lambda x, training=True: self.discriminator(x, training=training),
                self.discriminator,
                True,
            )
        for name in ("vgg", "resnet"):
            network = getattr(self, name)
            if network is not None and not _op_determinism():
                calls[name] = compiled(name, lambda x, network=network: network(x), network, False)
            elif network is not None:
                calls[name] = network
        return calls

    def _global_mean(self, per_example):
        """Mean of a per-example value over the global batch (differentiable)."""
        ctx = tf.distribute.get_replica_context()
        return ctx.all_reduce("sum", tf.reduce_sum(per_example)) / self.global_batch

    def _average(self, per_example):
        return tf.nn.compute_average_loss(per_example, global_batch_size=self.global_batch)

    def _replica_step(self, lr, hr, target=None):
        """One replica's step on its slice of the batch. `target`: the pixel and perceptual
        target, the USM-sharpened HR when the input carries it (Real-ESRGAN), while D and
        the GAN losses always see the plain HR."""
        target = hr if target is None else target
        loss = self.config.loss

        # G first, then D on the same SR (BasicSR's order; k = 1 as SRGAN §3.2). D's loss
        # therefore scores the SR of the generator *before* this step's update.
        with tf.GradientTape() as tape:
            sr = self._networks["generator"](lr)
            g_total, terms = losses.generator_loss(
                loss,
                sr,
                target,
                vgg=self._networks.get("vgg"),
                resnet=self._networks.get("resnet"),
                discriminator=self._networks.get("discriminator"),
                global_mean=self._global_mean,
                gan_hr=hr,
            )
            g_loss = self._average(g_total)
            if self.loss_scaling:
                g_loss = self.g_optimizer.scale_loss(g_loss)
        logs = {k: self._average(v) for k, v in terms.items()}
        logs.update(
            optimization.apply_gradients(
                self.g_optimizer,
                tape,
                g_loss,
                self.generator.trainable_variables,
                self.num_replicas,
                "g",
            )
        )
        if self.discriminator is not None:
            with tf.GradientTape() as tape:
                d_total, stats = losses.discriminator_loss(
                    loss.gan_type, hr, sr, self._networks["discriminator"], self._global_mean
                )
                d_loss = self._average(d_total)
                if self.loss_scaling:
                    d_loss = self.d_optimizer.scale_loss(d_loss)
            logs.update({k: self._average(v) for k, v in stats.items()})
            logs.update(
                optimization.apply_gradients(
                    self.d_optimizer,
                    tape,
                    d_loss,
                    self.discriminator.trainable_variables,
                    self.num_replicas,
                    "d",
                )
            )
        return logs

    def distribute(self, batch):
        """This worker's batch, split into the slices of its replicas, each placed on its
        replica's device (the copy to an accelerator starts here, ahead of the step).

        Args:
            batch: (lr, hr) or, with `usm_target`, (lr, hr, hr_usm), of this worker's
                `global batch / workers` examples.
        Returns:
            a tuple with a tuple of tensors per local replica, for `step_on_replicas` (plain
            tensors, not `PerReplica` values: a `tf.while_loop` can carry them).
        """
        per_replica = self.global_batch // self.num_replicas
        check = tf.debugging.assert_equal(
            tf.shape(batch[0])[0],
            per_replica * self.local_replicas,
            message="the input pipeline's batch does not match this worker's replicas",
        )
        with tf.control_dependencies([check]):
            batch = tuple(tf.identity(t) for t in batch)
        parts = []
        for local in range(self.local_replicas):
            part = tuple(t[local * per_replica : (local + 1) * per_replica] for t in batch)
            # A TPU takes its inputs through the compiled computation; elsewhere the slice
            # is copied now, so that a copy to a GPU can overlap the step before it.
            devices = getattr(self.strategy.extended, "worker_devices", None)
            if devices and not is_tpu(self.strategy):
                with tf.device(devices[local]):
                    part = tuple(tf.identity(t) for t in part)
            parts.append(part)
        return tuple(parts)

    def step_on_replicas(self, parts, stop_requested):
        """One step on a batch from `distribute`; returns the logs summed over replicas.

        `stop_requested` (0/1, this worker's SIGTERM) comes back summed over all replicas
        as "stop_requests", so that every worker stops at the same step. Call it in a
        `tf.function`.
        """

        def replica_step(batch, stop):
            logs = self._replica_step(*batch)
            logs["stop_requests"] = tf.identity(stop)
            return logs

        batch = self.strategy.experimental_distribute_values_from_function(
            lambda ctx: parts[ctx.replica_id_in_sync_group % self.local_replicas]
        )
        # Each replica its own share of the request, so that the sum counts each worker
        # once. (The same tensor returned by every replica, inside a tf.while_loop of
        # MirroredStrategy, came out as an empty tensor in TF 2.21.)
        stops = self.strategy.experimental_distribute_values_from_function(
            lambda ctx: tf.identity(stop_requested) / self.local_replicas
        )
        per_replica = self.strategy.run(replica_step, args=(batch, stops))
        logs = {k: self.strategy.reduce("sum", v, axis=None) for k, v in per_replica.items()}
        if self.ema_generator is not None:
            d = self.config.ema_decay
            for e, w in zip(self.ema_generator.weights, self.generator.weights):
                e.assign(d * e + (1.0 - d) * w if w.trainable else w)
        self.step.assign_add(1)
        return logs

    def step_on_batch(self, lr_batch, hr_batch, stop_requested, usm_batch=None):
        """`step_on_replicas` on one batch of this worker (benchmarks time it apart from
        the input this way); `usm_batch`: the USM-sharpened HR of a `usm_target` pipeline."""
        batch = (lr_batch, hr_batch) if usm_batch is None else (lr_batch, hr_batch, usm_batch)
        return self.step_on_replicas(self.distribute(batch), stop_requested)
