"""A quiet console: what a command prints is its progress and results, not TensorFlow's logs.

`quiet()` is called by every command (`esrgan_tf.cli.run`) before TensorFlow is imported:
TensorFlow's C++ INFO and WARNING lines are turned off (TF_CPP_MIN_LOG_LEVEL=2), and a filter on
the process's stderr drops what is logged regardless and means nothing to the user: TF 2.21's
lines before absl::InitializeLog ("I0000 ... cudart_stub.cc] Could not find cuda drivers",
without a GPU the error that cuInit failed), grappler's report that an optimisation pass gave
up on a graph (it runs the graph unoptimised by that pass: "E0000 ... meta_optimizer.cc] remapper
failed"), the TFLite converter's settings line and LiteRT's "INFO: Created TensorFlow Lite
XNNPACK delegate". Everything else passes (our warnings and errors, progress bars, any other
error). `--verbose` shows everything. `quiet_tf_logs()` silences TensorFlow's Python INFO
logs while saving or converting models. A leaf module (the standard library and absl).
"""

import atexit
import contextlib
import logging
import os
import re
import sys
import threading

from absl import logging as absl_logging

_NOISE = re.compile(
    rb"^(WARNING: All log messages before absl::InitializeLog\(\) is called are written to "
    rb"STDERR|[IW]\d{4} \d\d:\d\d:\d\d\.\d+ +\d+ [\w.]+\.cc:\d+\]|[IW]0000 00:00:"
    rb"|E\d{4} \S+ +\d+ (cuda_\w+|meta_optimizer)\.cc:"
    rb"|fully_quantize: \d+, inference_type: |INFO: Created TensorFlow Lite XNNPACK delegate)"
)
_started = False


def is_noise(line):
    """Whether a line of stderr (bytes, without its newline) is one the quiet console drops."""
    return bool(_NOISE.match(line))


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
                keep = [line + b"\n" for line in lines if not is_noise(line)]
                # Progress bars redraw with \r and no newline: pass partial lines through.
                if b"\r" in pending:
                    keep.append(pending)
                    pending = b""
                os.write(original, b"".join(keep))
            if pending and not is_noise(pending):
                os.write(original, pending)

    thread = threading.Thread(target=pump, name="stderr-filter", daemon=True)
    thread.start()

    def drain():
        sys.stderr.flush()
        os.dup2(original, 2)  # closes the pipe's last writer: the pump reads to the end
        thread.join(timeout=5)

    atexit.register(drain)


class _Format(logging.Formatter):
    """Our log records as a person reads them: INFO as the message, warnings and errors
    with their level (absl's default prefixes a timestamp, a thread id and the source line)."""

    def format(self, record):
        message = super().format(record)
        if record.levelno >= logging.WARNING:
            return f"{record.levelname.lower()}: {message}"
        return message


def quiet():
    """TensorFlow's C++ logs off, the stderr filter on and our logs plain, for this process
    (once). Under pytest only the log level is set: the tests read the commands' consoles
    themselves."""
    global _started  # pylint: disable=global-statement
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    if not _started and "pytest" not in sys.modules:
        _filter_stderr()
        _started = True
        absl_logging.get_absl_handler().setFormatter(_Format())


@contextlib.contextmanager
def quiet_tf_logs():
    """Silences TensorFlow's Python INFO logs while saving or converting models.

    Saving logs, per signature, every captured variable's numeric name ("contains input
    name(s) 15167, 15169, ... with unsupported characters"): pages of noise per export.
    """
    # TF logs through both its own logger and absl's.
    loggers = [logging.getLogger(name) for name in ("tensorflow", "absl")]
    levels = [logger.level for logger in loggers]
    for logger in loggers:
        logger.setLevel(max(logger.getEffectiveLevel(), logging.WARNING))
    try:
        yield
    finally:
        for logger, level in zip(loggers, levels):
            logger.setLevel(level)
