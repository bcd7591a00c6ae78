"""Real-ESRGAN degradation throughput in tf.data, patches/s.

  python -m benchmarks.speed.degradations --hr_size=256 --scale=4 --batch_size=16 --seconds=30 \\
      --output=benchmarks/results/degradations.json

`esrgan_tf.data.degradations.degrade` (Real-ESRGAN x4plus settings) as a tf.data map
function with one stateless seed per example, `num_parallel_calls=AUTOTUNE`, batched and
prefetched, on HR patches held in memory (random crops of the scikit-image sample photos), so
the number is the degradation's own cost, without file reading or decoding. Also the median
time of each step on one patch in a `tf.function`, to show where the time goes. A warm-up
(tracing, tf.data autotuning) is excluded.
"""

import argparse
import os
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

from benchmarks import timing  # noqa: E402
from esrgan_tf import hardware
from esrgan_tf.data import degradations, image_io, sources  # noqa: E402


def hr_patches(hr_size, count, seed=0):
    """`count` random hr_size crops of the scikit-image photos, float32 [N, H, W, 3]."""
    rng = np.random.default_rng(seed)
    photos = [image_io.to_rgb(pixels) for _, pixels in sources.skimage_photos()]
    photos = [p for p in photos if min(p.shape[:2]) >= hr_size]
    crops = []
    for i in range(count):
        photo = photos[i % len(photos)]
        y = rng.integers(0, photo.shape[0] - hr_size + 1)
        x = rng.integers(0, photo.shape[1] - hr_size + 1)
        crop = photo[y : y + hr_size, x : x + hr_size]
        crops.append(crop.astype(np.float32) / np.float32(np.iinfo(crop.dtype).max))
    return np.stack(crops)


def dataset(patches, scale, batch_size, seed=0):
    ds = tf.data.Dataset.from_tensor_slices(patches).repeat()
    counter = tf.data.Dataset.counter().map(lambda i: tf.stack([tf.constant(seed, tf.int64), i]))
    ds = tf.data.Dataset.zip((ds, counter)).map(
        lambda hr, s: degradations.degrade(hr, s, scale),
        num_parallel_calls=tf.data.AUTOTUNE,
        deterministic=True,
    )
    return ds.batch(batch_size, drop_remainder=True).prefetch(tf.data.AUTOTUNE)


def measure(patches, scale, batch_size, seconds, warmup_seconds):
    iterator = iter(dataset(patches, scale, batch_size))
    start = time.perf_counter()
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
        "patches_per_second": batches * batch_size / elapsed,
        "batches": batches,
        "seconds": elapsed,
    }


def step_times(hr, scale, runs):
    """Median ms of each step on one HR patch (a `tf.function` each)."""
    hr = tf.constant(hr)
    seed = tf.constant([1, 2], tf.int64)
    kernel = degradations.gaussian_kernel(21, 2.0, 1.0, 0.5)
    lr = tf.image.resize(hr, [hr.shape[0] // scale, hr.shape[1] // scale], method="area")
    gray, color = tf.constant(True), tf.constant(False)
    steps = {
        "sample_degradation": lambda: degradations.sample_degradation(seed),
        "usm_sharpen (HR)": lambda: degradations.usm_sharpen(hr),
        "filter2d 21x21 (HR)": lambda: degradations.filter2d(hr, kernel),
        "gaussian noise (HR)": lambda: degradations.add_gaussian_noise(hr, seed, 10.0, color),
        "poisson noise, colour (HR)": lambda: degradations.add_poisson_noise(hr, seed, 1.0, color),
        "poisson noise, gray (HR)": lambda: degradations.add_poisson_noise(hr, seed, 1.0, gray),
        "jpeg (HR)": lambda: degradations.jpeg(hr, tf.constant(50)),
        "jpeg (LR)": lambda: degradations.jpeg(lr, tf.constant(50)),
        "resize bicubic (HR -> HR x 1.5)": lambda: degradations.resize(
            hr, tf.constant([hr.shape[0] * 3 // 2] * 2), tf.constant(2)
        ),
    }
    degrade = tf.function(lambda s: degradations.degrade(hr, s, scale))
    seeds = iter(range(10**6))
    steps["degrade (one patch, a new seed each call)"] = lambda: degrade(
        tf.constant([3, next(seeds)], tf.int64)
    )
    results = {}
    for name, fn in steps.items():
        fn = fn if name.startswith("degrade") else tf.function(fn)
        times = timing.time_calls(lambda fn=fn: tf.nest.map_structure(np.asarray, fn()), runs)
        results[name] = 1000 * timing.summary(times)["median_s"]
    return results


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--hr_size", type=int, default=256)
    parser.add_argument("--scale", type=int, default=4)
    parser.add_argument("--batch_size", type=int, default=16)
    parser.add_argument("--num_patches", type=int, default=64)
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--warmup_seconds", type=float, default=10.0)
    parser.add_argument("--step_runs", type=int, default=20)
    parser.add_argument("--output", default="benchmarks/results/degradations.json")
    args = parser.parse_args(argv)
    load_average = timing.load_average()

    patches = hr_patches(args.hr_size, args.num_patches)
    results = {
        "tf_data": measure(patches, args.scale, args.batch_size, args.seconds, args.warmup_seconds),
        "step_median_ms": step_times(patches[0], args.scale, args.step_runs),
    }
    settings = {
        "hr_size": args.hr_size,
        "scale": args.scale,
        "batch_size": args.batch_size,
        "num_patches": args.num_patches,
        "seconds": args.seconds,
        "warmup_seconds": args.warmup_seconds,
        "config": "REAL_ESRGAN_X4PLUS",
    }
    report = timing.report("degradations", settings, results, load_average)
    report["load_average_1min_after"] = timing.load_average()
    timing.write_json(report, args.output)
    hw = report["hardware"]
    print(
        f"{results['tf_data']['patches_per_second']:.1f} patches/s ({args.hr_size} px HR, "
        f"x{args.scale}, batch {args.batch_size}) on {hardware.label(hw)}, "
        f"load before {load_average}"
    )
    for name, ms in results["step_median_ms"].items():
        print(f"  {name}: {ms:.1f} ms")
    return report


if __name__ == "__main__":
    main()
