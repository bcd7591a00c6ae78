"""Upscale a photo with an exported esrgan_tf TFLite model on the LiteRT interpreter.

  pip install ai-edge-litert pillow numpy
  python export/tflite_example.py --model=export/quickstart/tflite/v1/int8_dynamic.tflite \
      --image=photo.png --output=photo_x4.png

Needs only ai-edge-litert, NumPy and Pillow (not TensorFlow), as on a device. Every
esrgan_tf TFLite model takes float32 RGB in [0, 1] of shape [1, H, W, 3] and returns
[1, sH, sW, 3] clipped to [0, 1]:

* a dynamic model ([1, -1, -1, 3]) is resized to the photo and run once;
* a fixed model ([1, h, w, 3], what GPU / NPU delegates want) runs on overlapping h x w
  tiles; each tile keeps only its centre so no seams show (the edge tiles shift inwards
  instead of padding the photo).
"""

import argparse
import os

import numpy as np
from PIL import Image


def load(model_path, num_threads=None):
    from ai_edge_litert.interpreter import Interpreter  # pylint: disable=import-outside-toplevel

    interpreter = Interpreter(model_path=model_path, num_threads=num_threads or os.cpu_count())
    interpreter.allocate_tensors()
    return interpreter


def run(interpreter, lr):
    """One [H, W, 3] float32 LR image -> its SR image (the model must accept H x W)."""
    index = interpreter.get_input_details()[0]["index"]
    if tuple(interpreter.get_input_details()[0]["shape"][1:3]) != lr.shape[:2]:
        interpreter.resize_tensor_input(index, [1, *lr.shape[:2], 3])
        interpreter.allocate_tensors()
    interpreter.set_tensor(index, lr[None])
    interpreter.invoke()
    return interpreter.get_tensor(interpreter.get_output_details()[0]["index"])[0]


def starts(size, window, step):
    """Window starts covering [0, size) with the given step; the last one ends at size."""
    if size <= window:
        return [0]
    positions = list(range(0, size - window, step))
    return positions + [size - window]


def upscale(interpreter, lr, overlap=8):
    """SR of a whole [H, W, 3] image with a dynamic or a fixed-shape model."""
    details = interpreter.get_input_details()[0]
    if np.any(details["shape_signature"][1:3] < 0):
        return run(interpreter, lr)
    th, tw = (int(d) for d in details["shape"][1:3])
    if not 0 <= overlap < min(th, tw):
        raise ValueError(
            f"overlap must be in [0, {min(th, tw)}) for {tw}x{th} tiles, got {overlap}"
        )
    h, w = lr.shape[:2]
    if h < th or w < tw:
        raise ValueError(
            f"the photo ({w}x{h}) is smaller than the model's fixed input "
            f"({tw}x{th}); use a dynamic model"
        )
    scale, out = None, None
    # Each tile writes the part of the output that is at least overlap/2 from its inner
    # edges; later tiles overwrite the margin of earlier ones.
    margin = overlap // 2
    for y in starts(h, th, th - overlap):
        for x in starts(w, tw, tw - overlap):
            sr = run(interpreter, lr[y : y + th, x : x + tw])
            if out is None:
                scale = sr.shape[0] // th
                out = np.zeros((h * scale, w * scale, 3), np.float32)
            top = 0 if y == 0 else margin
            left = 0 if x == 0 else margin
            out[(y + top) * scale : (y + th) * scale, (x + left) * scale : (x + tw) * scale] = sr[
                top * scale :, left * scale :
            ]
    return out


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--model", required=True, help=".tflite file from esrgan_tf.export")
    parser.add_argument("--image", required=True)
    parser.add_argument("--output", required=True, help="PNG to write")
    parser.add_argument("--overlap", type=int, default=8, help="tile overlap (fixed models)")
    args = parser.parse_args(argv)

    with Image.open(args.image) as image:
        lr = np.asarray(image.convert("RGB"), np.float32) / 255.0
    sr = upscale(load(args.model), lr, args.overlap)
    Image.fromarray(np.floor(np.clip(sr, 0, 1) * 255.0 + 0.5).astype(np.uint8)).save(args.output)
    print(
        f"{args.image} ({lr.shape[1]}x{lr.shape[0]}) -> {args.output} ({sr.shape[1]}x{sr.shape[0]})"
    )


if __name__ == "__main__":
    main()
