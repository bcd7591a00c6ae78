"""python -m esrgan_tf.evaluate --weights=PATH --datasets=data/Set5/HR,data/Set14/HR
    --output_dir=results/x [--lr_dirs=...] [--save_images] [--tile=256]
    [--noniqe] [--lpips_weights=alexnet-owt-7be5be79.pth [--lpips_net=alex|vgg]]

Benchmarks a generator with the literature's conventions, next to the bicubic baseline:
PSNR/SSIM, NIQE, and LPIPS when its backbone weights are given. Thin driver: flags ->
`EvaluateConfig` -> `esrgan_tf.inference.evaluation.run` (protocol and output files: see
there). Weights: any form `upscale` takes, an exported SavedModel included.
"""

from esrgan_tf import cli
from esrgan_tf.inference.config import EvaluateConfig


def main(config):
    # The library loads TensorFlow: imported once the flags are parsed (a quick --help).
    from esrgan_tf.inference import evaluation

    evaluation.run(config)


if __name__ == "__main__":
    cli.run(EvaluateConfig, main)
