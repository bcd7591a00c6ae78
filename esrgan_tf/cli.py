"""What the commands share: flag groups that mean the same in several commands, and one
error -> exit-status policy.

A leaf module (it imports only absl and the standard library), after TF Model Garden's
`official/common/flags.py`. Each command (`python -m esrgan_tf.<verb>`) defines its own
flags beside its `main` with a `define_flags(flag_values)` function, turns them into a
frozen config and calls one library function; library code never reads flags. Every
`define_*` here takes the `flags.FlagValues` to define into, so a test can parse a command
line into a fresh one.
"""

import atexit
import os
import re
import sys
import threading

from absl import app, flags, logging

FLAGS = flags.FLAGS

# A quiet console: TensorFlow's C++ INFO lines (CUDA probing, XLA notes, ...) only with
# --verbose. TF_CPP_MIN_LOG_LEVEL quiets most, but not what TF 2.21 logs before
# absl::InitializeLog ("I0000 00:00:<timestamp> ... cudart_stub.cc] Could not find cuda
# drivers", and without a GPU an error that cuInit failed), so the process's stderr goes
# through a filter that drops those lines and passes everything else (our warnings,
# errors, progress bars). It must start before TensorFlow is imported: here, in the
# module every command imports first.
_NOISE = re.compile(
    rb"^(WARNING: All log messages before absl::InitializeLog\(\) is called are written to "
    rb"STDERR|I\d{4} \d\d:\d\d:\d\d\.\d+ +\d+ [\w.]+\.cc:\d+\]|[IW]0000 00:00:"
    rb"|E0000 00:00:\S+ +\d+ cuda_\w+\.cc:)"
)


def _filter_stderr():
    """Routes file descriptor 2 through a thread that drops `_NOISE` lines."""
    read_fd, write_fd = os.pipe()
    original = os.dup(2)
    os.dup2(write_fd, 2)
    os.close(write_fd)

    def pump():
        with os.fdopen(read_fd, "rb", buffering=0) as pipe:
            pending = b""
            while chunk := pipe.read(65536):
                pending += chunk
                *lines, pending = pending.split(b"\n")
                keep = [line + b"\n" for line in lines if not _NOISE.match(line)]
                # Progress bars redraw with \r and no newline: pass partial lines through.
                if b"\r" in pending:
                    keep.append(pending)
                    pending = b""
                os.write(original, b"".join(keep))
            if pending and not _NOISE.match(pending):
                os.write(original, pending)

    thread = threading.Thread(target=pump, name="stderr-filter", daemon=True)
    thread.start()

    def drain():
        sys.stderr.flush()
        os.dup2(original, 2)  # closes the pipe's last writer: the pump reads to the end
        thread.join(timeout=5)

    atexit.register(drain)


def _quiet_console():
    if "--verbose" in sys.argv or "--verbose=true" in sys.argv:
        return
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    # Only for a command's own process (not under pytest, nor after TF is loaded).
    if (
        "tensorflow" not in sys.modules
        and sys.argv[0].endswith(".py")
        and "pytest" not in sys.modules
    ):
        _filter_stderr()


_quiet_console()

# oneDNN for training (issue 18). TensorFlow turns its oneDNN kernels on by default only on
# CPUs with AVX512_VNNI / AVX512_BF16 / AMX; elsewhere convolutions and their gradients run
# on Eigen. Measured 2026-12-01 on 2 cores of an AMD EPYC with AVX2 only (oneDNN off by
# default there), `benchmarks.training` and the quickstart recipe, TF_ENABLE_ONEDNN_OPTS=0
# against 1:
#   full RRDBNet PSNR step, batch 4, HR 128       7.37 s -> 5.34 s (1.38x)
#   the same at batch 16                          27.1 s -> 21.5 s (1.26x)
#   ESRGAN step (G + VGG19 + RaGAN, D), batch 4   8.53 s -> 8.05 s, 9.04 s in a second run
#   quickstart recipe with 300 + 40 steps          248 s -> 184 s (1.35x, same PSNR to 0.02 dB)
# oneDNN's weight gradient of a 3x3 convolution runs at 2x Eigen's speed at batch 16. It does
# not pay off for inference: a batch-1 forward picks oneDNN's GEMM-based convolution, and the
# full RRDBNet forward at LR 128 took 16.2 s instead of 6.7 s (`benchmarks.inference`), so
# the inference commands keep TensorFlow's default.
ONEDNN_ENV = "TF_ENABLE_ONEDNN_OPTS"


def prefer_onednn():
    """Turns TensorFlow's oneDNN kernels on for this process unless the user's
    TF_ENABLE_ONEDNN_OPTS says otherwise (0 keeps TensorFlow's CPU kernels). For the training
    commands, called before TensorFlow is imported: afterwards the setting has no effect and
    this returns False."""
    if "tensorflow" in sys.modules:
        return False
    os.environ.setdefault(ONEDNN_ENV, "1")
    return True


# Errors a user can cause (bad flags, missing or malformed files, a model that does not
# fit its weights): one clear line and exit status 1, the traceback only with
# --verbosity=1. Anything else is a bug and shows its traceback. An exception with an
# `exit_status` attribute exits with that status (training's SIGTERM: 143).
USER_ERRORS = (ValueError, OSError, ImportError, NotImplementedError)
_MAX_MESSAGE = 2000  # Keras' weight-shape errors print whole tensors


# ---------------------------------------------------------------------------------------
# Flag groups
# ---------------------------------------------------------------------------------------

ARCHITECTURE_FLAGS = (
    "generator",
    "scale",
    "num_feat",
    "num_block",
    "num_grow_ch",
    "num_conv",
    "unshuffle",
    "use_bn",
)


def define_architecture_flags(generators, flag_values=FLAGS):
    """The generator architecture of a `.weights.h5` input (a workdir has its config.json).

    Unset flags (None) come from the workdir's config.json, else from ESRGAN's RRDBNet x4
    with 23 blocks (the official weights' architecture): see `architecture_overrides`.
    """
    fv = flag_values
    flags.DEFINE_enum("generator", None, generators, "Generator architecture.", flag_values=fv)
    flags.DEFINE_integer("scale", None, "Upscaling factor.", flag_values=fv)
    flags.DEFINE_integer("num_feat", None, "Generator channels.", flag_values=fv)
    flags.DEFINE_integer(
        "num_block", None, "RRDBs (RRDBNet) or residual blocks (SRResNet).", flag_values=fv
    )
    flags.DEFINE_integer("num_grow_ch", None, "RRDBNet growth channels.", flag_values=fv)
    flags.DEFINE_integer("num_conv", None, "SRVGGNetCompact body convs.", flag_values=fv)
    flags.DEFINE_boolean(
        "unshuffle",
        None,
        "RRDBNet with BasicSR's pixel-unshuffle input (x2/x1 Real-ESRGAN models such as "
        "RealESRGAN_x2plus), not this project's own x2/x1 RRDBNet.",
        flag_values=fv,
    )
    flags.DEFINE_boolean("use_bn", None, "SRResNet batch normalisation.", flag_values=fv)


def architecture_overrides(flag_values=FLAGS):
    """{ModelConfig field: value} of the architecture flags that were given."""
    return {
        name: flag_values[name].value
        for name in ARCHITECTURE_FLAGS
        if flag_values[name].value is not None
    }


def define_tiling_flags(flag_values=FLAGS):
    """How images are cut for inference (`esrgan_tf.inference.tiling.Tiling`):
    `--max_memory`, `--tile`, `--tile_pad`, `--tiles_per_call` (alias `--batch_size`)."""
    fv = flag_values
    flags.DEFINE_string(
        "max_memory",
        "2G",
        "Activation memory per model call, e.g. 512M, 2G, 8G: the tile size follows from it, "
        "and an image that fits is not tiled.",
        flag_values=fv,
    )
    flags.DEFINE_integer(
        "tile",
        0,
        "Upper limit of the LR tile size (0: only --max_memory limits it).",
        flag_values=fv,
    )
    flags.DEFINE_integer(
        "tile_pad",
        -1,
        "LR context pixels around each tile (-1: what the model's architecture needs for "
        "tiled == untiled within 1/255).",
        flag_values=fv,
    )
    flags.DEFINE_integer(
        "tiles_per_call", 1, "Equal-sized tiles stacked into one generator call.", flag_values=fv
    )
    # The name of this flag before 0.2; it never meant a training batch here.
    flags.DEFINE_alias("batch_size", "tiles_per_call", flag_values=fv)


# The runtimes of `esrgan_tf.inference.runtimes` (cli stays a leaf: the names are repeated
# here, and tests/test_cli.py checks that they agree).
RUNTIMES = ("auto", "tf", "xla", "tflite")


def define_runtime_flag(flag_values=FLAGS):
    """`--runtime`: what executes the generator (`esrgan_tf.inference.runtimes`)."""
    flags.DEFINE_enum(
        "runtime",
        "auto",
        RUNTIMES,
        "What runs the generator: tf (tf.function), xla (jit_compile), tflite (LiteRT + "
        "XNNPACK, float32, converted once per model and cached in ~/.cache/esrgan_tf), or "
        "auto: tflite for a float32 model on a CPU for images of >= 0.5 LR megapixels or "
        "once converted (faster on every CPU measured: README 'Benchmarks'), tf otherwise "
        "(GPUs, --precision bf16/fp16, exports).",
        flag_values=flag_values,
    )


_UNITS = {"": 1, "K": 2**10, "M": 2**20, "G": 2**30, "T": 2**40}


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


def tiling_values(flag_values=FLAGS):
    """{Tiling field: value} of the tiling flags."""
    fv = flag_values
    return {
        "max_memory": parse_bytes(fv["max_memory"].value),
        "tile": fv["tile"].value,
        "tile_pad": fv["tile_pad"].value,
        "tiles_per_call": fv["tiles_per_call"].value,
    }


def define_progress_flag(flag_values=FLAGS):
    flags.DEFINE_boolean("progress", True, "Show progress bars on stderr.", flag_values=flag_values)


def int_list(values, name):
    """A list flag's strings as ints, with a clear error naming the flag."""
    try:
        return tuple(int(v) for v in values)
    except ValueError:
        raise ValueError(
            f"--{name} must be comma-separated integers, got {','.join(values)!r}"
        ) from None


def float_list(values, name):
    """A list flag's strings as floats, with a clear error naming the flag."""
    try:
        return tuple(float(v) for v in values)
    except ValueError:
        raise ValueError(
            f"--{name} must be comma-separated numbers, got {','.join(values)!r}"
        ) from None


# ---------------------------------------------------------------------------------------
# Running a command
# ---------------------------------------------------------------------------------------


def _describe(error):
    message = f"{type(error).__name__}: {error}"
    return message if len(message) <= _MAX_MESSAGE else message[:_MAX_MESSAGE] + " [...]"


def run(command, quiet=True):
    """`app.run` of a command's `command()` (no arguments: it reads its flags) with the
    exit-status policy of every command: 0 on success (or the int `command` returns),
    1 for a user error (`USER_ERRORS`), the error's `exit_status` when it has one, and a
    traceback for anything else. With `quiet`, INFO logs (ours and TensorFlow's) show only
    with --verbose, warnings and errors always."""
    flags.DEFINE_boolean("verbose", False, "Show INFO logs (of this command and TensorFlow).")

    def main(argv):
        if len(argv) > 1:
            raise app.UsageError(f"unexpected arguments: {' '.join(argv[1:])}")
        if quiet and not FLAGS.verbose:
            logging.set_verbosity(logging.WARNING)
        try:
            status = command()
        except Exception as error:  # pylint: disable=broad-except
            status = getattr(error, "exit_status", None)
            if status is None and not isinstance(error, USER_ERRORS):
                raise
            logging.error("%s", _describe(error), exc_info=FLAGS.verbosity >= 1)
            sys.exit(status or 1)
        sys.exit(status or 0)

    app.run(main)
