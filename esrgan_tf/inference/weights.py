"""Generator weights from every form users hold them in, behind one interface.

`load_generator(path)` accepts a Keras `.weights.h5` (e.g. from `python -m esrgan_tf.convert`
or `python -m esrgan_tf.interpolate`), a training workdir (its latest checkpoint), a
checkpoint prefix (`<workdir>/checkpoints/ckpt-12`), a PyTorch `.pth` / `.safetensors` of
any ESRGAN-family layout, an ncnn `.param` + `.bin`, a bundled `zoo:<name>`, or an exported
SavedModel (`esrgan_tf.inference.saved_models`). Loading is all-or-nothing: a file that holds a
different architecture is a clear error, never a partly loaded model (Keras alone silently
loads a 23-block file into a 2-block model).
"""

import dataclasses
import os

from absl import logging
import h5py
import numpy as np
import tensorflow as tf
from tensorflow.core.protobuf import trackable_object_graph_pb2

from esrgan_tf import atomic, workdir
from esrgan_tf.config import ModelConfig
from esrgan_tf.inference import ncnn, saved_models, state_dicts, zoo
from esrgan_tf.models.builders import built_generator


def resolve_checkpoint(path):
    """A checkpoint prefix from a workdir, a checkpoints dir or a prefix; None if none."""
    for directory in (os.path.join(path, workdir.CHECKPOINT_SUBDIR), path):
        if os.path.isdir(directory):
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

    with h5py.File(path, "r") as f:
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
        tf.train.load_checkpoint(prefix).get_tensor("_CHECKPOINTABLE_OBJECT_GRAPH")
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


def load_generator_weights(model, path, use_ema=False):
    """Load generator weights into a built `model` from `path`.

    Args:
        model: a built generator (call it on a dummy input first).
        path: `.weights.h5`, a training workdir, a checkpoint prefix, or weights of another
            framework: a PyTorch `.pth` / `.safetensors`, an ncnn `.param`, `zoo:<name>`
            (fine-tuning an imported model; the file must hold `model`'s architecture).
        use_ema: from a training checkpoint, take the EMA generator when it has one.
    Returns:
        A short description of what was loaded.
    Raises:
        FileNotFoundError / ValueError with the reason, before touching `model`'s
        weights where possible.
    """
    if not model.built or not model.weights:
        raise ValueError("build the model (call it on a dummy input) before loading weights")
    foreign = _foreign(path)
    if foreign is not None:
        return _load_foreign_into(model, path, foreign)
    if path.endswith(".h5"):
        if not os.path.isfile(path):
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


# Weight files of other frameworks whose architecture is read from the file itself.
STATE_DICT_EXTENSIONS = (".pth", ".pt", ".safetensors")
NCNN_EXTENSION = ".param"


def _foreign(path):
    """The resolved file of a PyTorch / ncnn / zoo weights path, or None for our own forms."""
    if zoo.is_zoo(path):
        return zoo.resolve(path)
    lower = str(path).lower()
    return path if lower.endswith(STATE_DICT_EXTENSIONS + (NCNN_EXTENSION,)) else None


def _load_foreign_into(model, path, resolved):
    """Copies the weights of a resolved PyTorch or ncnn file into `model`, all or nothing."""
    if resolved.lower().endswith(NCNN_EXTENSION):
        state_dict = ncnn.read(resolved).state_dict
    else:
        state_dict = state_dicts.load_state_dict(resolved)
    canonical = state_dicts.canonicalize(state_dict)
    try:
        state_dicts.load_into_generator(model, canonical)
    except ValueError as e:
        try:
            held = state_dicts.describe(
                dataclasses.asdict(state_dicts.infer_model_config(canonical))
            )
        except ValueError:
            held = "another architecture"
        raise ValueError(
            f"{path} holds {held}, which does not fit this {type(model).__name__} (set the "
            f"architecture flags to the file's: --generator, --scale, --num_feat, --num_block, "
            f"--num_grow_ch, --num_conv): {e}"
        ) from e
    return f"weights file {path} ({canonical.layout} layout)"


def _load_foreign(path, overrides):
    """(model, config, note) of a resolved PyTorch or ncnn file."""
    if path.lower().endswith(NCNN_EXTENSION):
        return ncnn.load_generator(path, **overrides)
    model, config, _ = state_dicts.load_generator(path, **overrides)
    return model, config, ""


def resolve_model_config(path, overrides=None):
    """The architecture of the weights at `path`, with `overrides` ({field: value}) applied.

    A training workdir or checkpoint has its config.json; PyTorch (`.pth`, `.safetensors`),
    ncnn (`.param`) and zoo files are read and their tensors say (the overrides must agree);
    a `.weights.h5` carries no architecture, so the base is `ModelConfig()`: ESRGAN's
    RRDBNet x4 with 23 blocks, the official weights' architecture. A SavedModel records its
    own (`load_generator` ignores this for it).
    """
    overrides = dict(overrides or {})
    foreign = _foreign(path)
    if foreign is not None:
        if foreign.lower().endswith(NCNN_EXTENSION):
            imported = ncnn.read(foreign)
            return state_dicts.infer_model_config(imported.state_dict, **overrides)
        return state_dicts.infer_model_config(state_dicts.load_state_dict(foreign), **overrides)
    base = None if path.endswith(".h5") else workdir.model_config(path)
    return dataclasses.replace(base or ModelConfig(), **overrides)


def load_generator(path, model_config=None, use_ema=True, allow_saved_model=False):
    """Build a generator and load its weights from `path`, ready for inference.

    Args:
        path: any form users hold weights in: a `.weights.h5`, a training workdir, a
            checkpoint prefix, a PyTorch `.pth` / `.safetensors` (any ESRGAN-family key
            layout: `esrgan_tf.inference.state_dicts`), an ncnn `.param` with its `.bin`
            (`esrgan_tf.inference.ncnn`), `zoo:<name>` (`esrgan_tf.inference.zoo`); with
            `allow_saved_model` also an exported SavedModel (`esrgan_tf.export`) or a
            Serving base path (its newest version).
        model_config: the architecture; None takes it from the weights where they carry
            it (workdir config.json, PyTorch / ncnn tensors), else ESRGAN's RRDBNet x4 with
            23 blocks (a `.weights.h5`). For PyTorch / ncnn files it must agree with the
            tensors. Ignored for a SavedModel, which records its own.
        use_ema: from a training checkpoint, prefer its EMA generator.
        allow_saved_model: accept SavedModels; they give a `saved_models.SavedModelGenerator`
            (inference only: no Keras weights to train or interpolate).
    Returns:
        (model, model_config).
    """
    if saved_models.resolve_saved_model(path):
        if not allow_saved_model:
            raise ValueError(
                f"{path} is an exported SavedModel: this command needs Keras "
                "weights (.weights.h5, a training workdir or a checkpoint)"
            )
        return saved_models.load_saved_model(path)
    foreign = _foreign(path)
    if foreign is not None:
        inferred = resolve_model_config(path)
        if model_config is not None and model_config != inferred:
            raise ValueError(
                f"{path} holds {inferred}, not the architecture asked for ({model_config})"
            )
        model, config, _ = _load_foreign(foreign, {})
        return model, config
    if model_config is None:
        model_config = resolve_model_config(path)
    model = built_generator(model_config)
    load_generator_weights(model, path, use_ema=use_ema)
    return model, model_config


def convert(input_path, output_path, **overrides):
    """Writes the Keras `.weights.h5` of PyTorch / ncnn / zoo weights; returns (model, config).

    The architecture is read from the file (`overrides`, `ModelConfig` fields that are not
    None, must agree with it). The weights are written to a temporary file next to
    `output_path` and moved onto it only when complete: a failure never leaves a partial
    output.
    """
    input_path, output_path = os.fspath(input_path), os.fspath(output_path)
    foreign = _foreign(input_path)
    if foreign is None:
        raise ValueError(
            f"{input_path!r}: convert reads PyTorch (.pth, .pt, .safetensors), ncnn (.param) "
            "or zoo:<name> weights"
        )
    if os.path.realpath(foreign) == os.path.realpath(output_path):
        raise ValueError(f"input and output are the same file: {input_path!r}")
    if not output_path.endswith(".weights.h5"):
        raise ValueError(
            f"output {output_path!r} must end with '.weights.h5' (Keras 3 chooses the "
            "weights format by file name)"
        )
    out_dir = os.path.dirname(os.path.abspath(output_path))
    if not os.path.isdir(out_dir):
        raise FileNotFoundError(f"output directory {out_dir!r} does not exist")
    given = {k: v for k, v in overrides.items() if v is not None}
    model, config, _ = _load_foreign(foreign, given)
    atomic.save_keras_weights(model, output_path)
    logging.info(
        "%s: %s, %s parameters -> %s",
        input_path,
        state_dicts.describe(dataclasses.asdict(config)),
        f"{model.count_params():,}",
        output_path,
    )
    return model, config
