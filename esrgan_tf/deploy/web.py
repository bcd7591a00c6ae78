"""A self-contained upscaler web page of a generator: the `web` artifact of
`python -m esrgan_tf.export`.

  <folder>/index.html, app.js     the page (esrgan_tf/deploy/web_page/)
  <folder>/model.onnx, model.json the model (`esrgan_tf.deploy.onnx`, fp32 NCHW with dynamic
                                  shapes) and what the page needs of its descriptor
  <folder>/ort/                   onnxruntime-web's WebAssembly build, vendored from the npm
                                  registry at export time (`ORT_WEB_VERSION`), its licence
                                  beside it

`python -m http.server` in the folder serves a working page, also offline: nothing is fetched
from a CDN. Why onnxruntime-web: it runs the ONNX model the export already checks, for every
architecture (RRDBNet with pixel-unshuffle included), with dynamic shapes, and it is
Microsoft's maintained runtime; LiteRT.js runs only fixed-shape models, and the TensorFlow.js
converter cannot be installed beside TensorFlow 2.21 (docs/deployment.md "In the browser").
"""

import json
import os
import shutil
import subprocess
import tarfile
import tempfile

from esrgan_tf import atomic
from esrgan_tf.deploy import onnx

ORT_WEB_PACKAGE = "onnxruntime-web"
ORT_WEB_VERSION = "1.31.1"
# What the page loads: the wasm-only build, its loader module and the SIMD + threads binary.
ORT_WEB_FILES = ("ort.wasm.min.js", "ort-wasm-simd-threaded.mjs", "ort-wasm-simd-threaded.wasm")
PAGE_FILES = ("index.html", "app.js", "serve.py")
PAGE_DIR = os.path.join(os.path.dirname(__file__), "web_page")
# The page's default activation budget per model call: less than `upscale`'s 2 GB, as a
# browser tab's WebAssembly memory is at most 4 GB and shared with the page.
DEFAULT_MAX_MEMORY_MB = 1024

# onnxruntime-web's npm package carries no licence file; its package.json says MIT.
ORT_LICENCE = """onnxruntime-web {version} (https://github.com/microsoft/onnxruntime), vendored from
the npm registry by esrgan_tf.deploy.web. Licence: MIT (package.json "license").

MIT License

Copyright (c) Microsoft Corporation

Permission is hereby granted, free of charge, to any person obtaining a copy
of this software and associated documentation files (the "Software"), to deal
in the Software without restriction, including without limitation the rights
to use, copy, modify, merge, publish, distribute, sublicense, and/or sell
copies of the Software, and to permit persons to whom the Software is
furnished to do so, subject to the following conditions:

The above copyright notice and this permission notice shall be included in all
copies or substantial portions of the Software.

THE SOFTWARE IS PROVIDED "AS IS", WITHOUT WARRANTY OF ANY KIND, EXPRESS OR
IMPLIED, INCLUDING BUT NOT LIMITED TO THE WARRANTIES OF MERCHANTABILITY,
FITNESS FOR A PARTICULAR PURPOSE AND NONINFRINGEMENT. IN NO EVENT SHALL THE
AUTHORS OR COPYRIGHT HOLDERS BE LIABLE FOR ANY CLAIM, DAMAGES OR OTHER
LIABILITY, WHETHER IN AN ACTION OF CONTRACT, TORT OR OTHERWISE, ARISING FROM,
OUT OF OR IN CONNECTION WITH THE SOFTWARE OR THE USE OR OTHER DEALINGS IN THE
SOFTWARE.
"""


class WebExportError(RuntimeError):
    """The page's runtime could not be vendored."""

    exit_status = 1


def vendor_runtime(folder, npm="npm"):
    """Copies onnxruntime-web's files into `folder` (`npm pack` of the pinned version: from
    the registry once, then from npm's cache) with its licence; returns its version."""
    if shutil.which(npm) is None:
        raise WebExportError(
            f"the web page vendors {ORT_WEB_PACKAGE} {ORT_WEB_VERSION} from the npm registry "
            "and needs npm (Debian: apt-get install npm)"
        )
    os.makedirs(folder, exist_ok=True)
    with tempfile.TemporaryDirectory() as scratch:
        spec = f"{ORT_WEB_PACKAGE}@{ORT_WEB_VERSION}"
        result = subprocess.run(
            [npm, "pack", spec, "--silent"],
            cwd=scratch,
            capture_output=True,
            text=True,
            check=False,
        )
        tarballs = [n for n in os.listdir(scratch) if n.endswith(".tgz")]
        if result.returncode or not tarballs:
            raise WebExportError(
                f"`npm pack {spec}` failed (offline, and not in npm's cache?): "
                f"{(result.stderr or result.stdout).strip()[-1500:]}"
            )
        with tarfile.open(os.path.join(scratch, tarballs[0])) as archive:
            members = {m.name: m for m in archive.getmembers()}
            for name in ORT_WEB_FILES:
                member = members.get(f"package/dist/{name}")
                if member is None:
                    raise WebExportError(f"{spec} has no dist/{name}")
                with archive.extractfile(member) as source:
                    atomic.write_bytes(os.path.join(folder, name), source.read())
            with archive.extractfile(members["package/package.json"]) as source:
                package = json.load(source)
    if package.get("version") != ORT_WEB_VERSION:
        raise WebExportError(f"npm gave {ORT_WEB_PACKAGE} {package.get('version')}")
    atomic.write_text(
        os.path.join(folder, "LICENSE.txt"), ORT_LICENCE.format(version=ORT_WEB_VERSION)
    )
    return ORT_WEB_VERSION


def page_config(descriptor, name, max_memory_mb=DEFAULT_MAX_MEMORY_MB):
    """model.json: what the page needs of the model's descriptor (its tiling inputs)."""
    return {
        "name": name,
        "summary": descriptor.summary,
        "scale": descriptor.scale,
        "context": descriptor.context,
        "size_multiple": descriptor.size_multiple,
        # TensorFlow's activation estimate (`Descriptor.bytes_per_pixel`): onnxruntime's
        # CPU kernels keep about as many activations alive.
        "bytes_per_pixel": descriptor.bytes_per_pixel["tf"],
        "max_memory_mb": max_memory_mb,
        "input": onnx.INPUT_NAME,
        "output": onnx.OUTPUT_NAME,
        "layout": "NCHW",
        "runtime_version": ORT_WEB_VERSION,
    }


def write_page(
    model, folder, name, max_memory_mb=DEFAULT_MAX_MEMORY_MB, model_config=None, check=True
):
    """Writes the page of `model` (a Keras generator with a `descriptor`) to `folder`; returns
    the path of its model.onnx. With `check`, the ONNX model is run against Keras before it is
    written (`onnx.save`); `export` measures it on its own samples instead."""
    descriptor = model.descriptor
    if descriptor.in_channels != 3 or descriptor.out_channels != 3:
        raise ValueError(
            "the web page upscales RGB images: the model must take and give 3 channels"
        )
    os.makedirs(folder, exist_ok=True)
    vendor_runtime(os.path.join(folder, "ort"))
    path = os.path.join(folder, "model.onnx")
    metadata = {"scale": descriptor.scale, "architecture": descriptor.summary, "source": name}
    onnx.save(model, path, metadata=metadata, check=check, model_config=model_config)
    atomic.write_json(
        os.path.join(folder, "model.json"), page_config(descriptor, name, max_memory_mb)
    )
    for page_file in PAGE_FILES:
        shutil.copyfile(os.path.join(PAGE_DIR, page_file), os.path.join(folder, page_file))
    return path
