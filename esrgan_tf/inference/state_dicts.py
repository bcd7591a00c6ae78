"""PyTorch ESRGAN / BasicSR / Real-ESRGAN RRDBNet weights (`.pth`, `.safetensors`) in Keras.

The library of `python -m esrgan_tf.convert`.

Two key layouts exist for the same network: the original ESRGAN release
(`RRDB_trunk.N.RDB1.conv1`, `trunk_conv`, `upconv1`, `HRconv`) and BasicSR /
Real-ESRGAN (`body.N.rdb1.conv1`, `conv_body`, `conv_up1`, `conv_hr`). Both are
renamed to the BasicSR names, which are also `RRDBNet`'s attribute names.
The architecture is read from the tensor shapes, so flags are only needed to
double-check it or to pick scale 3 (indistinguishable from 2 by its weights).
"""

import collections.abc
import os
import re

from absl import logging
import numpy as np

from esrgan_tf.inference.weights import save_weights_atomically
from esrgan_tf.models.rrdbnet import RRDBNet, upsample_factors

CHECKPOINT_EXTENSIONS = (".safetensors", ".pth", ".pt")
# Keras 3 picks the weights format from the file name and refuses anything else.
OUTPUT_SUFFIX = ".weights.h5"

LAYOUT_ESRGAN = "original ESRGAN"
LAYOUT_BASICSR = "BasicSR/Real-ESRGAN"

_MAX_LISTED = 8


def _listing(names):
    names = sorted(names)
    shown = ", ".join(names[:_MAX_LISTED])
    more = len(names) - _MAX_LISTED
    return shown + (f" ... and {more} more" if more > 0 else "")


# ---- Reading checkpoint files ----


def load_state_dict(path):
    """Reads a PyTorch state dict from `.safetensors`, `.pth` or `.pt`.

    BasicSR's `params_ema` / `params` wrappers are removed (`unwrap_state_dict`).

    Returns:
        dict mapping parameter names to numpy arrays (PyTorch layouts).
    Raises:
        FileNotFoundError, ImportError (a `.pth` without torch installed),
        ValueError (anything that is not a name -> tensor mapping).
    """
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise FileNotFoundError(f"checkpoint {path!r} does not exist")
    ext = os.path.splitext(path)[1].lower()
    if ext == ".safetensors":
        raw = _read_safetensors(path)
    elif ext in (".pth", ".pt"):
        raw = _read_torch(path)
    else:
        raise ValueError(
            f"{path!r}: unknown checkpoint extension {ext!r}, expected one "
            f"of {', '.join(CHECKPOINT_EXTENSIONS)}"
        )
    return unwrap_state_dict(raw, path)


def unwrap_state_dict(raw, source):
    """The name -> numpy array mapping inside a loaded checkpoint object.

    BasicSR training checkpoints nest the weights under `params_ema` (the EMA
    weights that BasicSR evaluates and releases) and/or `params`; `params_ema`
    wins when both are present. `source` names the file in error messages.
    """
    if not isinstance(raw, collections.abc.Mapping):
        raise ValueError(
            f"{source!r} holds a {type(raw).__name__}, not a state dict "
            "(a mapping of parameter names to tensors)"
        )
    for wrapper in ("params_ema", "params"):
        if wrapper in raw:
            logging.info("%s: using the weights under %r", source, wrapper)
            raw = raw[wrapper]
            if not isinstance(raw, collections.abc.Mapping):
                raise ValueError(
                    f"{source!r}: {wrapper!r} holds a {type(raw).__name__}, not a state dict"
                )
            break
    if not raw:
        raise ValueError(f"{source!r} holds an empty state dict")

    state_dict = {}
    for name, value in raw.items():
        array = _as_numpy(value)
        if not isinstance(name, str) or array is None:
            raise ValueError(
                f"{source!r} is not a state dict of tensors: entry {name!r} "
                f"is a {type(value).__name__}"
            )
        state_dict[name] = array
    return state_dict


def _read_safetensors(path):
    from safetensors import SafetensorError
    from safetensors.numpy import load_file

    try:
        return load_file(path)
    except (SafetensorError, OSError, TypeError) as err:
        # TypeError: dtypes numpy lacks (bfloat16); convert those with torch.
        raise ValueError(f"{path!r} is not a readable safetensors file: {err}") from err


def _read_torch(path):
    try:
        import torch
    except ImportError as err:
        raise ImportError(
            f"reading {path!r} needs PyTorch: `pip install torch`, or convert the "
            "checkpoint to .safetensors on a machine that has it"
        ) from err
    try:
        # weights_only: a .pth is a pickle, and unpickling arbitrary objects runs code.
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # torch raises pickle, zip and runtime errors alike.
        raise ValueError(
            f"{path!r} is not a PyTorch weights checkpoint "
            f"(or needs more than weights_only loading): {err}"
        ) from err


def _as_numpy(value):
    """The array behind a numpy or torch tensor, or None for anything else."""
    if isinstance(value, np.ndarray):
        return value
    if type(value).__module__.startswith("torch") and hasattr(value, "detach"):
        value = value.detach().cpu()
        if str(value.dtype) == "torch.bfloat16":  # numpy has no bfloat16.
            value = value.float()
        return value.numpy()
    return None


# ---- Key layouts ----

_ESRGAN_TO_BASICSR = (
    (
        re.compile(r"RRDB_trunk\.(\d+)\.RDB([123])\.(conv[1-5]\.(?:weight|bias))"),
        r"body.\1.rdb\2.\3",
    ),
    (re.compile(r"trunk_conv\.(weight|bias)"), r"conv_body.\1"),
    (re.compile(r"upconv(\d+)\.(weight|bias)"), r"conv_up\1.\2"),
    (re.compile(r"HRconv\.(weight|bias)"), r"conv_hr.\1"),
)
_BASICSR_TO_ESRGAN = (
    (
        re.compile(r"body\.(\d+)\.rdb([123])\.(conv[1-5]\.(?:weight|bias))"),
        r"RRDB_trunk.\1.RDB\2.\3",
    ),
    (re.compile(r"conv_body\.(weight|bias)"), r"trunk_conv.\1"),
    (re.compile(r"conv_up(\d+)\.(weight|bias)"), r"upconv\1.\2"),
    (re.compile(r"conv_hr\.(weight|bias)"), r"HRconv.\1"),
)
_BODY_KEY = re.compile(r"body\.(\d+)\.rdb[123]\.conv[1-5]\.(?:weight|bias)")
_UP_KEY = re.compile(r"conv_up(\d+)\.(?:weight|bias)")


def _rename(key, table):
    for pattern, replacement in table:
        if pattern.fullmatch(key):
            return pattern.sub(replacement, key)
    return key


def canonicalize(state_dict):
    """Renames a state dict to BasicSR's key layout.

    Keys of neither layout are kept as they are, so that loading reports them
    as unexpected instead of dropping them. A `module.` prefix on every key
    (saved from a `DataParallel` wrapper) is removed.

    Returns:
        (renamed state dict, LAYOUT_ESRGAN or LAYOUT_BASICSR).
    """
    if state_dict and all(k.startswith("module.") for k in state_dict):
        state_dict = {k[len("module.") :]: v for k, v in state_dict.items()}
    renamed, layout = {}, LAYOUT_BASICSR
    for key, value in state_dict.items():
        new_key = _rename(key, _ESRGAN_TO_BASICSR)
        if new_key != key:
            layout = LAYOUT_ESRGAN
        if new_key in renamed:
            raise ValueError(
                f"state dict mixes the two key layouts: {key!r} and another "
                f"key both mean {new_key!r}"
            )
        renamed[new_key] = value
    return renamed, layout


# ---- Architecture from tensor shapes ----


def infer_config(
    state_dict,
    *,
    num_in_ch=None,
    num_out_ch=None,
    num_feat=None,
    num_block=None,
    num_grow_ch=None,
    scale=None,
):
    """RRDBNet constructor kwargs read from a state dict (either layout).

    Keyword arguments that are not None override the inferred values, but must
    agree with the tensors. Scale is inferred as 2 ** (number of upsampling
    convs); scale=3 (one x3 stage) has the same tensors as scale 2 and is only
    used when asked for.

    Raises:
        ValueError: a required tensor is missing or an override disagrees.
        NotImplementedError: BasicSR's pixel-unshuffle variants (x2, x1).
    """
    sd, _ = canonicalize(state_dict)

    def conv_shape(key):
        if key not in sd:
            hint = ""
            if any(re.match(r"model\.\d+\.", k) for k in sd):
                hint = (
                    " (keys like 'model.0.weight' are the pre-2019 ESRGAN "
                    "'old_arch' layout, which is not supported)"
                )
            raise ValueError(
                f"not an RRDBNet state dict: {key!r} is missing{hint}; keys found: {_listing(sd)}"
            )
        if sd[key].ndim != 4:
            raise ValueError(
                f"{key!r} should be a 4-D conv weight, got shape {tuple(sd[key].shape)}"
            )
        return tuple(int(d) for d in sd[key].shape)

    first = conv_shape("conv_first.weight")
    last = conv_shape("conv_last.weight")
    grow = conv_shape("body.0.rdb1.conv1.weight")
    # Largest index, not count: a gap then shows up as missing keys when loading.
    blocks = 1 + max(int(m.group(1)) for k in sd if (m := _BODY_KEY.fullmatch(k)))
    ups = max((int(m.group(1)) for k in sd if (m := _UP_KEY.fullmatch(k))), default=0)
    if not 1 <= ups <= 3:
        raise ValueError(
            f"RRDBNet has 1 to 3 upsampling convs (x2, x4, x8), the checkpoint has {ups}"
        )

    # BasicSR's RRDBNet handles x2 and x1 by pixel-unshuffling the input (x4 or
    # x16 channels) and then upsampling x4 (Real-ESRGAN's RealESRGAN_x2plus.pth).
    in_ch = first[1]
    reference = num_in_ch if num_in_ch is not None else last[0]
    if in_ch != reference and in_ch in (4 * reference, 16 * reference):
        raise NotImplementedError(
            f"conv_first.weight has {in_ch} input channels = {in_ch // reference} x "
            f"{reference}: this is BasicSR's pixel-unshuffle RRDBNet (scale "
            f"{2 if in_ch == 4 * reference else 1}, e.g. RealESRGAN_x2plus), which "
            "esrgan_tf's RRDBNet does not implement"
        )

    config = dict(
        num_in_ch=in_ch,
        num_out_ch=last[0],
        num_feat=first[0],
        num_block=blocks,
        num_grow_ch=grow[0],
        scale=2**ups,
    )
    from_shape = {
        "num_in_ch": ("conv_first.weight", first, 1),
        "num_feat": ("conv_first.weight", first, 0),
        "num_out_ch": ("conv_last.weight", last, 0),
        "num_grow_ch": ("body.0.rdb1.conv1.weight", grow, 0),
    }
    given = dict(
        num_in_ch=num_in_ch,
        num_out_ch=num_out_ch,
        num_feat=num_feat,
        num_block=num_block,
        num_grow_ch=num_grow_ch,
    )
    for name, value in given.items():
        if value is None or value == config[name]:
            continue
        if name == "num_block":
            raise ValueError(
                f"num_block={value} disagrees with the checkpoint, which "
                f"has {blocks} RRDBs (body.0 ... body.{blocks - 1})"
            )
        key, shape, axis = from_shape[name]
        wanted = list(shape)
        wanted[axis] = value
        raise ValueError(
            f"{name}={value} disagrees with the checkpoint: {key} has shape "
            f"{shape}, {name}={value} needs {tuple(wanted)}"
        )
    if scale is not None:
        if len(upsample_factors(scale)) != ups:
            raise ValueError(
                f"scale={scale} disagrees with the checkpoint, which has "
                f"{ups} upsampling conv(s) (scale {2**ups})"
            )
        config["scale"] = scale
    return config


# ---- Loading into Keras ----


def _named_convs(model):
    """(BasicSR key prefix, Conv2D) for every conv of an RRDBNet."""
    convs = [("conv_first", model.conv_first)]
    for i, rrdb in enumerate(model.body.layers):
        for j, rdb in enumerate((rrdb.rdb1, rrdb.rdb2, rrdb.rdb3), start=1):
            for k, conv in enumerate(
                (rdb.conv1, rdb.conv2, rdb.conv3, rdb.conv4, rdb.conv5), start=1
            ):
                convs.append((f"body.{i}.rdb{j}.conv{k}", conv))
    convs.append(("conv_body", model.conv_body))
    convs += [(f"conv_up{i}", conv) for i, conv in enumerate(model.up_convs, start=1)]
    convs += [("conv_hr", model.conv_hr), ("conv_last", model.conv_last)]
    return convs


def load_into_rrdbnet(model, state_dict):
    """Copies a PyTorch state dict (either layout) into an RRDBNet, all or nothing.

    Every key, shape and dtype is checked before the first variable is assigned;
    any missing key, unexpected key or mismatch raises one ValueError that lists
    them all, leaving the model untouched. Builds the model if it is not built.
    """
    if not model.built:
        model(np.zeros((1, 8, 8, model.num_in_ch), np.float32))
    sd, layout = canonicalize(state_dict)

    def file_name(key):  # Errors name keys as the user's file spells them.
        return _rename(key, _BASICSR_TO_ESRGAN) if layout == LAYOUT_ESRGAN else key

    pending, problems, expected = [], [], set()
    for prefix, conv in _named_convs(model):
        for suffix, variable in (("weight", conv.kernel), ("bias", conv.bias)):
            key = f"{prefix}.{suffix}"
            expected.add(key)
            if key not in sd:
                continue
            value = np.asarray(sd[key])
            if suffix == "weight" and value.ndim == 4:
                # PyTorch conv weights are [out, in, kh, kw]; Keras kernels [kh, kw, in, out].
                value = value.transpose(2, 3, 1, 0)
            if tuple(value.shape) != tuple(variable.shape):
                torch_shape = tuple(variable.shape)
                if suffix == "weight":
                    torch_shape = tuple(torch_shape[i] for i in (3, 2, 0, 1))
                problems.append(
                    f"{file_name(key)}: checkpoint shape "
                    f"{tuple(sd[key].shape)}, model expects {torch_shape}"
                )
            elif not np.issubdtype(value.dtype, np.floating):
                problems.append(f"{file_name(key)}: dtype {value.dtype} is not floating point")
            else:
                pending.append((variable, value.astype(variable.dtype)))
    missing = expected - set(sd)
    unexpected = set(sd) - expected
    if missing:
        problems.append(f"{len(missing)} missing key(s): {_listing(map(file_name, missing))}")
    if unexpected:
        problems.append(
            f"{len(unexpected)} unexpected key(s): {_listing(map(file_name, unexpected))}"
        )
    if problems:
        arch = (
            f"RRDBNet(num_in_ch={model.num_in_ch}, num_out_ch={model.num_out_ch}, "
            f"num_feat={model.num_feat}, num_block={model.num_block}, "
            f"num_grow_ch={model.num_grow_ch}, scale={model.scale})"
        )
        raise ValueError(
            f"state dict does not fit {arch}; nothing was loaded:\n  " + "\n  ".join(problems)
        )
    for variable, value in pending:
        variable.assign(value)


# ---- Conversion ----


def convert(input_path, output_path, **overrides):
    """Converts a PyTorch RRDBNet checkpoint to a Keras `.weights.h5` file.

    The weights are written to a temporary file next to `output_path` and moved
    onto it only when complete, so a failure never leaves a partial output.

    Args:
        input_path: `.safetensors`, `.pth` or `.pt` checkpoint, either layout.
        output_path: destination, must end with `.weights.h5`.
        **overrides: RRDBNet kwargs checked against the checkpoint (`infer_config`);
            None values are ignored.
    Returns:
        The loaded RRDBNet.
    """
    input_path, output_path = os.fspath(input_path), os.fspath(output_path)
    if os.path.realpath(input_path) == os.path.realpath(output_path):
        raise ValueError(f"input and output are the same file: {input_path!r}")
    if not output_path.endswith(OUTPUT_SUFFIX):
        raise ValueError(
            f"output {output_path!r} must end with {OUTPUT_SUFFIX!r} "
            "(Keras 3 chooses the weights format by file name)"
        )
    out_dir = os.path.dirname(os.path.abspath(output_path))
    if not os.path.isdir(out_dir):
        raise FileNotFoundError(f"output directory {out_dir!r} does not exist")

    # Kept in the file's own layout so that errors use the file's key names.
    state_dict = load_state_dict(input_path)
    layout = canonicalize(state_dict)[1]
    config = infer_config(state_dict, **{k: v for k, v in overrides.items() if v is not None})
    model = RRDBNet(**config)
    load_into_rrdbnet(model, state_dict)

    save_weights_atomically(model, output_path)
    logging.info(
        "%s (%s layout): RRDBNet x%d, %d RRDBs, num_feat=%d, num_grow_ch=%d, "
        "%d->%d channels, %s parameters -> %s",
        input_path,
        layout,
        config["scale"],
        config["num_block"],
        config["num_feat"],
        config["num_grow_ch"],
        config["num_in_ch"],
        config["num_out_ch"],
        f"{model.count_params():,}",
        output_path,
    )
    return model
