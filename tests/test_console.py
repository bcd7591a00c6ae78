"""The quiet console: which lines of stderr a command drops, and which it keeps."""

import pytest

from esrgan_tf import console

# Lines as TensorFlow 2.21, its grappler, the TFLite converter and LiteRT print them (copied
# from the consoles of this project's commands).
NOISE = [
    b"WARNING: All log messages before absl::InitializeLog() is called are written to STDERR",
    b"I0000 00:00:1796677495.708132   17274 port.cc:153] oneDNN custom operations are on.",
    b"I0000 00:00:1796668538.490760    2393 cudart_stub.cc:31] Could not find cuda drivers",
    b"E0000 00:00:1796668542.379185    2393 cuda_platform.cc:52] failed call to cuInit: INTERNAL",
    b"E0000 00:00:1796676825.203836   12479 meta_optimizer.cc:967] remapper failed: "
    b"INVALID_ARGUMENT: Mutation::Apply error: fanout 'gradient_tape/generator_1/body_1/...",
    b"W1207 21:04:20.494533 140252307880832 loader.cc:123] some TensorFlow warning",
    b"fully_quantize: 0, inference_type: 6, input_inference_type: FLOAT32, "
    b"output_inference_type: FLOAT32",
    b"INFO: Created TensorFlow Lite XNNPACK delegate for CPU.",
]
KEPT = [
    b"warning: upin: NIQE needs two 96x96 blocks",
    b"error: ValueError: weights file 'x.h5' does not exist",
    b"FAILED photo.png: UnusableImage: not an image",
    b"upscale: 2 written to up, 0 failed",
    b"E0000 00:00:1796668542.379185    2393 gpu_device.cc:100] out of memory",  # a real error
    b"psnr:  18%|\xe2\x96\x88         | 257/1400 [00:33<02:10,  8.79step/s]",
]


@pytest.mark.parametrize("line", NOISE)
def test_framework_chatter_is_dropped(line):
    assert console.is_noise(line)


@pytest.mark.parametrize("line", KEPT)
def test_results_progress_and_real_errors_are_kept(line):
    assert not console.is_noise(line)
