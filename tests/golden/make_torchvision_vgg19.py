"""Writes torchvision_0.29.1_vgg19.npz: torchvision's own VGG19 features, for
tests/models/test_features.py to check `VGGFeatures` reading a torchvision VGG19 file.

The weights are not ImageNet's (no download here) but He-normal ones from a seeded NumPy
generator, `vgg19_features_state_dict()`, which the test calls too to write the same
tensors as a file. Run from the repository root where torch and torchvision are installed
(torchvision does not import beside the suite's torch build; use a separate venv):

    python -m venv /tmp/tvenv && /tmp/tvenv/bin/pip install torch==2.14.1 torchvision==0.29.1
    /tmp/tvenv/bin/python tests/golden/make_torchvision_vgg19.py

Recorded: `image` (1x24x40x3 RGB in [0, 1], NHWC) and, NHWC, the features of
`torchvision.models.vgg19().features` with torchvision's ImageNet normalisation of the
input, before the ReLU at block2_conv2 (features.7), block3_conv4 (16), block5_conv4 (34) and
after it at block5_conv4 (35); the versions go into the .json beside it.
"""

import json
import os

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
NAME = "torchvision_0.29.1_vgg19"
SEED = 19
# VGG19 conv widths in order (Simonyan & Zisserman, Table 1, column E); a pool follows
# each block, so torchvision's `features` indices skip one after each.
WIDTHS = ((64, 64), (128, 128), (256,) * 4, (512,) * 4, (512,) * 4)
# name -> (features index, after its ReLU)
RECORDED = {
    "block2_conv2_pre": (7, False),
    "block3_conv4_pre": (16, False),
    "block5_conv4_pre": (34, False),
    "block5_conv4_post": (34, True),
}


def vgg19_features_state_dict(seed=SEED):
    """{`features.N.weight` (OIHW), `features.N.bias`}: torchvision's VGG19 conv names,
    He-normal weights and small biases from a seeded generator."""
    rng = np.random.default_rng(seed)
    state, index, channels = {}, 0, 3
    for block in WIDTHS:
        for width in block:
            std = np.sqrt(2.0 / (9 * channels))
            state[f"features.{index}.weight"] = rng.normal(0, std, (width, channels, 3, 3)).astype(
                np.float32
            )
            state[f"features.{index}.bias"] = rng.normal(0, 0.05, (width,)).astype(np.float32)
            channels = width
            index += 2
        index += 1
    return state


def image(seed=SEED):
    return np.random.default_rng(seed + 1).random((1, 24, 40, 3), dtype=np.float32)


def main():
    import torch
    import torchvision

    features = torchvision.models.vgg19().features.eval()
    features.load_state_dict(
        {k[len("features.") :]: torch.from_numpy(v) for k, v in vgg19_features_state_dict().items()}
    )
    x = torch.from_numpy(image()).permute(0, 3, 1, 2)
    mean = torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1)
    std = torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1)
    x = (x - mean) / std
    out = {"image": image()}
    with torch.no_grad():
        for name, (index, post) in RECORDED.items():
            y = features[: index + 1 + int(post)](x)
            out[name] = y.permute(0, 2, 3, 1).numpy()
    np.savez_compressed(os.path.join(HERE, NAME + ".npz"), **out)
    with open(os.path.join(HERE, NAME + ".json"), "w") as f:
        json.dump(
            {"torch": torch.__version__, "torchvision": torchvision.__version__, "seed": SEED},
            f,
            indent=1,
        )
        f.write("\n")


if __name__ == "__main__":
    main()
