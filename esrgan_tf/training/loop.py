"""The training loop of one stage and its periodic actions (as `orbit.Controller`).

`Controller(config)` sets a stage up -- seeds, strategy, the input pipeline, the `Trainer`,
the run's checkpoints (resuming from the workdir, else `init_checkpoint`), summaries and the
validation set -- and `train()` runs steps until `total_steps` with, every so many steps,
scalar summaries, a checkpoint and a validation, and after every step the caller's `actions`
(as orbit.Controller's train actions). It stops loudly: a non-finite loss raises
`TrainingDivergedError` without saving; SIGTERM saves and raises `TrainingInterrupted`.
"""

import math
import os
import signal

from absl import logging
import keras
import tensorflow as tf
import tqdm

from esrgan_tf.data.image_pairs import load_pairs
from esrgan_tf.data.pipeline import train_dataset
from esrgan_tf.formats import workdir as workdir_layout
from esrgan_tf.training import validation
from esrgan_tf.training.checkpoints import RunCheckpoints
from esrgan_tf.training.distribute import is_chief, make_strategy, worker_info
from esrgan_tf.training.trainer import Trainer


class TrainingDivergedError(RuntimeError):
    """A loss or gradient became NaN or infinite; the last good checkpoint is kept."""

    exit_status = 1  # a diverged run is reported in one line, like a user error


class TrainingInterrupted(RuntimeError):
    """SIGTERM arrived; a checkpoint was written and the run can be resumed."""

    # A non-zero status tells a scheduler to run the job again, which resumes it (and does
    # not start the next stage on a half-trained model); 143 = 128 + SIGTERM.
    exit_status = 143


class Controller:
    """Runs one stage described by a `TrainConfig`; resumes from its workdir.

    Args:
        config: the stage's `TrainConfig`.
        strategy: its `tf.distribute` strategy (None: from `config.num_cpu_devices` and
            TF_CONFIG, `distribute.make_strategy`).
        actions: callables `action(controller, logs)` run after every step, on every
            worker, with that step's logs (e.g. a notebook's plot, a test's probe).
    Attributes:
        trainer: the stage's `Trainer` (networks, optimisers, step).
        checkpoints: its `RunCheckpoints`.
        restored_from: the checkpoint the run resumed from, or None for a new run.
    """

    def __init__(self, config, strategy=None, actions=()):
        # ---------------------------------------------------------------- setup
        self.config = config
        self.actions = tuple(actions)
        if config.deterministic:
            tf.config.experimental.enable_op_determinism()
        keras.utils.set_random_seed(config.input.seed)
        strategy = strategy or make_strategy(config.num_cpu_devices)
        self.chief = is_chief(strategy)
        os.makedirs(config.workdir, exist_ok=True)

        # ---------------------------------------------------------------- input
        # One host pipeline per worker; each step splits its batch among the local
        # replicas. A host iterator (unlike a distributed one) can be checkpointed,
        # which makes resumed runs continue the exact data stream.
        self.num_workers, worker_id = worker_info(strategy)
        context = tf.distribute.InputContext(
            self.num_workers, worker_id, strategy.num_replicas_in_sync
        )
        # Each worker's pipeline makes global_batch / num_workers examples per step.
        dataset = train_dataset(
            config.input, config.model.scale, context if self.num_workers > 1 else None
        )
        self.iterator = iter(dataset)

        # ---------------------------------------------------------------- trainer
        self.trainer = Trainer(config, strategy, self.num_workers)

        # ---------------------------------------------------------------- checkpoint
        self.checkpoints = RunCheckpoints(
            config.workdir,
            self.trainer.trackables(),
            self.iterator,
            chief=self.chief,
            worker_id=worker_id,
            num_workers=self.num_workers,
            keep=config.keep_checkpoints,
        )
        self.restored_from = self.checkpoints.restore_latest()
        if self.restored_from:
            logging.info("Resumed from %s at step %d", self.restored_from, self.step)
            self.trainer.reset_constant_learning_rates()
        else:
            loaded = self.trainer.initialise(config.init_checkpoint)
            if loaded:
                logging.info("Initialised the generator from %s", loaded)

        # ---------------------------------------------------------------- summaries
        self.writer = (
            tf.summary.create_file_writer(
                os.path.join(config.workdir, workdir_layout.SUMMARY_SUBDIR)
            )
            if self.chief
            else tf.summary.create_noop_writer()
        )
        self.validation_pairs = None
        if config.val_dir:
            self.validation_pairs = load_pairs(
                config.val_dir, config.model.scale, config.max_val_images, config.val_lr_dir
            )
            note = validation.niqe_note(self.validation_pairs, config.model.scale)
            if note:  # once here, not at every validation
                logging.warning("Validation images in %s: %s", config.val_dir, note)

        def train_step(stop):
            lr, hr, *usm = next(self.iterator)  # (lr, hr) or, with usm_target, (lr, hr, hr_usm)
            return self.trainer.step_on_batch(lr, hr, stop, *usm)

        self._train_step = tf.function(train_step, input_signature=[tf.TensorSpec([], tf.float32)])
        self._stop_requested = False

    @property
    def step(self):
        return int(self.trainer.step.numpy())

    def save(self):
        """Checkpoint the current step (a no-op if done); returns the chief's path."""
        return self.checkpoints.save()

    def latest_checkpoint(self):
        return self.checkpoints.latest()

    def _request_stop(self, signum, frame):
        del frame
        logging.warning("Signal %d: writing a checkpoint and stopping.", signum)
        self._stop_requested = True

    # -------------------------------------------------------------------- the loop
    def train(self, num_steps=None):
        """Run until `total_steps` (or `num_steps` more); returns the last logs."""
        c = self.config
        start = self.step
        end = c.total_steps if num_steps is None else min(c.total_steps, start + num_steps)
        if self.chief and start == 0:
            workdir_layout.write_config(c.workdir, c)
        previous = signal.signal(signal.SIGTERM, self._request_stop)
        progress = tqdm.tqdm(
            total=end,
            initial=start,
            disable=not self.chief,
            unit="step",
            dynamic_ncols=True,
            desc=os.path.basename(c.workdir),
        )
        logs = {}
        try:
            stop = False
            while self.step < end and not stop:
                # Alone, stop at once; several workers learn of a SIGTERM on any of them
                # through the next step, and all stop after it.
                if self._stop_requested and self.num_workers == 1:
                    stop = True
                    break
                logs = {
                    k: float(v)
                    for k, v in self._train_step(tf.constant(float(self._stop_requested))).items()
                }
                stop = logs.pop("stop_requests") > 0
                step = self.step
                if not all(math.isfinite(v) for v in logs.values()):
                    raise TrainingDivergedError(
                        f"non-finite loss at step {step}: {logs}; stopped without saving, "
                        f"the last good checkpoint is {self.latest_checkpoint()}"
                    )
                progress.update(1)
                progress.set_postfix(
                    {k: f"{logs[k]:.4g}" for k in ("l_g_total", "l_d") if k in logs}
                )
                self._periodic_actions(step, end, logs)
                for action in self.actions:
                    action(self, logs)
            if stop:
                checkpoint = self.save()
                self._stop_requested = False
                raise TrainingInterrupted(
                    f"stopped by SIGTERM at step {self.step}; checkpoint {checkpoint}. "
                    "Run the same command to resume."
                )
        except KeyboardInterrupt:
            logging.warning("Interrupted: writing a checkpoint at step %d.", self.step)
            self.save()
            raise
        finally:
            progress.close()
            signal.signal(signal.SIGTERM, previous)
            self.writer.flush()
        return logs

    def _periodic_actions(self, step, end, logs):
        c = self.config
        last = step == end
        if step % c.log_every == 0 or last:
            with self.writer.as_default(step=step):
                for name, value in {**logs, **self.trainer.learning_rates()}.items():
                    tf.summary.scalar(name, value)
        if step % c.checkpoint_every == 0 or last:
            self.save()
        if self.validation_pairs and self.chief and (step % c.val_every == 0 or last):
            self.validate(step)

    # -------------------------------------------------------------------- validation
    def validate(self, step=None):
        """Validation PSNR/SSIM/NIQE (Y, crop = scale) and image grids; returns the means."""
        step = self.step if step is None else step
        result = validation.evaluate(
            self.trainer.eval_generator(), self.validation_pairs, self.config.model.scale
        )
        validation.write_summaries(self.writer, step, result, self.config.grid_images)
        return result["mean"]


def train(config, strategy=None):
    """Train one stage to completion; returns its `Controller` (models, checkpoints)."""
    controller = Controller(config, strategy)
    controller.train()
    return controller
