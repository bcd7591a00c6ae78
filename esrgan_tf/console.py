"""A quiet console: what a command prints is its progress and results, not TensorFlow's logs.

`quiet()` is called by every command (`esrgan_tf.cli.run`) before TensorFlow is imported:
TensorFlow's C++ INFO and WARNING lines are turned off (TF_CPP_MIN_LOG_LEVEL=2), and what TF
2.21 logs before absl::InitializeLog regardless ("I0000 ... cudart_stub.cc] Could not find
cuda drivers", and without a GPU the error that cuInit failed) is dropped by a filter on the
process's stderr, which passes everything else (our warnings and errors, progress bars).
`--verbose` shows everything. `quiet_tf_logs()` silences TensorFlow's Python INFO logs while
saving or converting models. A leaf module (standard library only).
"""

import atexit
import contextlib
import logging
import os
import re
import sys
import threading

_NOISE = re.compile(
    rb"^(WARNING: All log messages before absl::InitializeLog\(\) is called are written to "
    rb"STDERR|I\d{4} \d\d:\d\d:\d\d\.\d+ +\d+ [\w.]+\.cc:\d+\]|[IW]0000 00:00:"
    rb"|E0000 00:00:\S+ +\d+ cuda_\w+\.cc:)"
)
_started = False


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


def quiet():
    """TensorFlow's C++ logs off and the stderr filter on, for this process (once). Under
    pytest only the log level is set: the tests read the commands' consoles themselves."""
    global _started  # pylint: disable=global-statement
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    if not _started and "pytest" not in sys.modules:
        _filter_stderr()
        _started = True


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
