"""Writing files so that nobody ever reads a partial one.

Every file the project writes (shards, manifests, PNGs, weights, reports, configs) is first
written to a temporary file in the destination's folder, flushed to disk, and renamed onto
its final name with `os.replace`, which is atomic on POSIX: an interrupted or failed write
leaves the previous file (or none), never a truncated one. Temporary names start with
`TMP_PREFIX` and end with the final file name, so a writer that picks its format from the
name (Keras' `save_weights` wants `*.weights.h5`) still sees the right suffix, and
`remove_temporary_files` can clean up after a crash.

On a TensorFlow filesystem (`gs://`, `hdfs://`, `ram://`; `esrgan_tf.files`) the temporary file
is written through `tf.io.gfile` and renamed with `tf.io.gfile.rename(overwrite=True)`. There
is no fsync, and an object store has no rename: on `gs://` it is a copy and a delete, so the
final object appears whole (an object is visible only once its upload completes) but not
atomically replaced with respect to a concurrent delete, and a crash between the two leaves a
temporary object for `remove_temporary_files`.
"""

import contextlib
import json
import os
import tempfile
import uuid

from esrgan_tf import files

TMP_PREFIX = ".tmp-"


def temporary_path(path):
    """A new empty temporary file beside `path` (mode as `open` would create it; a fresh
    name, not yet created, on a remote filesystem)."""
    if files.is_remote(path):
        folder, name = os.fspath(path).rsplit("/", 1)
        return f"{folder}/{TMP_PREFIX}{uuid.uuid4().hex}-{name}"
    folder, name = os.path.split(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(dir=folder, prefix=TMP_PREFIX, suffix="-" + name)
    os.close(fd)
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(tmp, 0o666 & ~umask)  # mkstemp makes 0600
    return tmp


def _fsync_file(path):
    with open(path, "rb") as f:
        os.fsync(f.fileno())


def _fsync_dir(folder):
    # Makes a rename durable; not every platform can open a directory for fsync.
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def commit(tmp, path):
    """Flushes the finished temporary file `tmp` to disk and renames it onto `path`."""
    if files.is_remote(path):
        import tensorflow as tf  # pylint: disable=import-outside-toplevel

        with files.os_errors(path):
            tf.io.gfile.rename(tmp, path, overwrite=True)
        return
    _fsync_file(tmp)
    os.replace(tmp, path)
    _fsync_dir(os.path.dirname(os.path.abspath(path)))


@contextlib.contextmanager
def atomic_path(path):
    """Yields a temporary path to write; on success it becomes `path`, on error it is removed.

    The destination folder must exist.
    """
    tmp = temporary_path(path)
    try:
        yield tmp
        commit(tmp, path)
    finally:
        if files.exists(tmp):
            files.remove(tmp)


def write_bytes(path, data):
    """Writes `data` to `path` atomically."""
    with atomic_path(path) as tmp:
        with contextlib.ExitStack() as stack:
            if files.is_remote(tmp):
                stack.enter_context(files.os_errors(path))
            with files.open_file(tmp, "wb") as f:
                f.write(data)


def write_text(path, text):
    write_bytes(path, text.encode("utf-8"))


def write_json(path, value):
    """`value` as indented JSON with a final newline, atomically."""
    write_text(path, json.dumps(value, indent=2) + "\n")


def remove_temporary_files(folder):
    """Removes what an interrupted writer left behind in `folder` (not recursive)."""
    if files.isdir(folder):
        for name in files.listdir(folder):
            path = files.join(folder, name)
            if name.startswith(TMP_PREFIX) and files.isfile(path):
                files.remove(path)
