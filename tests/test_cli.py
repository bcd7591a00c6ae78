"""The shared flag groups and the exit-status policy of every command."""

import os
import subprocess
import sys

from absl import flags
import pytest

from esrgan_tf import cli
from esrgan_tf.config import GENERATORS
from esrgan_tf.inference.tiling import Tiling


def parse(define, *args):
    fv = flags.FlagValues()
    define(fv)
    fv(["prog", *args])
    return fv


def test_architecture_overrides_are_only_the_given_flags():
    fv = parse(
        lambda fv: cli.define_architecture_flags(GENERATORS, fv), "--num_block=6", "--scale=2"
    )
    assert cli.architecture_overrides(fv) == {"num_block": 6, "scale": 2}
    assert (
        cli.architecture_overrides(parse(lambda fv: cli.define_architecture_flags(GENERATORS, fv)))
        == {}
    )


def test_tiling_flags_make_a_tiling_and_keep_the_old_name():
    fv = parse(
        cli.define_tiling_flags,
        "--max_memory=512M",
        "--tile=64",
        "--tile_pad=8",
        "--tiles_per_call=2",
    )
    assert Tiling(**cli.tiling_values(fv)) == Tiling(
        max_memory=512 * 2**20, tile=64, tile_pad=8, tiles_per_call=2
    )
    old = parse(cli.define_tiling_flags, "--batch_size=3")  # the name before 0.2
    assert cli.tiling_values(old)["tiles_per_call"] == 3
    assert Tiling(**cli.tiling_values(parse(cli.define_tiling_flags))) == Tiling()


def test_sizes():
    assert cli.parse_bytes("2G") == cli.parse_bytes("2GiB") == 2 * 2**30
    assert cli.parse_bytes("1.5g") == 3 * 2**29 and cli.parse_bytes("1000") == 1000
    for bad in ("", "-1G", "lots", "0"):
        with pytest.raises(ValueError, match="--max_memory must be a size"):
            cli.parse_bytes(bad)


def test_number_lists_name_the_flag_when_wrong():
    assert cli.int_list(["1", "20"], "milestones") == (1, 20)
    assert cli.float_list(["0.5", "1"], "alphas") == (0.5, 1.0)
    with pytest.raises(ValueError, match="--alphas must be comma-separated numbers"):
        cli.float_list(["a"], "alphas")


_POLICY = """
import os
from esrgan_tf import cli
class Interrupted(RuntimeError):
    exit_status = 143
kind = os.environ["KIND"]
def main():
    if kind == "ok":
        return None
    if kind == "status":
        return 3
    if kind == "user":
        raise FileNotFoundError("no such file: x.png")
    if kind == "interrupted":
        raise Interrupted("stopped")
    raise KeyError("a bug")
cli.run(main)
"""


@pytest.mark.parametrize(
    "kind,status,in_stderr,traceback",
    [
        ("ok", 0, "", False),
        ("status", 3, "", False),
        ("user", 1, "FileNotFoundError: no such file: x.png", False),
        ("interrupted", 143, "Interrupted: stopped", False),
        ("bug", 1, "KeyError: 'a bug'", True),
    ],
)
def test_exit_status_policy(kind, status, in_stderr, traceback, repo_root):
    proc = subprocess.run(
        [sys.executable, "-c", _POLICY],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=repo_root,
        env={**os.environ, "KIND": kind},
        check=False,
    )
    assert proc.returncode == status, proc.stderr
    assert in_stderr in proc.stderr
    assert ("Traceback" in proc.stderr) == traceback


def test_unexpected_arguments_are_a_usage_error(repo_root):
    proc = subprocess.run(
        [sys.executable, "-c", _POLICY, "extra"],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=repo_root,
        env={**os.environ, "KIND": "ok"},
        check=False,
    )
    assert proc.returncode == 1 and "unexpected arguments: extra" in proc.stderr
