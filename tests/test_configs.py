"""The flagfiles in configs/: every one resolves (nested --flagfile included) to a train
`RunConfig`, and the papers' stages carry the constants their papers give.

The expected values are written here from the papers (/work/shared/papers), each with its
section; nothing is computed by the code under test. Where a flagfile departs from its
paper on purpose, the expected value is the flagfile's and the comment says why.
"""

import glob
import os

import pytest

from esrgan_tf import cli, losses
from esrgan_tf.training import optimization
from esrgan_tf.training.config import RunConfig

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FLAGFILES = sorted(os.path.basename(p) for p in glob.glob(os.path.join(ROOT, "configs", "*.flags")))

# ESRGAN (Wang et al. 2018; arXiv version with the supplementary material).
ESRGAN_COMMON = {
    "model.scale": 4,  # x4 "following SRGAN", ESRGAN §4.1
    "model.generator": "rrdbnet",
    "model.num_block": 23,  # "a deeper model with 23 RRDB blocks", ESRGAN §4.1
    "model.num_feat": 64,  # official RRDB_ESRGAN_x4 (16,697,987 parameters)
    "model.num_grow_ch": 32,
    "input.batch_size": 16,  # "The mini-batch size is set to 16", ESRGAN §4.1
    "adam_beta1": 0.9,  # Adam beta1 = 0.9, beta2 = 0.999, ESRGAN §4.1
    "adam_beta2": 0.999,
    "input.augment": True,  # "random horizontal flips and 90 degree rotations", ESRGAN §4.2
    "input.rotate": True,
}
# options/train_realesrnet_x4plus.yml (the GAN stage's file has the same data settings).
REAL_ESRNET = {
    "model.scale": 4,  # scale: 4
    "model.generator": "rrdbnet",  # network_g: RRDBNet, num_feat 64, num_block 23, grow 32
    "model.num_feat": 64,
    "model.num_block": 23,
    "model.num_grow_ch": 32,
    "input.hr_size": 256,  # gt_size: 256
    "input.batch_size": 48,  # batch_size_per_gpu: 12 on num_gpu: 4
    "input.augment": True,  # use_hflip: True
    "input.rotate": False,  # use_rot: False
    "input.degradation": "realesrgan",  # the first / second degradation process
    "input.usm_target": True,  # gt_usm: True (l1_gt_usm / percep_gt_usm: True in the GAN's)
    "input.data": "data/df2k_ost",  # DF2K + OST
    "loss.pixel_loss": "l1",  # pixel_opt: L1Loss, loss_weight: 1.0
    "loss.pixel_weight": 1.0,
    "loss.perceptual": "none",
    "loss.gan_type": "none",
    "lr_g": 2e-4,  # optim_g: lr 2e-4
    "adam_beta1": 0.9,  # betas: [0.9, 0.99]
    "adam_beta2": 0.99,
    "lr_milestones": (),  # milestones: [1000000], i.e. never before the end
    "total_steps": 1_000_000,  # total_iter: 1000000
    "ema_decay": 0.999,  # ema_decay: 0.999
}
PAPER_VALUES = {
    "esrgan_psnr.flags": {
        **ESRGAN_COMMON,
        # "we use 192 x 192 for PSNR-oriented methods", ESRGAN supplementary §4.
        "input.hr_size": 192,
        "input.data": "data/df2k",  # RRDB (ours) DF2K, supplementary Table 2
        # "train a PSNR-oriented model with the L1 loss", ESRGAN §4.1.
        "loss.pixel_loss": "l1",
        "loss.pixel_weight": 1.0,
        "loss.perceptual": "none",
        "loss.gan_type": "none",
        # "initialized as 2e-4 and decayed by a factor of 2 every 2e5", ESRGAN §4.1.
        "lr_g": 2e-4,
        "lr_gamma": 0.5,
        "lr_milestones": (200_000, 400_000, 600_000, 800_000),
        "total_steps": 1_000_000,  # no total in the paper: the official train_RRDB_PSNR
    },
    "esrgan.flags": {
        **ESRGAN_COMMON,
        "input.hr_size": 128,  # "cropped HR patch is 128 x 128", ESRGAN §4.1
        "input.data": "data/df2k_ost",  # DF2K + OST for perceptual methods, supp. §3, §4.2
        # Eq. 3: L_G = L_percep + lambda L_G^Ra + eta L_1, lambda = 5e-3, eta = 1e-2 (§4.1).
        "loss.perceptual": "vgg",
        "loss.perceptual_weight": 1.0,
        "loss.vgg_layers": ("block5_conv4",),  # VGG19-54 before activation, ESRGAN §3.3
        "loss.vgg_pre_activation": True,
        "loss.perceptual_criterion": "l1",
        "loss.gan_type": "ragan",  # ESRGAN §3.2
        "loss.adversarial_weight": 5e-3,
        "loss.pixel_loss": "l1",
        "loss.pixel_weight": 1e-2,
        # "set to 1e-4 and halved at [50k, 100k, 200k, 300k] iterations", ESRGAN §4.1.
        "lr_g": 1e-4,
        "lr_d": 1e-4,
        "lr_gamma": 0.5,
        "lr_milestones": (50_000, 100_000, 200_000, 300_000),
        "total_steps": 400_000,  # "until the model converges": the official train_ESRGAN_x4
        # The official discriminator_VGG_128: 4x4 stride-2 convs, 100 hidden units.
        "model.discriminator": "vgg",
        "model.d_num_feat": 64,
        "model.d_strided_kernel": 4,
        "model.d_dense_units": 100,
    },
    # ESRGAN-DP (Song et al.): "The setting of experimental parameters follows [22]", §4.2.
    "esrgan_dp.flags": {
        **ESRGAN_COMMON,
        "input.hr_size": 128,  # DP §4.2
        "input.data": "data/div2k",  # DIV2K's 800 images only, DP §4.1
        # Eq. 2: L = lambda l_content + eta l_adversarial + gamma l_DP with lambda = 1e-2,
        # eta = 5e-3, gamma = 1 (DP §4.2).
        "loss.pixel_loss": "l1",
        "loss.pixel_weight": 1e-2,
        "loss.adversarial_weight": 5e-3,
        "loss.perceptual": "dual",
        "loss.perceptual_weight": 1.0,
        "loss.gan_type": "ragan",  # RaGAN, DP §3.1 Eq. 3
        "loss.dp_mu": 0.5,  # DP §4.3.1
        "loss.resnet_layers": ("conv4_block6_out",),  # beta_{3,6}, DP §4.3.2
        "loss.resnet_preprocess": "caffe",  # Keras's ImageNet ResNet50 weights' input
        "loss.vgg_layers": ("block5_conv4",),  # Phi_{5,4} before activation, DP §4.3
        "loss.vgg_pre_activation": True,
        "loss.perceptual_criterion": "l1",  # Eqs. 4-5: L1 (Manhattan) distances
        "total_steps": 400_000,  # "400K iterations in total", DP §4.2
        "lr_milestones": (50_000, 100_000, 200_000, 300_000),  # DP §4.2
        "lr_gamma": 0.5,
        # DP §4.2 prints an initial rate of 1e-2 while following ESRGAN, whose rate is 1e-4:
        # the flagfile explains why it takes 1e-4.
        "lr_g": 1e-4,
        "lr_d": 1e-4,
        "adam_beta2": 0.99,  # beta1 = 0.9, beta2 = 0.99, DP §4.2
    },
    # SRGAN (Ledig et al. 2017), §3.2 for every value unless said otherwise.
    "srresnet_mse.flags": {
        "model.scale": 4,  # "downsampling factor r = 4"
        "model.generator": "srresnet",
        "model.num_block": 16,  # "16 identical (B = 16) residual blocks"
        "model.num_feat": 64,  # "64 feature maps", §2.2
        "model.use_bn": True,  # batch-normalization layers, §2.2
        "input.hr_size": 96,  # "16 random 96 x 96 HR sub images"
        "input.batch_size": 16,
        "input.data": "data/imagenet350k",  # 350 thousand ImageNet images
        "input.augment": False,  # no flips or rotations mentioned
        "loss.pixel_loss": "mse",  # SRResNet-MSE, Eq. 4
        "loss.pixel_weight": 1.0,
        "loss.perceptual": "none",
        "loss.gan_type": "none",
        "lr_g": 1e-4,  # "a learning rate of 10^-4 and 10^6 update iterations"
        "lr_milestones": (),
        "total_steps": 1_000_000,
        "adam_beta1": 0.9,  # "Adam with beta_1 = 0.9" (beta_2 unstated: Adam's 0.999)
        "adam_beta2": 0.999,
    },
    "srgan.flags": {
        "model.generator": "srresnet",
        "model.num_block": 16,
        "input.hr_size": 96,
        "input.batch_size": 16,
        "input.data": "data/imagenet350k",
        "input.augment": False,
        # l^SR = l_VGG/5.4^SR + 1e-3 l_Gen^SR (Eq. 3): phi_{5,4} after activation, MSE on maps
        # rescaled by 1/12.75 (arXiv v5 §3.2), no pixel loss.
        "loss.perceptual": "vgg",
        "loss.vgg_layers": ("block5_conv4",),
        "loss.vgg_pre_activation": False,
        "loss.perceptual_criterion": "mse",
        "loss.vgg_feature_scale": pytest.approx(1 / 12.75),
        "loss.perceptual_weight": 1.0,
        "loss.pixel_weight": 0.0,
        "loss.gan_type": "gan",
        "loss.adversarial_weight": 1e-3,
        # "10^5 update iterations at a learning rate of 10^-4 and another 10^5 iterations at
        # a lower rate of 10^-5".
        "lr_g": 1e-4,
        "lr_d": 1e-4,
        "lr_milestones": (100_000,),
        "lr_gamma": pytest.approx(0.1),
        "total_steps": 200_000,
        # Fig. 4: 3x3 kernels throughout, a 1024-unit dense layer.
        "model.discriminator": "vgg",
        "model.d_strided_kernel": 3,
        "model.d_dense_units": 1024,
    },
    # Real-ESRGAN (Wang et al., ICCVW 2021): the paper is not in /work/shared/papers, so the
    # values are the official option files', options/train_realesrnet_x4plus.yml and
    # options/train_realesrgan_x4plus.yml of xinntao/Real-ESRGAN (quoted per line).
    "realesrnet_x4plus.flags": REAL_ESRNET,
    "realesrgan_x4plus.flags": {
        **REAL_ESRNET,
        "input.data": "data/df2k_ost",
        "loss.pixel_weight": 1.0,  # pixel_opt: L1Loss, loss_weight: 1.0
        # perceptual_opt: layer_weights {'conv1_2': 0.1, 'conv2_2': 0.1, 'conv3_4': 1,
        # 'conv4_4': 1, 'conv5_4': 1} "# before relu", vgg_type: vgg19, criterion: l1,
        # perceptual_weight: 1.0; BasicSR's convI_J is Keras's blockI_convJ.
        "loss.perceptual": "vgg",
        "loss.vgg_layers": (
            "block1_conv2",
            "block2_conv2",
            "block3_conv4",
            "block4_conv4",
            "block5_conv4",
        ),
        "loss.vgg_layer_weights": (0.1, 0.1, 1.0, 1.0, 1.0),
        "loss.vgg_pre_activation": True,
        "loss.perceptual_criterion": "l1",
        "loss.perceptual_weight": 1.0,
        "loss.gan_type": "gan",  # gan_opt: gan_type: vanilla
        "loss.adversarial_weight": 0.1,  # loss_weight: !!float 1e-1
        "model.discriminator": "unet",  # network_d: UNetDiscriminatorSN, num_feat: 64
        "model.d_num_feat": 64,
        "lr_g": 1e-4,  # optim_g: lr 1e-4, betas [0.9, 0.99]
        "lr_d": 1e-4,  # optim_d: lr 1e-4, betas [0.9, 0.99]
        "total_steps": 400_000,  # total_iter: 400000
    },
}


def resolve(name, workdir):
    """The `RunConfig` of `python -m esrgan_tf.train --flagfile=configs/<name>` run from the
    repository root (nested flagfile paths are relative to it)."""
    return cli.parse(RunConfig, [f"--flagfile=configs/{name}", f"--workdir={workdir}"])


def value(stage, dotted):
    node = stage
    for part in dotted.split("."):
        node = getattr(node, part)
    return node


@pytest.fixture
def at_root(monkeypatch):
    monkeypatch.chdir(ROOT)


def test_the_paper_flagfiles_exist():
    assert set(PAPER_VALUES) <= set(FLAGFILES)


@pytest.mark.parametrize("name", FLAGFILES)
def test_every_flagfile_resolves_to_a_run_config(name, at_root, tmp_path):
    config = resolve(name, tmp_path)
    assert config.stage.workdir == str(tmp_path)
    assert config.stage.input.data


@pytest.mark.parametrize("name", sorted(PAPER_VALUES))
def test_flagfile_constants_are_the_papers(name, at_root, tmp_path):
    stage = resolve(name, tmp_path).stage
    wrong = {
        key: (value(stage, key), expected)
        for key, expected in PAPER_VALUES[name].items()
        if not value(stage, key) == expected
    }
    assert not wrong, f"configs/{name}: (resolved, paper) = {wrong}"


def rates(stage, updates):
    schedule = optimization.learning_rate(stage.lr_g, stage.lr_milestones, stage.lr_gamma)
    return [float(schedule(u)) if callable(schedule) else schedule for u in updates]


def test_learning_rate_schedules_are_the_papers(at_root, tmp_path):
    # ESRGAN §4.1: PSNR stage 2e-4 halved every 2e5 updates.
    psnr = resolve("esrgan_psnr.flags", tmp_path).stage
    got = rates(psnr, [1, 199_999, 200_000, 400_000, 999_999, 1_000_000])
    assert got == pytest.approx([2e-4, 2e-4, 1e-4, 5e-5, 1.25e-5, 1.25e-5])
    # ESRGAN §4.1: GAN stage 1e-4 halved at 50k, 100k, 200k, 300k.
    gan = resolve("esrgan.flags", tmp_path).stage
    got = rates(gan, [49_999, 50_000, 100_000, 200_000, 300_000, 400_000])
    assert got == pytest.approx([1e-4, 5e-5, 2.5e-5, 1.25e-5, 6.25e-6, 6.25e-6])
    # SRGAN §3.2: 1e5 updates at 1e-4, then 1e5 at 1e-5.
    srgan = resolve("srgan.flags", tmp_path).stage
    assert rates(srgan, [1, 100_000 - 1, 100_000, 200_000]) == pytest.approx(
        [1e-4, 1e-4, 1e-5, 1e-5]
    )


def test_flagfile_weights_agree_with_the_loss_module_constants(at_root, tmp_path):
    # The constants in esrgan_tf.losses name the same paper values as the flagfiles.
    esrgan = resolve("esrgan.flags", tmp_path).stage.loss
    assert esrgan.adversarial_weight == losses.ESRGAN_ADVERSARIAL_WEIGHT
    assert esrgan.pixel_weight == losses.ESRGAN_L1_WEIGHT
    assert esrgan.perceptual_weight == losses.ESRGAN_PERCEPTUAL_WEIGHT
    dp = resolve("esrgan_dp.flags", tmp_path).stage.loss
    assert (dp.pixel_weight, dp.adversarial_weight, dp.perceptual_weight, dp.dp_mu) == (
        losses.DP_CONTENT_WEIGHT,
        losses.DP_ADVERSARIAL_WEIGHT,
        losses.DP_WEIGHT,
        losses.DP_MU,
    )
    assert dp.resnet_layers == (losses.DP_RESNET_LAYER,)
    srgan = resolve("srgan.flags", tmp_path).stage.loss
    assert srgan.adversarial_weight == losses.SRGAN_ADVERSARIAL_WEIGHT
    assert srgan.vgg_feature_scale == pytest.approx(losses.SRGAN_FEATURE_SCALE)
