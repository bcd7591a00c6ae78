"""The package's layering: commands over libraries, no cycles, no flags in libraries.

Checked on the source (every import statement, top level or not) and in a fresh process
(what importing the libraries really loads and defines).
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
LIBRARY_PACKAGES = ("models", "data", "training", "inference", "deploy")
# Deferred imports of the package's own modules, each with the reason it is deferred. A
# deferred import that dodges a cycle would mean the layers are wrong: none is allowed.
DEFERRED = {
    # Data-preparation workers are spawned processes that must not pay for TensorFlow.
    ("esrgan_tf.data.preparation", "esrgan_tf.data.records"),
    ("esrgan_tf.data.subimages", "esrgan_tf.data.imresize"),
}


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


def _is_library(name):
    parts = name.split(".")
    return len(parts) > 1 and (
        parts[1] in LIBRARY_PACKAGES or (len(parts) == 2 and parts[1] not in COMMANDS + ("cli",))
    )


def test_libraries_import_no_command_and_no_flags():
    modules = _modules()
    commands = {f"esrgan_tf.{c}" for c in COMMANDS + ("cli",)}
    offenders = []
    for name, path in modules.items():
        if not _is_library(name):
            continue
        for imported, _ in _imports(path, modules):
            if imported in commands or imported in ("absl.flags", "absl.app"):
                offenders.append(f"{name} imports {imported}")
    assert not offenders, offenders


def test_cli_is_a_leaf():
    modules = _modules()
    imported = {n for n, _ in _imports(modules["esrgan_tf.cli"], modules)}
    assert all(n.startswith("absl") for n in imported), imported


def test_no_import_cycle_and_no_deferred_import_of_our_own():
    modules = _modules()
    graph, deferred = {}, set()
    for name, path in modules.items():
        edges = set()
        for imported, top in _imports(path, modules):
            if imported in modules and imported != name:
                edges.add(imported)
                if not top:
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
import tensorflow  # defines absl flags of its own; only ours count
from absl import flags
before = set(flags.FLAGS)
import esrgan_tf.inference.weights, esrgan_tf.inference.upscaling, esrgan_tf.inference.evaluation
import esrgan_tf.inference.interpolation, esrgan_tf.inference.state_dicts
import esrgan_tf.training.stages, esrgan_tf.deploy.export, esrgan_tf.data.preparation
after_libraries = set(flags.FLAGS) - before
loaded = sorted(m for m in sys.modules if m.startswith("esrgan_tf"))
import esrgan_tf.train, esrgan_tf.prepare, esrgan_tf.upscale, esrgan_tf.evaluate
import esrgan_tf.interpolate, esrgan_tf.convert, esrgan_tf.export, esrgan_tf.degrade
after_commands = set(flags.FLAGS) - before
print(json.dumps({"libraries": sorted(after_libraries), "commands": sorted(after_commands),
                  "loaded_by_libraries": loaded}))
"""


def test_importing_defines_no_flags(repo_root):
    # Commands define their flags in define_flags() (run under __main__ or by a test), so
    # importing any of them, or all of them in one process, defines none.
    proc = subprocess.run(
        [sys.executable, "-c", _PROBE],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=repo_root,
        env={**os.environ, "PYTHONPATH": repo_root, "TF_CPP_MIN_LOG_LEVEL": "3"},
        check=False,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    assert result["libraries"] == [] and result["commands"] == []
    # The libraries pull in no command module and not the command-line helpers.
    commands = {f"esrgan_tf.{c}" for c in COMMANDS + ("cli",)}
    assert not commands & set(result["loaded_by_libraries"])
