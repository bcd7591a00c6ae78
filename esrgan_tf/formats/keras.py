"""Keras's own forms of a generator: `.weights.h5` files, training workdirs and checkpoint
prefixes, in (`load_weights`) and out (`save_weights`).

A `.weights.h5` records no architecture (the caller builds the model), a workdir has its
config.json (`esrgan_tf.formats.workdir`), a checkpoint holds the generator and, with EMA, its
average. Loading is all-or-nothing: a file that holds a different architecture is a clear
error, never a partly loaded model (Keras alone silently loads a 23-block file into a 2-block
model).
"""

import io

import h5py
import numpy as np
import tensorflow as tf
from tensorflow.core.protobuf import trackable_object_graph_pb2

from esrgan_tf import atomic, files
from esrgan_tf.formats import workdir


def resolve_checkpoint(path):
    """A checkpoint prefix from a workdir, a checkpoints dir or a prefix; None if none."""
    for directory in (files.join(path, workdir.CHECKPOINT_SUBDIR), path):
        if tf.io.gfile.isdir(directory):
            latest = tf.train.latest_checkpoint(directory)
            if latest:
                return latest
    if tf.io.gfile.exists(path + ".index"):
        return path
    return None


def h5_arrays(path):
    """All arrays of a Keras `.weights.h5` file in file order, as {path: array}."""
    arrays = {}

    def visit(name, obj):
        if isinstance(obj, h5py.Dataset):
            arrays[name] = obj[()]

    # h5py reads local files only; a remote one (gs://) is read whole through gfile.
    source = io.BytesIO(files.read_bytes(path)) if files.is_remote(path) else path
    with h5py.File(source, "r") as f:
        f.visititems(visit)
    return arrays


def _count_variables(prefix, child):
    """Variables reachable from the root's `child` in a checkpoint's object graph.

    Variable *names* cannot tell: a checkpoint stores each variable once, under
    the first path that reaches it (often through the optimiser), so we walk the
    saved object graph instead.
    """
    graph = trackable_object_graph_pb2.TrackableObjectGraph()
    graph.ParseFromString(
        # The reader itself: `tf.train.load_checkpoint` asks first whether the prefix is a
        # folder, which TensorFlow's ram:// filesystem answers yes for any prefix of a file.
        tf.compat.v1.train.NewCheckpointReader(prefix).get_tensor("_CHECKPOINTABLE_OBJECT_GRAPH")
    )
    start = [c.node_id for c in graph.nodes[0].children if c.local_name == child]
    seen, stack = set(), list(start)
    while stack:
        node_id = stack.pop()
        if node_id in seen:
            continue
        seen.add(node_id)
        stack.extend(c.node_id for c in graph.nodes[node_id].children)
    return sum(
        1 for i in seen if any(a.name == "VARIABLE_VALUE" for a in graph.nodes[i].attributes)
    )


def _check_h5_matches(model, path):
    try:
        arrays = h5_arrays(path)
    except OSError as e:
        raise ValueError(f"{path} is not a readable Keras .weights.h5 file: {e}") from e
    if len(arrays) != len(model.weights):
        raise ValueError(
            f"{path} holds {len(arrays)} arrays but {model.name} ({type(model).__name__}) "
            f"has {len(model.weights)} variables: a different architecture (check "
            f"num_block, num_feat, scale, generator)"
        )
    # Same count, other widths (e.g. num_feat 16 vs 8): compare the shapes too, so the
    # error is this sentence rather than Keras printing whole tensors.
    file_shapes = sorted(tuple(a.shape) for a in arrays.values())
    model_shapes = sorted(tuple(w.shape) for w in model.weights)
    if file_shapes != model_shapes:
        first = next(i for i, (a, b) in enumerate(zip(file_shapes, model_shapes)) if a != b)
        raise ValueError(
            f"{path} holds arrays of other shapes than {type(model).__name__} (e.g. "
            f"{file_shapes[first]} vs {model_shapes[first]}): a different architecture "
            f"(check num_feat, num_grow_ch, scale, generator)"
        )


def load_weights(model, path, use_ema=False):
    """Load generator weights into a built `model` from a Keras form.

    Args:
        model: a built generator (call it on a dummy input first).
        path: `.weights.h5`, a training workdir or a checkpoint prefix.
        use_ema: from a training checkpoint, take the EMA generator when it has one.
    Returns:
        A short description of what was loaded.
    Raises:
        FileNotFoundError / ValueError with the reason, before touching `model`'s
        weights where possible.
    """
    if path.endswith(".h5"):
        if not files.isfile(path):
            raise FileNotFoundError(f"weights file {path!r} does not exist")
        _check_h5_matches(model, path)
        model.load_weights(path)
        return f"weights file {path}"
    prefix = resolve_checkpoint(path)
    if prefix is None:
        raise FileNotFoundError(
            f"{path!r} is neither a .weights.h5 file, a training workdir with checkpoints, "
            "nor a checkpoint prefix"
        )
    key = "generator"
    if use_ema and _count_variables(prefix, "ema_generator"):
        key = "ema_generator"
    in_ckpt = _count_variables(prefix, key)
    if not in_ckpt:
        raise ValueError(f"checkpoint {prefix} holds no '{key}'")
    if in_ckpt != len(model.weights):
        raise ValueError(
            f"checkpoint {prefix} holds {in_ckpt} {key} variables but "
            f"{type(model).__name__} has {len(model.weights)}: a different architecture"
        )
    before = [np.array(v.numpy()) for v in model.weights]
    try:
        status = tf.train.Checkpoint(**{key: model}).restore(prefix)
        status.expect_partial().assert_existing_objects_matched()
    except (ValueError, AssertionError, tf.errors.OpError) as e:
        for v, value in zip(model.weights, before):  # never leave a half-loaded model
            v.assign(value)
        raise ValueError(f"checkpoint {prefix} does not match {type(model).__name__}: {e}") from e
    return f"{key} of checkpoint {prefix}"


def save_weights(model, path):
    """`model.save_weights(path)` through a temporary file (a Keras `.weights.h5`).

    A failure (disk full, interrupted run) never leaves a partial or corrupt weights file
    at `path`; an existing file there stays until the new one is complete.
    """
    if not path.endswith(".weights.h5"):
        raise ValueError(
            f"output {path!r} must end with .weights.h5 (Keras 3 picks the weights format "
            "by file name)"
        )
    files.makedirs(files.parent(path))
    with atomic.atomic_path(path) as tmp:
        model.save_weights(tmp)
