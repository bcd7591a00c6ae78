"""The training loop end to end: both kinds of stage on 2 logical CPUs with tiny models,
resumption, faults (NaN, SIGTERM, corrupt or mismatching checkpoints), mixed precision."""

import dataclasses
import glob
import importlib.util
import os
import shutil
import signal
import subprocess
import sys

import keras
import numpy as np
import pytest
import skimage.data
import tensorflow as tf

from esrgan_tf import losses
from esrgan_tf.data.config import TrainDataConfig
from esrgan_tf.data.imresize import imresize
from esrgan_tf.metrics import niqe
from esrgan_tf.models.config import ModelConfig
from esrgan_tf.training import loop
from esrgan_tf.training.config import LossConfig, TrainConfig
from esrgan_tf.training.trainer import Trainer

HR = 32
MODEL = ModelConfig(num_feat=8, num_block=1, num_grow_ch=4, discriminator="unet", d_num_feat=4)


@pytest.fixture(scope="module")
def shards(tiny_shards):
    return tiny_shards


def make_config(shards, workdir, **overrides):
    data = TrainDataConfig(data=str(shards), hr_size=HR, batch_size=4, shuffle_buffer=8, seed=3)
    base = dict(
        workdir=str(workdir),
        input=data,
        model=MODEL,
        total_steps=4,
        log_every=1,
        checkpoint_every=2,
        val_every=2,
        val_dir=str(shards / "val"),
        num_cpu_devices=1,  # two replicas where a test is about them (a second trace per step)
        deterministic=True,
        lr_g=1e-3,
    )
    base.update(overrides)
    return TrainConfig(**base)


def weights(model):
    return [np.array(w.numpy()) for w in model.weights]


@pytest.mark.slow
def test_gan_stage_with_dual_perceptual_loss_from_psnr_checkpoint(shards, tmp_path, vgg_weights):
    psnr = loop.train(make_config(shards, tmp_path / "psnr", total_steps=2))
    resnet = keras.applications.ResNet50(include_top=False, weights=None)
    resnet.save_weights(str(tmp_path / "resnet.weights.h5"))
    loss = LossConfig(
        pixel_weight=1e-2,
        perceptual="dual",
        gan_type="ragan",
        adversarial_weight=5e-3,
        vgg_weights=vgg_weights,
        resnet_weights=str(tmp_path / "resnet.weights.h5"),
        # Shallow layers of the real networks: the same step, a fraction of the work.
        vgg_layers=("block2_conv2",),
        vgg_layer_weights=(1.0,),
        resnet_layers=("conv2_block3_out",),
    )
    config = make_config(
        shards,
        tmp_path / "gan",
        loss=loss,
        total_steps=2,
        ema_decay=0.5,
        init_checkpoint=str(tmp_path / "psnr"),
        val_dir="",
    )
    gan = loop.Controller(config)
    for a, b in zip(weights(psnr.trainer.generator), weights(gan.trainer.generator)):
        np.testing.assert_array_equal(a, b)
    g0, d0, e0 = (
        weights(gan.trainer.generator),
        weights(gan.trainer.discriminator),
        weights(gan.trainer.ema_generator),
    )
    logs = gan.train(num_steps=1)
    expected_terms = {
        "l_pix",
        "l_vgg",
        "l_res",
        "dp_weight",
        "l_percep",
        "l_g_adv",
        "l_g_total",
        "l_d",
        "d_real_logit",
        "d_fake_logit",
    }
    assert expected_terms <= set(logs)
    assert all(np.isfinite(v) for v in logs.values())
    assert logs["dp_weight"] > 0
    g1 = weights(gan.trainer.generator)
    assert any(not np.array_equal(a, b) for a, b in zip(g0, g1))
    assert any(not np.array_equal(a, b) for a, b in zip(d0, weights(gan.trainer.discriminator)))
    # EMA with decay 0.5 after one step: 0.5 * initial + 0.5 * current.
    for e, a, b in zip(weights(gan.trainer.ema_generator), e0, g1):
        np.testing.assert_allclose(e, 0.5 * a + 0.5 * b, rtol=1e-5, atol=1e-7)


def scalars(workdir):
    """{(step, tag): value} of a run's training summaries."""
    values = {}
    for path in glob.glob(str(workdir / "summaries" / "train" / "events.*")):
        for event in tf.compat.v1.train.summary_iterator(path):
            for v in event.summary.value:
                values[event.step, v.tag] = tf.make_ndarray(v.tensor).item()
    return values


@pytest.mark.slow
def test_steps_per_loop_changes_nothing_and_a_killed_run_resumes_exactly(
    shards, tmp_path, repo_root
):
    """A GAN stage with EMA, 8 steps: one step per call, against three per
    call killed by SIGKILL after step 6 (past the checkpoint at 4) and resumed: the same
    bits, and the same summaries."""
    script = os.path.join(repo_root, "tests", "training", "killed_run.py")
    spec = importlib.util.spec_from_file_location("killed_run", script)
    killed_run = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(killed_run)

    one = loop.train(killed_run.config(shards, tmp_path / "one", 1))
    assert one.step == 8
    process = subprocess.run(
        [sys.executable, script, str(shards), str(tmp_path / "killed"), "6"],
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": str(repo_root)},
        timeout=300,
    )
    assert process.returncode == -signal.SIGKILL, process.stderr[-3000:]
    resumed = loop.Controller(killed_run.config(shards, tmp_path / "killed", 3))
    assert resumed.restored_from.endswith("ckpt-4")  # steps 5-7 were lost with the process
    resumed.train()

    for part in ("generator", "ema_generator", "discriminator"):
        for a, b in zip(
            weights(getattr(one.trainer, part)), weights(getattr(resumed.trainer, part))
        ):
            np.testing.assert_array_equal(a, b, err_msg=part)
    for a, b in zip(one.trainer.d_optimizer.variables, resumed.trainer.d_optimizer.variables):
        np.testing.assert_array_equal(np.array(a), np.array(b), err_msg="D Adam")
    # The summaries written inside the loop: every step's losses and rates under their own
    # names, those of the resumed steps equal to one step per call's. (What the killed
    # process wrote of steps 1-7 was lost or partly flushed.)
    expected = scalars(tmp_path / "one")
    assert {(8, "l_g_total"), (8, "l_d"), (8, "lr_g"), (8, "lr_d"), (1, "l_pix")} <= set(expected)
    resumed_steps = {k: v for k, v in scalars(tmp_path / "killed").items() if k[0] > 4}
    assert resumed_steps == {k: v for k, v in expected.items() if k[0] > 4}


@pytest.fixture(scope="module")
def four_steps(shards, tmp_path_factory):
    """A run of 4 steps with checkpoints at 2 and 4; copy it before changing it."""
    workdir = tmp_path_factory.mktemp("four_steps") / "run"
    loop.train(make_config(shards, workdir, total_steps=4))
    return workdir


def copy_of(run, tmp_path):
    shutil.copytree(run, tmp_path / "run")
    return tmp_path / "run"


@pytest.mark.slow
def test_nan_loss_stops_and_keeps_the_last_good_checkpoint(shards, four_steps, tmp_path):
    # The run resumed with a loss that is NaN from its first step on.
    broken = loop.Controller(
        make_config(
            shards,
            copy_of(four_steps, tmp_path),
            total_steps=6,
            loss=LossConfig(pixel_weight=np.nan),
        )
    )
    with pytest.raises(loop.TrainingDivergedError, match="non-finite loss at step 5"):
        broken.train()
    assert broken.latest_checkpoint().endswith("ckpt-4")


@pytest.mark.slow
def test_sigterm_writes_a_checkpoint_and_stops(shards, tmp_path):
    def signal_at_step_2(controller, logs):
        if controller.step == 2:
            os.kill(os.getpid(), signal.SIGTERM)

    run = loop.Controller(
        make_config(shards, tmp_path / "run", total_steps=10, checkpoint_every=100),
        actions=[signal_at_step_2],
    )
    with pytest.raises(loop.TrainingInterrupted, match="stopped by SIGTERM at step 2"):
        run.train()
    assert run.step == 2
    assert run.latest_checkpoint().endswith("ckpt-2")
    resumed = loop.Controller(
        make_config(shards, tmp_path / "run", total_steps=10, checkpoint_every=100)
    )
    assert resumed.step == 2


@pytest.mark.slow
def test_corrupt_latest_checkpoint_falls_back_to_the_previous(shards, four_steps, tmp_path):
    run = copy_of(four_steps, tmp_path)
    for path in glob.glob(str(run / "checkpoints" / "ckpt-4.data-*")):
        with open(path, "wb") as f:
            f.write(b"garbage")
    resumed = loop.Controller(make_config(shards, run, total_steps=4))
    assert resumed.restored_from.endswith("ckpt-2")
    assert resumed.step == 2


@pytest.mark.slow
def test_changed_architecture_in_a_workdir_is_an_error_not_a_fallback(shards, four_steps, tmp_path):
    bigger = dataclasses.replace(MODEL, num_block=2)
    with pytest.raises(ValueError, match="does not match this run's configuration"):
        loop.Controller(make_config(shards, copy_of(four_steps, tmp_path), model=bigger))


def test_ema_starts_from_the_generator(shards, tmp_path):
    run = loop.Controller(make_config(shards, tmp_path / "run", ema_decay=0.999))
    for a, b in zip(weights(run.trainer.generator), weights(run.trainer.ema_generator)):
        np.testing.assert_array_equal(a, b)


@pytest.mark.slow
def test_bad_init_checkpoint_is_a_clear_error_before_training(shards, four_steps, tmp_path):
    with pytest.raises(FileNotFoundError, match="neither a .weights.h5"):
        loop.Controller(
            make_config(shards, tmp_path / "a", init_checkpoint=str(tmp_path / "missing"))
        )
    bigger = dataclasses.replace(MODEL, num_block=2)
    with pytest.raises(ValueError, match="different architecture"):
        loop.Controller(
            make_config(shards, tmp_path / "b", model=bigger, init_checkpoint=str(four_steps))
        )


# ---------------------------------------------------------------------------------------
# Mixed precision
# ---------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def vgg_weights(tmp_path_factory):
    path = str(tmp_path_factory.mktemp("vgg") / "vgg.weights.h5")
    keras.applications.VGG19(include_top=False, weights=None).save_weights(path)
    return path


def esrgan_config(shards, workdir, vgg_weights, precision):
    loss = LossConfig(
        pixel_weight=1e-2,
        perceptual="vgg",
        gan_type="ragan",
        adversarial_weight=5e-3,
        vgg_weights=vgg_weights,
        vgg_layers=("block2_conv2",),  # a shallow layer of the real VGG19: less work
        vgg_layer_weights=(1.0,),
    )
    return make_config(
        shards, workdir, loss=loss, total_steps=3, mixed_precision=precision, ema_decay=0.5
    )


@pytest.fixture(scope="module")
def fp32_esrgan(shards, vgg_weights, tmp_path_factory):
    run = loop.Controller(
        esrgan_config(shards, tmp_path_factory.mktemp("fp32"), vgg_weights, "none")
    )
    run.train()
    return run


@pytest.mark.slow
@pytest.mark.parametrize("precision,dtype", [("bf16", "bfloat16"), ("fp16", "float16")])
def test_mixed_precision_esrgan_stage(shards, tmp_path, vgg_weights, fp32_esrgan, precision, dtype):
    config = esrgan_config(shards, tmp_path / precision, vgg_weights, precision)
    run = loop.Controller(config)
    for model in (run.trainer.generator, run.trainer.discriminator, run.trainer.ema_generator):
        assert model.compute_dtype == dtype
        assert {v.dtype for v in model.weights} == {"float32"}  # float32 master weights
    assert run.trainer.generator.conv_last.compute_dtype == "float32"
    assert run.trainer.discriminator.conv9.compute_dtype == "float32"
    assert run.trainer.vgg.compute_dtype == "float32"
    assert isinstance(run.trainer.g_optimizer, keras.optimizers.LossScaleOptimizer) == (
        precision == "fp16"
    )
    g0 = weights(run.trainer.generator)
    logs = run.train()
    assert all(np.isfinite(v) for v in logs.values())
    assert any(not np.array_equal(a, b) for a, b in zip(g0, weights(run.trainer.generator)))
    if precision == "fp16":
        assert logs["g_loss_scale"] > 1 and logs["d_loss_scale"] > 1
    # The half-precision failure mode: NaN or black images. Output float32, finite, and
    # close to the same three steps in float32.
    photo = skimage.data.astronaut()[200:232, 200:232].astype(np.float32) / 255.0
    sr = run.trainer.generator(photo[None]).numpy()
    assert sr.dtype == np.float32 and np.all(np.isfinite(sr))
    assert np.abs(sr - fp32_esrgan.trainer.generator(photo[None]).numpy()).mean() < 0.02
    assert abs(run.validate()["psnr_y"] - fp32_esrgan.validate()["psnr_y"]) < 0.5
    # The checkpoint resumes, loss scale included.
    resumed = loop.Controller(dataclasses.replace(config, total_steps=4))
    assert resumed.step == 3
    if precision == "fp16":
        assert float(resumed.trainer.g_optimizer.dynamic_scale.numpy()) == float(
            run.trainer.g_optimizer.dynamic_scale.numpy()
        )


@pytest.mark.slow
def test_jit_compiled_esrgan_stage_trains_as_the_uncompiled_one(
    shards, tmp_path, vgg_weights, fp32_esrgan
):
    # XLA for G on two replicas: the same weights as the uncompiled stage on one, up to
    # round-off. The cross-replica
    # RaGAN means and the updates stay outside XLA, and so do the spectral-norm D (its
    # power iteration needs the strategy) and, under the op determinism that the reference
    # turned on, VGG19 (XLA has no deterministic max-pooling gradient).
    config = esrgan_config(shards, tmp_path / "xla", vgg_weights, "none")
    run = loop.Controller(dataclasses.replace(config, jit_compile=True, num_cpu_devices=2))
    assert run.trainer.compiled == ["generator"]
    assert run.trainer.discriminator is not None and run.trainer.vgg is not None
    logs = run.train()
    assert all(np.isfinite(v) for v in logs.values())
    reference = fp32_esrgan.trainer
    for ours, theirs in (
        (run.trainer.generator, reference.generator),
        (run.trainer.discriminator, reference.discriminator),
    ):
        for a, b in zip(weights(ours), weights(theirs)):
            np.testing.assert_allclose(a, b, atol=1e-4)
    assert run.validate()["psnr_y"] == pytest.approx(fp32_esrgan.validate()["psnr_y"], abs=0.01)


@pytest.mark.parametrize(
    "model,compiled",
    [
        # The VGG-style D's batch norm updates moving statistics: uncompiled.
        (ModelConfig(num_feat=8, num_block=1, num_grow_ch=4, d_num_feat=4), {"generator"}),
        # So does SRResNet's (use_bn): nothing is compiled.
        (ModelConfig(generator="srresnet", num_feat=8, num_block=1, d_num_feat=4), set()),
    ],
)
def test_networks_that_update_state_in_training_stay_uncompiled(shards, tmp_path, model, compiled):
    config = make_config(
        shards,
        tmp_path,
        model=model,
        input=TrainDataConfig(data=str(shards), hr_size=96, batch_size=2),
        loss=LossConfig(gan_type="ragan"),
        jit_compile=True,
    )
    trainer = Trainer(config, tf.distribute.get_strategy())
    assert trainer.discriminator is not None and trainer.vgg is None
    assert set(trainer.compiled) == compiled


@pytest.mark.slow
def test_fp16_overflow_on_one_replica_skips_the_update_on_all(shards, tmp_path, monkeypatch):
    run = loop.Controller(
        make_config(
            shards,
            tmp_path / "run",
            total_steps=1,
            mixed_precision="fp16",
            val_dir="",
            num_cpu_devices=2,
        )
    )
    l1 = losses.l1_loss

    def overflowing_on_replica_1(sr, hr):
        replica = tf.distribute.get_replica_context().replica_id_in_sync_group
        # 1e30 * the loss scale overflows the fp16 gradients of replica 1 only.
        return l1(sr, hr) * tf.where(tf.equal(replica, 1), 1e30, 1.0)

    monkeypatch.setattr(losses, "l1_loss", overflowing_on_replica_1)
    g0 = weights(run.trainer.generator)
    scale = float(run.trainer.g_optimizer.dynamic_scale.numpy())
    logs = run.train()
    assert logs["g_overflow"] == 1.0 and logs["g_grad_norm"] == 0.0
    for a, b in zip(g0, weights(run.trainer.generator)):  # skipped everywhere, not NaN
        np.testing.assert_array_equal(a, b)
    assert float(run.trainer.g_optimizer.dynamic_scale.numpy()) == scale / 2


@pytest.mark.slow
def test_rates_follow_the_trainer_step_even_when_fp16_skips(shards, tmp_path):
    run = loop.Controller(
        make_config(
            shards,
            tmp_path / "run",
            total_steps=2,
            lr_milestones=(2,),
            lr_gamma=0.1,
            mixed_precision="fp16",
            val_dir="",
            # Gradients that overflow float16 (the loss itself stays finite in float32).
            loss=LossConfig(pixel_weight=1e30),
        )
    )
    assert float(run.trainer.g_optimizer.learning_rate) == pytest.approx(1e-3)  # update 1
    logs = run.train(num_steps=1)
    assert logs["g_overflow"] == 1.0  # skipped: the optimiser did not count it
    assert int(run.trainer.g_optimizer.iterations.numpy()) == 0
    assert float(run.trainer.g_optimizer.learning_rate) == pytest.approx(1e-4)  # update 2
    assert run.trainer.learning_rates()["lr_g"] == pytest.approx(1e-3)  # the last update's


def test_gan_stage_validation_logs_niqe(shards, tmp_path, caplog):
    # NIQE needs two 96x96 blocks after the crop of 4: a 108x208 astronaut crop (LR 27x52).
    val_dir = tmp_path / "val"
    val_dir.mkdir()
    hr = skimage.data.astronaut()[40:148, 100:308]
    keras.utils.save_img(str(val_dir / "a.png"), hr, scale=False)
    loss = LossConfig(pixel_weight=1e-2, gan_type="ragan", adversarial_weight=5e-3)
    config = make_config(shards, tmp_path / "gan", loss=loss, val_dir=str(val_dir))
    gan = loop.Controller(config)
    assert config.is_gan
    caplog.set_level("INFO", logger="absl")
    means = gan.validate(step=7)  # the periodic action, without compiling a GAN step
    gan.writer.flush()

    # The same NIQE of the stage's generator output, recomputed here.
    hr = hr.astype(np.float32) / 255
    lr = np.clip(imresize(hr, 0.25), 0, 1).astype(np.float32)
    sr = np.clip(np.asarray(gan.trainer.eval_generator()(lr[None], training=False))[0], 0, 1)
    expected = niqe.niqe(sr, crop_border=4)
    assert means["niqe"] == pytest.approx(expected, abs=1e-9)
    logged = {}
    for path in glob.glob(str(tmp_path / "gan" / "summaries" / "train" / "events.*")):
        for event in tf.compat.v1.train.summary_iterator(path):
            for v in event.summary.value:
                if v.tag.startswith("val/") and v.tag != "val/a":
                    logged[v.tag] = (event.step, float(tf.make_ndarray(v.tensor)))
    assert {"val/psnr_y", "val/ssim_y", "val/niqe"} <= set(logged)
    assert logged["val/niqe"][0] == 7
    assert logged["val/niqe"][1] == pytest.approx(expected, rel=1e-6)  # a float32 scalar
    assert f"niqe {expected:.4f}" in caplog.text  # and in the text log
