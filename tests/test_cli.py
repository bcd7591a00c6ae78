"""Flags made from config dataclasses, and the exit-status policy of every command."""

import dataclasses
import os
import subprocess
import sys

from absl import flags
import pytest

from esrgan_tf import cli
from esrgan_tf.inference.config import Tiling, UpscaleConfig
from esrgan_tf.options import option, parse_bytes, parse_size


@dataclasses.dataclass(frozen=True)
class Inner:
    size: int = option(3, "An inner size.")
    scales: tuple[float, ...] = option((0.5, 1.0), "Some scales.")


@dataclasses.dataclass(frozen=True)
class Architecture:
    count: int = option(4, "A count.")
    width: int = option(8, "A width.")


@dataclasses.dataclass(frozen=True)
class Outer:
    path: str = option(help="A required path.")
    kind: str = option("a", "One of a, b.", choices=("a", "b"))
    flag: bool = option(False, "A switch.")
    limit: float | None = option(None, "An optional limit.")
    memory: int = option(2**30, "Memory.", parse=parse_bytes, text="1G", aliases=("mem",))
    inner: Inner = option(Inner(), "Nested settings.")
    given: dict = option(
        {}, "The given fields of Architecture.", overrides=(Architecture, ("count",))
    )
    hidden: str = option("x", "Set by libraries only.", flag=False)


def test_flags_come_from_fields_and_build_the_config():
    config = cli.parse(
        Outer,
        ["--path=p", "--kind=b", "--flag", "--limit=2.5", "--mem=512M", "--scales=1,2,4"],
    )
    assert config == Outer(
        path="p",
        kind="b",
        flag=True,
        limit=2.5,
        memory=512 * 2**20,
        inner=Inner(scales=(1.0, 2.0, 4.0)),
    )
    # Defaults where nothing is given; the overrides field holds only what the command line set.
    plain = cli.parse(Outer, ["--path=p"])
    assert plain == Outer(path="p") and plain.given == {} and plain.hidden == "x"


def test_overrides_are_only_the_given_fields():
    # An overrides field's flags default to None: a weights file's own architecture wins.
    fv = flags.FlagValues()
    cli.define_flags(Outer, fv)
    assert fv["count"].default is None and "width" not in fv
    fv(["prog", "--path=p", "--count=7"])
    assert cli.build(Outer, fv).given == {"count": 7}


def test_bad_values_name_the_flag():
    with pytest.raises(ValueError, match="--scales must be comma-separated float values"):
        cli.parse(Outer, ["--path=p", "--scales=a,b"])
    with pytest.raises(flags.IllegalFlagValueError):
        cli.parse(Outer, ["--path=p", "--kind=c"])
    with pytest.raises(flags.IllegalFlagValueError, match="path"):
        cli.parse(Outer, [])  # a field without a default is a required flag


def test_two_fields_of_one_name_are_refused():
    @dataclasses.dataclass(frozen=True)
    class Twice:
        size: int = option(1, "Outer size.")
        inner: Inner = option(Inner(), "Nested, with a size too.")

    with pytest.raises(ValueError, match="named 'size'"):
        cli.define_flags(Twice, flags.FlagValues())


def test_tiling_flags_keep_the_old_name():
    config = cli.parse(
        UpscaleConfig,
        ["--weights=w", "--input=a.png", "--output_dir=o", "--max_memory=512M", "--batch_size=3"],
    )
    assert config.tiling == Tiling(max_memory=512 * 2**20, tiles_per_call=3)


def test_sizes():
    assert parse_bytes("2G") == parse_bytes("2GiB") == 2 * 2**30
    assert parse_bytes("1.5g") == 3 * 2**29 and parse_bytes("1000") == 1000
    for bad in ("", "-1G", "lots", "0"):
        with pytest.raises(ValueError, match="--max_memory must be a size"):
            parse_bytes(bad)
    assert parse_size("64") == (64, 64) and parse_size("48x64") == (48, 64)
    for bad in ("", "0", "4x", "axb", "1x2x3"):
        with pytest.raises(ValueError, match="a size is 'N' or 'HxW'"):
            parse_size(bad)


_POLICY = """
import dataclasses, os
from esrgan_tf import cli
from esrgan_tf.options import option
@dataclasses.dataclass(frozen=True)
class Config:
    name: str = option("x", "A name.")
class Interrupted(RuntimeError):
    exit_status = 143
kind = os.environ["KIND"]
def main(config):
    assert config == Config()
    if kind == "ok":
        return None
    if kind == "status":
        return 3
    if kind == "user":
        raise FileNotFoundError("no such file: x.png")
    if kind == "interrupted":
        raise Interrupted("stopped")
    raise KeyError("a bug")
cli.run(Config, main)
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
