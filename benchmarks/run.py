"""python -m benchmarks.run: every benchmark, its JSON, one Markdown summary, the targets.

  python -m benchmarks.run --readme=README.md --profile_dir=/tmp/profile  # ~20 min, 2 cores

Runs `benchmarks.speed.input_pipeline`, `benchmarks.speed.inference` and
`benchmarks.speed.training` with
their defaults, writes `benchmarks/results/{input_pipeline,inference,training}.json` and
`benchmarks/results/summary.md`, and with --readme replaces the part of that file between
the `<!-- benchmarks:begin -->` and `<!-- benchmarks:end -->` lines with the summary.
--quality_weights adds the PSNR-Y of every inference runtime for a trained generator
(`zoo:realesrgan-x4plus` is the full-size one; the timings use random weights, which cost
the same). When torch is installed, `benchmarks.speed.torch_reference` times the same forward and
training steps in PyTorch in its own process, and the summary gives the speed-ups against
it with the issue's targets (--no-torch skips it).
"""

import argparse
import importlib.util
import json
import os
import subprocess
import sys

from benchmarks import timing
from benchmarks.speed import inference, input_pipeline, training
from esrgan_tf import hardware

BEGIN, END = "<!-- benchmarks:begin -->", "<!-- benchmarks:end -->"
# Issue targets on these 2-core CPUs.
FORWARD_PEAK_FRACTION = 0.75  # full-size RRDBNet 128^2 forward in tf.function
MAX_INPUT_WAIT = 0.02  # share of a training step spent waiting for input
TFLITE_SPEEDUP = 2.0  # best TFLite variant vs the float32 SavedModel
TFLITE_MAX_PSNR_LOSS = 0.3  # dB of PSNR-Y against the float32 SavedModel
TORCH_SPEEDUP = 1.2  # esrgan_tf's best runtime / step against the PyTorch reference
TORCH_SIZE = 128  # LR size of the forward compared with PyTorch


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
                f"{100 * FORWARD_PEAK_FRACTION:.0f} % of the best GEMM",
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


def torch_rows(inf, train, torch_report):
    """[(work, PyTorch s, esrgan_tf s, speed-up)]: PyTorch's time / ours (> 1: faster)."""
    if not torch_report:
        return []
    out = []
    ours = {(r["size"], r["mode"]): r["median_s"] for r in inf["results"]["rows"]}
    for f in torch_report["results"]["forward"]:
        for mode in inference.MODES:
            if (f["size"], mode) in ours:
                seconds = ours[(f["size"], mode)]
                out.append(
                    (
                        f"forward, LR {f['size']}x{f['size']}, {mode}",
                        f["median_s"],
                        seconds,
                        f["median_s"] / seconds,
                    )
                )
    steps = {}  # stage -> (seconds, label) of its fastest float32 variant
    for r in train["results"]["rows"]:
        if r["mixed_precision"] == "none":
            timed = (r["step"]["median_s"], ", XLA" if r.get("jit_compile") else "")
            steps[r["stage"]] = min(steps.get(r["stage"], timed), timed)
    ts = torch_report["settings"]
    same = (ts["batch_size"], ts["hr_size"]) == (
        train["settings"]["batch_size"],
        train["settings"]["hr_size"],
    )
    for t in torch_report["results"]["training"]:
        if same and t["stage"] in steps:
            seconds, label = steps[t["stage"]]
            out.append(
                (
                    f"{t['stage']} train step, batch {ts['batch_size']}, HR {ts['hr_size']}{label}",
                    t["step"]["median_s"],
                    seconds,
                    t["step"]["median_s"] / seconds,
                )
            )
    return out


def torch_targets(rows):
    """The issue's targets: the fastest forward runtime and each step >= TORCH_SPEEDUP."""
    out = []
    forwards = [r for r in rows if r[0].startswith(f"forward, LR {TORCH_SIZE}x")]
    float_forwards = [r for r in forwards if "int8" not in r[0]]
    if float_forwards:
        best = max(float_forwards, key=lambda r: r[3])
        out.append(
            (
                f"fastest float32 forward >= {TORCH_SPEEDUP}x PyTorch (LR {TORCH_SIZE})",
                f"{best[0].rsplit(', ', 1)[1]}: {best[3]:.2f}x",
                best[3] >= TORCH_SPEEDUP,
            )
        )
    for work, _, _, ratio in rows:
        if "train step" in work:
            out.append(
                (
                    f"{work.split(',')[0]} >= {TORCH_SPEEDUP}x PyTorch",
                    f"{ratio:.2f}x",
                    ratio >= TORCH_SPEEDUP,
                )
            )
    return out


def summary(pipe, inf, train, quality=None, torch_report=None):
    h = inf["hardware"]
    met = targets(inf, train, quality)
    parts = [
        f"Measured {inf['date'][:10]} on {hardware.label(h)}"
        + (f" (CPU flags {' '.join(h['cpu_flags'])})" if h.get("cpu_flags") else "")
        + f", TF {h['tensorflow']}, with `python -m benchmarks.run`.",
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
    compared = torch_rows(inf, train, torch_report)
    if compared:
        ts = torch_report["settings"]
        parts.append(
            f"**Against PyTorch** ({ts['torch']}, {ts['threads']} threads, {ts['layout']}, "
            f"float32, same models; `benchmarks.speed.torch_reference`; torch.mm "
            f"{torch_report['results']['matmul_peak']['gflops']:.0f} GFLOP/s)\n\n"
            + timing.table(
                ["work", "PyTorch (s)", "esrgan_tf (s)", "speed-up"],
                [[w, f"{a:.3f}", f"{b:.3f}", f"{r:.2f}x"] for w, a, b, r in compared],
            )
        )
        met = met + torch_targets(compared)
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


ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))  # where `benchmarks` is


def training_report(path, variants, batch, hr, steps, tiny=False, stages=training.STAGES):
    """`benchmarks.speed.training` of `stages` in processes of its own, one per (precisions,
    jit_compile) pair of `variants`, merged into one report. Its own process, because it
    runs TensorFlow as `python -m esrgan_tf.train` does, with oneDNN on
    (`esrgan_tf.hardware.prefer_onednn`), a setting TensorFlow reads at import, while this
    process times inference with TensorFlow's default for the CPU."""
    report = None
    for precisions, jit in variants:
        part = f"{path}.part"
        command = [
            sys.executable,
            "-m",
            "benchmarks.speed.training",
            f"--stages={','.join(stages)}",
            f"--mixed_precision={precisions}",
            f"--jit_compile={jit}",
            f"--batch_size={batch}",
            f"--hr_size={hr}",
            f"--steps={steps}",
            f"--output={part}",
        ] + (["--model=tiny", "--matmul_n=256"] if tiny else [])
        subprocess.run(command, check=True, stdout=subprocess.DEVNULL, cwd=ROOT)
        with open(part, encoding="utf-8") as f:
            part_report = json.load(f)
        os.remove(part)
        if report is None:
            report = part_report
        else:
            report["results"]["rows"] += part_report["results"]["rows"]
    return report


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
        help="record a TensorBoard profile of the tf.function forward "
        "(see benchmarks.speed.inference)",
    )
    parser.add_argument(
        "--torch",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="also time the PyTorch reference when torch is installed (--no-torch: not)",
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
        sizes, batch, hr, steps = [16], 2, 32, 1
        inf = inference.run(sizes, 1, tiny=True, matmul_n=256, profile_dir=args.profile_dir)
        timing.write_json(inf, out("inference.json"))  # each report as soon as it is made
        # The PSNR step alone: the GAN step's own test is tests/benchmarks (training.main).
        train = training_report(
            out("training.json"), [("none", "false")], batch, hr, steps, True, stages=["psnr"]
        )
    else:
        pipe_args = []
        sizes, batch, hr, steps = [64, TORCH_SIZE, 256], 4, 128, 3
        inf = inference.run(sizes, 3, profile_dir=args.profile_dir)
        timing.write_json(inf, out("inference.json"))  # each report as soon as it is made
        # float32 and the half precisions the device runs natively (emulated ones take
        # several times longer and say nothing); XLA in float32.
        variants = [("auto", "false"), ("none", "true")]
        train = training_report(out("training.json"), variants, batch, hr, steps)
    timing.write_json(train, out("training.json"))
    if args.torch and inf["hardware"]["gpus"]:
        # TensorFlow ran on the GPUs; our PyTorch reference times CPUs only.
        print("benchmarks.run: GPUs present, no PyTorch comparison (CPU only)", file=sys.stderr)
    elif args.torch and importlib.util.find_spec("torch") is not None:
        # Its own process: torch and TensorFlow each bring their thread pools.
        command = [
            sys.executable,
            "-m",
            "benchmarks.speed.torch_reference",
            f"--sizes={sizes[0] if args.tiny else TORCH_SIZE}",
            f"--batch_size={batch}",
            f"--hr_size={hr}",
            f"--steps={steps}",
            f"--runs={1 if args.tiny else 3}",
            f"--output={out('torch_reference.json')}",
        ] + (["--tiny"] if args.tiny else [])
        subprocess.run(command, check=True)
    input_pipeline.main(pipe_args + [f"--output={out('input_pipeline.json')}"])
    quality = None
    stale = out("inference_quality.json")
    if not args.quality_weights and os.path.exists(stale):
        os.remove(stale)  # an earlier run's, which the summary would show as this one's
    if args.quality_weights:
        quality = inference.run(
            [64], 3, weights=args.quality_weights, matmul_n=256 if args.tiny else 4096
        )
        timing.write_json(quality, out("inference_quality.json"))
    return render(args.results_dir, args.readme)


def render(results_dir, readme=""):
    """summary.md (and the README block) from the reports in `results_dir`."""
    reports = {}
    for name in ("input_pipeline", "inference", "training", "inference_quality", "torch_reference"):
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
        reports.get("torch_reference"),
    )
    with open(os.path.join(results_dir, "summary.md"), "w", encoding="utf-8") as f:
        f.write(text)
    if readme:
        update_readme(readme, text)
    print(text)
    return text


if __name__ == "__main__":
    sys.exit(0 if main() else 1)
