"""python -m benchmarks.studies.real_world: does training on Real-ESRGAN's degradations pay off on
degraded photos? A small, re-runnable measurement on the built-in photos.

  python -m benchmarks.studies.real_world --output=benchmarks/results/real_world.json

On the quickstart data (`--data`, prepared from the built-in colour photos when missing, as
the quickstart does: 5 photos for training, rocket, coffee, chelsea and grace_hopper held
out), a tiny RRDBNet (32 features, 4 RRDBs, growth 16: the quickstart's until 2026-12) is
first trained with L1 on bicubic LR (`--base_steps`).
From that one checkpoint, three fine-tunes of `--steps` each, same rate and batch:

  bicubic          the same bicubic LR (the control: as many steps, no new data model);
  realesrgan       `--degradation=realesrgan` (Real-ESRGAN x4plus's degradations on the fly);
  realesrgan+usm   the same with `--usm_target` (L1 against the USM-sharpened HR, Real-ESRNet).

Each model and the bicubic upscale are scored on the held-out photos, PSNR / SSIM on Y with
crop 4 against the plain HR, for two inputs: the clean MATLAB-bicubic LR, and a degraded LR
made from it with a fixed seed: Gaussian noise (sigma `--noise_sigma` / 255, per channel)
then JPEG at `--jpeg_quality` (libjpeg, 4:2:0) -- a degradation of the kind the Real-ESRGAN
model draws from, though not one of its draws. No EMA: over a few hundred steps an EMA of
0.999 would still be mostly the starting model.
"""

import argparse
import dataclasses
import os
import sys
import tempfile
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

from benchmarks import timing  # noqa: E402
from esrgan_tf.data import degradations, preparation  # noqa: E402
from esrgan_tf.data.config import TrainDataConfig  # noqa: E402
from esrgan_tf.data.image_pairs import bicubic_upscale, load_pairs  # noqa: E402
from esrgan_tf.metrics import psnr_ssim  # noqa: E402
from esrgan_tf.models.config import ModelConfig  # noqa: E402
from esrgan_tf.training import loop, stages  # noqa: E402
from esrgan_tf.training.config import LossConfig, TrainConfig  # noqa: E402

SCALE = 4
VARIANTS = ("bicubic", "realesrgan", "realesrgan+usm")


def degraded_lr(lr, seed, sigma, quality):
    """Gaussian noise of `sigma` (0..255 scale) then a JPEG round trip, from a fixed seed."""
    noisy = degradations.add_gaussian_noise(
        tf.constant(lr), tf.constant([seed, 0], tf.int64), sigma, tf.constant(False)
    )
    return degradations.jpeg(noisy, tf.constant(quality)).numpy()


def score(upscale, pairs):
    """Mean PSNR-Y / SSIM-Y (crop = scale) of `upscale(lr)` over the (lr, hr) pairs."""
    values = [psnr_ssim.evaluate_pair(upscale(lr), hr, SCALE) for lr, hr in pairs]
    return {k: float(np.mean([v[k] for v in values])) for k in ("psnr_y", "ssim_y")}


def model_upscale(generator):
    def upscale(lr):
        return np.clip(generator(lr[None], training=False)[0].numpy(), 0.0, 1.0)

    return upscale


def train(config):
    start = time.perf_counter()
    controller = loop.train(config)
    return controller.trainer.generator, time.perf_counter() - start


def run(args):
    load = timing.load_average()
    if not os.path.exists(os.path.join(args.data, preparation.MANIFEST_FILE)):
        stages.prepare_builtin_if_missing("photos", args.data, holdout=4)  # as the quickstart
    model = ModelConfig(num_feat=args.num_feat, num_block=args.num_block, num_grow_ch=16)
    data = TrainDataConfig(
        data=args.data,
        hr_size=args.hr_size,
        batch_size=args.batch_size,
        seed=args.seed,
        shuffle_buffer=128,
    )
    common = dict(model=model, loss=LossConfig(pixel_loss="l1"), log_every=50)
    common.update(checkpoint_every=10**6, keep_checkpoints=1)
    workdir = args.workdir or tempfile.mkdtemp(prefix="esrgan_tf_real_world_")
    base = TrainConfig(
        workdir=os.path.join(workdir, "base"),
        input=data,
        total_steps=args.base_steps,
        lr_g=5e-4,
        lr_milestones=(args.base_steps * 2 // 3,),
        **common,
    )
    generators, seconds = {}, {}
    generators["base"], seconds["base"] = train(base)
    for variant in VARIANTS:
        variant_data = data
        if variant != "bicubic":
            variant_data = dataclasses.replace(
                data, degradation="realesrgan", usm_target=variant.endswith("usm")
            )
        config = TrainConfig(
            workdir=os.path.join(workdir, variant.replace("+", "_")),
            input=variant_data,
            total_steps=args.steps,
            lr_g=2e-4,
            init_checkpoint=base.workdir,
            **common,
        )
        generators[variant], seconds[variant] = train(config)

    pairs = [(p.lr, p.hr) for p in load_pairs(os.path.join(args.data, "val_hr"), SCALE)]
    inputs = {
        "clean": pairs,
        "degraded": [
            (degraded_lr(lr, args.seed + i, args.noise_sigma, args.jpeg_quality), hr)
            for i, (lr, hr) in enumerate(pairs)
        ],
    }
    rows = {
        "bicubic upscale": {
            k: score(lambda x: bicubic_upscale(x, SCALE), v) for k, v in inputs.items()
        }
    }
    for name in ("base",) + VARIANTS:
        upscale = model_upscale(generators[name])
        rows[name] = {k: score(upscale, v) for k, v in inputs.items()}
    settings = {
        "data": args.data,
        "model": dataclasses.asdict(model),
        "base_steps": args.base_steps,
        "steps": args.steps,
        "batch_size": args.batch_size,
        "hr_size": args.hr_size,
        "noise_sigma": args.noise_sigma,
        "jpeg_quality": args.jpeg_quality,
        "seed": args.seed,
        "validation": sorted(os.listdir(os.path.join(args.data, "val_hr"))),
    }
    results = {"rows": rows, "train_seconds": seconds}
    return timing.report("real_world", settings, results, load)


def markdown(report):
    s, r = report["settings"], report["results"]
    names = {
        "bicubic upscale": "bicubic upscale (MATLAB)",
        "base": f"base: bicubic LR, {s['base_steps']} steps",
        "bicubic": f"base + {s['steps']} steps on bicubic LR",
        "realesrgan": f"base + {s['steps']} steps, `--degradation=realesrgan`",
        "realesrgan+usm": f"base + {s['steps']} steps, `--degradation=realesrgan --usm_target`",
    }
    rows = [
        [
            names[name],
            f"{v['clean']['psnr_y']:.2f} / {v['clean']['ssim_y']:.4f}",
            f"{v['degraded']['psnr_y']:.2f} / {v['degraded']['ssim_y']:.4f}",
            f"{r['train_seconds'][name]:.0f} s" if name in r["train_seconds"] else "-",
        ]
        for name, v in r["rows"].items()
    ]
    return timing.table(
        [
            "model",
            "clean bicubic LR: PSNR-Y / SSIM-Y",
            f"noise {s['noise_sigma']:g} + JPEG {s['jpeg_quality']}: PSNR-Y / SSIM-Y",
            "training",
        ],
        rows,
    )


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--data", default="data/quickstart")
    parser.add_argument("--workdir", default="", help="keep the runs here (default: a temp dir)")
    parser.add_argument("--base_steps", type=int, default=600)
    parser.add_argument("--steps", type=int, default=400)
    parser.add_argument("--batch_size", type=int, default=8)
    parser.add_argument("--hr_size", type=int, default=96)
    parser.add_argument("--num_feat", type=int, default=32)
    parser.add_argument("--num_block", type=int, default=4)
    parser.add_argument("--noise_sigma", type=float, default=10.0)
    parser.add_argument("--jpeg_quality", type=int, default=50)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--output", default="benchmarks/results/real_world.json")
    args = parser.parse_args(argv)
    report = run(args)
    timing.write_json(report, args.output)
    print(markdown(report))
    return report


if __name__ == "__main__":
    sys.exit(0 if main() else 1)
