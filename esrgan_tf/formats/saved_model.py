"""Exported SavedModels (`python -m esrgan_tf.export`) used as generators.

`upscale` and `evaluate` accept an export, or its TF Serving base path (the newest numeric
version), wherever they accept Keras weights: the numbers are then those of the deployed
artifact. ``assets.extra/esrgan_tf.json`` (written by `esrgan_tf.deploy.serving`) records
the architecture, scale, precision and request limit.
"""

import dataclasses
import json
import os

import numpy as np
import tensorflow as tf

from esrgan_tf.models import builders
from esrgan_tf.models.config import ModelConfig

METADATA_FILE = os.path.join("assets.extra", "esrgan_tf.json")


def resolve_saved_model(path):
    """The SavedModel directory of `path` (itself, or a Serving base path's newest
    numeric version), or None if `path` is neither."""
    if os.path.isfile(os.path.join(path, "saved_model.pb")):
        return path
    if os.path.isdir(path):
        versions = sorted(
            (
                int(n)
                for n in os.listdir(path)
                if n.isdigit() and os.path.isfile(os.path.join(path, n, "saved_model.pb"))
            )
        )
        if versions:
            return os.path.join(path, str(versions[-1]))
    return None


class SavedModelGenerator:
    """An exported SavedModel used like a generator: NHWC float32 batches -> SR.

    Batches larger than the export's ``max_pixels`` are split into calls that fit;
    a single image that does not fit is a clear error (use smaller tiles).

    Attributes:
        path: the SavedModel directory; metadata: its `esrgan_tf.json`; scale.
    """

    def __init__(self, path):
        directory = resolve_saved_model(path)
        if directory is None:
            raise FileNotFoundError(
                f"{path!r} holds no SavedModel (saved_model.pb) nor "
                "numbered Serving versions of one"
            )
        self.path = directory
        metadata_path = os.path.join(directory, METADATA_FILE)
        if not os.path.isfile(metadata_path):
            raise ValueError(
                f"{directory} is not an esrgan_tf export (no {METADATA_FILE}); "
                "export it with python -m esrgan_tf.export"
            )
        with open(metadata_path, encoding="utf-8") as f:
            self.metadata = json.load(f)
        self.scale = int(self.metadata["scale"])
        model = self.metadata.get("model")
        self.model_config = ModelConfig(**model) if model else None
        self.max_pixels = int(self.metadata["max_pixels"])
        self._loaded = tf.saved_model.load(directory)
        self._signature = self._loaded.signatures["serving_default"]

    @property
    def descriptor(self):
        """The exported architecture's descriptor, as one call of the export runs it (whole,
        in its own precision, at most `max_pixels` per call); None for an export that does
        not record its architecture."""
        if self.model_config is None:
            return None
        return dataclasses.replace(
            builders.descriptor(self.model_config),
            stages=(),
            runtimes=("tf",),
            precisions=(self.metadata.get("precision", "fp32"),),
            max_call_pixels=self.max_pixels,
        )

    def __call__(self, images):
        images = np.asarray(images, np.float32)
        n, h, w = images.shape[:3]
        if h * w > self.max_pixels:
            raise ValueError(
                f"a {h}x{w} input exceeds the SavedModel's limit of "
                f"{self.max_pixels} LR pixels per call: use a smaller --tile"
            )
        per_call = max(1, self.max_pixels // (h * w))
        outputs = [
            self._signature(images=tf.constant(images[i : i + per_call]))["sr"].numpy()
            for i in range(0, n, per_call)
        ]
        return np.concatenate(outputs)
