"""The package's layering: imports point down one order, commands over libraries, no cycles,
no flags in libraries, and configs light enough for a quick --help.

Checked on the source (every import statement, top level or not) and in a fresh process
(what importing the modules really loads and defines).
"""

import ast
import json
import os
import pkgutil
import subprocess
import sys

import esrgan_tf

COMMANDS = (
    "train",
    "prepare",
    "upscale",
    "evaluate",
    "interpolate",
    "convert",
    "export",
    "degrade",
)
# The order imports point down: a module may import modules of a lower layer and of its
# own package, never a layer above it nor a package beside it in the same layer.
LAYERS = (
    ("files",),  # paths local or on a TensorFlow filesystem
    # The foundation: files, tables, figures, tensor files, the machine, config fields, the console.
    ("atomic", "tables", "figures", "tensor_files", "hardware", "options", "console"),
    ("models",),
    ("data", "metrics", "formats", "losses"),
    ("training", "inference"),
    ("deploy",),
    ("cli",),  # the flag leaf: absl and the console only (below)
    COMMANDS,
)
# Deferred imports of the package's own modules in libraries, each with the reason. A
# deferred import that dodges a cycle would mean the layers are wrong: none is allowed.
# (Commands import their libraries inside `main`, so that --help loads nothing heavy.)
DEFERRED = {
    # Data-preparation workers are spawned processes that must not pay for TensorFlow.
    ("esrgan_tf.data.preparation", "esrgan_tf.data.records"),
    ("esrgan_tf.data.subimages", "esrgan_tf.data.imresize"),
}
# What a command needs before its flags are parsed, and what data preparation's worker
# processes import: these must not load TensorFlow.
LIGHT = (
    "esrgan_tf.data.preparation",
    "esrgan_tf.data.subimages",
    "esrgan_tf.data.imresize",
    "esrgan_tf.cli",
    "esrgan_tf.models.config",
    "esrgan_tf.data.config",
    "esrgan_tf.metrics.config",
    "esrgan_tf.formats.config",
    "esrgan_tf.training.config",
    "esrgan_tf.inference.config",
    "esrgan_tf.deploy.config",
    *(f"esrgan_tf.{c}" for c in COMMANDS),
)


def _modules():
    """{module name: source path} of every module of esrgan_tf."""
    found = {"esrgan_tf": esrgan_tf.__file__}
    for info in pkgutil.walk_packages(esrgan_tf.__path__, "esrgan_tf."):
        spec = info.module_finder.find_spec(info.name)
        found[info.name] = spec.origin
    return found


def _imports(path, modules):
    """[(imported esrgan_tf module or absl name, top level?)] of a source file."""
    with open(path, encoding="utf-8") as f:
        tree = ast.parse(f.read())
    top = set(id(node) for node in tree.body)
    found = []
    for node in ast.walk(tree):
        names = []
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [
                f"{node.module}.{a.name}" if f"{node.module}.{a.name}" in modules else node.module
                for a in node.names
            ]
            if node.module == "absl":
                names = [f"absl.{a.name}" for a in node.names]
        found += [
            (n, id(node) in top) for n in names if n.startswith("esrgan_tf") or n.startswith("absl")
        ]
    return found


def _unit(name):
    """The layer unit of a module: its subpackage or top-level module ('' for the package)."""
    parts = name.split(".")
    return parts[1] if len(parts) > 1 else ""


def _layer(name):
    unit = _unit(name)
    if unit == "":
        return 0
    return next(i for i, units in enumerate(LAYERS) if unit in units)


def _is_command(name):
    return _unit(name) in COMMANDS + ("cli",)


def test_every_module_has_a_layer():
    for name in _modules():
        assert _unit(name) == "" or any(_unit(name) in units for units in LAYERS), name


def test_imports_point_down():
    modules = _modules()
    offenders = []
    for name, path in modules.items():
        for imported, _ in _imports(path, modules):
            if not imported.startswith("esrgan_tf") or _unit(imported) == _unit(name):
                continue
            if _layer(imported) >= _layer(name):
                offenders.append(
                    f"{name} (layer {_layer(name)}) imports {imported} (layer {_layer(imported)})"
                )
    assert not offenders, "\n".join(offenders)


def test_libraries_import_no_command_and_no_flags():
    modules = _modules()
    offenders = []
    for name, path in modules.items():
        if _is_command(name):
            continue
        for imported, _ in _imports(path, modules):
            if _is_command(imported) or imported in ("absl.flags", "absl.app"):
                offenders.append(f"{name} imports {imported}")
    assert not offenders, offenders


def test_the_flag_leaf_imports_only_absl_and_the_console():
    modules = _modules()
    imported = {n for n, _ in _imports(modules["esrgan_tf.cli"], modules)}
    assert all(n.startswith("absl") or n == "esrgan_tf.console" for n in imported), imported


def test_no_import_cycle_and_no_deferred_import_of_our_own():
    modules = _modules()
    graph, deferred = {}, set()
    for name, path in modules.items():
        edges = set()
        for imported, top in _imports(path, modules):
            if imported in modules and imported != name:
                edges.add(imported)
                if not top and not _is_command(name):
                    deferred.add((name, imported))
        graph[name] = edges
    assert deferred <= DEFERRED, sorted(deferred - DEFERRED)
    # Depth-first search for a back edge (a cycle), over all imports.
    state, stack = {}, []

    def visit(node):
        state[node] = "open"
        stack.append(node)
        for nxt in sorted(graph[node]):
            if state.get(nxt) == "open":
                raise AssertionError(
                    "import cycle: " + " -> ".join(stack[stack.index(nxt) :] + [nxt])
                )
            if nxt not in state:
                visit(nxt)
        stack.pop()
        state[node] = "done"

    for node in sorted(graph):
        if node not in state:
            visit(node)


_PROBE = """
import json, sys
for name in {light!r}:
    __import__(name)
heavy = sorted(m for m in ("tensorflow", "keras", "scipy", "skimage") if m in sys.modules)
import tensorflow  # defines absl flags of its own; only ours count
from absl import flags
before = set(flags.FLAGS)
import esrgan_tf.formats.generators, esrgan_tf.inference.upscaling
import esrgan_tf.inference.evaluation, esrgan_tf.inference.interpolation
import esrgan_tf.training.stages, esrgan_tf.deploy.export, esrgan_tf.data.preparation
print(json.dumps({{"heavy": heavy, "defined": sorted(set(flags.FLAGS) - before)}}))
"""


def test_configs_are_light_and_importing_defines_no_flags(repo_root):
    # What a command imports before its flags are parsed (its config, cli) loads no
    # TensorFlow: --help is quick. Commands define their flags in cli.run (under __main__),
    # so importing them, or the libraries, defines none.
    proc = subprocess.run(
        [sys.executable, "-c", _PROBE.format(light=LIGHT)],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=repo_root,
        env={**os.environ, "PYTHONPATH": repo_root, "TF_CPP_MIN_LOG_LEVEL": "3"},
        check=False,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    assert result == {"heavy": [], "defined": []}
