"""Upscaling videos: frames through the same upscaler as photos, audio and timing kept.

PyAV (the `av` package, which bundles FFmpeg in its wheel) decodes the input; frames go
through the upscaler in batches, are encoded with the chosen codec and CRF, and get their
input timestamps, so that frame count, frame timing (constant or variable) and duration are
the input's. Audio (and subtitle) packets are copied unchanged. The output is written to a
temporary file beside the destination and renamed into place when complete: an interrupted
run never leaves a half-written video under the final name.
"""

import os

from absl import logging
import numpy as np
from tqdm import tqdm

from esrgan_tf import atomic

CODECS = ("libx264", "libx265", "libvpx-vp9", "mpeg4")


def errors():
    """The exceptions PyAV raises for unreadable or unwritable media (none without PyAV)."""
    try:
        import av  # pylint: disable=import-outside-toplevel
    except ImportError:
        return ()
    return (av.FFmpegError,)


def _import_av():
    try:
        import av  # pylint: disable=import-outside-toplevel
    except ImportError as e:
        raise ImportError('upscaling videos needs PyAV: pip install av (or -e ".[video]")') from e
    return av


def _even(value):
    return value + value % 2  # yuv420p needs even sizes


def upscale_video(
    upscale_frames, in_path, out_path, codec="libx264", crf=18, frames_per_call=4, progress=True
):
    """Writes the upscaled video of `in_path` to `out_path`; returns the number of frames.

    Args:
        upscale_frames: [HxWx3 uint8 RGB frames] -> [upscaled uint8 frames], all of one size.
        codec: FFmpeg encoder (`CODECS`); crf: its constant rate factor (lower is better).
        frames_per_call: frames handed to `upscale_frames` at a time.
    """
    av = _import_av()
    if codec not in CODECS:
        raise ValueError(f"codec must be one of {CODECS}, got {codec!r}")
    source = av.open(in_path)
    try:
        if not source.streams.video:
            raise ValueError(f"{in_path} has no video stream")
        video_in = source.streams.video[0]
        with atomic.atomic_path(out_path) as tmp:
            written = _transcode(
                av,
                source,
                video_in,
                upscale_frames,
                tmp,
                codec,
                crf,
                frames_per_call,
                progress,
                in_path,
            )
    finally:
        source.close()
    return written


def _transcode(
    av, source, video_in, upscale_frames, tmp, codec, crf, frames_per_call, progress, name
):
    extension = os.path.splitext(tmp)[1].lstrip(".") or "mp4"
    target = av.open(
        tmp, mode="w", format={"m4v": "mp4", "mkv": "matroska"}.get(extension, extension)
    )
    try:
        copied = {}
        for stream in source.streams:
            if stream.type in ("audio", "subtitle"):
                copied[stream.index] = target.add_stream_from_template(stream)
        # The video stream is added at the first upscaled frame (its size is known then),
        # and a container's header is written at its first packet: copied packets wait.
        video_out, pending, waiting, written = None, [], [], 0
        total = video_in.frames or None
        bar = tqdm(total=total, desc=os.path.basename(name), unit="frame", disable=not progress)

        def flush(frames):
            nonlocal video_out, written
            images = upscale_frames([f.to_ndarray(format="rgb24") for f in frames])
            for frame, image in zip(frames, images):
                if video_out is None:
                    video_out = target.add_stream(codec, rate=video_in.average_rate)
                    video_out.width, video_out.height = _even(image.shape[1]), _even(image.shape[0])
                    video_out.pix_fmt = "yuv420p"
                    video_out.time_base = video_in.time_base
                    if codec in ("libx264", "libx265", "libvpx-vp9"):
                        video_out.options = {"crf": str(crf)}
                padded = np.pad(
                    image,
                    (
                        (0, video_out.height - image.shape[0]),
                        (0, video_out.width - image.shape[1]),
                        (0, 0),
                    ),
                    "edge",
                )
                out = av.VideoFrame.from_ndarray(np.ascontiguousarray(padded), format="rgb24")
                out.pts, out.time_base = frame.pts, frame.time_base
                for packet in video_out.encode(out):
                    target.mux(packet)
                written += 1
            while waiting:
                target.mux(waiting.pop(0))
            bar.update(len(frames))

        for packet in source.demux():
            if packet.stream.index in copied:
                if packet.dts is None:
                    continue
                packet.stream = copied[packet.stream.index]
                if video_out is None:
                    waiting.append(packet)
                else:
                    target.mux(packet)
            elif packet.stream.index == video_in.index:
                for frame in packet.decode():
                    pending.append(frame)
                    if len(pending) == frames_per_call:
                        flush(pending)
                        pending = []
        if pending:
            flush(pending)
        if video_out is None:
            raise ValueError(f"{name} holds no decodable video frame")
        for packet in video_out.encode(None):
            target.mux(packet)
        bar.close()
        logging.info("%s: %d frames", name, written)
        return written
    finally:
        target.close()
