"""python -m benchmarks.speed.training: training step speed, and how long the input makes it wait.

  python -m benchmarks.speed.training --stages=psnr,esrgan --batch_size=16 --hr_size=128 \
      --mixed_precision=auto --jit_compile=false,true --steps=3 \
      --output=benchmarks/results/training.json

Runs `esrgan_tf.training.trainer.Trainer` as `python -m esrgan_tf.train` does, on the full-size
ESRGAN models (RRDBNet x4 23 blocks; VGG-style discriminator; VGG19 up to conv5_4 before
activation with random weights, which cost the same as ImageNet ones), on shards of the
scikit-image photos built on the fly (480-px sub-images with stored x4 LR, as
`configs/common.flags` uses):

  psnr    the PSNR-oriented step: G forward and backward, L1;
  esrgan  the GAN step: G, the perceptual VGG19 loss, RaGAN G and D losses, the D update.

`--degradation=realesrgan` feeds Real-ESRNet's input instead: every LR synthesised by
Real-ESRGAN's degradation model on the fly, with USM-sharpened targets (the pipeline's map
runs on the same CPU cores as the step, so compare the step time with `--degradation=none`).

TensorFlow runs with its oneDNN kernels on, as in `python -m esrgan_tf.train`
(`esrgan_tf.hardware.prefer_onednn`; TF_ENABLE_ONEDNN_OPTS=0 times Eigen's kernels instead); the
report says which ran.

For each stage, precision and `--jit_compile` (`TrainConfig.jit_compile`: XLA for each
network's forward and backward pass): the median step time over --steps after one warm-up
(tracing), images/s, achieved GFLOP/s, and the share of the step spent waiting for input:
each step takes its batch from the training iterator (prefetching in the background, as in
training) on the host, timed, then runs `Trainer.step_on_batch` on it; the wait share is the
time blocked in the iterator over the whole time of the steps.

FLOPs per step are conv + matmul FLOPs counted from the graphs of one forward pass of each
network (`timing.forward_flops`) with the usual backward factors: a trained network costs 3
forward passes (forward, input gradient, weight gradient), a frozen one that passes the
gradient on costs 2, a forward-only pass 1. psnr = 3 G; esrgan = 3 G + 3 VGG (SR: 2, HR: 1)
+ 9 D (G step: D(SR) 2, D(HR) 1; D step: D(HR) and D(SR) 3 each).
"""

import argparse
import os
import sys
import tempfile
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from esrgan_tf import hardware  # noqa: E402

if __name__ == "__main__":  # as `python -m esrgan_tf.train` runs: before TF is imported
    hardware.prefer_onednn()

import tensorflow as tf  # noqa: E402

from benchmarks import timing  # noqa: E402
from benchmarks.speed.input_pipeline import build_sample_shards  # noqa: E402
from esrgan_tf.data.config import TrainDataConfig  # noqa: E402
from esrgan_tf.models.config import ModelConfig  # noqa: E402
from esrgan_tf.training import loop  # noqa: E402
from esrgan_tf.training.config import LossConfig, TrainConfig  # noqa: E402

STAGES = ("psnr", "esrgan")
PRECISIONS = ("none", "bf16", "fp16")
TINY = ModelConfig(num_feat=8, num_block=1, num_grow_ch=4, discriminator="unet", d_num_feat=8)
# configs/quickstart.flags' networks.
QUICKSTART = ModelConfig(
    num_feat=32, num_block=2, num_grow_ch=16, discriminator="vgg", d_num_feat=16, d_dense_units=100
)
MODELS = {"full": ModelConfig(), "quickstart": QUICKSTART, "tiny": TINY}


def stage_config(
    stage, workdir, shards, batch_size, hr_size, precision, model, degradation="none", jit=False
):
    loss = LossConfig(pixel_loss="l1", pixel_weight=1.0)
    if stage == "esrgan":  # ESRGAN §4.1: L1 1e-2, VGG19-54 before activation, RaGAN 5e-3
        loss = LossConfig(
            pixel_weight=1e-2,
            perceptual="vgg",
            vgg_weights=None,
            gan_type="ragan",
            adversarial_weight=5e-3,
        )
    return TrainConfig(
        workdir=workdir,
        model=MODELS[model],
        loss=loss,
        # --degradation=realesrgan: Real-ESRNet's input, the degradation and USM targets.
        input=TrainDataConfig(
            data=shards,
            hr_size=hr_size,
            batch_size=batch_size,
            shuffle_buffer=64,
            degradation=degradation,
            usm_target=degradation != "none",
        ),
        total_steps=10**6,
        checkpoint_every=10**6,
        mixed_precision=precision,
        jit_compile=jit,
    )


def step_flops(trainer, stage, batch_size, hr_size):
    """Conv + matmul FLOPs of one training step (see the module docstring)."""
    lr = hr_size // trainer.config.model.scale
    hr_spec = tf.TensorSpec([batch_size, hr_size, hr_size, 3], tf.float32)
    g = timing.forward_flops(
        lambda x: trainer.generator(x, training=True),
        tf.TensorSpec([batch_size, lr, lr, 3], tf.float32),
    )
    if stage == "psnr":
        return 3 * g
    vgg = timing.forward_flops(trainer.vgg, hr_spec)
    d = timing.forward_flops(lambda x: trainer.discriminator(x, training=True), hr_spec)
    return 3 * g + 3 * vgg + 9 * d


def time_steps(controller, steps):
    """([step seconds], [seconds blocked on input]) of `steps` steps after one warm-up."""
    step = tf.function(controller.trainer.step_on_batch)
    no_stop = tf.constant(0.0)
    lr, hr, *usm = next(controller.iterator)
    step(lr, hr, no_stop, *usm)  # tracing
    totals, waits = [], []
    for _ in range(steps):
        start = time.perf_counter()
        lr, hr, *usm = next(controller.iterator)  # (lr, hr), or (lr, hr, hr_usm)
        fetched = time.perf_counter()
        _ = [float(v) for v in step(lr, hr, no_stop, *usm).values()]  # waits for the step
        totals.append(time.perf_counter() - start)
        waits.append(fetched - start)
    return totals, waits


def time_loops(controller, steps_per_loop, steps):
    """[{steps_per_loop, step_s, steps_per_s}]: the training loop as `train` runs it
    (`Controller.run_steps`: input, device copy and steps in one call per `steps_per_loop`
    steps), `steps` steps (rounded up to whole calls) after one warm-up call, the values of
    `steps_per_loop` interleaved over two rounds (the machine's speed drifts)."""
    controller.run_steps(1)  # tracing (once: the step count is an argument)
    seconds = {n: 0.0 for n in steps_per_loop}
    counts = {n: 0 for n in steps_per_loop}
    for _ in range(2):
        for n in steps_per_loop:
            calls = -(-steps // (2 * n))
            start = time.perf_counter()
            for _ in range(calls):
                controller.run_steps(n)
            seconds[n] += time.perf_counter() - start
            counts[n] += calls * n
    return [
        {
            "steps_per_loop": n,
            "step_s": seconds[n] / counts[n],
            "steps_per_s": counts[n] / seconds[n],
        }
        for n in steps_per_loop
    ]


def measure(
    stage,
    precision,
    shards,
    batch_size,
    hr_size,
    steps,
    model,
    degradation="none",
    jit=False,
    steps_per_loop=(),
    loop_steps=0,
):
    with tempfile.TemporaryDirectory(prefix="esrgan_tf_bench_train_") as workdir:
        config = stage_config(
            stage, workdir, shards, batch_size, hr_size, precision, model, degradation, jit
        )
        controller = loop.Controller(config)
        totals, waits = time_steps(controller, steps)
        loops = time_loops(controller, steps_per_loop, loop_steps) if steps_per_loop else []
        flops = step_flops(controller.trainer, stage, batch_size, hr_size)
    stats = timing.summary(totals)
    seconds = stats["median_s"]
    return {
        "stage": stage,
        "mixed_precision": precision,
        "jit_compile": jit,
        "step": stats,
        "input_wait_s": waits,
        "images_per_s": batch_size / seconds,
        "gflop_per_step": flops / 1e9,
        "gflops": flops / seconds / 1e9,
        "input_wait_share": sum(waits) / sum(totals),
        "loop": loops,
    }


def run(
    stages,
    variants,
    batch_size,
    hr_size,
    steps,
    model="full",
    matmul_n=4096,
    degradation="none",
    steps_per_loop=(),
    loop_steps=0,
):
    """The report of every stage in every variant, a (mixed_precision, jit_compile) pair."""
    tiny = model == "tiny"
    load = timing.load_average()
    peak = timing.matmul_peak(matmul_n)
    rows = []
    with tempfile.TemporaryDirectory(prefix="esrgan_tf_bench_shards_") as tmp:
        shards = os.path.join(tmp, "shards")
        build_sample_shards(
            shards,
            4,
            crop_size=max(hr_size, 128 if tiny else 480),
            step=240,
            num_shards=2,
            max_sub_images=8 if tiny else 0,
        )
        options = dict(
            batch_size=batch_size,
            hr_size=hr_size,
            steps=steps,
            model=model,
            degradation=degradation,
            steps_per_loop=steps_per_loop,
            loop_steps=loop_steps,
        )
        for stage in stages:
            for precision, jit in variants:
                row = measure(stage, precision, shards, jit=jit, **options)
                row["peak_fraction"] = row["gflops"] / peak["gflops"]
                print(
                    f"training {stage} {precision}{' xla' if jit else ''}: "
                    f"{row['step']['median_s']:.2f} s/step, "
                    f"input wait {100 * row['input_wait_share']:.1f} %"
                    + "".join(
                        f", {r['steps_per_s']:.2f} steps/s at {r['steps_per_loop']} per loop"
                        for r in row["loop"]
                    ),
                    file=sys.stderr,
                    flush=True,
                )
                rows.append(row)
    settings = {
        "model": {
            "tiny": "tiny RRDBNet",
            "quickstart": "the quickstart's RRDBNet (32 ch, 2 blocks, growth 16) + VGG D",
            "full": "RRDBNet x4, 23 blocks + VGG-128 D",
        }[model],
        "batch_size": batch_size,
        "hr_size": hr_size,
        "steps": steps,
        "replicas": 1,
        "vgg_weights": "random (same cost as ImageNet)",
        "degradation": degradation,
    }
    return timing.report("training", settings, {"matmul_peak": peak, "rows": rows}, load)


def markdown(report):
    rows = [
        [
            r["stage"],
            r["mixed_precision"],
            "yes" if r.get("jit_compile") else "no",
            f"{r['step']['median_s']:.2f}",
            f"{r['images_per_s']:.2f}",
            f"{r['gflops']:.0f}",
            f"{100 * r['peak_fraction']:.0f} %",
            f"{100 * r['input_wait_share']:.1f} %",
        ]
        for r in report["results"]["rows"]
    ]
    s = report["settings"]
    peak = timing.peak_text(report["results"]["matmul_peak"])
    loops = [
        [r["stage"], r["mixed_precision"], "yes" if r.get("jit_compile") else "no"]
        + [str(p["steps_per_loop"]), f"{p['step_s'] * 1000:.0f}", f"{p['steps_per_s']:.2f}"]
        for r in report["results"]["rows"]
        for p in r.get("loop", [])
    ]
    loop_table = ""
    if loops:
        loop_table = (
            "\n\nThe training loop (`Controller.run_steps`, input included):\n\n"
            + timing.table(
                ["step", "precision", "XLA", "steps per loop", "ms/step", "steps/s"], loops
            )
        )
    return (
        f"Batch {s['batch_size']}, HR {s['hr_size']}, {s['model']}, "
        f"degradation {s.get('degradation', 'none')}. "
        f"{timing.onednn_text(report['hardware'])}"
        f"{peak[0].upper()}{peak[1:]}.\n\n"
        + timing.table(
            [
                "step",
                "precision",
                "XLA",
                "step (s)",
                "images/s",
                "GFLOP/s",
                "of best GEMM",
                "waiting for input",
            ],
            rows,
        )
        + loop_table
    )


def mixed_precisions(text, native):
    """The --mixed_precision values of the comma-separated `text`; "auto" is float32 ("none")
    and each of the `native` half precisions (`hardware.native_half_precisions`)."""
    precisions = [p for p in text.split(",") if p]
    return ["none", *native] if precisions == ["auto"] else precisions


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--stages", default=",".join(STAGES))
    parser.add_argument(
        "--mixed_precision",
        default="auto",
        help=f"comma-separated: {', '.join(PRECISIONS)}; auto: none and each half precision "
        "the GPUs (else the CPU) compute natively (esrgan_tf.hardware.native_half_precisions)",
    )
    parser.add_argument("--batch_size", type=int, default=16)
    parser.add_argument("--hr_size", type=int, default=128)
    parser.add_argument(
        "--jit_compile",
        default="false",
        help="comma-separated: false, true (XLA for each network, TrainConfig.jit_compile)",
    )
    parser.add_argument("--steps", type=int, default=3, help="timed steps after one warm-up")
    parser.add_argument(
        "--model",
        default="full",
        choices=tuple(MODELS),
        help="the networks: ESRGAN's, the quickstart's, or tiny ones (tests)",
    )
    parser.add_argument(
        "--steps_per_loop",
        default="",
        help="comma-separated, e.g. 1,8: also time the training loop with these "
        "TrainConfig.steps_per_loop values (--loop_steps steps each)",
    )
    parser.add_argument("--loop_steps", type=int, default=32)
    parser.add_argument(
        "--degradation",
        default="none",
        choices=("none", "realesrgan"),
        help="the input's LR: bicubic, or Real-ESRGAN's degradation with USM targets",
    )
    parser.add_argument("--matmul_n", type=int, default=4096)
    parser.add_argument("--output", default="benchmarks/results/training.json")
    args = parser.parse_args(argv)
    stages = [s for s in args.stages.split(",") if s]
    precisions = mixed_precisions(args.mixed_precision, hardware.native_half_precisions())
    jits = [j for j in args.jit_compile.split(",") if j]
    if set(stages) - set(STAGES) or set(precisions) - set(PRECISIONS):
        parser.error(f"--stages from {STAGES}, --mixed_precision from {PRECISIONS} or auto alone")
    if not jits or set(jits) - {"false", "true"}:
        parser.error("--jit_compile: false and/or true")
    report = run(
        stages,
        [(p, j == "true") for p in precisions for j in jits],
        args.batch_size,
        args.hr_size,
        args.steps,
        args.model,
        args.matmul_n,
        args.degradation,
        [int(n) for n in args.steps_per_loop.split(",") if n],
        args.loop_steps,
    )
    timing.write_json(report, args.output)
    print(markdown(report))
    return report


if __name__ == "__main__":
    sys.exit(0 if main() else 1)
