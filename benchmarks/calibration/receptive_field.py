"""The context a tile needs, measured on trained weights.

  # ~15 min on 2 cores:
  python -m benchmarks.calibration.receptive_field --weights=zoo:realesrgan-x4plus

For interior 32-px cores of crops of scikit-image photos, the max |window output - untiled
output| (in 1/255) when the core is computed from a window with `pad` LR pixels of context,
for growing pads until it stays below --threshold. The smallest pad that keeps every core
within 1/255 is the effective receptive field that `esrgan_tf.inference.tiling` needs
(`RRDB_CONTEXT`); run it on your own weights before trusting a smaller --tile_pad.
Writes benchmarks/results/receptive_field_<name>.json.
"""

import argparse
import os
import sys

import numpy as np

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

from benchmarks import timing  # noqa: E402
from esrgan_tf.formats import generators  # noqa: E402

PHOTOS = {"coffee": (60, 120), "astronaut": (20, 160), "chelsea": (40, 100)}
CROP = 240
CORE = 32
CENTRES = ((104, 104), (40, 104), (104, 40))
PADS = (8, 16, 24, 32, 40, 48, 56, 64, 72, 80, 96)


def measure(model, scale, threshold, photos=PHOTOS, centres=CENTRES, crop_size=CROP):
    """{photo: {centre: {pad: max diff in 1/255}}}."""
    import skimage.data  # pylint: disable=import-outside-toplevel

    found = {}
    for name, (y, x) in photos.items():
        crop = getattr(skimage.data, name)()[y : y + crop_size, x : x + crop_size]
        image = crop.astype(np.float32) / 255.0
        full = np.clip(np.asarray(model(image[None]))[0], 0, 1)
        for cy, cx in centres:
            key = f"{name}@{cy},{cx}"
            found[key] = {}
            for pad in PADS:
                if min(cy, cx) < pad or max(cy, cx) + CORE + pad > crop_size:
                    break  # the window would leave the crop
                window = image[cy - pad : cy + CORE + pad, cx - pad : cx + CORE + pad]
                out = np.clip(np.asarray(model(window[None]))[0], 0, 1)
                core = out[scale * pad : scale * (pad + CORE), scale * pad : scale * (pad + CORE)]
                ref = full[scale * cy : scale * (cy + CORE), scale * cx : scale * (cx + CORE)]
                found[key][pad] = float(np.abs(core - ref).max() * 255)
                print(f"{key} pad {pad}: {found[key][pad]:.3f}/255", file=sys.stderr, flush=True)
                if found[key][pad] < threshold:
                    break
    return found


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--weights", required=True, help="any weights formats.generators reads")
    parser.add_argument("--threshold", type=float, default=0.25, help="stop below (1/255)")
    parser.add_argument("--output", default="")
    parser.add_argument(
        "--photos",
        default=",".join(f"{n}:{y}:{x}" for n, (y, x) in PHOTOS.items()),
        help="scikit-image photos and the top-left corner of their crop, name:y:x,...",
    )
    parser.add_argument(
        "--centres",
        default=",".join(f"{y}:{x}" for y, x in CENTRES),
        help="top-left corners of the cores in each crop, y:x,...",
    )
    parser.add_argument("--crop", type=int, default=CROP, help="crop side (LR pixels)")
    for name in ("num_feat", "num_block", "num_grow_ch", "scale"):
        parser.add_argument(f"--{name}", type=int, help="architecture of a .weights.h5")
    args = parser.parse_args(argv)
    photos = {n: (int(y), int(x)) for n, y, x in (p.split(":") for p in args.photos.split(","))}
    centres = tuple(tuple(int(v) for v in c.split(":")) for c in args.centres.split(","))
    architecture = {
        name: getattr(args, name)
        for name in ("num_feat", "num_block", "num_grow_ch", "scale")
        if getattr(args, name) is not None
    }
    load = timing.load_average()
    loaded = generators.load(args.weights, architecture)
    model, config = loaded.model, loaded.config
    results = measure(model, config.scale, args.threshold, photos, centres, args.crop)
    # The smallest pad within 1/255 at every core that was measured that far.
    needed = max(
        min((p for p, d in pads.items() if d <= 1.0), default=PADS[-1])
        for pads in results.values()
        if pads
    )
    report = timing.report(
        "receptive_field",
        {"weights": args.weights, "model": str(config), "core": CORE, "crop": args.crop},
        {
            "per_core": results,
            "context_within_1_255": needed,
            "tiling_context": model.descriptor.context,
        },
        load,
    )
    name = args.weights.replace("zoo:", "").replace("/", "_")
    output = args.output or os.path.join("benchmarks", "results", f"receptive_field_{name}.json")
    timing.write_json(report, output)
    print(
        f"{args.weights}: {needed} px of context keep tiles within 1/255 (tiling uses "
        f"{report['results']['tiling_context']})"
    )
    return report


if __name__ == "__main__":
    main()
