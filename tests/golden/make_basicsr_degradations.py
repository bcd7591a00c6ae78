"""Writes basicsr_1.4.2_degradations.npz: BasicSR 1.4.2's own outputs for the cases that
tests/data/test_degradations.py checks `esrgan_tf.data.degradations` against.

BasicSR is the code Real-ESRGAN trains with; its degradation functions need torch and OpenCV,
which the suite does not, so their outputs are recorded once, here. Run from the repository
root (numpy, scipy, torch, opencv-python and scikit-image installed):

    pip download basicsr==1.4.2 --no-deps --no-binary :all: -d /tmp/bsr
    tar xzf /tmp/bsr/basicsr-1.4.2.tar.gz -C /tmp/bsr
    python tests/golden/make_basicsr_degradations.py /tmp/bsr/basicsr-1.4.2

The sdist's sha256 and the versions used are written to basicsr_1.4.2_degradations.json.
BasicSR's `degradations.py` imports torchvision only for `rgb_to_grayscale`, which is stood in
for with torchvision's own formula (0.2989 R + 0.587 G + 0.114 B).
"""

import hashlib
import importlib.util
import json
import math
import os
import sys
import types

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
NAME = "basicsr_1.4.2_degradations"
# size, sigma_x, sigma_y (nan: isotropic), theta, beta
KERNEL_CASES = np.array(
    [
        (7, 0.2, np.nan, 0.0, 0.5),
        (7, 1.3, np.nan, 0.0, 2.0),
        (13, 2.1, 0.6, 0.7, 1.5),
        (15, 0.4, 3.0, -2.9, 0.8),
        (21, 3.0, 1.1, math.pi / 2, 4.0),
    ]
)
SINC_CASES = np.array([(7, 1.2, 21), (15, 0.7, 0), (21, math.pi, 21)])  # size, omega_c, pad_to
FILTER_KERNEL = (21, 2.5, 0.9, 0.4)  # an anisotropic Gaussian: size, sigma_x, sigma_y, theta


def load(directory, relative):
    spec = importlib.util.spec_from_file_location(relative, os.path.join(directory, relative))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def levels_image(num_levels, flat_level=100, rows=64, width=256):
    """Row 0 holds 8-bit levels 0..num_levels-1 (repeated), the rest is flat_level."""
    image = np.full((rows, width, 3), flat_level, np.float32)
    image[0] = (np.arange(width) % num_levels)[:, None]
    return image / 255.0


def main(directory):
    import skimage.data
    import torch

    functional_tensor = types.ModuleType("torchvision.transforms.functional_tensor")
    functional_tensor.rgb_to_grayscale = lambda img, num_output_channels=1: (
        0.2989 * img[:, 0:1] + 0.587 * img[:, 1:2] + 0.114 * img[:, 2:3]
    )
    sys.modules.update(
        {
            "torchvision": types.ModuleType("torchvision"),
            "torchvision.transforms": types.ModuleType("torchvision.transforms"),
            "torchvision.transforms.functional_tensor": functional_tensor,
        }
    )
    deg = load(directory, "basicsr/data/degradations.py")
    process = load(directory, "basicsr/utils/img_process_util.py")

    out = {"kernel_cases": KERNEL_CASES, "sinc_cases": SINC_CASES}
    gaussian, generalized, plateau = [], [], []
    for size, sx, sy, theta, beta in KERNEL_CASES:
        iso = bool(np.isnan(sy))
        sy, theta = (sx, 0.0) if iso else (sy, theta)
        size = int(size)
        gaussian.append(deg.bivariate_Gaussian(size, sx, sy, theta, isotropic=iso))
        generalized.append(
            deg.bivariate_generalized_Gaussian(size, sx, sy, theta, beta, isotropic=iso)
        )
        plateau.append(deg.bivariate_plateau(size, sx, sy, theta, beta, isotropic=iso))
    kinds = {"gaussian": gaussian, "generalized": generalized, "plateau": plateau}
    for name, kernels in kinds.items():
        for i, k in enumerate(kernels):
            out[f"{name}_{i}"] = np.asarray(k, np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):  # BasicSR divides 0 / 0 at r = 0
        for i, (size, omega_c, pad_to) in enumerate(SINC_CASES):
            out[f"sinc_{i}"] = deg.circular_lowpass_kernel(omega_c, int(size), pad_to=int(pad_to))

    photo = skimage.data.astronaut().astype(np.float32) / 255.0
    image = np.ascontiguousarray(photo[120:170, 150:190])  # 50 x 40
    size, sx, sy, theta = FILTER_KERNEL
    kernel = deg.bivariate_Gaussian(size, sx, sy, theta, isotropic=False).astype(np.float32)
    to_torch = lambda a: torch.from_numpy(a.transpose(2, 0, 1)[None].copy())  # noqa: E731
    out["filter_input"], out["filter_kernel"] = image, kernel
    out["filter_output"] = (
        process.filter2D(to_torch(image), torch.from_numpy(kernel)[None])[0]
        .numpy()
        .transpose(1, 2, 0)
    )
    usm_input = np.ascontiguousarray(photo[120:184, 150:214])  # 64 x 64
    out["usm_input"] = usm_input
    out["usm_output"] = process.USMSharp()(to_torch(usm_input))[0].numpy().transpose(1, 2, 0)

    # Noise: the standard deviations BasicSR's noise reaches (its draws are torch's).
    image = levels_image(129)  # 256 levels' grid: vals = 256
    image[1:, 128:] = (0.8, 0.4, 0.2)
    batch = to_torch(image)
    stds = []
    for gray in (0.0, 1.0):
        torch.manual_seed(0)
        noise = deg.generate_poisson_noise_pt(batch, scale=1.5, gray_noise=torch.tensor([gray]))
        noise = noise[0].numpy().transpose(1, 2, 0)
        gaussian_noise = deg.generate_gaussian_noise_pt(
            batch, sigma=torch.tensor([12.0]), gray_noise=torch.tensor([gray])
        )[0].numpy()
        stds.append((noise[1:, :128].std(), noise[1:, 128:].std(), gaussian_noise.std()))
    out["noise_std"] = np.array(stds)  # [gray 0/1][poisson left, poisson right, gaussian 12]

    np.savez_compressed(os.path.join(HERE, NAME + ".npz"), **out)
    sdist = os.path.join(os.path.dirname(directory), "basicsr-1.4.2.tar.gz")
    digest = None
    if os.path.isfile(sdist):
        with open(sdist, "rb") as f:
            digest = hashlib.sha256(f.read()).hexdigest()
    import cv2
    import scipy

    provenance = {
        "reference": "BasicSR 1.4.2 (PyPI sdist), basicsr/data/degradations.py and "
        "basicsr/utils/img_process_util.py",
        "sdist_sha256": digest,
        "command": "python tests/golden/make_basicsr_degradations.py <basicsr-1.4.2 folder>",
        "versions": {
            "numpy": np.__version__,
            "scipy": scipy.__version__,
            "torch": torch.__version__,
            "opencv": cv2.__version__,
        },
        "inputs": "scikit-image's astronaut: rows 120:170, cols 150:190 (filter2D) and rows "
        "120:184, cols 150:214 (USMSharp), float32 / 255; the noise image of levels_image(129)",
    }
    with open(os.path.join(HERE, NAME + ".json"), "w", encoding="utf-8") as f:
        json.dump(provenance, f, indent=1)
        f.write("\n")


if __name__ == "__main__":
    main(sys.argv[1])
