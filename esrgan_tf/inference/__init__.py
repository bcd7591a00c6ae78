"""Inference: running generators on images of any size (`tiling`, with the runtime each call
runs on: `runtimes`, `litert`), image and video files (`upscaling`, `video`), benchmark
evaluation (`evaluation`) and network interpolation (`interpolation`, `perception_distortion`).
Generators come from `esrgan_tf.formats`; commands' configs are in `config`."""
