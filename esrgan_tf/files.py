"""Paths that may be local or on one of TensorFlow's filesystems (`gs://`, `hdfs://`, `s3://`
through tensorflow-io, the in-memory `ram://`).

A path with a scheme goes through `tf.io.gfile`; a local path through `os` and `open`, which
behave the same for it and do not import TensorFlow: the `--help` of every command and the
worker processes of `prepare` stay light. Modules that hold TensorFlow anyway may call
`tf.io.gfile` themselves; modules that may not, call these.
"""

import contextlib
import os
import posixpath


def is_remote(path):
    """True for a path on a TensorFlow filesystem (`scheme://...`)."""
    return "://" in os.fspath(path)


def _gfile():
    import tensorflow as tf  # pylint: disable=import-outside-toplevel

    return tf.io.gfile


@contextlib.contextmanager
def os_errors(path):
    """`tf.io.gfile`'s errors (`tf.errors.OpError`) as the OSError a local path would raise,
    so that callers catch one kind."""
    import tensorflow as tf  # pylint: disable=import-outside-toplevel

    try:
        yield
    except tf.errors.NotFoundError as e:
        raise FileNotFoundError(f"{path}: {e.message}") from e
    except tf.errors.PermissionDeniedError as e:
        raise PermissionError(f"{path}: {e.message}") from e
    except tf.errors.OpError as e:
        raise OSError(f"{path}: {e.message}") from e


def canonical(path):
    """A folder's one spelling: the real path of a local one, a remote one without the
    trailing '/'."""
    return os.fspath(path).rstrip("/") if is_remote(path) else os.path.realpath(path)


def basename(path):
    """The last part of a path ('a' for 'gs://b/a/')."""
    if is_remote(path):
        return posixpath.basename(os.fspath(path).rstrip("/"))
    return os.path.basename(os.path.normpath(os.path.abspath(path)))


def parent(path):
    """The folder holding `path`."""
    path = os.fspath(path)
    if is_remote(path):
        return path.rstrip("/").rsplit("/", 1)[0]
    return os.path.dirname(os.path.abspath(path))


def join(path, *parts):
    return posixpath.join(path, *parts) if is_remote(path) else os.path.join(path, *parts)


def exists(path):
    return _gfile().exists(path) if is_remote(path) else os.path.exists(path)


def isdir(path):
    return _gfile().isdir(path) if is_remote(path) else os.path.isdir(path)


def isfile(path):
    if is_remote(path):
        return _gfile().exists(path) and not _gfile().isdir(path)
    return os.path.isfile(path)


def listdir(path):
    """Names in a folder (not paths; without the trailing '/' gfile gives folders)."""
    if is_remote(path):
        with os_errors(path):
            return [n.rstrip("/") for n in _gfile().listdir(path)]
    return os.listdir(path)


def makedirs(path):
    if is_remote(path):
        with os_errors(path):
            _gfile().makedirs(path)
    else:
        os.makedirs(path, exist_ok=True)


def remove(path):
    if is_remote(path):
        with os_errors(path):
            _gfile().remove(path)
    else:
        os.remove(path)


def size(path):
    if is_remote(path):
        with os_errors(path):
            return _gfile().stat(path).length
    return os.path.getsize(path)


def glob(pattern):
    """Sorted matches of a glob pattern."""
    if is_remote(pattern):
        with os_errors(pattern):
            return sorted(_gfile().glob(pattern))
    import glob as globbing  # pylint: disable=import-outside-toplevel

    return sorted(globbing.glob(pattern))


def walk(top):
    """(folder, subfolders, files) as `os.walk`, top-down; subfolders may be pruned in place."""
    if not is_remote(top):
        yield from os.walk(top)
        return
    gfile = _gfile()
    names = listdir(top)
    folders = [n for n in names if gfile.isdir(join(top, n))]
    yield top, folders, [n for n in names if n not in folders]
    for name in folders:
        yield from walk(join(top, name))


def open_file(path, mode="rb"):
    """A file object for `path` (binary or text mode)."""
    if is_remote(path):
        return _gfile().GFile(path, mode)
    return open(path, mode, encoding=None if "b" in mode else "utf-8")  # noqa: SIM115


def read_bytes(path):
    """The file's bytes; a missing or unreadable remote file is an OSError too."""
    if not is_remote(path):
        with open(path, "rb") as f:
            return f.read()
    with os_errors(path), _gfile().GFile(path, "rb") as f:
        return f.read()


def read_text(path):
    return read_bytes(path).decode("utf-8")
