"""Any file form of a generator, behind one interface: `load(path)` reads it once and gives the
model with its descriptor; `load_into` fills an existing model (fine-tuning); `convert` writes
another form.

Forms (the path says which): a Keras `.weights.h5`, a training workdir or checkpoint prefix
(`esrgan_tf.formats.keras`), a PyTorch `.pth` / `.pt` / `.safetensors` of any ESRGAN-family
layout (`pytorch`), an ncnn `.param` with its `.bin` (`ncnn`), a bundled `zoo:<name>` (`zoo`),
and, where inference asks for it, an exported SavedModel or a Serving base path
(`saved_model`). Loading is all-or-nothing: a file that holds another architecture is a clear
error that names both, never a partly loaded model.
"""

import dataclasses
import os

from absl import logging

from esrgan_tf.formats import keras, ncnn, pytorch, saved_model, workdir, zoo
from esrgan_tf.models import builders
from esrgan_tf.models.config import ModelConfig

# Weight files of other frameworks, whose architecture is read from the file itself.
STATE_DICT_EXTENSIONS = (".pth", ".pt", ".safetensors")
NCNN_EXTENSION = ".param"


@dataclasses.dataclass(frozen=True)
class Loaded:
    """A generator read from a file.

    Attributes:
        model: a built Keras generator, or a `saved_model.SavedModelGenerator`.
        config: its architecture (None for an export that does not record it).
        source: what was read ("weights file x.pth (BasicSR/Real-ESRGAN layout)", ...).
        note: what the file does that the model does not ('' if nothing).
    """

    model: object
    config: ModelConfig
    source: str
    note: str = ""

    @property
    def descriptor(self):
        return getattr(self.model, "descriptor", None)

    @property
    def scale(self):
        return self.config.scale if self.config is not None else self.model.scale


def foreign_file(path):
    """The file of a PyTorch / ncnn / zoo path, or None for Keras's and TensorFlow's forms."""
    if zoo.is_zoo(path):
        return zoo.resolve(path)
    lower = str(path).lower()
    return path if lower.endswith(STATE_DICT_EXTENSIONS + (NCNN_EXTENSION,)) else None


def _read_foreign(resolved):
    """(canonical state dict, inferred ModelConfig, note) of a resolved PyTorch / ncnn file."""
    if resolved.lower().endswith(NCNN_EXTENSION):
        imported = ncnn.read(resolved)
        canonical = pytorch.canonicalize(imported.state_dict)
        inferred = pytorch.infer_model_config(canonical)
        if inferred != imported.config:
            raise ValueError(f"the weights say {inferred}, the graph {imported.config}")
        return canonical, inferred, imported.note
    canonical = pytorch.canonicalize(pytorch.load_state_dict(resolved))
    return canonical, pytorch.infer_model_config(canonical), ""


def _with(base, architecture):
    """`base` with the given `architecture` fields; a clear error for an impossible one."""
    return dataclasses.replace(base, **(architecture or {}))


def load(path, architecture=None, use_ema=True, allow_saved_model=False):
    """Reads the generator at `path`, once; returns a `Loaded`.

    Args:
        path: any form of the module docstring.
        architecture: {ModelConfig field: value} the file's architecture is (a `.weights.h5`
            records none: the base is ESRGAN's RRDBNet x4 with 23 blocks; a workdir has its
            config.json; PyTorch / ncnn files must agree with them, except scale 3, which
            has the tensors of scale 2). Ignored for a SavedModel, which records its own.
        use_ema: from a training checkpoint, prefer its EMA generator.
        allow_saved_model: accept an exported SavedModel (inference only: it has no Keras
            weights to train, interpolate or export again).
    """
    architecture = dict(architecture or {})
    if saved_model.resolve_saved_model(path):
        if not allow_saved_model:
            raise ValueError(
                f"{path} is an exported SavedModel: this needs Keras weights or weights of "
                "another framework (.weights.h5, a training workdir, .pth, .param, zoo:<name>)"
            )
        model = saved_model.SavedModelGenerator(path)
        return Loaded(model, model.model_config, f"SavedModel {model.path}")
    foreign = foreign_file(path)
    if foreign is not None:
        canonical, inferred, note = _read_foreign(foreign)
        config = pytorch.infer_model_config(canonical, **architecture) if architecture else inferred
        model = builders.built_generator(config)
        pytorch.load_into_generator(model, canonical)
        if note:
            logging.warning("%s", note)
        return Loaded(model, config, f"weights file {path} ({canonical.layout} layout)", note)
    base = None if path.endswith(".h5") else workdir.model_config(path)
    config = _with(base or ModelConfig(), architecture)
    model = builders.built_generator(config)
    return Loaded(model, config, keras.load_weights(model, path, use_ema=use_ema))


def read_architecture(path, architecture=None):
    """The `ModelConfig` `load(path, architecture)` would build, reading only what says it
    (config.json, the tensors of a PyTorch / ncnn file); None for a SavedModel."""
    architecture = dict(architecture or {})
    if saved_model.resolve_saved_model(path):
        return None
    foreign = foreign_file(path)
    if foreign is not None:
        canonical, _, _ = _read_foreign(foreign)
        return pytorch.infer_model_config(canonical, **architecture)
    base = None if path.endswith(".h5") else workdir.model_config(path)
    return _with(base or ModelConfig(), architecture)


def load_into(model, path, use_ema=False):
    """Copies the generator weights at `path` into the built `model`, all or nothing.

    For fine-tuning: `path` is a Keras form (a `.weights.h5`, a training workdir or
    checkpoint) or another framework's file (`.pth`, `.safetensors`, ncnn, `zoo:`) of
    `model`'s architecture. Returns what was loaded.
    """
    if not model.built or not model.weights:
        raise ValueError("build the model (call it on a dummy input) before loading weights")
    foreign = foreign_file(path)
    if foreign is None:
        return keras.load_weights(model, path, use_ema=use_ema)
    canonical, inferred, _ = _read_foreign(foreign)
    try:
        pytorch.load_into_generator(model, canonical)
    except ValueError as e:
        raise ValueError(
            f"{path} holds {builders.descriptor(inferred).summary}, which does not fit this "
            f"{type(model).__name__} (set the architecture flags to the file's: --generator, "
            f"--scale, --num_feat, --num_block, --num_grow_ch, --num_conv): {e}"
        ) from e
    return f"weights file {path} ({canonical.layout} layout)"


# The forms `convert` writes, by the output's ending (ONNX: `esrgan_tf.deploy.onnx`).
WRITTEN_FORMS = (".weights.h5", ".pth", ".safetensors")


def convert(input_path, output_path, architecture=None, layout="basicsr"):
    """Writes a generator read from `input_path` (any form `load` reads but a SavedModel)
    as `output_path`: a Keras `.weights.h5`, or a PyTorch `.pth` / `.safetensors` in
    `layout` ("basicsr" or "old_arch", `pytorch.save`). Returns the `Loaded`.

    The architecture is read from the input (`architecture` must agree with it). The file
    is written beside `output_path` and moved onto it only when complete: a failure never
    leaves a partial output.
    """
    input_path, output_path = os.fspath(input_path), os.fspath(output_path)
    if not output_path.lower().endswith(WRITTEN_FORMS):
        raise ValueError(
            f"output {output_path!r} must end with one of {', '.join(WRITTEN_FORMS)} (the "
            "ending picks the form)"
        )
    source = foreign_file(input_path) or input_path
    if os.path.exists(output_path) and os.path.realpath(source) == os.path.realpath(output_path):
        raise ValueError(f"input and output are the same file: {input_path!r}")
    out_dir = os.path.dirname(os.path.abspath(output_path))
    if not os.path.isdir(out_dir):
        raise FileNotFoundError(f"output directory {out_dir!r} does not exist")
    loaded = load(input_path, architecture)
    if output_path.endswith(".weights.h5"):
        keras.save_weights(loaded.model, output_path)
    else:
        metadata = {"source": input_path, "architecture": loaded.descriptor.summary}
        pytorch.save(loaded.model, output_path, layout, metadata)
    logging.info(
        "%s: %s, %s parameters -> %s",
        input_path,
        loaded.descriptor.summary,
        f"{loaded.model.count_params():,}",
        output_path,
    )
    return loaded
