"""python -m esrgan_tf.convert --input=RealESRGAN_x4plus.pth --output=realesrgan_x4plus.onnx

Converts an ESRGAN-family generator between the forms people hold and run, the output's
ending picking the form:

  in:  PyTorch .pth / .safetensors (BasicSR / Real-ESRGAN, the ESRGAN release, the old-arch
       community layout; RRDBNet incl. the pixel-unshuffle x2plus / x1 models, and
       SRVGGNetCompact), ncnn .param + .bin, zoo:<name>, Keras .weights.h5, a training workdir
  out: .weights.h5 (Keras), .pth / .safetensors (--layout=basicsr|old_arch; what spandrel,
       chaiNNer, ComfyUI and OpenModelDB take), .onnx (--onnx_layout, --onnx_precision;
       onnxruntime, TensorRT, DirectML, OpenVINO)

The architecture is read from the input; the architecture flags only check it, or pick
scale 3 (which has the same tensors as scale 2). An ONNX model is run by onnxruntime against
the Keras model before it is written. Thin driver: flags -> `ConvertConfig` ->
`esrgan_tf.formats.generators.convert` or `esrgan_tf.deploy.onnx.save`.
"""

import os
import sys

from esrgan_tf import cli
from esrgan_tf.formats.config import ConvertConfig


def main(config):
    # The library loads TensorFlow: imported once the flags are parsed (a quick --help).
    from esrgan_tf.formats import generators

    if not config.output.lower().endswith(".onnx"):
        loaded = generators.convert(config.input, config.output, config.architecture, config.layout)
        checked = ""
    else:
        from esrgan_tf.deploy import onnx

        out_dir = os.path.dirname(os.path.abspath(config.output))
        if not os.path.isdir(out_dir):
            raise FileNotFoundError(f"output directory {out_dir!r} does not exist")
        loaded = generators.load(config.input, config.architecture)
        metadata = {
            "scale": loaded.scale,
            "architecture": loaded.descriptor.summary,
            "source": config.input,
        }
        result = onnx.save(
            loaded.model,
            config.output,
            channels=loaded.descriptor.in_channels,
            layout=config.onnx_layout,
            precision=config.onnx_precision,
            metadata=metadata,
            model_config=loaded.config,
        )
        if result:
            checked = f" (onnxruntime vs Keras: max |diff| {result['max_abs_diff']:.2g})"
        else:
            checked = " (not run: onnxruntime is not installed)"
    print(
        f"convert: {config.input}: {loaded.descriptor.summary}, "
        f"{loaded.model.count_params():,} parameters -> {config.output}{checked}",
        file=sys.stderr,
    )


if __name__ == "__main__":
    cli.run(ConvertConfig, main)
