"""python -m benchmarks.speed.inference: generator inference speed in every runtime we ship.

  python -m benchmarks.speed.inference --sizes=64,128,256 --runs=3 \
      --output=benchmarks/results/inference.json

The full-size ESRGAN generator (RRDBNet x4, 23 blocks, 16.7 M parameters; random weights
unless --weights) on one LR image of each size, batch 1, in: Keras eager, `tf.function`,
XLA (`jit_compile=True`), the exported SavedModel (its serving_default signature), and the
TFLite fp32 / fp16 / dynamic-range int8 / int8 models on the LiteRT interpreter (XNNPACK,
one thread per core). For each: median latency, images/s, achieved GFLOP/s (conv FLOPs
counted from the graph, `timing.forward_flops`) and that as a fraction of the machine's
best float32 GEMM measured in the same run (`timing.matmul_peak`). With --weights, also
the PSNR-Y against HR of each runtime on the skimage sample photos, and its difference to
the SavedModel's.

--profile_dir records a TensorBoard profile of the `tf.function` forward at the middle
size (`tensorboard --logdir DIR`, Profile tab); with `pip install xprof` the report also
lists the op types that take the time.
"""

import argparse
import dataclasses
import glob
import json
import os
import sys
import tempfile

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

from benchmarks import timing  # noqa: E402
from esrgan_tf.data import patches  # noqa: E402
from esrgan_tf.deploy import serving, tflite  # noqa: E402
from esrgan_tf.formats import generators  # noqa: E402
from esrgan_tf.inference.litert import TFLiteModel  # noqa: E402
from esrgan_tf.metrics import psnr_ssim  # noqa: E402
from esrgan_tf.models.builders import built_generator  # noqa: E402
from esrgan_tf.models.config import ModelConfig  # noqa: E402

MODES = (
    "keras_eager",
    "tf_function",
    "xla",
    "saved_model",
    "tflite_fp32",
    "tflite_fp16",
    "tflite_dynamic_int8",
    "tflite_int8",
)
TINY = ModelConfig(num_feat=8, num_block=1, num_grow_ch=4)
QUALITY_PHOTOS = ("rocket", "coffee", "chelsea")


def load_model(weights, tiny):
    if weights:
        loaded = generators.load(weights)
        return loaded.model, loaded.config
    config = TINY if tiny else ModelConfig()
    keras.utils.set_random_seed(0)
    return built_generator(config), config


def runtimes(model, modes, workdir, calibration):
    """{mode: callable on a [1, H, W, 3] float32 array returning a NumPy SR array}."""
    fns = {}
    if "keras_eager" in modes:
        fns["keras_eager"] = lambda x: model(x).numpy()
    if "tf_function" in modes:
        traced = tf.function(model)
        fns["tf_function"] = lambda x: traced(x).numpy()
    if "xla" in modes:
        compiled = tf.function(model, jit_compile=True)
        fns["xla"] = lambda x: compiled(x).numpy()
    if "saved_model" in modes:
        path = os.path.join(workdir, "saved_model")
        serving.write_saved_model(model, path, max_pixels=2**40, metadata={"scale": 4})
        signature = tf.saved_model.load(path).signatures["serving_default"]
        fns["saved_model"] = lambda x: signature(images=tf.constant(x))["sr"].numpy()
    with tflite.Converter(model) as converter:
        for mode in modes:
            if mode.startswith("tflite_"):
                variant = mode[len("tflite_") :]
                fns[mode] = TFLiteModel(converter.convert(variant, None, calibration))
    return fns


def quality(fn, scale, lr_size):
    """Mean PSNR-Y (crop = scale) of `fn` on centre crops of the skimage sample photos."""
    pairs = patches.centre_pairs(patches.SKIMAGE, scale, (lr_size, lr_size), 3, QUALITY_PHOTOS)
    return float(
        np.mean(
            [
                psnr_ssim.psnr(np.clip(fn(lr[None])[0], 0, 1), hr, crop_border=scale)
                for _, lr, hr in pairs
            ]
        )
    )


def profile(fn, image, runs, logdir):
    """Records a TensorBoard profile of `runs` calls; returns the top op types if xprof is
    installed (else None)."""
    fn(image)
    tf.profiler.experimental.start(logdir)
    for _ in range(runs):
        fn(image)
    tf.profiler.experimental.stop()
    try:
        from xprof.convert import raw_to_tool_data  # pylint: disable=import-outside-toplevel
    except ImportError:
        return None
    paths = sorted(glob.glob(os.path.join(logdir, "plugins", "profile", "*", "*.xplane.pb")))
    data, _ = raw_to_tool_data.xspace_to_tool_data(paths[-1:], "framework_op_stats", {})
    table = json.loads(data)[0]
    columns = [c["id"] for c in table["cols"]]
    by_type = {}
    for row in table["rows"]:
        cells = dict(zip(columns, (c.get("v") for c in row["c"])))
        if (
            cells["host_or_device"] == "Host"
            and cells["eager"] != "Eager"
            and cells["type"] != "IDLE"
        ):
            by_type[cells["type"]] = by_type.get(cells["type"], 0.0) + cells["total_self_time"]
    total = sum(by_type.values()) or 1.0
    return [
        {"op_type": k, "self_time_share": v / total}
        for k, v in sorted(by_type.items(), key=lambda kv: -kv[1])[:10]
    ]


def run(sizes, runs, modes=MODES, weights="", tiny=False, profile_dir="", matmul_n=4096):
    load = timing.load_average()
    model, config = load_model(weights, tiny)
    peak = timing.matmul_peak(matmul_n)
    with tempfile.TemporaryDirectory(prefix="esrgan_tf_bench_") as workdir:
        calibration = None
        if "tflite_int8" in modes:
            calibration = patches.random_lr_patches(
                patches.SKIMAGE, config.scale, (64, 64), 8, exclude=QUALITY_PHOTOS
            )
        fns = runtimes(model, modes, workdir, calibration)
        results = []
        for size in sizes:
            image = np.random.default_rng(size).random((1, size, size, 3), dtype=np.float32)
            flops = timing.forward_flops(model, tf.TensorSpec(image.shape, tf.float32))
            for mode, fn in fns.items():
                stats = timing.summary(timing.time_calls(lambda f=fn, x=image: f(x), runs))
                gflops = flops / stats["median_s"] / 1e9
                results.append(
                    {
                        "size": size,
                        "mode": mode,
                        "gflop": flops / 1e9,
                        **stats,
                        "images_per_s": 1.0 / stats["median_s"],
                        "gflops": gflops,
                        "peak_fraction": gflops / peak["gflops"],
                    }
                )
                print(
                    f"inference {size}x{size} {mode}: {1000 * stats['median_s']:.1f} ms, "
                    f"{gflops:.0f} GFLOP/s",
                    file=sys.stderr,
                    flush=True,
                )
        psnr = None
        if weights:
            psnr = {mode: quality(fn, config.scale, min(sizes)) for mode, fn in fns.items()}
        top_ops = None
        if profile_dir and "tf_function" in fns:
            middle = sorted(sizes)[len(sizes) // 2]
            image = np.zeros((1, middle, middle, 3), np.float32)
            top_ops = profile(fns["tf_function"], image, runs, profile_dir)
    peak_after = timing.matmul_peak(matmul_n)
    settings = {
        "model": dataclasses.asdict(config),
        "weights": weights or "random init",
        "parameters": int(sum(np.prod(w.shape) for w in model.weights)),
        "sizes": list(sizes),
        "runs": runs,
        "batch": 1,
        "threads": os.cpu_count(),
    }
    return timing.report(
        "inference",
        settings,
        {
            "matmul_peak": peak,
            "matmul_peak_after": peak_after,
            "rows": results,
            "psnr_y": psnr,
            "profile_top_ops": top_ops,
            "profile_dir": profile_dir or None,
        },
        load,
    )


def markdown(report):
    rows = []
    psnr = report["results"]["psnr_y"] or {}
    base = psnr.get("saved_model")
    for r in report["results"]["rows"]:
        quality_cell = "-"
        if r["mode"] in psnr and r["size"] == min(report["settings"]["sizes"]):
            quality_cell = f"{psnr[r['mode']]:.2f}"
            if base is not None and r["mode"] != "saved_model":
                quality_cell += f" ({psnr[r['mode']] - base:+.2f})"
        latency = 1000 * r["median_s"]
        rows.append(
            [
                f"{r['size']}x{r['size']}",
                r["mode"],
                f"{latency:.1f}" if latency < 10 else f"{latency:.0f}",
                f"{r['images_per_s']:.2f}",
                f"{r['gflops']:.0f}",
                f"{100 * r['peak_fraction']:.0f} %",
                quality_cell,
            ]
        )
    header = [
        "LR size",
        "runtime",
        "latency (ms)",
        "images/s",
        "GFLOP/s",
        "of best GEMM",
        "PSNR-Y (dB)",
    ]
    text = (
        f"{timing.onednn_text(report['hardware'])}"
        f"Peak: {timing.peak_text(report['results']['matmul_peak'])}.\n\n"
    ) + timing.table(header, rows)
    if report["results"]["profile_top_ops"]:
        text += "\n\nTime by op type (`tf_function`, profiler self time): " + ", ".join(
            f"{o['op_type']} {100 * o['self_time_share']:.0f} %"
            for o in report["results"]["profile_top_ops"][:6]
        )
    return text


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--sizes", default="64,128,256", help="LR sizes (square)")
    parser.add_argument("--runs", type=int, default=3, help="timed calls per row")
    parser.add_argument("--modes", default=",".join(MODES))
    parser.add_argument(
        "--weights",
        default="",
        help="generator weights (default: random "
        "full-size RRDBNet x4; given: also PSNR-Y per runtime)",
    )
    parser.add_argument("--tiny", action="store_true", help="a tiny RRDBNet (tests)")
    parser.add_argument("--matmul_n", type=int, default=4096)
    parser.add_argument("--profile_dir", default="")
    parser.add_argument("--output", default="benchmarks/results/inference.json")
    args = parser.parse_args(argv)
    modes = tuple(m for m in args.modes.split(",") if m)
    unknown = set(modes) - set(MODES)
    if unknown:
        parser.error(f"unknown modes {sorted(unknown)}; choose from {', '.join(MODES)}")
    report = run(
        [int(s) for s in args.sizes.split(",")],
        args.runs,
        modes,
        args.weights,
        args.tiny,
        args.profile_dir,
        args.matmul_n,
    )
    timing.write_json(report, args.output)
    print(markdown(report))
    return report


if __name__ == "__main__":
    sys.exit(0 if main() else 1)
