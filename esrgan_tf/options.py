"""Config fields that carry their own command-line help, and the parsers of option text.

A config dataclass declares each parameter once: `option(default, help)` is a
`dataclasses.field` whose metadata holds the help text and what a command line needs to read
it. `esrgan_tf.cli` makes a command's flags from those fields (flag name = field name) and
builds the config from the parsed flags; tests and notebooks construct the same configs
directly. A leaf module: standard library only, so that a command's `--help` loads nothing
heavy.
"""

import copy
import dataclasses

_UNITS = {"": 1, "K": 2**10, "M": 2**20, "G": 2**30, "T": 2**40}


def option(
    default=dataclasses.MISSING,
    help="",  # noqa: A002 -- the word every flag library uses
    *,
    choices=None,
    parse=None,
    text=None,
    aliases=(),
    flag=True,
    overrides=None,
):
    """A config field with its command-line description.

    Args:
        default: the default (none: the field, and its flag, are required). Lists and dicts
            are copied for every instance.
        help: the flag's help text (one line; say the unit and what 0 or '' means).
        choices: the values a string (or each value of a tuple) may take.
        parse: for a value whose command-line form is text (a memory size '2G', a size
            '48x64'): text -> value. The flag is then a string flag whose default is `text`.
        text: the command-line form of `default` for a `parse` field.
        aliases: other flag names of the same field (names it had before).
        flag: False for a field no command line sets (e.g. a model passed by a library).
        overrides: (config class, field names): the field is a dict of those fields of that
            class that the command line gave; each is a flag whose default is None (e.g. the
            architecture of a weights file that does not record its own).
    """
    metadata = {"help": help}
    if choices is not None:
        metadata["choices"] = tuple(choices)
    if parse is not None:
        metadata["parse"] = parse
        metadata["text"] = text
    if aliases:
        metadata["aliases"] = tuple(aliases)
    if not flag:
        metadata["flag"] = False
    if overrides is not None:
        metadata["overrides"] = overrides
    if isinstance(default, (list, dict)):
        return dataclasses.field(default_factory=lambda: copy.deepcopy(default), metadata=metadata)
    return dataclasses.field(default=default, metadata=metadata)


def check_choice(name, value, choices):
    """A ValueError naming the field unless `value` is one of `choices`."""
    if value not in choices:
        raise ValueError(f"{name} must be one of {tuple(choices)}, got {value!r}")


def parse_bytes(text, name="max_memory"):
    """'512M', '2G', '2GiB', '1.5g' or a plain number of bytes -> bytes."""
    value = str(text).strip().upper().removesuffix("IB").removesuffix("B")
    unit = value[-1:] if value[-1:] in _UNITS else ""
    try:
        number = float(value[: len(value) - len(unit)])
    except ValueError:
        number = -1.0
    if number <= 0:
        raise ValueError(f"--{name} must be a size such as 512M or 2G, got {text!r}")
    return int(number * _UNITS[unit])


def parse_size(text):
    """'64' -> (64, 64); '48x64' -> (48, 64) (H x W)."""
    parts = str(text).lower().split("x")
    try:
        size = tuple(int(p) for p in parts)
    except ValueError:
        size = ()
    if len(size) == 1:
        size = size * 2
    if len(size) != 2 or min(size) < 1:
        raise ValueError(f"a size is 'N' or 'HxW' with positive integers, got {text!r}")
    return size
