"""The training loop of one stage and its periodic actions (as `orbit.Controller`).

`Controller(config)` sets a stage up -- seeds, strategy, the input pipeline, the `Trainer`,
the run's checkpoints (resuming from the workdir, else `init_checkpoint`), summaries and the
validation set -- and `train()` runs steps until `total_steps` with, every so many steps,
scalar summaries, a checkpoint and a validation. Steps run `steps_per_loop` at a time in one
call of a compiled loop (orbit's `steps_per_loop`, Keras's `steps_per_execution`): one host
round trip per call; checkpoints, validation, the NaN check, SIGTERM and the caller's `actions`
(as orbit.Controller's train actions) act between calls. It stops loudly: a non-finite loss raises
`TrainingDivergedError` without saving; SIGTERM saves and raises `TrainingInterrupted`.
"""

import signal

from absl import logging
import keras
import numpy as np
import tensorflow as tf
import tqdm

from esrgan_tf import files
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
        actions: callables `action(controller, logs)` run after every call of the loop
            (`steps_per_loop` steps or fewer), on every worker, with the logs of its last
            step (e.g. a notebook's plot, a test's probe).
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
        strategy = strategy or make_strategy(config.num_cpu_devices, config.tpu)
        self.chief = is_chief(strategy)
        files.makedirs(config.workdir)

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
            tf.summary.create_file_writer(files.join(config.workdir, workdir_layout.SUMMARY_SUBDIR))
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

        self._train_loop = tf.function(
            self._loop,
            input_signature=[
                tf.TensorSpec([], tf.int32),
                tf.TensorSpec([], tf.float32),
                tf.TensorSpec([], tf.int64),
            ],
        )
        self._log_names = []
        self._stop_requested = False

    def _loop(self, num_steps, stop, last_step):
        """`num_steps` steps in one call: a `tf.while_loop` over the host iterator that
        stops early at a non-finite step or a stop request. Each step's batch is taken from
        the iterator and copied to the replicas' devices while the step before it runs, but
        never past the last step run: the iterator stays where training stopped, so
        checkpoints keep the exact data position. Summaries are written in the loop, every
        `log_every` steps and at `last_step`. Returns the logs of every step run, [steps
        run, logs] (`_log_names` names the columns)."""
        trainer = self.trainer
        c = self.config

        def fetch():
            return trainer.distribute(next(self.iterator))

        def body(i, batch, history, finite):
            logs = trainer.step_on_replicas(batch, stop)
            self._log_names[:] = sorted(logs)  # at tracing
            values = tf.stack([tf.cast(logs[k], tf.float32) for k in self._log_names])
            step = trainer.step.read_value()
            record = tf.logical_or(step % c.log_every == 0, step == last_step)
            # The root name scope: the tags are the log names, not "while/<name>".
            with self.writer.as_default(step=step), tf.summary.record_if(record), tf.name_scope(""):
                for name, value in {**logs, **trainer.learning_rate_tensors()}.items():
                    if name != "stop_requests":
                        tf.summary.scalar(name, value)
            # Go on while every loss is finite and no worker asked to stop (the request is
            # summed over all workers, so they all leave after the same step).
            going = tf.logical_and(
                tf.reduce_all(tf.math.is_finite(values)), logs["stop_requests"] <= 0
            )
            following = tf.cond(tf.logical_and(going, i + 1 < num_steps), fetch, lambda: batch)
            return i + 1, following, history.write(i, values), going

        history = tf.TensorArray(tf.float32, size=0, dynamic_size=True)
        _, _, history, _ = tf.while_loop(
            lambda i, batch, history, going: tf.logical_and(i < num_steps, going),
            body,
            (tf.constant(0), fetch(), history, tf.constant(True)),
        )
        return history.stack()

    def run_steps(self, num_steps, last_step=None):
        """Runs `num_steps` steps (fewer if one is non-finite) in one call of the compiled
        loop, summaries of step `last_step` (default: `total_steps`) written whatever
        `log_every`; returns {log name: numpy array of the value at each step run}."""
        if num_steps < 1:
            raise ValueError(f"run_steps needs at least one step, got {num_steps}")
        history = self._train_loop(
            tf.constant(num_steps, tf.int32),
            tf.constant(float(self._stop_requested)),
            tf.constant(self.config.total_steps if last_step is None else last_step, tf.int64),
        ).numpy()
        return {name: history[:, j] for j, name in enumerate(self._log_names)}

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
            desc=files.basename(c.workdir),
        )
        logs = {}
        try:
            stop = False
            while self.step < end and not stop:
                # Alone, stop at once; several workers learn of a SIGTERM on any of them
                # through the first step of the next call, and all stop after it.
                if self._stop_requested and self.num_workers == 1:
                    stop = True
                    break
                before = self.step
                history = self.run_steps(self._steps_to_boundary(before, end), end)
                stop = history.pop("stop_requests").max() > 0
                finite = np.all([np.isfinite(v) for v in history.values()], axis=0)
                if not finite.all():
                    bad = int(np.argmin(finite))
                    raise TrainingDivergedError(
                        f"non-finite loss at step {before + bad + 1}: "
                        f"{ {k: float(v[bad]) for k, v in history.items()} }; stopped without "
                        f"saving, the last good checkpoint is {self.latest_checkpoint()}"
                    )
                logs = {k: float(v[-1]) for k, v in history.items()}
                step = self.step
                progress.update(step - before)
                progress.set_postfix(
                    {k: f"{logs[k]:.4g}" for k in ("l_g_total", "l_d") if k in logs}
                )
                self._periodic_actions(step, end)
                for action in self.actions:
                    action(self, logs)
            if self._stop_requested and self.num_workers == 1:
                stop = True  # also a SIGTERM during the last call: no next stage starts
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

    def _steps_to_boundary(self, step, end):
        """Steps of the next call: `steps_per_loop`, fewer to stop at the next checkpoint,
        validation or the end."""
        c = self.config
        every = [c.checkpoint_every] + ([c.val_every] if self.validation_pairs else [])
        return min([c.steps_per_loop, end - step] + [n - step % n for n in every])

    def _periodic_actions(self, step, end):
        c = self.config
        last = step == end
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
