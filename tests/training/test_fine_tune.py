"""Fine-tuning an imported model on degraded data, as the README's worked example does with
zoo:realesrgan-x4plus: `init_checkpoint` names PyTorch weights (here a tiny RRDBNet written
as a BasicSR `.safetensors` from a key table written out here), the input is Real-ESRGAN's
degradation with USM targets, the stage Real-ESRNet's (L1, EMA, Adam betas 0.9 / 0.99) on 2
logical CPUs. (The GAN losses' plain-HR target: tests/test_losses.py.)"""

import numpy as np
import pytest
from safetensors.numpy import save_file
import tensorflow as tf

from esrgan_tf.data.config import TrainDataConfig
from esrgan_tf.data.pipeline import train_dataset
from esrgan_tf.formats import generators
from esrgan_tf.models.builders import built_generator
from esrgan_tf.models.config import ModelConfig
from esrgan_tf.training import loop
from esrgan_tf.training.config import LossConfig, TrainConfig

NF, NB, GC = 8, 1, 4
MODEL = ModelConfig(num_feat=NF, num_block=NB, num_grow_ch=GC, scale=4)


def basicsr_state_dict(seed=0):
    """Random weights of RRDBNet x4 (NF, NB, GC) under BasicSR's key names, OIHW convs."""
    specs = [("conv_first", NF, 3)]
    for i in range(NB):
        for j in (1, 2, 3):
            for k in range(1, 6):
                specs.append((f"body.{i}.rdb{j}.conv{k}", GC if k < 5 else NF, NF + (k - 1) * GC))
    specs += [(name, NF, NF) for name in ("conv_body", "conv_up1", "conv_up2", "conv_hr")]
    specs.append(("conv_last", 3, NF))
    rng = np.random.default_rng(seed)
    state_dict = {}
    for name, c_out, c_in in specs:
        shape = (c_out, c_in, 3, 3)
        state_dict[f"{name}.weight"] = (rng.standard_normal(shape) / np.sqrt(9 * c_in)).astype(
            np.float32
        )
        state_dict[f"{name}.bias"] = (0.01 * rng.standard_normal(c_out)).astype(np.float32)
    return state_dict


@pytest.fixture(scope="module")
def shards(tmp_path_factory, write_shards, photo_crops):
    root = tmp_path_factory.mktemp("fine_tune_shards")
    return write_shards(root, photo_crops("astronaut", size=96, step=96, area=288))


@pytest.mark.slow
def test_fine_tune_pytorch_weights_on_degraded_data(shards, tmp_path):
    path = str(tmp_path / "tiny_x4.safetensors")
    save_file(basicsr_state_dict(), path)
    data = TrainDataConfig(
        data=shards,
        hr_size=80,
        batch_size=2,
        shuffle_buffer=4,
        seed=5,
        rotate=False,
        degradation="realesrgan",
        usm_target=True,
    )
    config = TrainConfig(
        workdir=str(tmp_path / "run"),
        input=data,
        model=MODEL,
        loss=LossConfig(pixel_weight=1.0),
        init_checkpoint=path,
        ema_decay=0.999,
        lr_g=1e-4,
        adam_beta2=0.99,
        total_steps=2,
        log_every=1,
        checkpoint_every=2,
    )
    controller = loop.Controller(config)
    imported = generators.load(path).model  # checked against PyTorch's forward elsewhere
    x = tf.random.stateless_uniform([1, 12, 12, 3], [1, 2])
    expected = imported(x).numpy()
    # The run starts from the file: generator and EMA generator alike.
    np.testing.assert_allclose(controller.trainer.generator(x).numpy(), expected, atol=1e-5)
    np.testing.assert_allclose(controller.trainer.ema_generator(x).numpy(), expected, atol=1e-5)

    # The step's pixel loss is against the USM-sharpened HR of the pipeline's first batch.
    lr, hr, hr_usm = next(iter(train_dataset(data, 4)))
    sr = imported(lr)
    logs = controller.train(num_steps=1)
    l1_usm = float(tf.reduce_mean(tf.abs(sr - hr_usm)))
    assert logs["l_pix"] == pytest.approx(l1_usm, rel=1e-4)
    assert logs["l_pix"] != pytest.approx(float(tf.reduce_mean(tf.abs(sr - hr))), rel=1e-3)

    controller.train()
    assert controller.step == 2
    moved = [
        np.abs(a.numpy() - b.numpy()).max()
        for a, b in zip(controller.trainer.generator.weights, imported.weights)
    ]
    assert 0 < max(moved) < 1e-2  # fine-tuned: moved, but only by a few Adam steps


def test_init_checkpoint_of_another_architecture_is_a_clear_error(tmp_path):
    """What `Trainer.initialise` calls: the file's architecture is named, nothing is loaded."""
    path = str(tmp_path / "tiny_x4.safetensors")
    save_file(basicsr_state_dict(), path)
    model = built_generator(ModelConfig(num_feat=16, num_block=1, num_grow_ch=4))
    before = [w.numpy() for w in model.weights]
    with pytest.raises(ValueError, match="holds RRDBNet x4 with num_feat=8, num_block=1"):
        generators.load_into(model, path)
    for w, b in zip(model.weights, before):
        np.testing.assert_array_equal(w.numpy(), b)
