"""Losses of SRGAN, ESRGAN and ESRGAN-DP as pure per-example functions.

Every function returns a float32 tensor of shape [B] whose batch mean is the
paper's loss; it never reduces over the batch. The trainer reduces with
`tf.nn.compute_average_loss(per_example, global_batch_size=...)`: under a
distribution strategy gradients are summed across replicas, so each replica
must divide by the global batch size, not its own.

Two losses also need batch statistics (the relativistic discriminator's
E[C(x)] and the dual perceptual loss's dynamic weight). They take them as
optional arguments so that the trainer can pass means over the *global* batch
(a cross-replica `ReplicaContext.all_reduce`), making every replica compute the
same loss as one big-batch device would. When the arguments are omitted the
local batch mean is used, which is only right on a single replica; with several
replicas in sync the functions raise instead of silently diverging.

Inputs may be float16/bfloat16 (mixed precision); losses are computed in float32.
"""

import tensorflow as tf

# ---------------------------------------------------------------------------
# Paper constants
# ---------------------------------------------------------------------------
# ESRGAN, Eq. 3: L_G = L_percep + lambda * L_G^Ra + eta * L_1.
ESRGAN_ADVERSARIAL_WEIGHT = 5e-3  # lambda = 5e-3: ESRGAN §4.1
ESRGAN_L1_WEIGHT = 1e-2  # eta = 1e-2: ESRGAN §4.1
ESRGAN_PERCEPTUAL_WEIGHT = 1.0  # L_percep unweighted: ESRGAN Eq. 3 (§3.3)
# VGG19-54 before activation, L1 distance: ESRGAN §3.3 and footnote 1; the official
# BasicSR config (train_ESRGAN_x4.yml) uses conv5_4 "before relu", criterion l1.
ESRGAN_VGG_LAYER = "block5_conv4"

# SRGAN, Eq. 3: l^SR = l_X^SR + 1e-3 * l_Gen^SR.
SRGAN_ADVERSARIAL_WEIGHT = 1e-3  # SRGAN §2.2, Eq. 3
SRGAN_VGG_LAYER = "block5_conv4"  # phi_{5,4} after activation, MSE: SRGAN §2.2.1, §3.4
# "VGG feature maps were also rescaled by a factor of 1/12.75 ... equivalent to
# multiplying Equation 5 with a rescaling factor of ~0.006": SRGAN arXiv:1609.04802v5
# §3.2 (the sentence is not in the CVPR text). Scales the maps, so the MSE by 1/12.75**2.
SRGAN_FEATURE_SCALE = 1.0 / 12.75

# ESRGAN-DP, Eq. 2: L = lambda * l_content + eta * l_adversarial + gamma * l_DP
# (note: lambda and eta swap meaning relative to ESRGAN's Eq. 3).
DP_CONTENT_WEIGHT = 1e-2  # lambda = 1e-2 (L1 content): ESRGAN-DP §4.2
DP_ADVERSARIAL_WEIGHT = 5e-3  # eta = 5e-3 (RaGAN): ESRGAN-DP §4.2
DP_WEIGHT = 1.0  # gamma = 1: ESRGAN-DP §4.2
DP_MU = 0.5  # mu = 0.5: ESRGAN-DP §4.3.1 (best LPIPS, Table 1)
DP_VGG_LAYER = "block5_conv4"  # Phi_{5,4} before activation, L1: ESRGAN-DP §3.2.1, §4.3
DP_RESNET_LAYER = "conv4_block6_out"  # beta_{3,6} after activation: ESRGAN-DP §4.3.2
# c: "a tiny positive constant ... just to keep the denominator from being zero",
# ESRGAN-DP §3.2.2 (Eq. 9). The paper gives no value; this one is ours.
DP_C = 1e-8


# ---------------------------------------------------------------------------
# Helpers
# ---------------------------------------------------------------------------
def _f32(x):
    return tf.cast(x, tf.float32)


def _per_example_mean(x):
    """Mean over every axis but the first: [B, ...] -> [B]."""
    return tf.reduce_mean(tf.reshape(x, [tf.shape(x)[0], -1]), axis=1)


def _batch_mean(x, given, name):
    """`given` (a global mean from the trainer) or the local mean of every element."""
    if given is not None:
        return _f32(given)
    ctx = tf.distribute.get_replica_context()
    if ctx is not None and ctx.num_replicas_in_sync > 1:
        raise ValueError(
            f"{name} is None inside a {ctx.num_replicas_in_sync}-replica strategy: pass "
            f"the mean over the global batch (ReplicaContext.all_reduce) so that all "
            f"replicas use the same value"
        )
    return tf.reduce_mean(x)


# ---------------------------------------------------------------------------
# Pixel losses
# ---------------------------------------------------------------------------
def l1_loss(sr, hr):
    """Per-example mean absolute error over H, W, C: [B].

    Reference: ESRGAN Eq. 3 (L_1 content loss); ESRGAN-DP Eq. 2 (l_content).
    """
    return _per_example_mean(tf.abs(_f32(sr) - _f32(hr)))


def mse_loss(sr, hr):
    """Per-example mean squared error over H, W, C: [B].

    Reference: SRGAN §2.2.1, Eq. 4.
    """
    return _per_example_mean(tf.math.squared_difference(_f32(sr), _f32(hr)))


# ---------------------------------------------------------------------------
# Perceptual losses
# ---------------------------------------------------------------------------
def perceptual_loss(
    sr_features, hr_features, layer_weights=None, criterion="l1", feature_scale=1.0
):
    """Weighted sum over layers of the per-example feature distance: [B].

    Args:
        sr_features: features of the super-resolved images: a dict name -> [B, h, w, c]
            (as `VGGFeatures` returns) or a single tensor (as `ResNetFeatures`).
        hr_features: the same for the ground truth; no gradient flows into them.
        layer_weights: dict name -> weight; None weighs every layer 1.
        criterion: "l1" (ESRGAN §3.3, ESRGAN-DP Eqs. 4-5) or "mse" (SRGAN Eq. 5).
        feature_scale: multiplies both feature maps before the distance
            (`SRGAN_FEATURE_SCALE` = 1/12.75 for SRGAN's VGG54).
    Each layer's distance is averaged over h, w and c.
    """
    if criterion == "l1":
        distance = l1_loss
    elif criterion == "mse":
        distance = mse_loss
    else:
        raise ValueError(f"criterion must be 'l1' or 'mse', got {criterion!r}")
    if not isinstance(sr_features, dict):
        sr_features, hr_features = {"features": sr_features}, {"features": hr_features}
    if set(sr_features) != set(hr_features):
        raise ValueError(
            f"sr and hr features have different layers: "
            f"{sorted(sr_features)} vs {sorted(hr_features)}"
        )
    if layer_weights is None:
        layer_weights = {name: 1.0 for name in sr_features}
    missing = set(sr_features) - set(layer_weights)
    if missing:
        raise ValueError(f"layer_weights has no weight for {sorted(missing)}")
    total = 0.0
    for name in sorted(sr_features):
        sr = _f32(sr_features[name]) * feature_scale
        hr = tf.stop_gradient(_f32(hr_features[name])) * feature_scale
        total += layer_weights[name] * distance(sr, hr)
    return total


def dual_perceptual_loss(vgg_loss, resnet_loss, vgg_mean=None, resnet_mean=None, mu=DP_MU, c=DP_C):
    """ESRGAN-DP's dual perceptual loss, per example; returns (loss [B], zeta).

    l_DP = l_VGG + (1 / mu) * zeta * l_RES,  zeta = value((l_VGG + c) / (l_RES + c))
    where value() cuts the gradient: zeta only rescales the ResNet loss, it never
    changes the update direction. As a value, the weighted ResNet term always equals
    l_VGG / mu; its gradient is (l_VGG / mu) * grad(log l_RES), unchanged when l_RES is
    multiplied by any constant, so the magnitude of the ResNet features (Caffe vs
    torchvision weights, the input range) does not tilt the VGG / ResNet balance.
    ESRGAN-DP's public code computes the same ratio of batch means (without c).

    zeta is a ratio of batch losses, so it must be the same on every replica:
    pass `vgg_mean` / `resnet_mean`, the means of `vgg_loss` / `resnet_loss`
    over the global batch (e.g. `ctx.all_reduce(SUM, tf.reduce_sum(l)) /
    global_batch_size` in the replica function). If omitted, the local batch means
    are used (single replica only).

    Args:
        vgg_loss: per-example VGG loss l_VGG [B] (`perceptual_loss` on
            `VGGFeatures(("block5_conv4",), pre_activation=True)`, criterion "l1").
        resnet_loss: per-example ResNet loss l_RES [B] (`perceptual_loss` on
            `ResNetFeatures("conv4_block6_out")`, criterion "l1").
        vgg_mean, resnet_mean: global batch means of the two losses (scalars).
        mu: the nonzero constant mu (0.5 in the paper).
        c: the tiny constant that keeps the denominator nonzero.
    Returns:
        The per-example l_DP [B] and the scalar zeta (without the 1/mu factor).
    Reference: Song et al., "Dual Perceptual Loss for Single Image Super-Resolution
    Using ESRGAN", §3.2.2, Eqs. 8-9 and Algorithm 1.
    """
    if mu == 0:
        raise ValueError("mu must be nonzero (ESRGAN-DP Eq. 8)")
    vgg_loss, resnet_loss = _f32(vgg_loss), _f32(resnet_loss)
    vgg_mean = _batch_mean(vgg_loss, vgg_mean, "vgg_mean")
    resnet_mean = _batch_mean(resnet_loss, resnet_mean, "resnet_mean")
    zeta = tf.stop_gradient((vgg_mean + c) / (resnet_mean + c))
    return vgg_loss + (1.0 / mu) * zeta * resnet_loss, zeta


# ---------------------------------------------------------------------------
# Adversarial losses (on logits: the discriminators have no sigmoid)
# ---------------------------------------------------------------------------
# -log sigmoid(z) = softplus(-z) and -log(1 - sigmoid(z)) = softplus(z): the binary
# cross-entropies with targets 1 and 0, stable for any logit.
def gan_d_loss(real_logits, fake_logits):
    """Standard GAN discriminator loss: BCE(real, 1) + BCE(fake, 0), per example [B].

    Logits of shape [B, 1] or per pixel [B, H, W, 1] (averaged per example).
    Reference: SRGAN §2.1, Eq. 2 (Goodfellow et al., 2014).
    """
    return _per_example_mean(tf.nn.softplus(-_f32(real_logits))) + _per_example_mean(
        tf.nn.softplus(_f32(fake_logits))
    )


def gan_g_loss(fake_logits):
    """Non-saturating generator loss -log D(G(x)) = BCE(fake, 1), per example [B].

    Reference: SRGAN §2.2.2, Eq. 6.
    """
    return _per_example_mean(tf.nn.softplus(-_f32(fake_logits)))


def ragan_d_loss(real_logits, fake_logits, real_mean=None, fake_mean=None):
    """Relativistic average discriminator loss, per example [B]. ESRGAN Eq. 1:

    L_D^Ra = -E_xr[log D_Ra(x_r, x_f)] - E_xf[log(1 - D_Ra(x_f, x_r))],
    D_Ra(x_r, x_f) = sigmoid(C(x_r) - E_xf[C(x_f)]).

    Example i pairs the i-th real and i-th fake image, so the batch mean of the
    result is L_D^Ra. E[C(.)] is the mean of every logit of that side (all
    examples and, for a U-Net discriminator, all pixels): pass `real_mean` /
    `fake_mean` computed over the global batch under a distribution strategy;
    keep them differentiable (all_reduce is) for the exact gradient.

    Default and deviation: this is the exact gradient of Eq. 1, D also learning through
    E[C(x_f)] in the real term and E[C(x_r)] in the fake term. The official ESRGAN code
    (BasicSR's `ESRGANModel`) detaches both means (`torch.mean(fake_d_pred)` of a detached
    prediction, `real_d_pred.detach()`), so its D gradient flows only through C(x_r) and
    C(x_f) of each term, and it halves the loss (`* 0.5` per term). Both train the same
    kind of relativistic D; the paper's equation is the default here.

    Args:
        real_logits, fake_logits: C(x_r), C(x_f) of shape [B, 1] or [B, H, W, 1].
        real_mean, fake_mean: optional scalar E[C(x_r)], E[C(x_f)].
    Reference: ESRGAN §3.2, Eq. 1; Jolicoeur-Martineau, ICLR 2019.
    """
    real, fake = _f32(real_logits), _f32(fake_logits)
    real_mean = _batch_mean(real, real_mean, "real_mean")
    fake_mean = _batch_mean(fake, fake_mean, "fake_mean")
    return _per_example_mean(tf.nn.softplus(-(real - fake_mean))) + _per_example_mean(
        tf.nn.softplus(fake - real_mean)
    )


def ragan_g_loss(real_logits, fake_logits, real_mean=None, fake_mean=None):
    """Relativistic average generator loss, per example [B]. ESRGAN Eq. 2:

    L_G^Ra = -E_xr[log(1 - D_Ra(x_r, x_f))] - E_xf[log D_Ra(x_f, x_r)].

    Both terms are kept: the generator gets gradients through the fake logits and
    through E[C(x_f)] in the real term. Same arguments as `ragan_d_loss`.
    The official ESRGAN code averages the two terms, (real + fake) / 2, in both
    losses, i.e. trains with half the paper's lambda; this follows the paper.
    Reference: ESRGAN §3.2, Eq. 2.
    """
    real, fake = _f32(real_logits), _f32(fake_logits)
    real_mean = _batch_mean(real, real_mean, "real_mean")
    fake_mean = _batch_mean(fake, fake_mean, "fake_mean")
    return _per_example_mean(tf.nn.softplus(real - fake_mean)) + _per_example_mean(
        tf.nn.softplus(-(fake - real_mean))
    )


# ---------------------------------------------------------------------------
# Each recipe's composition (SRGAN, ESRGAN, ESRGAN-DP and the PSNR stages)
# ---------------------------------------------------------------------------
def _local_mean(per_example):
    return _batch_mean(_f32(per_example), None, "global_mean")


def logits_mean(logits, global_mean=None):
    """E[C(x)] over every logit of a batch: the mean of the per-example logit means."""
    return (global_mean or _local_mean)(_per_example_mean(_f32(logits)))


def generator_loss(
    config, sr, hr, *, vgg=None, resnet=None, discriminator=None, global_mean=None, gan_hr=None
):
    """The generator loss of one recipe, per example; returns (total [B], {term: [B]}).

    L_G = pixel_weight * L_pix + perceptual_weight * L_percep + adversarial_weight * L_adv
    (ESRGAN Eq. 3 with eta, 1 and lambda; ESRGAN-DP Eq. 2 with lambda, gamma and eta;
    SRGAN Eq. 3 with 1e-3 on l_Gen), where L_percep is the VGG loss, or with `resnet` the
    dual perceptual loss. A term whose network is None (or whose weight is 0) is left out.

    Args:
        config: a `LossConfig` (pixel_loss, pixel_weight, perceptual_weight, vgg_layers,
            vgg_layer_weights, perceptual_criterion, vgg_feature_scale, dp_mu, gan_type,
            adversarial_weight).
        sr, hr: the generator's output and the ground truth, [B, H, W, 3]: the target of the
            pixel and perceptual terms.
        vgg: `VGGFeatures` of the perceptual loss, or None.
        resnet: `ResNetFeatures` of the dual perceptual loss (with `vgg`), or None.
        discriminator: the discriminator (called in training mode), or None for a PSNR stage.
        global_mean: per-example [B] -> scalar mean over the GLOBAL batch (a cross-replica
            all-reduce under a strategy); None: the local mean (one replica only). The
            relativistic means E[C(.)] and the DP weight use it, so that every replica
            computes the loss one device with the whole batch would.
        gan_hr: the real images of the relativistic term, when they are not `hr`
            (Real-ESRGAN: pixel and perceptual losses against the USM-sharpened ground truth,
            `l1_gt_usm` / `percep_gt_usm: True`, the GAN against the plain one,
            `gan_gt_usm: False`). None: `hr`.
    Returns:
        (total, terms): the per-example L_G and its terms ("l_pix", "l_vgg", "l_res",
        "dp_weight", "l_percep", "l_g_adv"), each [B]; reduce them with the global batch.
    """
    c = config
    global_mean = global_mean or _local_mean
    terms = {}
    total = tf.zeros([tf.shape(sr)[0]])
    if c.pixel_weight:
        pixel = l1_loss if c.pixel_loss == "l1" else mse_loss
        terms["l_pix"] = pixel(sr, hr)
        total += c.pixel_weight * terms["l_pix"]
    if vgg is not None:
        weights = dict(zip(c.vgg_layers, c.vgg_layer_weights))
        l_vgg = perceptual_loss(
            vgg(sr), vgg(hr), weights, c.perceptual_criterion, c.vgg_feature_scale
        )
        terms["l_vgg"] = percep = l_vgg
        if resnet is not None:
            l_res = perceptual_loss(resnet(sr), resnet(hr), criterion=c.perceptual_criterion)
            percep, zeta = dual_perceptual_loss(
                l_vgg, l_res, global_mean(l_vgg), global_mean(l_res), c.dp_mu
            )
            terms["l_res"] = l_res
            terms["dp_weight"] = tf.fill(tf.shape(l_res), zeta / c.dp_mu)
        terms["l_percep"] = percep
        total += c.perceptual_weight * percep
    if discriminator is not None:
        fake = discriminator(sr, training=True)
        if c.gan_type == "ragan":
            # D is not updated by this loss: its real logits are constants here, as the
            # official code's `real_d_pred.detach()` in its G step. C(x_r) does not depend
            # on G, so this changes no gradient of G; E[C(x_f)] in the real term stays
            # differentiable (Eq. 2), as in the official code.
            real_images = hr if gan_hr is None else gan_hr
            real = tf.stop_gradient(discriminator(real_images, training=True))
            adv = ragan_g_loss(
                real, fake, logits_mean(real, global_mean), logits_mean(fake, global_mean)
            )
        else:
            adv = gan_g_loss(fake)
        terms["l_g_adv"] = adv
        total += c.adversarial_weight * adv
    terms["l_g_total"] = total
    return total, terms


def discriminator_loss(gan_type, hr, sr, discriminator, global_mean=None):
    """The discriminator loss of a GAN stage, per example; returns (l_d [B], {stat: [B]}).

    D scores the ground truth `hr` and the generator's `sr` of the same step, taken as a
    constant (no gradient into G). Stats: the mean logits and probabilities of both sides.
    """
    real = discriminator(hr, training=True)
    fake = discriminator(tf.stop_gradient(sr), training=True)
    if gan_type == "ragan":
        d = ragan_d_loss(real, fake, logits_mean(real, global_mean), logits_mean(fake, global_mean))
    else:
        d = gan_d_loss(real, fake)
    stats = {
        "l_d": d,
        "d_real_logit": _per_example_mean(_f32(real)),
        "d_fake_logit": _per_example_mean(_f32(fake)),
        "d_real_prob": _per_example_mean(tf.sigmoid(_f32(real))),
        "d_fake_prob": _per_example_mean(tf.sigmoid(_f32(fake))),
    }
    return d, stats
