"""python -m benchmarks.speed.conv_kernels: the three kernels of a 3x3 convolution's training step,
TensorFlow against PyTorch, one at a time.

  python -m benchmarks.speed.conv_kernels --batch_size=4 --size=32 --channels=64:32,192:64 \
      --runs=15 --output=benchmarks/results/conv_kernels.json

For each (input, output) channel pair, at the dense blocks' shapes (batch 4, LR 32 of HR
128; `benchmarks.speed.training`'s step): the median milliseconds of the forward convolution, the
input (data) gradient and the weight gradient, float32, 'same' padding, stride 1.
TensorFlow runs its raw ops (Conv2D, Conv2DBackpropInput, Conv2DBackpropFilter; NHWC, as
Keras calls them) in `tf.function`s with oneDNN on, as `python -m esrgan_tf.train` runs
(`esrgan_tf.hardware.prefer_onednn`). With torch installed (and --torch), PyTorch runs the same
kernels in a process of its own (`aten.convolution_backward` with one output each; NCHW,
its default layout), and the table gives PyTorch's time / TensorFlow's.

This is where a training step's time goes on CPUs: run with `ONEDNN_VERBOSE=1` to see
which oneDNN implementation and memory layout each framework picks.
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from esrgan_tf import hardware  # noqa: E402

if __name__ == "__main__":  # as `python -m esrgan_tf.train` runs: before TF is imported
    hardware.prefer_onednn()

from benchmarks import timing  # noqa: E402

KERNELS = ("forward", "data_gradient", "weight_gradient")


def parse_channels(text):
    """'64:32,192:64' -> [(64, 32), (192, 64)]."""
    pairs = []
    for item in text.split(","):
        cin, _, cout = item.partition(":")
        try:
            pair = (int(cin), int(cout))
        except ValueError:
            pair = (0, 0)
        if min(pair) < 1:
            raise ValueError(f"--channels takes IN:OUT pairs of positive integers, got {item!r}")
        pairs.append(pair)
    return pairs


def tensorflow_kernels(batch, size, cin, cout):
    """{kernel: (tf.function, its arguments)} of TensorFlow's kernels (NHWC), on seeded
    random tensors."""
    import tensorflow as tf  # pylint: disable=import-outside-toplevel

    ones = [1, 1, 1, 1]
    rng = tf.random.Generator.from_seed(0)
    x = rng.normal([batch, size, size, cin])
    w = rng.normal([3, 3, cin, cout])
    dy = rng.normal([batch, size, size, cout])
    forward = tf.function(
        lambda x, w: tf.raw_ops.Conv2D(input=x, filter=w, strides=ones, padding="SAME")
    )
    data = tf.function(
        lambda w, dy: tf.raw_ops.Conv2DBackpropInput(
            input_sizes=[batch, size, size, cin],
            filter=w,
            out_backprop=dy,
            strides=ones,
            padding="SAME",
        )
    )
    weight = tf.function(
        lambda x, dy: tf.raw_ops.Conv2DBackpropFilter(
            input=x, filter_sizes=[3, 3, cin, cout], out_backprop=dy, strides=ones, padding="SAME"
        )
    )
    return {
        "forward": (forward, (x, w)),
        "data_gradient": (data, (w, dy)),
        "weight_gradient": (weight, (x, dy)),
    }


def torch_kernels(batch, size, cin, cout):
    """{kernel: (function, its arguments)} of PyTorch's kernels (NCHW), on seeded random
    tensors."""
    import torch  # pylint: disable=import-outside-toplevel

    generator = torch.Generator().manual_seed(0)
    x = torch.randn(batch, cin, size, size, generator=generator)
    w = torch.randn(cout, cin, 3, 3, generator=generator)
    dy = torch.randn(batch, cout, size, size, generator=generator)

    def backward(x, w, dy, mask):
        return torch.ops.aten.convolution_backward(
            dy, x, w, None, [1, 1], [1, 1], [1, 1], False, [0, 0], 1, mask
        )

    return {
        "forward": (lambda x, w: torch.nn.functional.conv2d(x, w, padding=1), (x, w)),
        "data_gradient": (lambda x, w, dy: backward(x, w, dy, [True, False, False])[0], (x, w, dy)),
        "weight_gradient": (
            lambda x, w, dy: backward(x, w, dy, [False, True, False])[1],
            (x, w, dy),
        ),
    }


# framework -> (its kernels, what makes a result ready: TF returns before computing)
FRAMEWORKS = {
    "tensorflow": (tensorflow_kernels, lambda y: y.numpy()),
    "torch": (torch_kernels, lambda y: y),
}


def time_kernels(framework, batch, size, channels, runs):
    """{(cin, cout): {kernel: median seconds}} of one framework's kernels."""
    make, ready = FRAMEWORKS[framework]
    times = {}
    for cin, cout in channels:
        times[(cin, cout)] = {
            k: timing.summary(timing.time_calls(lambda fn=fn, a=a: ready(fn(*a)), runs, warmup=2))[
                "median_s"
            ]
            for k, (fn, a) in make(batch, size, cin, cout).items()
        }
    return times


def torch_in_its_own_process(batch, size, channels, runs):
    """PyTorch's `time_kernels` in a process of its own (torch and TensorFlow each bring
    their thread pools)."""
    with tempfile.TemporaryDirectory(prefix="esrgan_tf_bench_conv_") as tmp:
        out = os.path.join(tmp, "torch.json")
        command = [
            sys.executable,
            "-m",
            "benchmarks.speed.conv_kernels",
            "--framework=torch",
            f"--batch_size={batch}",
            f"--size={size}",
            f"--channels={','.join(f'{a}:{b}' for a, b in channels)}",
            f"--runs={runs}",
            f"--output={out}",
        ]
        subprocess.run(command, check=True, stdout=subprocess.DEVNULL)
        with open(out, encoding="utf-8") as f:
            rows = json.load(f)["results"]["rows"]
    return {(r["in_channels"], r["out_channels"]): r["torch_s"] for r in rows}


def run(batch, size, channels, runs, framework="tensorflow", torch=True):
    load = timing.load_average()
    if framework == "torch":
        ours, theirs = None, time_kernels("torch", batch, size, channels, runs)
    else:
        ours = time_kernels("tensorflow", batch, size, channels, runs)
        theirs = None
        if torch and _torch_installed():
            theirs = torch_in_its_own_process(batch, size, channels, runs)
    rows = []
    for cin, cout in channels:
        row = {"in_channels": cin, "out_channels": cout}
        if ours is not None:
            row["tensorflow_s"] = ours[(cin, cout)]
        if theirs is not None:
            row["torch_s"] = theirs[(cin, cout)]
        rows.append(row)
    settings = {"batch_size": batch, "size": size, "runs": runs, "framework": framework}
    return timing.report("conv_kernels", settings, {"rows": rows}, load)


def _torch_installed():
    import importlib.util  # pylint: disable=import-outside-toplevel

    return importlib.util.find_spec("torch") is not None


def markdown(report):
    s = report["settings"]
    rows = []
    for r in report["results"]["rows"]:
        for k in KERNELS:
            tf_ms = 1e3 * r["tensorflow_s"][k]
            cells = [f"{r['in_channels']} -> {r['out_channels']}", k, f"{tf_ms:.2f}"]
            if "torch_s" in r:
                torch_ms = 1e3 * r["torch_s"][k]
                cells += [f"{torch_ms:.2f}", f"{torch_ms / tf_ms:.2f}x"]
            rows.append(cells)
    header = ["channels", "kernel", "TensorFlow (ms)"]
    if any("torch_s" in r for r in report["results"]["rows"]):
        header += ["PyTorch (ms)", "speed-up"]
    flags = " ".join(report["hardware"].get("cpu_flags") or []) or "unknown"
    return (
        f"3x3 convolution kernels, batch {s['batch_size']}, {s['size']}x{s['size']}, "
        f"float32 (CPU flags {flags}). {timing.onednn_text(report['hardware'])}\n\n"
        + timing.table(header, rows)
    )


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--batch_size", type=int, default=4)
    parser.add_argument("--size", type=int, default=32, help="H = W of the input")
    parser.add_argument("--channels", default="64:32,192:64", help="IN:OUT pairs")
    parser.add_argument("--runs", type=int, default=15)
    parser.add_argument(
        "--torch",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="also time PyTorch when torch is installed",
    )
    parser.add_argument("--framework", default="tensorflow", choices=("tensorflow", "torch"))
    parser.add_argument("--output", default="benchmarks/results/conv_kernels.json")
    args = parser.parse_args(argv)
    try:
        channels = parse_channels(args.channels)
    except ValueError as e:
        parser.error(str(e))
    if args.batch_size < 1 or args.size < 1 or args.runs < 1:
        parser.error("--batch_size, --size and --runs must be positive")
    report = run(args.batch_size, args.size, channels, args.runs, args.framework, args.torch)
    timing.write_json(report, args.output)
    if args.framework == "tensorflow":
        print(markdown(report))
    return report


if __name__ == "__main__":
    sys.exit(0 if main() else 1)
