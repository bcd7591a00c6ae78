"""Files of named tensors from other frameworks: `.safetensors`, PyTorch `.pth` / `.pt` and
NumPy `.npz`, read into NumPy arrays.

One reader for everything the project takes from PyTorch's world: generator checkpoints
(`esrgan_tf.formats.pytorch`), the LPIPS backbones (`esrgan_tf.metrics.lpips`) and torchvision's
VGG19 for the perceptual loss (`esrgan_tf.models.features`). A `.pth` is unpickled with
torch's `weights_only=True` (a pickle of anything else could run code) and needs torch;
`.safetensors` and `.npz` do not.
"""

import io
import os

import numpy as np

from esrgan_tf import files

EXTENSIONS = (".safetensors", ".pth", ".pt", ".npz")


_CONVERT = "convert the file to .safetensors once where torch is installed"


def read(path, what="weights file", extensions=EXTENSIONS, without_torch=_CONVERT):
    """The object a tensor file holds: a mapping of names to arrays (`.safetensors`, `.npz`),
    or whatever mapping `torch.load` gives (a `.pth` may nest its state dict, e.g. BasicSR's
    `params_ema`; its values are torch tensors until `to_numpy`).

    Args:
      path: the file; its extension says how to read it.
      what: what the file is, for error messages ("checkpoint", "LPIPS weights file").
      extensions: the extensions this caller accepts.
      without_torch: the advice after "needs PyTorch: `pip install torch`, or ...".
    Raises:
        FileNotFoundError, ImportError (a `.pth` without torch), ValueError (not readable).
    """
    path = os.fspath(path)
    if not files.isfile(path):
        raise FileNotFoundError(f"{what} {path!r} does not exist")
    ext = os.path.splitext(path)[1].lower()
    if ext not in extensions:
        raise ValueError(
            f"{path!r}: unknown extension {ext!r} for a {what}, expected one of "
            f"{', '.join(extensions)}"
        )
    # A file on a TensorFlow filesystem (gs://...) is read whole; the readers take bytes.
    source = io.BytesIO(files.read_bytes(path)) if files.is_remote(path) else path
    if ext == ".npz":
        try:
            with np.load(source, allow_pickle=False) as arrays:
                return {name: arrays[name] for name in arrays.files}
        except (ValueError, OSError) as err:  # not a zip, or object arrays
            raise ValueError(f"{path!r} is not a readable .npz of arrays: {err}") from err
    if ext == ".safetensors":
        from safetensors import SafetensorError  # pylint: disable=import-outside-toplevel
        from safetensors.numpy import load, load_file  # pylint: disable=import-outside-toplevel

        try:
            return load_file(path) if source is path else load(source.getvalue())
        except (SafetensorError, OSError, TypeError) as err:
            # TypeError: dtypes numpy lacks (bfloat16); convert those with torch.
            raise ValueError(f"{path!r} is not a readable safetensors file: {err}") from err
    try:
        import torch  # pylint: disable=import-outside-toplevel
    except ImportError as err:
        raise ImportError(
            f"reading {path!r} needs PyTorch: `pip install torch`, or {without_torch}"
        ) from err
    try:
        # map_location: some files (the lpips wheel's lin weights) hold CUDA tensors.
        return torch.load(source, map_location="cpu", weights_only=True)
    except Exception as err:  # torch raises pickle, zip and runtime errors alike
        raise ValueError(
            f"{path!r} is not a PyTorch weights file (or needs more than weights_only "
            f"loading): {err}"
        ) from err


def to_numpy(value):
    """The array behind a NumPy array or torch tensor (bfloat16 as float32), or None for
    anything else."""
    if isinstance(value, np.ndarray):
        return value
    if type(value).__module__.startswith("torch") and hasattr(value, "detach"):
        value = value.detach().cpu()
        if str(value.dtype) == "torch.bfloat16":  # numpy has no bfloat16
            value = value.float()
        return value.numpy()
    return None


def read_arrays(path, what="weights file", **kwargs):
    """{name: array} of the tensors at the top level of a tensor file (other entries, such
    as a PyTorch file's metadata, are left out); `kwargs` as for `read`."""
    raw = read(path, what, **kwargs)
    if not isinstance(raw, dict):
        raise ValueError(f"{os.fspath(path)!r} holds a {type(raw).__name__}, not a state dict")
    arrays = {name: to_numpy(value) for name, value in raw.items()}
    return {name: array for name, array in arrays.items() if array is not None}
