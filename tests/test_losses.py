import json
import math
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest
import tensorflow as tf

from esrgan_tf import losses
from esrgan_tf.training.config import LossConfig


def sigmoid(z):
    return 1.0 / (1.0 + math.exp(-z))


REAL = [1.0, -0.5]
FAKE = [0.2, -1.0]


def as_logits(values):
    return tf.constant(values, tf.float32)[:, None]  # [B, 1], as VGGStyleDiscriminator


# ---------------------------------------------------------------------------
# Pixel losses
# ---------------------------------------------------------------------------
SR = np.array([[0.1, 0.5, 0.9, 0.3], [0.2, 0.2, 0.2, 0.2]], np.float32).reshape(2, 2, 2, 1)
HR = np.array([[0.0, 1.0, 1.0, 0.0], [0.2, 0.2, 0.0, 0.6]], np.float32).reshape(2, 2, 2, 1)


def test_l1_and_mse_per_example():
    # |d| = (.1 .5 .1 .3) and (0 0 .2 .4); d^2 = (.01 .25 .01 .09) and (0 0 .04 .16).
    np.testing.assert_allclose(losses.l1_loss(SR, HR), [0.25, 0.15], rtol=1e-6)
    np.testing.assert_allclose(losses.mse_loss(SR, HR), [0.09, 0.05], rtol=1e-5)


def test_pixel_losses_compute_in_float32():
    for dtype in (tf.float16, tf.bfloat16):
        out = losses.l1_loss(tf.cast(SR, dtype), tf.cast(HR, dtype))
        assert out.dtype == tf.float32 and out.shape == (2,)
        np.testing.assert_allclose(out, [0.25, 0.15], atol=5e-3)


# ---------------------------------------------------------------------------
# Perceptual losses
# ---------------------------------------------------------------------------
SR_FEATS = {
    "a": np.array([[1.0, 2.0], [3.0, 4.0]], np.float32).reshape(2, 1, 1, 2),
    "b": np.array([2.0, 0.0], np.float32).reshape(2, 1, 1, 1),
}
HR_FEATS = {
    "a": np.array([[0.0, 0.0], [3.0, 6.0]], np.float32).reshape(2, 1, 1, 2),
    "b": np.array([1.0, 1.0], np.float32).reshape(2, 1, 1, 1),
}


def test_perceptual_l1_weighted_sum_over_layers():
    # a: (1+2)/2 = 1.5 and (0+2)/2 = 1; b: 1 and 1; a + 0.5 b.
    out = losses.perceptual_loss(SR_FEATS, HR_FEATS, layer_weights={"a": 1.0, "b": 0.5})
    np.testing.assert_allclose(out, [2.0, 1.5], rtol=1e-6)
    # Default: every layer weighs 1.
    np.testing.assert_allclose(losses.perceptual_loss(SR_FEATS, HR_FEATS), [2.5, 2.0])


def test_perceptual_mse_with_feature_scale():
    # Maps halved: a: (0.5^2 + 1^2)/2 = 0.625 and (0 + 1^2)/2 = 0.5; b: 0.25 and 0.25.
    out = losses.perceptual_loss(
        SR_FEATS, HR_FEATS, {"a": 1.0, "b": 0.5}, criterion="mse", feature_scale=0.5
    )
    np.testing.assert_allclose(out, [0.75, 0.625], rtol=1e-6)


def test_srgan_feature_scale_is_about_0_006_on_the_mse():
    # SRGAN arXiv v5 §3.2: rescaling the maps by 1/12.75 ~ multiplying Eq. 5 by 0.006.
    assert losses.SRGAN_FEATURE_SCALE**2 == pytest.approx(0.006, abs=2e-4)


def test_perceptual_single_tensor_and_no_gradient_into_hr():
    sr = tf.Variable(SR_FEATS["a"])
    hr = tf.Variable(HR_FEATS["a"])
    with tf.GradientTape() as tape:
        loss = tf.reduce_sum(losses.perceptual_loss(sr, hr))
    g_sr, g_hr = tape.gradient(loss, [sr, hr])
    assert g_hr is None
    # d/dsr of mean|sr - hr| over 2 channels: sign / 2 (sign(0) = 0 for the tie).
    np.testing.assert_allclose(g_sr.numpy().reshape(2, 2), [[0.5, 0.5], [0.0, -0.5]])


def test_perceptual_errors():
    with pytest.raises(ValueError, match="'l1' or 'mse'"):
        losses.perceptual_loss(SR_FEATS, HR_FEATS, criterion="l2")
    with pytest.raises(ValueError, match="no weight for"):
        losses.perceptual_loss(SR_FEATS, HR_FEATS, layer_weights={"a": 1.0})
    with pytest.raises(ValueError, match="different layers"):
        losses.perceptual_loss(SR_FEATS, {"a": HR_FEATS["a"]})


# ---------------------------------------------------------------------------
# Dual perceptual loss
# ---------------------------------------------------------------------------
L_VGG = [0.3, 0.5]  # batch mean 0.4
L_RES = [0.02, 0.06]  # batch mean 0.04 -> zeta = 10


def test_dual_perceptual_loss_local_means():
    # l_DP = l_VGG + (1/0.5) * 10 * l_RES = (0.3 + 0.4, 0.5 + 1.2).
    out, zeta = losses.dual_perceptual_loss(tf.constant(L_VGG), tf.constant(L_RES), mu=0.5)
    np.testing.assert_allclose(zeta, 10.0, rtol=1e-5)
    np.testing.assert_allclose(out, [0.7, 1.7], rtol=1e-5)
    assert out.shape == (2,) and zeta.shape == ()


def test_dual_perceptual_loss_uses_the_given_global_means():
    # zeta = 0.2 / 0.1 = 2; mu = 1: (0.3 + 2 * 0.02, 0.5 + 2 * 0.06).
    out, zeta = losses.dual_perceptual_loss(
        tf.constant(L_VGG), tf.constant(L_RES), vgg_mean=0.2, resnet_mean=0.1, mu=1.0, c=0.0
    )
    assert float(zeta) == pytest.approx(2.0)
    np.testing.assert_allclose(out, [0.34, 0.62], rtol=1e-6)


def test_dual_perceptual_weight_carries_no_gradient():
    a = tf.Variable(1.0)  # feeds l_VGG
    b = tf.Variable(1.0)  # feeds l_RES
    with tf.GradientTape() as tape:
        l_vgg = a * tf.constant(L_VGG)
        l_res = b * tf.constant(L_RES)
        out, zeta = losses.dual_perceptual_loss(l_vgg, l_res, mu=0.5)
        loss = tf.reduce_mean(out)
    g_a, g_b = tape.gradient(loss, [a, b])
    # Only (1/mu) * zeta * d mean(l_RES)/db = 2 * 10 * 0.04; nothing through zeta.
    assert float(g_b) == pytest.approx(2.0 * float(zeta) * 0.04, rel=1e-5)
    assert float(g_b) == pytest.approx(0.8, rel=1e-5)
    assert float(g_a) == pytest.approx(0.4, rel=1e-6)


def test_dual_perceptual_mu_must_be_nonzero():
    with pytest.raises(ValueError, match="nonzero"):
        losses.dual_perceptual_loss(tf.constant(L_VGG), tf.constant(L_RES), mu=0)


# ---------------------------------------------------------------------------
# Adversarial losses
# ---------------------------------------------------------------------------
def test_standard_gan_losses():
    d = [-math.log(sigmoid(r)) - math.log(1 - sigmoid(f)) for r, f in zip(REAL, FAKE)]
    g = [-math.log(sigmoid(f)) for f in FAKE]
    np.testing.assert_allclose(losses.gan_d_loss(as_logits(REAL), as_logits(FAKE)), d, rtol=1e-6)
    np.testing.assert_allclose(losses.gan_g_loss(as_logits(FAKE)), g, rtol=1e-6)


def ragan_by_hand(real, fake, real_mean, fake_mean):
    """ESRGAN Eqs. 1-2 per example, D_Ra(a, b) = sigmoid(C(a) - E[C(b)])."""
    d = [
        -math.log(sigmoid(r - fake_mean)) - math.log(1 - sigmoid(f - real_mean))
        for r, f in zip(real, fake)
    ]
    g = [
        -math.log(1 - sigmoid(r - fake_mean)) - math.log(sigmoid(f - real_mean))
        for r, f in zip(real, fake)
    ]
    return d, g


def test_ragan_losses_by_hand():
    # E[C(x_r)] = 0.25, E[C(x_f)] = -0.4.
    d, g = ragan_by_hand(REAL, FAKE, 0.25, -0.4)
    assert d[0] == pytest.approx(math.log(1 + math.exp(-1.4)) + math.log(1 + math.exp(-0.05)))
    out_d = losses.ragan_d_loss(as_logits(REAL), as_logits(FAKE))
    out_g = losses.ragan_g_loss(as_logits(REAL), as_logits(FAKE))
    assert out_d.shape == (2,) and out_g.shape == (2,)
    np.testing.assert_allclose(out_d, d, rtol=1e-6)
    np.testing.assert_allclose(out_g, g, rtol=1e-6)


def test_ragan_uses_the_given_global_means():
    d, g = ragan_by_hand(REAL, FAKE, real_mean=0.7, fake_mean=-0.1)
    kw = dict(real_mean=0.7, fake_mean=-0.1)
    np.testing.assert_allclose(
        losses.ragan_d_loss(as_logits(REAL), as_logits(FAKE), **kw), d, rtol=1e-6
    )
    np.testing.assert_allclose(
        losses.ragan_g_loss(as_logits(REAL), as_logits(FAKE), **kw), g, rtol=1e-6
    )


def test_per_pixel_logits_average_per_example():
    # [B=2, H=1, W=2, 1] (U-Net discriminator); E[C] over all logits of a side.
    real = [[1.0, 3.0], [-1.0, 0.0]]
    fake = [[0.0, -2.0], [0.5, 0.5]]
    real_mean, fake_mean = 0.75, -0.25
    r4 = tf.constant(real)[:, None, :, None]
    f4 = tf.constant(fake)[:, None, :, None]

    def pixel_mean(fn):
        return [(fn(r[0], f[0]) + fn(r[1], f[1])) / 2 for r, f in zip(real, fake)]

    d = pixel_mean(
        lambda r, f: -math.log(sigmoid(r - fake_mean)) - math.log(1 - sigmoid(f - real_mean))
    )
    np.testing.assert_allclose(losses.ragan_d_loss(r4, f4), d, rtol=1e-6)
    g = [(-math.log(sigmoid(f[0])) - math.log(sigmoid(f[1]))) / 2 for f in fake]
    np.testing.assert_allclose(losses.gan_g_loss(f4), g, rtol=1e-6)
    assert losses.gan_d_loss(r4, f4).shape == (2,)


def test_gan_losses_are_stable_and_float32_for_large_half_logits():
    real = tf.constant([[60000.0], [-60000.0]], tf.float16)
    fake = tf.constant([[-60000.0], [60000.0]], tf.float16)
    for out in (
        losses.gan_d_loss(real, fake),
        losses.gan_g_loss(fake),
        losses.ragan_d_loss(real, fake),
        losses.ragan_g_loss(real, fake),
    ):
        assert out.dtype == tf.float32
        assert np.all(np.isfinite(out.numpy()))
    # -log sigmoid(-6e4) = 6e4 and -log sigmoid(6e4) = 0: no overflow, no log(0).
    np.testing.assert_allclose(losses.gan_g_loss(fake), [60000.0, 0.0], atol=1e-3)


def test_ragan_generator_gets_gradient_through_both_terms():
    fake = tf.Variable(as_logits(FAKE))
    with tf.GradientTape() as tape:
        loss = tf.reduce_mean(losses.ragan_g_loss(as_logits(REAL), fake))
    grad = tape.gradient(loss, fake).numpy().ravel()
    # By hand: d/df_i of mean_j softplus(r_j - mean f) = -mean_j sigmoid(r_j - fbar) / B,
    # plus d/df_i of mean_j softplus(-(f_j - rbar)) = -sigmoid(-(f_i - rbar)) / B.
    fbar, rbar = -0.4, 0.25
    via_real = -sum(sigmoid(r - fbar) for r in REAL) / 2 / 2
    expected = [via_real - sigmoid(-(f - rbar)) / 2 for f in FAKE]
    np.testing.assert_allclose(grad, expected, rtol=1e-5)


# ---------------------------------------------------------------------------
# Constants
# ---------------------------------------------------------------------------
def test_paper_constants():
    assert losses.ESRGAN_ADVERSARIAL_WEIGHT == 5e-3 and losses.ESRGAN_L1_WEIGHT == 1e-2
    assert losses.SRGAN_ADVERSARIAL_WEIGHT == 1e-3
    assert (
        losses.DP_CONTENT_WEIGHT,
        losses.DP_ADVERSARIAL_WEIGHT,
        losses.DP_WEIGHT,
        losses.DP_MU,
    ) == (1e-2, 5e-3, 1.0, 0.5)
    assert losses.DP_RESNET_LAYER == "conv4_block6_out"


# ---------------------------------------------------------------------------
# Each recipe's generator loss against totals computed by hand (NumPy)
# ---------------------------------------------------------------------------
_RNG = np.random.default_rng(7)
G_SR = _RNG.random((4, 6, 6, 3), dtype=np.float32)
G_HR = _RNG.random((4, 6, 6, 3), dtype=np.float32)
_W_VGG = _RNG.normal(size=(3, 5)).astype(np.float32)  # a 1x1 "VGG" conv, 3 -> 5
_W_RES = _RNG.normal(size=(3, 4)).astype(np.float32)  # a 1x1 "ResNet" conv + ReLU
_W_D = np.array([1.5, -2.0, 0.7], np.float32)  # logit: mean over pixels of x . w


def _vgg_np(x):
    return x @ _W_VGG


def _res_np(x):
    return np.maximum(x @ _W_RES, 0.0)


def _logit_np(x):
    return (x @ _W_D).mean(axis=(1, 2))  # [B]


def _vgg(x):
    return {"block5_conv4": tf.einsum("bhwc,cd->bhwd", x, _W_VGG)}


def _res(x):
    return tf.nn.relu(tf.einsum("bhwc,cd->bhwd", x, _W_RES))


def _discriminator(x, training):
    assert training
    return tf.reduce_mean(tf.einsum("bhwc,c->bhw", x, _W_D), axis=[1, 2])[:, None]


def _softplus(z):
    return np.logaddexp(0.0, z)


def _per_example(x):
    return x.reshape(x.shape[0], -1).mean(axis=1)


def _ragan_g_np(sr, hr):
    real, fake = _logit_np(hr), _logit_np(sr)
    # ESRGAN Eq. 2, pair i: -log(1 - D_Ra(x_r, x_f)) - log D_Ra(x_f, x_r).
    return _softplus(real - fake.mean()) + _softplus(-(fake - real.mean()))


ESRGAN_LOSS = LossConfig(  # ESRGAN §4.1: L_percep + 5e-3 L_G^Ra + 1e-2 L_1
    pixel_loss="l1",
    pixel_weight=1e-2,
    perceptual="vgg",
    perceptual_weight=1.0,
    gan_type="ragan",
    adversarial_weight=5e-3,
)
DP_LOSS = LossConfig(  # ESRGAN-DP §4.2: 1e-2 l_content + 5e-3 l_adv + 1 * l_DP, mu 0.5
    pixel_loss="l1",
    pixel_weight=1e-2,
    perceptual="dual",
    perceptual_weight=1.0,
    gan_type="ragan",
    adversarial_weight=5e-3,
    dp_mu=0.5,
)
SRGAN_LOSS = LossConfig(  # SRGAN Eq. 3: l_VGG/5.4 (MSE of maps / 12.75) + 1e-3 l_Gen
    pixel_weight=0.0,
    perceptual="vgg",
    vgg_pre_activation=False,
    perceptual_criterion="mse",
    vgg_feature_scale=1 / 12.75,
    gan_type="gan",
    adversarial_weight=1e-3,
)


def test_esrgan_generator_loss_by_hand():
    total, terms = losses.generator_loss(
        ESRGAN_LOSS, G_SR, G_HR, vgg=_vgg, discriminator=_discriminator
    )
    l1 = _per_example(np.abs(G_SR - G_HR))
    l_vgg = _per_example(np.abs(_vgg_np(G_SR) - _vgg_np(G_HR)))
    adv = _ragan_g_np(G_SR, G_HR)
    np.testing.assert_allclose(terms["l_pix"], l1, rtol=1e-5)
    np.testing.assert_allclose(terms["l_vgg"], l_vgg, rtol=1e-5)
    np.testing.assert_allclose(terms["l_g_adv"], adv, rtol=1e-5)
    np.testing.assert_allclose(total, l_vgg + 5e-3 * adv + 1e-2 * l1, rtol=1e-5)
    assert "l_res" not in terms


def test_dual_perceptual_generator_loss_by_hand():
    total, terms = losses.generator_loss(
        DP_LOSS, G_SR, G_HR, vgg=_vgg, resnet=_res, discriminator=_discriminator
    )
    l1 = _per_example(np.abs(G_SR - G_HR))
    l_vgg = _per_example(np.abs(_vgg_np(G_SR) - _vgg_np(G_HR)))
    l_res = _per_example(np.abs(_res_np(G_SR) - _res_np(G_HR)))
    # ESRGAN-DP Eqs. 8-9: zeta = value((l_VGG + c) / (l_RES + c)) of the batch losses.
    zeta = (l_vgg.mean() + losses.DP_C) / (l_res.mean() + losses.DP_C)
    l_dp = l_vgg + (1 / 0.5) * zeta * l_res
    adv = _ragan_g_np(G_SR, G_HR)
    np.testing.assert_allclose(terms["l_res"], l_res, rtol=1e-5)
    np.testing.assert_allclose(terms["dp_weight"], np.full(4, zeta / 0.5), rtol=1e-5)
    np.testing.assert_allclose(terms["l_percep"], l_dp, rtol=1e-5)
    np.testing.assert_allclose(total, 1e-2 * l1 + 5e-3 * adv + 1.0 * l_dp, rtol=1e-5)
    # The weighted ResNet term equals l_VGG / mu as a batch value.
    assert (l_dp - l_vgg).mean() == pytest.approx(l_vgg.mean() / 0.5, rel=1e-5)


def test_srgan_generator_loss_by_hand():
    total, terms = losses.generator_loss(
        SRGAN_LOSS, G_SR, G_HR, vgg=_vgg, discriminator=_discriminator
    )
    l_vgg = _per_example((_vgg_np(G_SR) / 12.75 - _vgg_np(G_HR) / 12.75) ** 2)
    adv = _softplus(-_logit_np(G_SR))  # -log D(G(I_LR)), SRGAN Eq. 6
    np.testing.assert_allclose(terms["l_vgg"], l_vgg, rtol=1e-5)
    np.testing.assert_allclose(total, l_vgg + 1e-3 * adv, rtol=1e-5)
    assert "l_pix" not in terms  # SRGAN's perceptual loss has no pixel term


@pytest.mark.parametrize("pixel_loss", ["l1", "mse"])
def test_psnr_stage_loss_is_the_pixel_loss_alone(pixel_loss):
    config = LossConfig(pixel_loss=pixel_loss, pixel_weight=1.0)
    total, terms = losses.generator_loss(config, G_SR, G_HR)
    diff = G_SR - G_HR
    expected = _per_example(np.abs(diff) if pixel_loss == "l1" else diff**2)
    np.testing.assert_allclose(total, expected, rtol=1e-5)
    assert set(terms) == {"l_pix", "l_g_total"}


def test_dual_perceptual_gradient_ignores_the_resnet_loss_scale():
    # l_DP's gradient, (l_VGG / mu) grad(log l_RES) + grad(l_VGG), is the same for l_RES
    # and k * l_RES: the magnitude of the ResNet features cannot tilt the balance.
    x = tf.Variable(G_SR)

    def gradient(k):
        with tf.GradientTape() as tape:
            l_vgg = losses.l1_loss(tf.einsum("bhwc,cd->bhwd", x, _W_VGG), _vgg_np(G_HR))
            l_res = losses.l1_loss(k * _res(x), k * _res_np(G_HR))
            l_dp, _ = losses.dual_perceptual_loss(l_vgg, l_res)
            loss = tf.reduce_mean(l_dp)
        return tape.gradient(loss, x).numpy()

    base = gradient(1.0)
    tolerance = 1e-5 * np.abs(base).max()  # exact but for c = 1e-8 << l_RES (0.18 here)
    np.testing.assert_allclose(gradient(255.0), base, rtol=0, atol=tolerance)
    np.testing.assert_allclose(gradient(0.1), base, rtol=0, atol=tolerance)
    # Without the dynamic weight the ResNet term's gradient would scale with k.
    with tf.GradientTape() as tape:
        plain = tf.reduce_mean(losses.l1_loss(255.0 * _res(x), 255.0 * _res_np(G_HR)))
    assert np.abs(tape.gradient(plain, x).numpy()).max() > 10 * np.abs(base).max()


# ---------------------------------------------------------------------------
# Global-batch contract under a 2-replica MirroredStrategy (fresh process: the
# logical CPU devices must be set before TensorFlow initialises).
# ---------------------------------------------------------------------------
_DISTRIBUTED = textwrap.dedent("""
    import json
    import numpy as np
    import tensorflow as tf
    cpu = tf.config.list_physical_devices("CPU")[0]
    tf.config.set_logical_device_configuration(
        cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
    from esrgan_tf import losses

    real = np.array([[1.0], [-0.5], [2.0], [0.3]], np.float32)
    fake = np.array([[0.2], [-1.0], [-0.7], [0.9]], np.float32)
    l_vgg = np.array([0.3, 0.5, 0.1, 0.9], np.float32)
    l_res = np.array([0.02, 0.06, 0.01, 0.03], np.float32)
    GLOBAL = 4
    strategy = tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])
    shard = lambda a: strategy.experimental_distribute_values_from_function(
        lambda ctx: a[2 * ctx.replica_id_in_sync_group:2 * ctx.replica_id_in_sync_group + 2])

    def global_mean(x):
        ctx = tf.distribute.get_replica_context()
        return ctx.all_reduce(tf.distribute.ReduceOp.SUM, tf.reduce_sum(x)) / tf.cast(
            GLOBAL * tf.size(x) // tf.shape(x)[0], tf.float32)

    def step(r, f, v, s):
        rm, fm = global_mean(r), global_mean(f)
        dp, zeta = losses.dual_perceptual_loss(v, s, global_mean(v), global_mean(s))
        avg = lambda l: tf.nn.compute_average_loss(l, global_batch_size=GLOBAL)
        return (avg(losses.ragan_d_loss(r, f, rm, fm)),
                avg(losses.ragan_g_loss(r, f, rm, fm)), avg(dp), zeta)

    per_replica = strategy.run(tf.function(step),
                               args=(shard(real), shard(fake), shard(l_vgg), shard(l_res)))
    d, g, dp = (float(strategy.reduce(tf.distribute.ReduceOp.SUM, x, axis=None))
                for x in per_replica[:3])
    zetas = [float(z) for z in strategy.experimental_local_results(per_replica[3])]

    def no_means(r, f):
        return losses.ragan_d_loss(r, f)
    try:
        strategy.run(tf.function(no_means), args=(shard(real), shard(fake)))
        error = ""
    except ValueError as e:
        error = str(e)
    ref_dp, ref_zeta = losses.dual_perceptual_loss(l_vgg, l_res)
    print(json.dumps(dict(
        d=d, g=g, dp=dp, zetas=zetas, error=error,
        ref_d=float(tf.reduce_mean(losses.ragan_d_loss(real, fake))),
        ref_g=float(tf.reduce_mean(losses.ragan_g_loss(real, fake))),
        ref_dp=float(tf.reduce_mean(ref_dp)), ref_zeta=float(ref_zeta))))
""")


@pytest.mark.slow
def test_global_means_make_replicas_match_one_big_batch():
    env = {
        **os.environ,
        "TF_CPP_MIN_LOG_LEVEL": "3",
        "PYTHONPATH": os.pathsep.join([os.getcwd(), os.environ.get("PYTHONPATH", "")]),
    }
    proc = subprocess.run(
        [sys.executable, "-c", _DISTRIBUTED], capture_output=True, text=True, env=env, timeout=300
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    r = json.loads(proc.stdout.strip().splitlines()[-1])
    assert r["d"] == pytest.approx(r["ref_d"], rel=1e-5)
    assert r["g"] == pytest.approx(r["ref_g"], rel=1e-5)
    assert r["dp"] == pytest.approx(r["ref_dp"], rel=1e-5)
    assert r["zetas"] == pytest.approx([r["ref_zeta"]] * 2, rel=1e-5)
    assert "global batch" in r["error"]


def test_usm_target_for_pixels_and_plain_hr_for_the_relativistic_term():
    """Real-ESRGAN: L1 against the sharpened HR, the GAN against the plain one."""
    config = LossConfig(pixel_weight=1.0, gan_type="ragan", adversarial_weight=0.5)
    hr_usm = HR + 0.05

    def discriminator(images, training):  # logits: each image's mean, times 3
        del training
        return 3.0 * tf.reduce_mean(images, axis=[1, 2, 3])[:, None]

    total, terms = losses.generator_loss(config, SR, hr_usm, discriminator=discriminator, gan_hr=HR)
    real = [3.0 * float(np.mean(HR[i])) for i in range(2)]
    fake = [3.0 * float(np.mean(SR[i])) for i in range(2)]
    _, g = ragan_by_hand(real, fake, np.mean(real), np.mean(fake))
    l1 = np.abs(SR - hr_usm).reshape(2, -1).mean(axis=1)
    np.testing.assert_allclose(terms["l_pix"], l1, rtol=1e-6)
    np.testing.assert_allclose(terms["l_g_adv"], g, rtol=1e-5)
    np.testing.assert_allclose(total, l1 + 0.5 * np.array(g), rtol=1e-5)
    # Without gan_hr the relativistic term compares with the pixel target.
    _, plain = losses.generator_loss(config, SR, hr_usm, discriminator=discriminator)
    assert not np.allclose(plain["l_g_adv"], g, rtol=1e-3)
