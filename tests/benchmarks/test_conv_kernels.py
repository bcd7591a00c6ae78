"""benchmarks/conv_kernels.py: the timed kernels are a 3x3 convolution and its two gradients
(against autodiff, and against PyTorch's when torch is installed), and the report."""

import json

import numpy as np
import pytest
import tensorflow as tf

from benchmarks.speed import conv_kernels


def test_tensorflow_kernels_are_the_convolution_and_its_gradients():
    kernels = conv_kernels.tensorflow_kernels(2, 5, 3, 4)
    forward, (x, w) = kernels["forward"]
    dy = kernels["weight_gradient"][1][1]
    with tf.GradientTape(persistent=True) as tape:
        tape.watch([x, w])
        y = tf.nn.conv2d(x, w, 1, "SAME")
        loss = tf.reduce_sum(y * dy)
    np.testing.assert_allclose(forward(x, w), y, atol=1e-5)
    data, args = kernels["data_gradient"]
    np.testing.assert_allclose(data(*args), tape.gradient(loss, x), atol=1e-4)
    weight, args = kernels["weight_gradient"]
    np.testing.assert_allclose(weight(*args), tape.gradient(loss, w), atol=1e-4)


def test_torch_kernels_equal_tensorflows():
    torch = pytest.importorskip("torch")
    ours = conv_kernels.tensorflow_kernels(2, 5, 3, 4)
    theirs = conv_kernels.torch_kernels(2, 5, 3, 4)
    # The same inputs in each framework's layout.
    x, w = (t.numpy() for t in ours["forward"][1])
    dy = ours["weight_gradient"][1][1].numpy()
    nchw = lambda a: torch.from_numpy(np.ascontiguousarray(a.transpose(0, 3, 1, 2)))  # noqa: E731
    tx, tw, tdy = nchw(x), torch.from_numpy(np.ascontiguousarray(w.transpose(3, 2, 0, 1))), nchw(dy)
    expected = {k: fn(*args).numpy() for k, (fn, args) in ours.items()}
    got = {
        "forward": theirs["forward"][0](tx, tw).numpy().transpose(0, 2, 3, 1),
        "data_gradient": theirs["data_gradient"][0](tx, tw, tdy).numpy().transpose(0, 2, 3, 1),
        "weight_gradient": theirs["weight_gradient"][0](tx, tw, tdy).numpy().transpose(2, 3, 1, 0),
    }
    for k in conv_kernels.KERNELS:
        np.testing.assert_allclose(got[k], expected[k], atol=1e-4, err_msg=k)


def test_report_and_table(tmp_path, capsys):
    output = tmp_path / "conv.json"
    conv_kernels.main(
        [
            "--batch_size=1",
            "--size=6",
            "--channels=3:2,4:4",
            "--runs=2",
            "--no-torch",
            f"--output={output}",
        ]
    )
    report = json.loads(output.read_text())
    rows = report["results"]["rows"]
    assert [(r["in_channels"], r["out_channels"]) for r in rows] == [(3, 2), (4, 4)]
    for r in rows:
        assert set(r["tensorflow_s"]) == set(conv_kernels.KERNELS)
        assert all(t > 0 for t in r["tensorflow_s"].values()) and "torch_s" not in r
    printed = capsys.readouterr().out
    assert printed.count("| 3 -> 2 |") == 3 and "CPU flags" in printed


@pytest.mark.parametrize("text", ["64", "64:0", "a:b", "64:32,"])
def test_bad_channels_are_a_clear_error(text):
    with pytest.raises(ValueError, match="IN:OUT pairs of positive integers"):
        conv_kernels.parse_channels(text)


@pytest.mark.slow
def test_pytorch_runs_in_its_own_process():
    pytest.importorskip("torch")
    times = conv_kernels.torch_in_its_own_process(1, 4, [(3, 2)], 1)
    assert set(times) == {(3, 2)} and set(times[(3, 2)]) == set(conv_kernels.KERNELS)
    assert all(t > 0 for t in times[(3, 2)].values())
