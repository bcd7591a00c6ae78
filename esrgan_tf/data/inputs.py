"""A command's comma-separated inputs (files, folders, globs) -> the media files they name.

`upscale --input` and `degrade --input` take the same list: a folder gives its image and video
files (not recursive), a glob its matching files, a file itself; everything else is reported
with the reason it was not taken, never silently dropped.
"""

import glob
import os

from esrgan_tf.data import image_io

VIDEO_EXTENSIONS = (".mp4", ".mkv", ".mov", ".webm", ".avi", ".m4v")
_GLOB_CHARS = "*?["


def is_video_file(name):
    return name.lower().endswith(VIDEO_EXTENSIONS) and not os.path.basename(name).startswith(".")


def is_media_file(name):
    return image_io.is_image_file(name) or is_video_file(name)


def expand_inputs(inputs):
    """Files of comma-separated items -> (sorted unique files, [(item, reason)] not taken).

    A folder gives its image and video files; its other files are listed with the reason.
    """
    files, skipped, seen = [], [], set()
    for item in inputs:
        if os.path.isdir(item):
            names = sorted(n for n in os.listdir(item) if os.path.isfile(os.path.join(item, n)))
            found = [os.path.join(item, n) for n in names if is_media_file(n)]
            skipped += [
                (os.path.join(item, n), "not an image or video file (by its extension)")
                for n in names
                if os.path.join(item, n) not in found and not n.startswith(".")
            ]
            if not found:
                skipped.append((item, "no image or video files in this folder"))
        elif any(c in item for c in _GLOB_CHARS):
            found = sorted(p for p in glob.glob(item) if os.path.isfile(p))
            if not found:
                skipped.append((item, "no file matches this pattern"))
        else:
            found = [item] if os.path.isfile(item) else []
            if not found:
                skipped.append((item, "no such file"))
        files.extend(p for p in found if p not in seen)
        seen.update(found)
    return files, skipped


def expand_images(inputs):
    """`expand_inputs` keeping image files only: (images, [(item, reason)] not taken)."""
    files, skipped = expand_inputs(inputs)
    images = [f for f in files if image_io.is_image_file(f)]
    return images, skipped + [(f, "not an image file") for f in files if f not in images]
