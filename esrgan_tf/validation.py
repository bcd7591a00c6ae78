"""Validation during training: HR folder -> (LR, HR) pairs -> PSNR/SSIM and image grids.

Conventions of the literature (DESIGN.md): HR mod-cropped to the scale, LR by
MATLAB-exact bicubic, metrics on the Y channel with crop_border = scale, images
rounded to uint8 before scoring.
"""

import dataclasses
import os

import numpy as np

from esrgan_tf import metrics
from esrgan_tf.data import image_io
from esrgan_tf.data.imresize import imresize

IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".webp", ".bmp", ".tif", ".tiff")
# Validation images are read whole; refuse absurd sizes instead of exhausting memory.
MAX_PIXELS = 100_000_000


@dataclasses.dataclass(frozen=True)
class ValidationImage:
    name: str
    lr: np.ndarray  # h x w x 3 float32 in [0, 1]
    hr: np.ndarray  # (scale*h) x (scale*w) x 3 float32 in [0, 1]


def read_image(path, max_pixels=MAX_PIXELS):
    """Any supported image file -> HxWx3 float32 RGB in [0, 1] (8- or 16-bit sources)."""
    with open(path, "rb") as f:
        pixels = image_io.decode(f.read(), max_pixels)
    return (pixels.astype(np.float32) / np.iinfo(pixels.dtype).max).astype(np.float32)


def mod_crop(image, scale):
    """Crop H and W down to multiples of `scale` (the literature's convention)."""
    h, w = image.shape[0] - image.shape[0] % scale, image.shape[1] - image.shape[1] % scale
    if h == 0 or w == 0:
        raise ValueError(f"image of {image.shape[0]}x{image.shape[1]} is smaller than "
                         f"scale {scale}")
    return image[:h, :w]


def image_files(folder):
    """Sorted image files of a folder (not recursive); clear error if there are none."""
    if not os.path.isdir(folder):
        raise FileNotFoundError(f"validation folder {folder!r} does not exist")
    files = sorted(os.path.join(folder, n) for n in os.listdir(folder)
                   if n.lower().endswith(IMAGE_EXTENSIONS))
    if not files:
        raise FileNotFoundError(f"no images ({', '.join(IMAGE_EXTENSIONS)}) in {folder!r}")
    return files


def _stem(path):
    return os.path.splitext(os.path.basename(path))[0]


def _paired_lr(lr_files, name, scale):
    """The LR file of HR image `name`: same stem, or the stem + 'x4' / '_x4' (DIV2K, Set5)."""
    for candidate in (name, f"{name}x{scale}", f"{name}_x{scale}", f"{name}_LRBI_x{scale}"):
        if candidate in lr_files:
            return lr_files[candidate]
    raise FileNotFoundError(f"no LR image for HR image {name!r} (looked for {name}, "
                            f"{name}x{scale}, {name}_x{scale}, {name}_LRBI_x{scale} with an "
                            "image extension)")


def load_validation_set(hr_dir, scale, limit=0, lr_dir=""):
    """HR images of a folder, mod-cropped, with their LR.

    The LR is made with MATLAB-exact bicubic (the literature's protocol), or read
    from `lr_dir` when given (paired folders; names matched by stem).
    """
    files = image_files(hr_dir)
    if limit:
        files = files[:limit]
    lr_files = {_stem(p): p for p in image_files(lr_dir)} if lr_dir else {}
    images = []
    for path in files:
        hr = mod_crop(read_image(path), scale)
        if lr_dir:
            lr = read_image(_paired_lr(lr_files, _stem(path), scale))
            expected = (hr.shape[0] // scale, hr.shape[1] // scale)
            if lr.shape[:2] != expected:
                raise ValueError(f"LR image of {_stem(path)} is {lr.shape[1]}x{lr.shape[0]}, "
                                 f"expected {expected[1]}x{expected[0]} for x{scale}")
        else:
            lr = np.clip(imresize(hr, 1.0 / scale), 0.0, 1.0).astype(np.float32)
        images.append(ValidationImage(_stem(path), lr, hr))
    return images


def bicubic_upscale(lr, scale):
    """The bicubic baseline: MATLAB imresize upscaling, clipped to [0, 1]."""
    return np.clip(imresize(lr, float(scale)), 0.0, 1.0).astype(np.float32)


def evaluate(generator, images, scale):
    """Super-resolve every image; returns per-image and mean metrics and grids.

    Returns:
        {"mean": {psnr_y, ssim_y, psnr_rgb, ssim_rgb}, "per_image": [(name, dict)],
         "outputs": {name: SR image}, "grids": [(name, LR-bicubic | SR | HR image)]}
    """
    per_image, grids, outputs = [], [], {}
    for image in images:
        sr = np.clip(np.asarray(generator(image.lr[None], training=False))[0], 0.0, 1.0)
        outputs[image.name] = sr
        per_image.append((image.name, metrics.evaluate_pair(sr, image.hr, scale)))
        grids.append((image.name, np.concatenate(
            [bicubic_upscale(image.lr, scale), sr, image.hr], axis=1)))
    keys = per_image[0][1].keys() if per_image else ()
    mean = {k: float(np.mean([m[k] for _, m in per_image])) for k in keys}
    return {"mean": mean, "per_image": per_image, "outputs": outputs, "grids": grids}


def evaluate_bicubic(images, scale):
    """Mean metrics of the bicubic baseline on the same images."""
    results = [metrics.evaluate_pair(bicubic_upscale(im.lr, scale), im.hr, scale)
               for im in images]
    return {k: float(np.mean([r[k] for r in results])) for k in results[0]}
