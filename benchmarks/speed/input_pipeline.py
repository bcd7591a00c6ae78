"""python -m benchmarks.speed.input_pipeline: training input pipeline throughput, in HR patches/s.

  python -m benchmarks.speed.input_pipeline --shards=data/DF2K_sub --hr_size=128 --scale=4 \
      --batch_size=16 --seconds=20 --output=benchmarks/results/input_pipeline.json

Runs `esrgan_tf.data.pipeline.train_dataset` as the trainer does (same config, same map
functions) with nothing consuming the batches, so the number is an upper bound on the images/s
the input can feed a model. Two modes: LR made from each HR crop on the fly (`imresize_tf`), and
LR read from the shards (only when their manifest stores LR at ``--scale``). A warm-up (filling
the shuffle buffer, tf.data autotuning) is excluded from the timing.

Without ``--shards`` a temporary shard set is built from the scikit-image sample photos: 480x480
sub-images every 240 px (ESRGAN's DIV2K recipe, see `esrgan_tf.data.subimages`) with stored LR,
so the benchmark runs offline.
"""

import argparse
import datetime
import json
import os
import sys
import tempfile
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import tensorflow as tf  # noqa: E402

from esrgan_tf import hardware  # noqa: E402
from esrgan_tf.data import image_io, pipeline, records, sources, subimages  # noqa: E402
from esrgan_tf.data.config import TrainDataConfig  # noqa: E402

MODES = ("lr_on_the_fly", "stored_lr")


def build_sample_shards(output_dir, scale, crop_size=480, step=240, num_shards=4, max_sub_images=0):
    """Writes the scikit-image sample photos' sub-images (with LR at ``scale``) as shards.

    Returns the number of records written; ``max_sub_images=0`` means all of them.
    """
    os.makedirs(output_dir, exist_ok=True)
    writers = [
        tf.io.TFRecordWriter(
            os.path.join(output_dir, f"train-{k:05d}-of-{num_shards:05d}.tfrecord")
        )
        for k in range(num_shards)
    ]
    count = 0
    try:
        for source, pixels in sources.skimage_photos():
            rgb = image_io.to_rgb(pixels)
            for y in subimages.window_positions(rgb.shape[0], crop_size, step):
                for x in subimages.window_positions(rgb.shape[1], crop_size, step):
                    if max_sub_images and count >= max_sub_images:
                        return count
                    hr = rgb[y : y + crop_size, x : x + crop_size]
                    example = records.make_example(
                        image_io.encode_png(hr),
                        source=source,
                        y=y,
                        x=x,
                        lr_png=image_io.encode_png(subimages.downscale(hr, scale)),
                        lr_scale=scale,
                    )
                    writers[count % num_shards].write(example.SerializeToString())
                    count += 1
    finally:
        for writer in writers:
            writer.close()
        with open(os.path.join(output_dir, "manifest.json"), "w", encoding="utf-8") as f:
            json.dump(
                {
                    "settings": {"lr_scale": scale, "crop_size": crop_size, "step": step},
                    "totals": {"records": count},
                },
                f,
            )
    return count


def measure(config, scale, seconds, warmup_seconds):
    """Batches/s and patches/s of `train_dataset(config, scale)` over ``seconds`` after a
    warm-up."""
    iterator = iter(pipeline.train_dataset(config, scale))
    start = time.perf_counter()
    next(iterator)  # the first batch fills the shuffle buffer
    first_batch = time.perf_counter() - start
    while time.perf_counter() - start < warmup_seconds:
        next(iterator)
    batches = 0
    start = time.perf_counter()
    while True:
        next(iterator)
        batches += 1
        elapsed = time.perf_counter() - start
        if elapsed >= seconds:
            break
    return {
        "patches_per_second": batches * config.batch_size / elapsed,
        "batches_per_second": batches / elapsed,
        "batches": batches,
        "seconds": elapsed,
        "first_batch_seconds": first_batch,
    }


def markdown_row(report):
    """One row of the README's input-pipeline table (header: `MARKDOWN_HEADER`)."""
    s, h = report["settings"], report["hardware"]
    rates = [report["results"][m].get("patches_per_second") for m in MODES]
    cells = [f"{r:.0f}" if r is not None else "n/a" for r in rates]
    return (
        f"| {report['date'][:10]} | {hardware.label(h)} | TF {h['tensorflow']}"
        f" | {s['hr_size']} / x{s['scale']} / {s['batch_size']} | {cells[0]} | {cells[1]} |"
    )


MARKDOWN_HEADER = (
    "| date | hardware | TF | HR patch / scale / batch | LR on the fly (patches/s)"
    " | stored LR (patches/s) |\n|---|---|---|---|---|---|"
)


def run(shards, hr_size, scale, batch_size, seconds, warmup_seconds, seed=0, load_average=None):
    """Measures both modes on ``shards``; returns the report (a JSON-able dict)."""
    stored = pipeline.stored_lr_scale(shards)
    results = {}
    for mode in MODES:
        if mode == "stored_lr" and stored != scale:
            results[mode] = {
                "skipped": f"the shards' manifest stores LR at scale {stored}, not {scale}"
            }
            continue
        config = TrainDataConfig(
            data=shards,
            hr_size=hr_size,
            batch_size=batch_size,
            seed=seed,
            use_stored_lr=mode == "stored_lr",
        )
        results[mode] = measure(config, scale, seconds, warmup_seconds)
    defaults = TrainDataConfig(data=shards)
    return {
        "benchmark": "input_pipeline",
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "hardware": hardware.describe(load_average),
        "settings": {
            "shards": shards,
            "num_files": len(pipeline.shard_files(shards)),
            "hr_size": hr_size,
            "scale": scale,
            "batch_size": batch_size,
            "seconds": seconds,
            "warmup_seconds": warmup_seconds,
            "shuffle_buffer": defaults.shuffle_buffer,
            "cycle_length": defaults.cycle_length,
            "augment": defaults.augment,
        },
        "results": results,
    }


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument(
        "--shards",
        default="",
        help="prepare output dir or shard glob; empty: build from skimage photos",
    )
    parser.add_argument("--hr_size", type=int, default=128)
    parser.add_argument("--scale", type=int, default=4)
    parser.add_argument("--batch_size", type=int, default=16)
    parser.add_argument("--seconds", type=float, default=20.0, help="timed seconds per mode")
    parser.add_argument("--warmup_seconds", type=float, default=5.0)
    parser.add_argument("--output", default="benchmarks/results/input_pipeline.json")
    args = parser.parse_args(argv)
    load_average = os.getloadavg()[0] if hasattr(os, "getloadavg") else None

    with tempfile.TemporaryDirectory(prefix="esrgan_tf_bench_") as tmp:
        shards, built = args.shards, None
        if not shards:
            shards = os.path.join(tmp, "skimage_sub")
            built = build_sample_shards(shards, args.scale)
            print(
                f"built {built} sub-images of the scikit-image photos in {shards}", file=sys.stderr
            )
        report = run(
            shards,
            args.hr_size,
            args.scale,
            args.batch_size,
            args.seconds,
            args.warmup_seconds,
            load_average=load_average,
        )
    if built is not None:
        report["settings"]["shards"] = "skimage sample photos, 480/240 sub-images (built)"
        report["settings"]["num_records"] = built
    if os.path.dirname(args.output):
        os.makedirs(os.path.dirname(args.output), exist_ok=True)
    with open(args.output, "w", encoding="utf-8") as f:
        json.dump(report, f, indent=2)
        f.write("\n")
    print(MARKDOWN_HEADER)
    print(markdown_row(report))
    return report


if __name__ == "__main__":
    main()
