"""python -m benchmarks.run: every benchmark, its JSON, one Markdown summary, the targets.

  python -m benchmarks.run --readme=README.md --profile_dir=/tmp/profile  # ~20 min, 2 cores

Runs `benchmarks.input_pipeline`, `benchmarks.inference` and `benchmarks.training` with
their defaults, writes `benchmarks/results/{input_pipeline,inference,training}.json` and
`benchmarks/results/summary.md`, and with --readme replaces the part of that file between
the `<!-- benchmarks:begin -->` and `<!-- benchmarks:end -->` lines with the summary.
--quality_weights adds the PSNR-Y of every inference runtime for a trained generator (the
full-size timings use random weights: no trained full-size model is available offline).
"""

import argparse
import json
import os
import sys

from benchmarks import inference, input_pipeline, timing, training
from esrgan_tf import hardware

BEGIN, END = "<!-- benchmarks:begin -->", "<!-- benchmarks:end -->"
# Issue targets on these 2-core CPUs.
FORWARD_PEAK_FRACTION = 0.75  # full-size RRDBNet 128^2 forward in tf.function
MAX_INPUT_WAIT = 0.02  # share of a training step spent waiting for input
TFLITE_SPEEDUP = 2.0  # best TFLite variant vs the float32 SavedModel
TFLITE_MAX_PSNR_LOSS = 0.3  # dB of PSNR-Y against the float32 SavedModel


def targets(inf, train, quality=None):
    """[(target, measured, met)] from the reports (quality: an inference report with PSNR)."""
    rows = {(r["size"], r["mode"]): r for r in inf["results"]["rows"]}
    sizes = sorted({r["size"] for r in inf["results"]["rows"]})
    size = 128 if 128 in sizes else sizes[len(sizes) // 2]
    out = []
    forward = rows.get((size, "tf_function"))
    if forward:
        out.append(
            (
                f"RRDBNet {size}^2 forward, tf.function >= "
                f"{100 * FORWARD_PEAK_FRACTION:.0f} % of matmul peak",
                f"{100 * forward['peak_fraction']:.0f} %",
                forward["peak_fraction"] >= FORWARD_PEAK_FRACTION,
            )
        )
    waits = [r["input_wait_share"] for r in train["results"]["rows"]]
    if waits:
        out.append(
            (
                f"training waits for input < {100 * MAX_INPUT_WAIT:.0f} % of a step",
                f"max {100 * max(waits):.1f} %",
                max(waits) < MAX_INPUT_WAIT,
            )
        )
    tflite_modes = [m for _, m in rows if m.startswith("tflite_")]
    for s in sizes:
        if (s, "saved_model") not in rows or not tflite_modes:
            continue
        best = min(tflite_modes, key=lambda m: rows[(s, m)]["median_s"])
        speedup = rows[(s, "saved_model")]["median_s"] / rows[(s, best)]["median_s"]
        out.append(
            (
                f"best TFLite >= {TFLITE_SPEEDUP:.0f}x the fp32 SavedModel at {s}^2",
                f"{best}: {speedup:.1f}x",
                speedup >= TFLITE_SPEEDUP,
            )
        )
    psnr = (quality or inf)["results"]["psnr_y"] or {}
    timed = [m for m in tflite_modes if (size, m) in rows and m in psnr]
    if "saved_model" in psnr and timed:
        fastest = min(timed, key=lambda m: rows[(size, m)]["median_s"])
        loss = psnr["saved_model"] - psnr[fastest]
        out.append(
            (
                f"{fastest} PSNR-Y within {TFLITE_MAX_PSNR_LOSS} dB of the SavedModel",
                f"{loss:+.2f} dB lower",
                loss <= TFLITE_MAX_PSNR_LOSS,
            )
        )
    return out


def summary(pipe, inf, train, quality=None):
    h = inf["hardware"]
    met = targets(inf, train, quality)
    parts = [
        f"Measured {inf['date'][:10]} on {hardware.label(h)}, TF "
        f"{h['tensorflow']}, with `python -m benchmarks.run`.",
        "**Inference** (full-size RRDBNet x4, batch 1, random weights)\n\n"
        + inference.markdown(inf),
        "**Training**\n\n" + training.markdown(train),
        "**Input pipeline**\n\n"
        + input_pipeline.MARKDOWN_HEADER
        + "\n"
        + input_pipeline.markdown_row(pipe),
    ]
    if quality:
        parts.append(
            f"**Quality per runtime** ({quality['settings']['weights']})\n\n"
            + inference.markdown(quality)
        )
    parts.append(
        "**Targets**\n\n"
        + timing.table(
            ["target", "measured", "met"], [[t, m, "yes" if ok else "**no**"] for t, m, ok in met]
        )
    )
    return "\n\n".join(parts) + "\n"


def update_readme(path, text):
    with open(path, encoding="utf-8") as f:
        content = f.read()
    if BEGIN not in content or END not in content:
        raise ValueError(f"{path} has no {BEGIN} ... {END} block to replace")
    head, rest = content.split(BEGIN, 1)
    _, tail = rest.split(END, 1)
    with open(path, "w", encoding="utf-8") as f:
        f.write(f"{head}{BEGIN}\n{text}{END}{tail}")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--results_dir", default="benchmarks/results")
    parser.add_argument("--readme", default="", help="file whose benchmarks block to replace")
    parser.add_argument(
        "--quality_weights",
        default="",
        help="trained generator for the PSNR-Y per runtime (e.g. runs/quickstart)",
    )
    parser.add_argument(
        "--profile_dir",
        default="",
        help="record a TensorBoard profile of the tf.function forward (see benchmarks.inference)",
    )
    parser.add_argument("--tiny", action="store_true", help="tiny settings (tests)")
    parser.add_argument(
        "--render_only",
        action="store_true",
        help="measure nothing: rebuild "
        "the summary (and README block) from the JSON in --results_dir",
    )
    args = parser.parse_args(argv)
    out = lambda name: os.path.join(args.results_dir, name)  # noqa: E731
    if args.render_only:
        return render(args.results_dir, args.readme)
    if args.tiny:
        pipe_args = ["--hr_size=32", "--batch_size=2", "--seconds=0.5", "--warmup_seconds=0.2"]
        inf = inference.run([16, 24], 1, tiny=True, matmul_n=256, profile_dir=args.profile_dir)
        train = training.run(["psnr", "esrgan"], ["none"], 2, 32, 1, tiny=True, matmul_n=256)
    else:
        pipe_args = []
        inf = inference.run([64, 128, 256], 3, profile_dir=args.profile_dir)
        train = training.run(list(training.STAGES), ["none", "bf16"], 16, 128, 3)
    input_pipeline.main(pipe_args + [f"--output={out('input_pipeline.json')}"])
    quality = None
    if args.quality_weights:
        quality = inference.run(
            [64], 3, weights=args.quality_weights, matmul_n=256 if args.tiny else 4096
        )
        timing.write_json(quality, out("inference_quality.json"))
    timing.write_json(inf, out("inference.json"))
    timing.write_json(train, out("training.json"))
    return render(args.results_dir, args.readme)


def render(results_dir, readme=""):
    """summary.md (and the README block) from the reports in `results_dir`."""
    reports = {}
    for name in ("input_pipeline", "inference", "training", "inference_quality"):
        path = os.path.join(results_dir, f"{name}.json")
        if os.path.exists(path):
            with open(path, encoding="utf-8") as f:
                reports[name] = json.load(f)
    missing = {"input_pipeline", "inference", "training"} - set(reports)
    if missing:
        raise FileNotFoundError(
            f"no {', '.join(sorted(missing))}.json in {results_dir}: run the benchmarks first"
        )
    text = summary(
        reports["input_pipeline"],
        reports["inference"],
        reports["training"],
        reports.get("inference_quality"),
    )
    with open(os.path.join(results_dir, "summary.md"), "w", encoding="utf-8") as f:
        f.write(text)
    if readme:
        update_readme(readme, text)
    print(text)
    return text


if __name__ == "__main__":
    sys.exit(0 if main() else 1)
