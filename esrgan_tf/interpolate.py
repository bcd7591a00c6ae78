"""python -m esrgan_tf.interpolate --psnr=A --gan=B --alpha=0.8 --output=C.weights.h5
    [--alphas=0,0.2,0.4,0.6,0.8,1 --image=photo.png --strip=strip.png]
    [--val_dir=data/quickstart/val_hr --sweep_dir=results/sweep]

Network interpolation (ESRGAN §3.4): theta = (1 - alpha) theta_PSNR + alpha theta_GAN, a
strip of one photo at each alpha (like ESRGAN Fig. 10), and the perception-distortion plane
of the alphas on HR images (PSNR-Y against NIQE: perception_distortion.csv and .png). Thin
driver: flags -> `InterpolateConfig` -> `esrgan_tf.inference.interpolation.run`.
"""

from esrgan_tf import cli
from esrgan_tf.inference.config import InterpolateConfig


def main(config):
    # The library loads TensorFlow: imported once the flags are parsed (a quick --help).
    from esrgan_tf.inference import interpolation

    interpolation.run(config)


if __name__ == "__main__":
    cli.run(InterpolateConfig, main)
