"""A training run's own checkpoints, on one worker or several (`RunCheckpoints`)."""

from absl import logging
import tensorflow as tf

from esrgan_tf import files
from esrgan_tf.formats import workdir as workdir_layout


class RunCheckpoints:
    """The checkpoints of a training run, on one worker or several.

    The chief writes `<workdir>/checkpoints`. Under MultiWorkerMirroredStrategy every
    worker must take part in saving, so the others save into a scratch dir that is deleted
    right after (TF's multi-worker protocol), and every worker restores from the chief's
    dir, so all resume at the same step. With several workers each reads its own shards:
    its input iterator is saved apart, in `<workdir>/input_state/worker_<i>`, at the same
    steps; with one, the iterator is part of the checkpoint.

    Args:
        workdir: the run's folder.
        tracked: {name: trackable} of the run, "step" (an int64 variable) included.
        iterator: the host input iterator.
        chief, worker_id, num_workers: this worker (see `esrgan_tf.training.distribute`).
        keep: checkpoints kept.
    """

    def __init__(self, workdir, tracked, iterator, chief=True, worker_id=0, num_workers=1, keep=3):
        self.workdir = workdir
        self.directory = files.join(workdir, workdir_layout.CHECKPOINT_SUBDIR)
        self.step = tracked["step"]
        self.input_manager = None
        if num_workers == 1:
            tracked = {**tracked, "iterator": iterator}
        else:
            self.input_manager = tf.train.CheckpointManager(
                tf.train.Checkpoint(iterator=iterator),
                files.join(workdir, workdir_layout.INPUT_STATE_SUBDIR, f"worker_{worker_id}"),
                max_to_keep=keep,
            )
        self.checkpoint = tf.train.Checkpoint(**tracked)
        self.scratch_dir = None if chief else files.join(workdir, f"worker_{worker_id}_tmp")
        self.manager = tf.train.CheckpointManager(
            self.checkpoint, self.scratch_dir or self.directory, max_to_keep=keep
        )
        self.saved_step = None

    def latest(self):
        """The newest checkpoint in the chief's dir (what every worker resumes from)."""
        return tf.train.latest_checkpoint(self.directory)

    def restore_latest(self):
        """Restores the newest readable checkpoint; returns its path, or None if none.

        Raises:
            ValueError: a checkpoint that is readable but not of this run's models (changed
                flags): falling back to an older one would hide that.
            RuntimeError: checkpoints exist but none can be read (never silently restart
                from scratch over a broken run).
        """
        failures = []
        state = tf.train.get_checkpoint_state(self.directory)
        for path in reversed(state.all_model_checkpoint_paths if state else []):
            try:
                self.checkpoint.restore(path).assert_existing_objects_matched()
            except (AssertionError, ValueError) as e:
                raise ValueError(
                    f"checkpoint {path} does not match this run's configuration (flags changed "
                    f"since {files.join(self.workdir, 'config.json')}?): "
                    f"{str(e).splitlines()[0]}"
                ) from e
            # A truncated or corrupt file surfaces as any of these from the reader.
            except (tf.errors.OpError, IndexError, OSError) as e:
                failures.append(f"{path}: {str(e).splitlines()[0] if str(e) else type(e)}")
                logging.warning(
                    "Checkpoint %s is unreadable (%s); trying the previous one.", path, failures[-1]
                )
                continue
            self.saved_step = int(self.step.numpy())
            self._restore_input_position()
            return path
        if failures:
            raise RuntimeError(
                "no checkpoint in the workdir could be restored:\n" + "\n".join(failures)
            )
        return None

    def _restore_input_position(self):
        if self.input_manager is None:
            return
        path = files.join(self.input_manager.directory, f"ckpt-{self.saved_step}")
        if tf.io.gfile.exists(path + ".index"):
            self.input_manager.checkpoint.restore(path).assert_existing_objects_matched()
        else:
            logging.warning(
                "No input position of this worker at step %d (%s): its input "
                "pipeline starts afresh.",
                self.saved_step,
                path,
            )

    def save(self):
        """Checkpoint the current step (once: a second call at the same step is a no-op);
        returns the chief's checkpoint path, on every worker."""
        step = int(self.step.numpy())
        if step != self.saved_step:
            # The input position first: a checkpoint then always has one (a crash between
            # the two leaves an unused input position, not a replayed data stream).
            if self.input_manager is not None:
                self.input_manager.save(checkpoint_number=step)
            self.manager.save(checkpoint_number=step)
            if self.scratch_dir is not None:
                tf.io.gfile.rmtree(self.scratch_dir)
            self.saved_step = step
        return files.join(self.directory, f"ckpt-{step}")
