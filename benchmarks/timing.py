"""What the benchmarks share: timing calls, the machine's matmul peak, FLOP counting and
writing reports.

Timings are wall-clock medians after warm-up calls; they are noisy on a shared machine, so
every report carries the machine description and its load average, and speed targets are
compared as ratios measured in one run (e.g. against the matmul peak of the same run).
"""

import datetime
import json
import os
import statistics
import time

import numpy as np

from esrgan_tf import hardware


def time_calls(fn, runs, warmup=1):
    """Seconds of each of `runs` calls of `fn()` after `warmup` untimed ones.

    `fn` must block until its result is ready (call `.numpy()` on tensors).
    """
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return times


def summary(times):
    """{median_s, min_s, runs} of a list of seconds."""
    return {"median_s": statistics.median(times), "min_s": min(times), "runs": len(times)}


def matmul_peak(n=4096, runs=5):
    """The machine's practical float32 peak: the best GFLOP/s of an n x n x n matmul
    (median of `runs`) of the GEMM libraries at hand, in this process: TensorFlow's and
    NumPy's BLAS (OpenBLAS in its wheels); `benchmarks.speed.torch_reference` adds torch.mm in
    its own process. TensorFlow's own matmul is not always the best one (without oneDNN on
    AVX2 CPUs it reaches about half of OpenBLAS), and a model's GFLOP/s must be compared
    with what the machine can do, not with one library.

    Returns {"n", "gflops" (the best), "best" (its library), "libraries": {name: GFLOP/s},
    "fma_peak_gflops" (theoretical, `esrgan_tf.hardware.fma_peak_gflops`), timings}.
    """
    import tensorflow as tf  # pylint: disable=import-outside-toplevel

    a = tf.random.stateless_normal((n, n), seed=(1, 2))
    b = tf.random.stateless_normal((n, n), seed=(3, 4))
    matmul = tf.function(tf.linalg.matmul)
    a_np, b_np = a.numpy(), b.numpy()
    candidates = {
        "tensorflow": lambda: matmul(a, b).numpy(),
        "numpy": lambda: a_np @ b_np,
    }
    libraries, stats = {}, {}
    for name, fn in candidates.items():
        times = time_calls(fn, runs)
        stats[name] = summary(times)
        libraries[name] = 2.0 * n**3 / stats[name]["median_s"] / 1e9
    best = max(libraries, key=libraries.get)
    return {
        "n": n,
        "gflops": libraries[best],
        "best": best,
        "libraries": libraries,
        "fma_peak_gflops": hardware.fma_peak_gflops(),
        **stats[best],
    }


def peak_text(peak):
    """'best float32 GEMM 177 GFLOP/s (numpy; tensorflow 88), FMA peak 196 GFLOP/s'."""
    others = ", ".join(
        f"{k} {v:.0f}"
        for k, v in sorted(peak.get("libraries", {}).items())
        if k != peak.get("best")
    )
    text = f"best float32 GEMM ({peak['n']}^3) {peak['gflops']:.0f} GFLOP/s"
    if peak.get("best"):
        text += f" ({peak['best']}" + (f"; {others}" if others else "") + ")"
    if peak.get("fma_peak_gflops"):
        text += f", FMA peak {peak['fma_peak_gflops']:.0f} GFLOP/s"
    return text


def onednn_text(hw):
    """'TensorFlow oneDNN on. ' for a report's hardware (empty for older reports)."""
    on = hw.get("tensorflow_onednn")
    return "" if on is None else f"TensorFlow oneDNN {'on' if on else 'off'}. "


def forward_flops(fn, *input_specs):
    """FLOPs of one call of `fn` on inputs of `input_specs`, counted from its graph.

    Conv2D: 2 * kh * kw * c_in * c_out * N * H_out * W_out (a multiply-add is 2 FLOPs);
    MatMul / BatchMatMul: 2 * batch * M * K * N. Other ops (activations, concatenations,
    additions) are left out: the count is the work the convolution and matmul kernels must
    do, the standard measure of a model's cost. Shapes must be static (give full input shapes).
    """
    import tensorflow as tf  # pylint: disable=import-outside-toplevel

    graph = tf.function(fn).get_concrete_function(*input_specs).graph
    total = 0
    for op in graph.get_operations():
        if op.type == "Conv2D":
            kh, kw, c_in, c_out = op.inputs[1].shape.as_list()
            n, h, w, _ = op.outputs[0].shape.as_list()
            total += 2 * kh * kw * c_in * c_out * n * h * w
        elif op.type in ("MatMul", "BatchMatMulV2", "BatchMatMulV3"):
            # The output has one element per (batch, row, column); each is a K-long dot.
            transposed = op.get_attr("transpose_a" if op.type == "MatMul" else "adj_x")
            k = op.inputs[0].shape.as_list()[-2 if transposed else -1]
            total += 2 * k * int(np.prod(op.outputs[0].shape.as_list()))
        elif op.type in ("StatefulPartitionedCall", "PartitionedCall"):
            raise ValueError(
                "forward_flops needs an inlined graph; pass the model's call, not a tf.function"
            )
    return total


def report(name, settings, results, load_average=None, gpu_names=None):
    """The JSON-able report of one benchmark (`gpu_names`: see `hardware.describe`)."""
    return {
        "benchmark": name,
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "hardware": hardware.describe(load_average, gpu_names),
        "settings": settings,
        "results": results,
    }


def load_average():
    return os.getloadavg()[0] if hasattr(os, "getloadavg") else None


def publish(result, output, render):
    """Writes a benchmark's `result` as JSON to `output` (unless empty), prints its Markdown
    (`render(result)`) and returns it: the end of every benchmark's main."""
    if output:
        write_json(result, output)
    print(render(result))
    return result


def write_json(data, path):
    if os.path.dirname(path):
        os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w", encoding="utf-8") as f:
        json.dump(data, f, indent=2, default=_json_default)
        f.write("\n")


def _json_default(value):
    if isinstance(value, (np.floating, np.integer)):
        return value.item()
    raise TypeError(f"not JSON-able: {type(value).__name__}")


def table(header, rows):
    """A Markdown table."""
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)
