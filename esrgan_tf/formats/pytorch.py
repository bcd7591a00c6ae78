"""PyTorch ESRGAN-family weights (`.pth`, `.safetensors`) as Keras generators.

The `.pth` / `.safetensors` form of `esrgan_tf.formats.generators`. Two architectures, in every
key layout that users hold them in:

* RRDBNet (ESRGAN, Real-ESRGAN x4plus / x2plus, and most community models):
  - BasicSR / Real-ESRGAN: `conv_first`, `body.N.rdb1.conv1`, `conv_body`, `conv_up1`,
    `conv_hr`, `conv_last`, often under `params_ema` / `params`;
  - the ESRGAN release: `RRDB_trunk.N.RDB1.conv1`, `trunk_conv`, `upconv1`, `HRconv`;
  - the original "old arch" of most community models: `model.0` (conv_first),
    `model.1.sub.N.RDBk.convj.0` (the dense blocks), `model.1.sub.<num_block>` (conv_body),
    then the upsampling convs at `model.3, 6, 9` (one per x2 stage) and the two HR convs
    at `model.<3u + 2>` and `model.<3u + 4>` for u stages (x1: `model.2`, `model.4`);
  - BasicSR's pixel-unshuffle variant (RealESRGAN_x2plus: conv_first takes 12 channels at
    x2, 48 at x1) is read as `RRDBNet(unshuffle=True)`.
* SRVGGNetCompact (Real-ESRGAN's compact net: realesr-animevideov3, realesr-general-x4v3):
  `body.0` (conv), `body.1` (PReLU), ..., `body.<2 num_conv + 2>` (the last conv).

Every layout is renamed to BasicSR's names, which are also the Keras models' attribute
names. The architecture is read from the tensors (scale, blocks, features, growth, convs);
flags only double-check it, or pick scale 3, which has the same tensors as scale 2.
Detection is hand-written rather than spandrel's (the loader of ComfyUI and chaiNNer):
spandrel needs torch and torchvision even for `.safetensors`, and these rules are few.
"""

import collections.abc
import dataclasses
import os
import re

from absl import logging
import numpy as np

from esrgan_tf import atomic, tensor_files
from esrgan_tf.models import builders
from esrgan_tf.models.builders import built_generator
from esrgan_tf.models.config import ModelConfig
from esrgan_tf.models.rrdbnet import RRDBNet
from esrgan_tf.models.srvgg import SRVGGNetCompact

CHECKPOINT_EXTENSIONS = (".safetensors", ".pth", ".pt")

LAYOUT_ESRGAN = "original ESRGAN"
LAYOUT_BASICSR = "BasicSR/Real-ESRGAN"
LAYOUT_OLD_ARCH = "old-arch ESRGAN"

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
    raw = tensor_files.read(path, "checkpoint", extensions=CHECKPOINT_EXTENSIONS)
    return unwrap_state_dict(raw, os.fspath(path))


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
        array = tensor_files.to_numpy(value)
        if not isinstance(name, str) or array is None:
            raise ValueError(
                f"{source!r} is not a state dict of tensors: entry {name!r} "
                f"is a {type(value).__name__}"
            )
        state_dict[name] = array
    return state_dict


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
_OLD_ARCH_KEY = re.compile(r"model\.(\d+)\.(weight|bias)")
_OLD_ARCH_RDB = re.compile(r"model\.1\.sub\.(\d+)\.RDB([123])\.conv([1-5])\.0\.(weight|bias)")
_OLD_ARCH_BODY = re.compile(r"model\.1\.sub\.(\d+)\.(weight|bias)")
_BODY_KEY = re.compile(r"body\.(\d+)\.rdb[123]\.conv[1-5]\.(?:weight|bias)")
_UP_KEY = re.compile(r"conv_up(\d+)\.(?:weight|bias)")
_SRVGG_KEY = re.compile(r"body\.(\d+)\.(weight|bias)")


@dataclasses.dataclass(frozen=True)
class Canonical:
    """A state dict renamed to BasicSR's names.

    Attributes:
        state_dict: {BasicSR name: array}.
        layout: which layout the file used (`LAYOUT_*`).
        names: {BasicSR name: the name in the file}, so that errors speak the file's names.
        stages: the old-arch layout's upsampling stages (its names of the HR convs depend
            on them).
    """

    state_dict: dict
    layout: str
    names: dict
    stages: int = 0

    def file_name(self, key):
        """`key` as the file spells it (or would, for a key the file lacks)."""
        if key in self.names:
            return self.names[key]
        if self.layout == LAYOUT_ESRGAN:
            return _spell_esrgan(key)
        if self.layout == LAYOUT_OLD_ARCH:
            return _spell_old_arch(key, self.stages)
        return key


def _spell_esrgan(key):
    """The ESRGAN release's name of a BasicSR key."""
    prefix, kind = key.rsplit(".", 1)
    parts = prefix.split(".")
    if parts[0] == "body" and len(parts) == 4:
        return f"RRDB_trunk.{parts[1]}.RDB{parts[2][3:]}.{parts[3]}.{kind}"
    if prefix.startswith("conv_up"):
        return f"upconv{prefix[len('conv_up') :]}.{kind}"
    return f"{ {'conv_body': 'trunk_conv', 'conv_hr': 'HRconv'}.get(prefix, prefix) }.{kind}"


def _spell_old_arch(key, stages, num_block=None):
    """The old-arch name of a BasicSR key, for an RRDBNet of `stages` x2 stages (and
    `num_block` RRDBs: conv_body's index; without it conv_body keeps its name)."""
    prefix, kind = key.rsplit(".", 1)
    if prefix == "conv_body" and num_block is not None:
        return f"model.1.sub.{num_block}.{kind}"
    parts = prefix.split(".")
    if parts[0] == "body" and len(parts) == 4:
        return f"model.1.sub.{parts[1]}.RDB{parts[2][3:]}.{parts[3]}.0.{kind}"
    if prefix.startswith("conv_up"):
        return f"model.{3 * int(prefix[len('conv_up') :])}.{kind}"
    index = {"conv_first": 0, "conv_hr": 3 * stages + 2, "conv_last": 3 * stages + 4}
    return f"model.{index[prefix]}.{kind}" if prefix in index else key


def _rename_esrgan(key):
    for pattern, replacement in _ESRGAN_TO_BASICSR:
        if pattern.fullmatch(key):
            return pattern.sub(replacement, key)
    return key


def _old_arch_names(keys):
    """({old-arch key: BasicSR key}, stages) of an old-arch state dict (unknown keys kept as
    they are).

    The upsampling stages are (nearest x2, conv, LeakyReLU) triples from `model.2` on, so
    with u stages the convs sit at model.3, 6, ..., 3u and the two HR convs at 3u + 2 and
    3u + 4; u is read from the largest index (x1: 4, x2: 7, x4: 10, x8: 13).
    """
    top = [int(m.group(1)) for k in keys if (m := _OLD_ARCH_KEY.fullmatch(k))]
    last = max(top, default=0)
    if (last - 4) % 3:
        raise ValueError(
            f"old-arch state dict ends at model.{last}: not RRDBNet's layout, whose last "
            "conv is model.4, 7, 10 or 13 (x1, x2, x4, x8)"
        )
    stages = (last - 4) // 3
    roles = {0: "conv_first", 3 * stages + 2: "conv_hr", 3 * stages + 4: "conv_last"}
    roles.update({3 * i: f"conv_up{i}" for i in range(1, stages + 1)})
    bodies = [int(m.group(1)) for k in keys if (m := _OLD_ARCH_BODY.fullmatch(k))] or [-1]
    names = {}
    for key in keys:
        if m := _OLD_ARCH_RDB.fullmatch(key):
            block, rdb, conv, kind = m.groups()
            names[key] = f"body.{block}.rdb{rdb}.conv{conv}.{kind}"
        elif (m := _OLD_ARCH_BODY.fullmatch(key)) and int(m.group(1)) == max(bodies):
            names[key] = f"conv_body.{m.group(2)}"
        elif (m := _OLD_ARCH_KEY.fullmatch(key)) and int(m.group(1)) in roles:
            names[key] = f"{roles[int(m.group(1))]}.{m.group(2)}"
        else:
            names[key] = key
    return names, stages


def canonicalize(state_dict):
    """Renames a state dict to BasicSR's key layout; returns a `Canonical`.

    Keys of no layout are kept as they are, so that loading reports them as unexpected
    instead of dropping them. A `module.` prefix on every key (saved from a `DataParallel`
    wrapper) is removed.
    """
    if state_dict and all(k.startswith("module.") for k in state_dict):
        state_dict = {k[len("module.") :]: v for k, v in state_dict.items()}
    stages = 0
    if "model.0.weight" in state_dict:
        (mapping, stages), layout = _old_arch_names(list(state_dict)), LAYOUT_OLD_ARCH
    else:
        mapping = {k: _rename_esrgan(k) for k in state_dict}
        changed = any(k != v for k, v in mapping.items())
        layout = LAYOUT_ESRGAN if changed else LAYOUT_BASICSR
    renamed, names = {}, {}
    for key, value in state_dict.items():
        new_key = mapping[key]
        if new_key in renamed:
            raise ValueError(
                f"state dict mixes key layouts: {key!r} and {names[new_key]!r} both mean "
                f"{new_key!r}"
            )
        renamed[new_key] = value
        names[new_key] = key
    return Canonical(renamed, layout, names, stages)


# ---- Architecture from tensor shapes ----


def _conv_shape(canonical, key):
    sd = canonical.state_dict
    if key not in sd:
        raise ValueError(
            f"not an RRDBNet or SRVGGNetCompact state dict: {key!r} is missing; keys "
            f"found: {_listing(canonical.names.values())}"
        )
    if sd[key].ndim != 4:
        raise ValueError(
            f"{canonical.file_name(key)!r} should be a 4-D conv weight, got shape "
            f"{tuple(sd[key].shape)}"
        )
    return tuple(int(d) for d in sd[key].shape)


def _check_rgb(canonical, key, channels, what):
    if channels != 3:
        raise ValueError(
            f"{canonical.file_name(key)!r} has {channels} {what} channels: only RGB models "
            "(3 channels in and out) are supported"
        )


def _infer_rrdbnet(canonical):
    sd = canonical.state_dict
    first = _conv_shape(canonical, "conv_first.weight")
    last = _conv_shape(canonical, "conv_last.weight")
    grow = _conv_shape(canonical, "body.0.rdb1.conv1.weight")
    _check_rgb(canonical, "conv_last.weight", last[0], "output")
    # Largest index, not count: a gap then shows up as missing keys when loading.
    blocks = 1 + max(int(m.group(1)) for k in sd if (m := _BODY_KEY.fullmatch(k)))
    ups = max((int(m.group(1)) for k in sd if (m := _UP_KEY.fullmatch(k))), default=0)
    if ups > 3:
        raise ValueError(f"RRDBNet has at most 3 upsampling convs (x8), the file has {ups}")
    up_out = [_conv_shape(canonical, f"conv_up{i}.weight")[0] for i in range(1, ups + 1)]
    if any(c != first[0] for c in up_out):
        raise ValueError(
            f"the upsampling convs have {up_out} output channels for {first[0]} features: "
            "a pixel-shuffle upsampler, which RRDBNet does not have"
        )
    config = dict(
        generator="rrdbnet",
        num_feat=first[0],
        num_block=blocks,
        num_grow_ch=grow[0],
        scale=2**ups,
        unshuffle=False,
    )
    # BasicSR's RRDBNet handles x2 and x1 by pixel-unshuffling the input (x4 or x16
    # channels) and then upsampling x4 (Real-ESRGAN's RealESRGAN_x2plus.pth).
    in_ch = first[1]
    if in_ch in (12, 48):
        if ups != 2:
            raise ValueError(
                f"conv_first takes {in_ch} channels (a pixel-unshuffled input) but the file "
                f"has {ups} upsampling convs, not BasicSR's 2"
            )
        config.update(unshuffle=True, scale=2 if in_ch == 12 else 1)
    else:
        _check_rgb(canonical, "conv_first.weight", in_ch, "input")
    return config


def _infer_srvgg(canonical):
    sd = canonical.state_dict
    indices = sorted({int(m.group(1)) for k in sd if (m := _SRVGG_KEY.fullmatch(k))})
    convs = [i for i in indices if sd.get(f"body.{i}.weight", np.zeros(())).ndim == 4]
    if not convs or convs[0] != 0:
        return _conv_shape(canonical, "conv_first.weight")  # raises: neither architecture
    last = convs[-1]
    expected = list(range(0, last + 1, 2))
    if convs != expected or (last - 2) % 2 or last < 2:
        raise ValueError(
            f"SRVGGNetCompact has its convs at body.0, body.2, ..., body.{last}; the file "
            f"has them at {', '.join(f'body.{i}' for i in convs)}"
        )
    if "body.1.weight" not in sd:
        raise ValueError(
            "SRVGGNetCompact without PReLU weights (body.1.weight): its ReLU / LeakyReLU "
            "variants cannot be told apart from the tensors and are not supported"
        )
    first = _conv_shape(canonical, "body.0.weight")
    out = _conv_shape(canonical, f"body.{last}.weight")[0]
    _check_rgb(canonical, "body.0.weight", first[1], "input")
    scale = int(round((out / 3) ** 0.5))
    if 3 * scale * scale != out:
        raise ValueError(f"the last conv body.{last} has {out} output channels, not 3 * scale**2")
    return dict(generator="srvgg", num_feat=first[0], num_conv=(last - 2) // 2, scale=scale)


def infer_model_config(state_dict, **overrides):
    """The `ModelConfig` of a state dict (any layout), read from its tensors.

    Keyword arguments that are not None override the inferred values, but must agree with
    the tensors, except `scale=3` for an RRDBNet with one upsampling conv (x2 and x3 have
    the same tensors, so 3 is only used when asked for).

    Raises:
        ValueError: not a supported architecture, or an override disagrees.
    """
    canonical = state_dict if isinstance(state_dict, Canonical) else canonicalize(state_dict)
    sd = canonical.state_dict
    if "conv_first.weight" not in sd and "body.0.weight" in sd:
        inferred = _infer_srvgg(canonical)
    else:
        inferred = _infer_rrdbnet(canonical)
    given = {k: v for k, v in overrides.items() if v is not None}
    if (
        given.get("scale") == 3
        and inferred["generator"] == "rrdbnet"
        and inferred["scale"] == 2
        and not inferred["unshuffle"]
    ):
        inferred["scale"] = 3  # one upsampling conv: x2 and x3 look the same
    for name, value in given.items():
        if name in inferred and value != inferred[name]:
            raise ValueError(
                f"{name}={value!r} disagrees with the checkpoint, which is "
                f"{builders.descriptor(ModelConfig(**inferred)).summary}"
            )
    return ModelConfig(**{**inferred, **{k: v for k, v in given.items() if k not in inferred}})


# ---- Loading into Keras ----


def _torch_channel_order(channels, factor):
    """perm with keras[k] = torch[perm[k]] for the channels of a pixel (un)shuffle.

    TF's depth_to_space / space_to_depth number the channel of offset (i, j) and image
    channel c as (i * f + j) * C + c, PyTorch's pixel_shuffle / pixel_unshuffle as
    c * f**2 + i * f + j.
    """
    per = channels // (factor * factor)
    return np.array(
        [
            c * factor * factor + i * factor + j
            for i in range(factor)
            for j in range(factor)
            for c in range(per)
        ]
    )


def _conv(weight_perm_in=None, weight_perm_out=None):
    """(to Keras, to PyTorch) of a conv's kernel and of its bias: OIHW -> HWIO, then the
    optional channel permutations; and back."""
    back_in = None if weight_perm_in is None else np.argsort(weight_perm_in)
    back_out = None if weight_perm_out is None else np.argsort(weight_perm_out)

    def kernel(value):
        value = value.transpose(2, 3, 1, 0)
        if weight_perm_in is not None:
            value = value[:, :, weight_perm_in, :]
        if weight_perm_out is not None:
            value = value[..., weight_perm_out]
        return value

    def kernel_back(value):
        if back_in is not None:
            value = value[:, :, back_in, :]
        if back_out is not None:
            value = value[..., back_out]
        return value.transpose(3, 2, 0, 1)

    def bias(value):
        return value if weight_perm_out is None else value[weight_perm_out]

    def bias_back(value):
        return value if back_out is None else value[back_out]

    return (kernel, kernel_back), (bias, bias_back)


def named_variables(model):
    """[(BasicSR key, variable, PyTorch array -> Keras array, Keras array -> PyTorch array)]
    of an RRDBNet or SRVGGNetCompact."""
    found = []

    def conv(prefix, layer, perm_in=None, perm_out=None):
        kernel, bias = _conv(perm_in, perm_out)
        found.append((f"{prefix}.weight", layer.kernel, *kernel))
        found.append((f"{prefix}.bias", layer.bias, *bias))

    if isinstance(model, SRVGGNetCompact):
        last = model.convs[-1][0]
        for index, layer in model.convs:
            perm = _torch_channel_order(layer.filters, model.scale) if index == last else None
            conv(f"body.{index}", layer, perm_out=perm)
        for index, layer in model.prelus:
            alpha = (lambda v: v.reshape(1, 1, -1), lambda v: v.reshape(-1))
            found.append((f"body.{index}.weight", layer.alpha, *alpha))
        return found
    if not isinstance(model, RRDBNet):
        raise ValueError(
            f"{type(model).__name__} has no PyTorch layout here (RRDBNet and SRVGGNetCompact "
            "have: BasicSR's, which spandrel, chaiNNer and ComfyUI read)"
        )
    perm = (
        _torch_channel_order(3 * (4 // model.scale) ** 2, 4 // model.scale)
        if model.unshuffle
        else None
    )
    conv("conv_first", model.conv_first, perm_in=perm)
    for i, rrdb in enumerate(model.body.layers):
        for j, rdb in enumerate((rrdb.rdb1, rrdb.rdb2, rrdb.rdb3), start=1):
            for k, layer in enumerate(
                (rdb.conv1, rdb.conv2, rdb.conv3, rdb.conv4, rdb.conv5), start=1
            ):
                conv(f"body.{i}.rdb{j}.conv{k}", layer)
    conv("conv_body", model.conv_body)
    for i, layer in enumerate(model.up_convs, start=1):
        conv(f"conv_up{i}", layer)
    conv("conv_hr", model.conv_hr)
    conv("conv_last", model.conv_last)
    return found


def load_into_generator(model, state_dict):
    """Copies a PyTorch state dict (any layout) into a built RRDBNet or SRVGGNetCompact,
    all or nothing.

    Every key, shape and dtype is checked before the first variable is assigned; missing
    keys, unexpected keys and mismatches raise one ValueError that lists them all (in the
    file's own key names), leaving the model untouched.
    """
    canonical = state_dict if isinstance(state_dict, Canonical) else canonicalize(state_dict)
    sd = canonical.state_dict
    pending, problems, expected = [], [], set()
    for key, variable, transform, _ in named_variables(model):
        expected.add(key)
        if key not in sd:
            continue
        value = np.asarray(sd[key])
        if not np.issubdtype(value.dtype, np.floating):
            problems.append(f"{canonical.file_name(key)}: dtype {value.dtype} is not floating")
            continue
        try:
            converted = transform(value)
        except (ValueError, IndexError):
            converted = None
        if converted is None or tuple(converted.shape) != tuple(variable.shape):
            problems.append(
                f"{canonical.file_name(key)}: checkpoint shape {tuple(value.shape)} does not "
                f"fit the model's {tuple(variable.shape)} (Keras layout)"
            )
            continue
        pending.append((variable, converted.astype(variable.dtype)))
    missing = expected - set(sd)
    unexpected = set(sd) - expected
    if missing:
        problems.append(
            f"{len(missing)} missing key(s): {_listing(map(canonical.file_name, missing))}"
        )
    if unexpected:
        problems.append(
            f"{len(unexpected)} unexpected key(s): {_listing(map(canonical.file_name, unexpected))}"
        )
    if problems:
        raise ValueError(
            f"state dict does not fit {type(model).__name__}"
            f"(scale={model.scale}); nothing was loaded:\n  " + "\n  ".join(problems)
        )
    for variable, value in pending:
        variable.assign(value)


def load_generator(path, **overrides):
    """A Keras generator with the weights of a `.pth` / `.safetensors` file: (model, config).

    The architecture is read from the tensors (`infer_model_config`; `overrides` check it).
    """
    canonical = canonicalize(load_state_dict(path))
    config = infer_model_config(canonical, **overrides)
    model = built_generator(config)
    load_into_generator(model, canonical)
    return model, config, canonical.layout


# ---- Writing ----

# --layout of `python -m esrgan_tf.convert`: the layouts a file is written in.
WRITE_LAYOUTS = {"basicsr": LAYOUT_BASICSR, "old_arch": LAYOUT_OLD_ARCH}
# BasicSR's wrapper of the weights it releases (its EMA weights; `unwrap_state_dict`).
BASICSR_WRAPPER = "params_ema"
# spandrel 0.4.2 builds every RRDBNet with 32 growth channels (ESRGAN/__arch/RRDB.py).
SPANDREL_GROWTH = 32


def state_dict_of(model, layout="basicsr"):
    """{name: float32 array in PyTorch's layout} of an RRDBNet or SRVGGNetCompact, named as
    `layout` ("basicsr" or "old_arch") spells them; the inverse of `load_into_generator`.

    The old-arch layout is RRDBNet's (x1, x2, x4, x8 without pixel-unshuffle), as the
    community's models and spandrel's `ESRGAN` architecture name it.
    """
    if layout not in WRITE_LAYOUTS:
        raise ValueError(f"layout must be one of {sorted(WRITE_LAYOUTS)}, got {layout!r}")
    if layout == "old_arch" and not (isinstance(model, RRDBNet) and not model.unshuffle):
        kind = "pixel-unshuffle RRDBNet" if isinstance(model, RRDBNet) else type(model).__name__
        raise ValueError(
            f"the old-arch layout has no {kind}: it names RRDBNet without pixel-unshuffle "
            "only; write this model in the basicsr layout"
        )
    state_dict = {}
    for key, variable, _, to_torch in named_variables(model):
        if layout == "old_arch":
            key = _spell_old_arch(key, len(model.up_convs), len(model.body.layers))
        state_dict[key] = np.ascontiguousarray(to_torch(np.asarray(variable, np.float32)))
    return state_dict


def save(model, path, layout="basicsr", metadata=None):
    """Writes the generator's weights as `.safetensors` (no torch needed) or `.pth` (a
    `torch.save` of tensors, which `torch.load(weights_only=True)` reads), atomically.

    The basicsr layout nests the weights under BasicSR's `params_ema` in a `.pth` (as
    BasicSR and Real-ESRGAN release theirs); a `.safetensors` is flat (it holds no nesting).
    `metadata` ({str: str}) goes into the `.safetensors` header.
    """
    path = os.fspath(path)
    ext = os.path.splitext(path)[1].lower()
    if ext not in (".safetensors", ".pth"):
        raise ValueError(f"{path!r}: a PyTorch weights file ends with .safetensors or .pth")
    state_dict = state_dict_of(model, layout)
    growth = model.body.layers[0].rdb1.conv1.filters if isinstance(model, RRDBNet) else 32
    if growth != SPANDREL_GROWTH:
        logging.warning(
            "%s: an RRDBNet with growth %d: BasicSR's RRDBNet(num_grow_ch=%d) loads it, but "
            "spandrel (chaiNNer, ComfyUI) builds growth %d and will refuse it",
            path,
            growth,
            growth,
            SPANDREL_GROWTH,
        )
    if ext == ".safetensors":
        from safetensors.numpy import save_file

        with atomic.atomic_path(path) as tmp:
            save_file(state_dict, tmp, metadata=metadata)
        return
    try:
        import torch
    except ImportError as e:
        raise ImportError(
            f"writing {path!r} needs PyTorch (`pip install torch`); .safetensors does not, "
            "and spandrel, chaiNNer and ComfyUI read it too"
        ) from e
    tensors = {k: torch.from_numpy(v) for k, v in state_dict.items()}
    with atomic.atomic_path(path) as tmp:
        torch.save({BASICSR_WRAPPER: tensors} if layout == "basicsr" else tensors, tmp)
