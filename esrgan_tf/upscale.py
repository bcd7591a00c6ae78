r"""python -m esrgan_tf.upscale --weights=PATH --input=a.png,photos/,clip.mp4 --output_dir=OUT

Super-resolves image and video files with a trained generator (any weights form: a training
run, .weights.h5, .pth / .safetensors, ncnn .param, zoo:<name>, an export), tile by tile
within --max_memory, exactly as untiled. Thin driver: flags -> `UpscaleConfig` ->
`esrgan_tf.inference.upscaling.run` (modes, alpha, metadata, outscale, precision, seamless,
naming: see there; videos: `esrgan_tf.inference.video`). A failing or skipped file is
reported with its reason and the rest still run; the exit status is 1 if any file failed.

  python -m esrgan_tf.upscale --weights=zoo:realesrgan-x4plus --input=photos/ --output_dir=up \
      --outscale=2 --ext=jpg --quality=92
  python -m esrgan_tf.upscale --weights=zoo:realesr-animevideov3 --input=clip.mp4 \
      --output_dir=up --crf=20
"""

import sys

from esrgan_tf import cli
from esrgan_tf.inference.config import UpscaleConfig


def main(config):
    # The library loads TensorFlow: imported once the flags are parsed (a quick --help).
    from esrgan_tf.inference import upscaling

    outputs, failures = upscaling.run(config)
    # The per-file FAILED lines came as they happened; the summary names them again.
    print(
        f"upscale: {len(outputs)} written to {config.output_dir}, {len(failures)} failed"
        + (": " + ", ".join(path for path, _ in failures) if failures else ""),
        file=sys.stderr,
    )
    return 1 if failures else 0


if __name__ == "__main__":
    cli.run(UpscaleConfig, main)
