"""Videos: frames upscaled, frame count, timing and duration kept, audio copied, and an
interrupted run leaves nothing under the output name."""

import fractions
import os

import numpy as np
import pytest
import tensorflow as tf

from esrgan_tf.data import inputs
from esrgan_tf.inference import upscaling, video
from esrgan_tf.inference.config import Tiling, UpscaleConfig

av = pytest.importorskip("av")

FRAMES, FPS, SIZE = 8, 8, (24, 32)  # 1 s of 32x24 video


@pytest.fixture(scope="module")
def clip(tmp_path_factory):
    """An H.264 + AAC mp4: frame i is a gradient shifted by i; audio a 440 Hz tone."""
    path = str(tmp_path_factory.mktemp("video") / "clip.mp4")
    with av.open(path, "w") as out:
        stream = out.add_stream("libx264", rate=FPS)
        stream.width, stream.height, stream.pix_fmt = SIZE[1], SIZE[0], "yuv420p"
        audio = out.add_stream("aac", rate=16000)
        audio.layout = "mono"
        yy, xx = np.mgrid[: SIZE[0], : SIZE[1]]
        for i in range(FRAMES):
            rgb = np.stack([(xx * 8 + i * 16) % 256, yy * 10, np.full(SIZE, 128)], -1)
            frame = av.VideoFrame.from_ndarray(rgb.astype(np.uint8), format="rgb24")
            for packet in stream.encode(frame):
                out.mux(packet)
        for packet in stream.encode(None):
            out.mux(packet)
        samples = (0.3 * np.sin(2 * np.pi * 440 * np.arange(16000) / 16000)).astype(np.float32)
        for start in range(0, 16000, 1024):
            chunk = samples[None, start : start + 1024]
            frame = av.AudioFrame.from_ndarray(chunk, format="flt", layout="mono")
            frame.sample_rate, frame.pts = 16000, start
            frame.time_base = fractions.Fraction(1, 16000)
            for packet in audio.encode(frame):
                out.mux(packet)
        for packet in audio.encode(None):
            out.mux(packet)
    return path


def nearest(x):
    return tf.repeat(tf.repeat(x, 2, axis=1), 2, axis=2)


def describe(path):
    with av.open(path) as container:
        v = container.streams.video[0]
        frames = list(container.decode(v))
        container.seek(0)
        audio = [p for p in container.demux(container.streams.audio[0]) if p.dts is not None]
        return {
            "frames": frames,
            "pts": [f.pts * f.time_base for f in frames],
            "size": (v.height, v.width),
            "audio_packets": len(audio),
            "audio_end": max(p.pts + p.duration for p in audio) * audio[0].time_base,
        }


def run(tmp_path, clip, **kwargs):
    config = UpscaleConfig(
        weights="unused",
        input=(clip,),
        output_dir=str(tmp_path / "out"),
        progress=False,
        tiling=Tiling(tile_pad=0),
        **kwargs,
    )
    return upscaling.run(config, model=nearest, scale=2)


def test_frames_timing_and_audio_are_kept(tmp_path, clip):
    outputs, failures = run(tmp_path, clip, crf=10)
    assert not failures and [os.path.basename(p) for p in outputs] == ["clip_x2.mp4"]
    source, result = describe(clip), describe(outputs[0])
    assert len(result["frames"]) == FRAMES == len(source["frames"])
    assert result["size"] == (2 * SIZE[0], 2 * SIZE[1])
    assert result["pts"] == source["pts"]  # frame timing, hence duration
    assert result["audio_packets"] == source["audio_packets"]  # copied, not re-encoded
    assert result["audio_end"] == source["audio_end"]
    # The pixels are the upscaled frames (to H.264's loss at CRF 10).
    first_in = source["frames"][0].to_ndarray(format="rgb24").astype(np.float64)
    first_out = result["frames"][0].to_ndarray(format="rgb24").astype(np.float64)
    assert np.abs(first_out - np.repeat(np.repeat(first_in, 2, 0), 2, 1)).mean() < 4


def test_an_interrupted_run_leaves_no_output(tmp_path, clip, monkeypatch):
    calls = []

    def fail_on_second(self, frames):
        calls.append(len(frames))
        if len(calls) == 2:
            raise OSError("disk full")
        return [np.zeros((48, 64, 3), np.uint8) for _ in frames]

    monkeypatch.setattr(upscaling.Upscaler, "upscale_frames", fail_on_second)
    outputs, failures = run(tmp_path, clip, frames_per_call=4)
    assert outputs == [] and "disk full" in failures[0][1]
    assert os.listdir(tmp_path / "out") == []  # neither a partial file nor a temporary


def test_video_files_in_folders_and_codecs():
    assert inputs.is_video_file("a.MP4") and not inputs.is_video_file("a.png")
    with pytest.raises(ValueError, match="codec must be one of"):
        video.upscale_video(lambda f: f, "x.mp4", "y.mp4", codec="h263")
