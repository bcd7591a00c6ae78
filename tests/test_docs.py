"""Every command the README and docs/ show still works with the commands' flags.

Each `python -m esrgan_tf.<command> ...` line of a ```bash block is parsed into its config
with the command's own flags (`esrgan_tf.cli.parse`, flagfiles included, run from the
repository root), so a renamed flag, a removed choice or an example that its config refuses
fails here; a command quoted inline in the prose must name flags that exist. Every
`python -m benchmarks....` module named must exist. Links between the documents must point to
files that exist.
"""

import glob
import os
import re
import shlex

from absl import flags
import pytest

from esrgan_tf import cli
from esrgan_tf.data.config import GridConfig, PrepareConfig
from esrgan_tf.deploy.config import ExportConfig
from esrgan_tf.formats.config import ConvertConfig
from esrgan_tf.inference.config import EvaluateConfig, InterpolateConfig, UpscaleConfig
from esrgan_tf.training.config import RunConfig

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CONFIGS = {
    "train": RunConfig,
    "prepare": PrepareConfig,
    "upscale": UpscaleConfig,
    "evaluate": EvaluateConfig,
    "interpolate": InterpolateConfig,
    "convert": ConvertConfig,
    "export": ExportConfig,
    "degrade": GridConfig,
}
DOCUMENTS = ["README.md", *sorted(glob.glob("docs/*.md", root_dir=ROOT))]
# Flags every command has beside its config's (absl's and cli.run's).
COMMON = {"flagfile", "help", "helpfull", "verbose", "verbosity"}


def _text(name):
    with open(os.path.join(ROOT, name), encoding="utf-8") as f:
        return f.read()


def _commands(text, module_prefix):
    """(in a bash block?, [tokens]) of every `python -m <module_prefix>...` command."""
    found = []
    blocks = re.findall(r"```bash\n(.*?)```", text, flags=re.S)
    for block in blocks:
        joined = re.sub(r"\\\n\s*", " ", block)
        for line in joined.splitlines():
            line = line.split(" #", 1)[0]
            start = line.find(f"python -m {module_prefix}")
            if start >= 0:
                found.append((True, shlex.split(line[start:].split("&&")[0])))
    prose = re.sub(r"```.*?```", "", text, flags=re.S)
    for span in re.findall(r"`([^`]*python -m " + re.escape(module_prefix) + r"[^`]*)`", prose):
        span = re.sub(r"\s+", " ", span)
        start = span.find(f"python -m {module_prefix}")
        found.append((False, shlex.split(span[start:])))
    return [(b, t) for b, t in found if "<" not in t[2]]  # not `python -m esrgan_tf.<verb>`


def _cases():
    for name in DOCUMENTS:
        for in_block, tokens in _commands(_text(name), "esrgan_tf."):
            yield pytest.param(in_block, tokens, id=f"{name}: {' '.join(tokens)[:70]}")


@pytest.mark.parametrize("in_block,tokens", list(_cases()))
def test_documented_commands_parse(in_block, tokens, monkeypatch):
    monkeypatch.chdir(ROOT)  # flagfiles are given relative to the repository root
    command = tokens[2].removeprefix("esrgan_tf.")
    assert command in CONFIGS, f"{tokens[2]} is not a command"
    config_cls, argv = CONFIGS[command], tokens[3:]
    defined = flags.FlagValues()
    cli.define_flags(config_cls, defined)
    for arg in argv:
        name = arg.lstrip("-").split("=", 1)[0]
        known = name in defined or name in COMMON
        negated = name.startswith("no") and name[2:] in defined
        assert known or negated, f"--{name} is not a flag of {command}"
    if in_block and not {"--help", "--helpfull"} & set(argv):
        cli.parse(config_cls, argv)  # raises on a value its config refuses


def test_documented_benchmarks_exist():
    missing = []
    for name in DOCUMENTS:
        for _, tokens in _commands(_text(name), "benchmarks."):
            path = os.path.join(ROOT, *tokens[2].split(".")) + ".py"
            if not os.path.isfile(path):
                missing.append(f"{name}: {tokens[2]}")
    assert not missing, missing


def test_links_between_documents_exist():
    broken = []
    for name in DOCUMENTS + ["export/README.md"]:
        folder = os.path.dirname(os.path.join(ROOT, name))
        for target in re.findall(r"\]\(([^)#\s]+)(?:#[^)]*)?\)", _text(name)):
            if "://" not in target and not os.path.exists(os.path.join(folder, target)):
                broken.append(f"{name}: {target}")
    assert not broken, broken
