"""Commands' flags from their config dataclasses, and one error -> exit-status policy.

A leaf module (absl and the standard library), after TF Model Garden's
`official/common/flags.py`. Every command (`python -m esrgan_tf.<verb>`) is

    if __name__ == "__main__":
        cli.run(SomeConfig, main)

`define_flags` makes one flag per field of the config class (flag name = field name, help and
default from the field's `esrgan_tf.options.option`), recursing into nested config fields;
`build` turns parsed flags back into the config; `run` does both, quiets the console and calls
`main(config)`. Library code never reads flags: it receives the config. Config modules import
nothing heavy, and commands import their libraries inside `main`, so `--help` is quick.
"""

import dataclasses
import sys
import types
import typing

from absl import app, flags, logging

from esrgan_tf import console

FLAGS = flags.FLAGS

# Errors a user can cause (bad flags, missing or malformed files, a model that does not
# fit its weights): one clear line and exit status 1, the traceback only with
# --verbosity=1. Anything else is a bug and shows its traceback. An exception with an
# `exit_status` attribute exits with that status (training's SIGTERM: 143).
USER_ERRORS = (ValueError, OSError, ImportError, NotImplementedError)
_MAX_MESSAGE = 2000  # Keras' weight-shape errors print whole tensors


# ---------------------------------------------------------------------------------------
# Fields -> flags
# ---------------------------------------------------------------------------------------


def _base_type(annotation):
    """(type, item type) of a field annotation: `float | None` -> (float, None),
    `tuple[int, ...]` -> (tuple, int)."""
    if isinstance(annotation, types.UnionType) or typing.get_origin(annotation) is typing.Union:
        annotation = next(a for a in typing.get_args(annotation) if a is not type(None))
    origin = typing.get_origin(annotation)
    if origin is tuple:
        args = [a for a in typing.get_args(annotation) if a is not Ellipsis]
        return tuple, (args[0] if args else str)
    return (origin or annotation), None


def _leaves(config_cls, only=None):
    """[(field, type, item type)] of the flags of `config_cls`, nested configs flattened."""
    hints = typing.get_type_hints(config_cls)
    found = []
    for field in dataclasses.fields(config_cls):
        if not field.metadata.get("flag", True) or (only and field.name not in only):
            continue
        kind, item = _base_type(hints[field.name])
        if dataclasses.is_dataclass(kind) and "overrides" not in field.metadata:
            found += _leaves(kind)
        elif "overrides" in field.metadata:
            target, names = field.metadata["overrides"]
            found += [(f, k, i, True) for f, k, i, _ in _leaves(target, names)]
        else:
            found.append((field, kind, item, False))
    return found


def _default(field):
    if field.default is not dataclasses.MISSING:
        return field.default
    if field.default_factory is not dataclasses.MISSING:
        return field.default_factory()
    return None


def define_flags(config_cls, flag_values=FLAGS, module_name=None):
    """Defines a flag for every field of `config_cls` (nested configs' fields too).

    A field without a default is a required flag; a field of `option(overrides=...)` gives
    flags with default None. `module_name` is the module `--help` lists them under (the
    command; default the caller's).
    """
    kw = dict(flag_values=flag_values, module_name=module_name or _caller())
    required = []
    for field, kind, _, override in _leaves(config_cls):
        meta, name = field.metadata, field.name
        if name in flag_values:
            raise ValueError(f"two fields of {config_cls.__name__}'s configs are named {name!r}")
        help_text = meta.get("help") or name.replace("_", " ")
        default = None if override else _default(field)
        choices = meta.get("choices")
        if "parse" in meta:
            flags.DEFINE_string(name, None if override else meta["text"], help_text, **kw)
        elif kind is bool:
            flags.DEFINE_boolean(name, default, help_text, **kw)
        elif kind is int:
            flags.DEFINE_integer(name, default, help_text, **kw)
        elif kind is float:
            flags.DEFINE_float(name, default, help_text, **kw)
        elif kind is tuple:
            text = None if default is None else [str(v) for v in default]
            if choices:
                help_text += f" Any of: {', '.join(map(str, choices))}."
            flags.DEFINE_list(name, text, help_text, **kw)
        elif choices:
            flags.DEFINE_enum(name, default, list(choices), help_text, **kw)
        else:
            flags.DEFINE_string(name, default, help_text, **kw)
        for alias in meta.get("aliases", ()):
            flags.DEFINE_alias(alias, name, flag_values=flag_values)
        if not override and _default(field) is None and field.default is dataclasses.MISSING:
            required.append(name)
    if required:
        flags.mark_flags_as_required(required, flag_values=flag_values)


def _caller():
    frame = sys._getframe(2)  # pylint: disable=protected-access
    return frame.f_globals.get("__name__", "__main__")


def _value(field, kind, item, flag):
    value = flag.value
    if value is None:
        return None
    if "parse" in field.metadata:
        return field.metadata["parse"](value)
    if kind is tuple:
        items = [v for v in value if v != ""]
        try:
            return tuple(item(v) for v in items)
        except ValueError:
            raise ValueError(
                f"--{field.name} must be comma-separated {item.__name__} values, got "
                f"{','.join(value)!r}"
            ) from None
    return value


def build(config_cls, flag_values=FLAGS, **given):
    """The `config_cls` of parsed flags; `given` fields are taken as they are."""
    hints = typing.get_type_hints(config_cls)
    values = {}
    for field in dataclasses.fields(config_cls):
        if field.name in given:
            values[field.name] = given[field.name]
            continue
        if not field.metadata.get("flag", True):
            continue
        kind, item = _base_type(hints[field.name])
        if "overrides" in field.metadata:
            target, names = field.metadata["overrides"]
            values[field.name] = {
                f.name: _value(f, k, i, flag_values[f.name])
                for f, k, i, _ in _leaves(target, names)
                if flag_values[f.name].value is not None
            }
        elif dataclasses.is_dataclass(kind):
            values[field.name] = build(kind, flag_values)
        else:
            values[field.name] = _value(field, kind, item, flag_values[field.name])
    return config_cls(**values)


def parse(config_cls, argv):
    """The `config_cls` of a command line (`argv` without the program name), in fresh
    FlagValues: what `run` gives `main`, for tests and notebooks."""
    flag_values = flags.FlagValues()
    define_flags(config_cls, flag_values)
    flag_values(["command", *argv])
    return build(config_cls, flag_values)


# ---------------------------------------------------------------------------------------
# Running a command
# ---------------------------------------------------------------------------------------


def _describe(error):
    message = f"{type(error).__name__}: {error}"
    return message if len(message) <= _MAX_MESSAGE else message[:_MAX_MESSAGE] + " [...]"


def run(config_cls, main, quiet=True):
    """`app.run` of a command: its flags from `config_cls`, then `main(config)`.

    Exit status: 0 on success (or the int `main` returns), 1 for a user error
    (`USER_ERRORS`, bad flags included), the error's `exit_status` when it has one, and a
    traceback for anything else. The console stays quiet (`esrgan_tf.console`): TensorFlow's
    C++ logs only with --verbose, and with `quiet` our INFO logs too (warnings and errors
    always).
    """
    define_flags(config_cls, FLAGS, module_name=sys.argv[0])
    flags.DEFINE_boolean(
        "verbose",
        False,
        "Show INFO logs (of this command and TensorFlow).",
        module_name=sys.argv[0],
    )

    def entry(argv):
        if len(argv) > 1:
            raise app.UsageError(f"unexpected arguments: {' '.join(argv[1:])}")
        if not FLAGS.verbose:
            console.quiet()
            if quiet:
                logging.set_verbosity(logging.WARNING)
        try:
            status = main(build(config_cls, FLAGS))
        except Exception as error:  # pylint: disable=broad-except
            status = getattr(error, "exit_status", None)
            if status is None and not isinstance(error, USER_ERRORS):
                raise
            logging.error("%s", _describe(error), exc_info=FLAGS.verbosity >= 1)
            sys.exit(status or 1)
        sys.exit(status or 0)

    app.run(entry)
