"""Loads weight files with spandrel and runs them: the check of tests/formats/test_spandrel.py,
run by a Python that has spandrel (and torch, torchvision), not by the suite's own.

  python spandrel_check.py INPUT.npy FILE...  ->  one JSON line per FILE on stdout:
  {"file", "architecture", "scale", "output"} with the NHWC output saved beside the file as
  <file>.out.npy (the input is NHWC float32 in [0, 1]).
"""

import json
import sys

import numpy as np
import spandrel
import torch


def main(argv):
    image = np.load(argv[0])
    for path in argv[1:]:
        descriptor = spandrel.ModelLoader().load_from_file(path).eval()
        with torch.no_grad():
            # The network itself: the descriptor's call would clamp to [0, 1].
            out = descriptor.model(torch.from_numpy(image.transpose(0, 3, 1, 2).copy()))
        np.save(path + ".out.npy", out.numpy().transpose(0, 2, 3, 1))
        print(
            json.dumps(
                {
                    "file": path,
                    "architecture": descriptor.architecture.id,
                    "scale": descriptor.scale,
                    "output": path + ".out.npy",
                }
            )
        )


if __name__ == "__main__":
    main(sys.argv[1:])
