"""The metrics' names that configs choose from (light: no TensorFlow)."""

# LPIPS backbones (`esrgan_tf.metrics.lpips.BACKBONES`): AlexNet and VGG16.
LPIPS_NETS = ("alex", "vgg")
