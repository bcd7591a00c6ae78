"""Cutting one HR photo into sub-images, with their PNGs: the work of a preparation worker.

Crops follow BasicSR's ``extract_subimages`` (Wang et al., ESRGAN, trained on 480x480 crops of
DIV2K + Flickr2K taken every 240 pixels). `process` runs in worker processes: it needs NumPy and
Pillow only, plus TensorFlow when LR images are wanted (``imresize`` imports it) or a photo is
16-bit.
"""

import dataclasses
import hashlib

import numpy as np

from esrgan_tf import files
from esrgan_tf.data import image_io, sources


def window_positions(size, crop_size, step, thresh_size=0):
    """Crop offsets along one side, as BasicSR's ``extract_subimages``.

    ``range(0, size - crop_size + 1, step)``, plus ``size - crop_size`` when the last window
    stops more than ``thresh_size`` pixels short of the edge; [] when the side is too short.
    """
    if size < crop_size:
        return []
    positions = list(range(0, size - crop_size + 1, step))
    if size - (positions[-1] + crop_size) > thresh_size:
        positions.append(size - crop_size)
    return positions


def sub_image_boxes(height, width, config):
    """(y, x, h, w) of the sub-images of a height x width photo, row by row.

    The windows slide over the photo mod-cropped to ``lr_scale``, so that with a step and
    crop size divisible by it every box lies on the LR grid: its LR is a crop of the LR of
    the whole photo (`process`), as BasicSR cuts DIV2K's HR and LR sub-images. A photo
    whose shorter side is below ``min_size`` has none.
    """
    if min(height, width) < config.min_size:
        return []
    scale = max(config.lr_scale, 1)
    height, width = height - height % scale, width - width % scale
    if config.crop_size == 0:
        return [(0, 0, height, width)] if height and width else []
    c = config.crop_size
    ys = window_positions(height, c, config.step, config.thresh_size)
    xs = window_positions(width, c, config.step, config.thresh_size)
    return [(y, x, c, c) for y in ys for x in xs]


def downscale(hr, scale):
    """MATLAB-bicubic downscale of a uint8/uint16 HxWx3 image by an integer scale, rounded."""
    from esrgan_tf.data.imresize import imresize  # pylint: disable=import-outside-toplevel

    peak = np.iinfo(hr.dtype).max
    lr = imresize(hr.astype(np.float64) / peak, scale=1 / scale)
    # MATLAB's im2uint8 / im2uint16: saturate, round half away from zero.
    return np.floor(np.clip(lr, 0.0, 1.0) * peak + 0.5).astype(hr.dtype)


@dataclasses.dataclass(frozen=True)
class Task:
    """One photo to process: its scan, its pixels if in memory, and which sub-images to encode.

    ``wanted`` lists sub-image numbers (positions in `sub_image_boxes`); the others lie in shards
    finished by an earlier run. A ``holdout`` photo is encoded whole instead.
    """

    index: int
    scan: sources.Scan
    pixels: np.ndarray | None  # None for files, which the worker reads itself
    holdout: bool
    wanted: tuple[int, ...]


@dataclasses.dataclass(frozen=True)
class Result:
    """What became of a `Task`: a skip reason, or the PNGs and the photo's upright size.

    ``pngs`` holds (sub-image number, y, x, HR PNG, LR PNG or None), or for a holdout photo one
    entry with the whole photo.
    """

    index: int
    reason: str
    height: int = 0
    width: int = 0
    bit_depth: int = 0
    pngs: tuple = ()


def _load(task, max_pixels, scan=None):
    """The photo (or `scan`'s file, its LR image) as an RGB array, if it still has the
    checksum it had when scanned."""
    # The manifest's sha256 must describe the pixels that went into the records.
    changed = image_io.UnusableImage("changed: input changed during preparation")
    scan = scan or task.scan
    if scan.path is None:
        pixels = np.asarray(task.pixels)
        if sources.array_sha256(pixels) != scan.sha256:
            raise changed
        return image_io.to_rgb(pixels)
    try:
        data = files.read_bytes(scan.path)
    except OSError as e:
        raise image_io.UnusableImage(f"unreadable: {e}") from None
    if hashlib.sha256(data).hexdigest() != scan.sha256:
        raise changed
    return image_io.decode(data, max_pixels)


def _paired_lr(task, image, scale, max_pixels):
    """The photo's own LR image (LR/HR pairs), checked against the decoded (upright) photo
    and brought to its bit depth; raises `image_io.UnusableImage`."""
    try:
        lr = _load(task, max_pixels, task.scan.lr)
    except image_io.UnusableImage as e:
        raise image_io.UnusableImage(f"{str(e).split(':')[0]} LR image: {e}") from None
    expected = (image.shape[0] // scale, image.shape[1] // scale)
    if lr.shape[:2] != expected:
        raise image_io.UnusableImage(
            f"LR size: {task.scan.lr.path} is {lr.shape[1]}x{lr.shape[0]} upright, the photo "
            f"needs {expected[1]}x{expected[0]} at x{scale}"
        )
    if lr.dtype != image.dtype:  # 8-bit LR of a 16-bit photo, or the other way round
        lr = np.round(
            lr.astype(np.float64) / np.iinfo(lr.dtype).max * np.iinfo(image.dtype).max
        ).astype(image.dtype)
    return lr


def process(task, config):
    """Decodes one photo and PNG-encodes its wanted sub-images (and their LR) → `Result`.

    With ``lr_scale`` the LR of a sub-image is cut from the MATLAB-bicubic LR of the whole
    (mod-cropped) photo, as DIV2K's LR images are made and BasicSR cuts them: only the photo's
    own border is mirror-padded by the bicubic kernel, never a sub-image's. For LR/HR pairs
    (the scan has ``lr``) it is cut from the photo's own LR image instead.

    ``config`` needs crop_size, step, thresh_size, lr_scale, min_size and max_pixels (a
    `PrepareConfig`).
    """
    try:
        image = _load(task, config.max_pixels)
    except image_io.UnusableImage as e:
        return Result(task.index, reason=str(e))
    height, width = image.shape[:2]
    result = Result(task.index, "", height, width, 8 * image.dtype.itemsize)
    if task.holdout:
        return dataclasses.replace(result, pngs=((0, 0, 0, image_io.encode_png(image), None),))
    boxes = sub_image_boxes(height, width, config)
    if len(boxes) != len(sub_image_boxes(task.scan.height, task.scan.width, config)):
        return Result(
            task.index,
            reason=f"corrupt: decoded size {width}x{height} disagrees "
            f"with the header's {task.scan.width}x{task.scan.height}",
        )
    s = config.lr_scale
    whole_lr = None
    if s and task.wanted and task.scan.lr is not None:
        try:
            whole_lr = _paired_lr(task, image, s, config.max_pixels)
        except image_io.UnusableImage as e:
            return Result(task.index, reason=str(e))
    elif s and task.wanted:
        whole_lr = downscale(image[: height - height % s, : width - width % s], s)
    pngs = []
    for j in task.wanted:
        y, x, h, w = boxes[j]
        hr = image[y : y + h, x : x + w]
        lr = None
        if whole_lr is not None:
            lr = image_io.encode_png(whole_lr[y // s : (y + h) // s, x // s : (x + w) // s])
        pngs.append((j, y, x, image_io.encode_png(hr), lr))
    return dataclasses.replace(result, pngs=tuple(pngs))
