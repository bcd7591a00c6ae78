"""esrgan_tf: SRGAN, ESRGAN and ESRGAN-DP super-resolution in TensorFlow / Keras 3."""

__version__ = "0.1.0"
