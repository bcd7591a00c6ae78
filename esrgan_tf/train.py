"""python -m esrgan_tf.train --flagfile=configs/esrgan.flags

Trains one stage of SRGAN, ESRGAN or ESRGAN-DP (or, with --pretrain_steps, a PSNR stage and
then the configured one). Thin driver: flags -> `RunConfig` -> `esrgan_tf.training.stages.run`.
Defaults are ESRGAN's PSNR stage; the papers' stages are the flagfiles in `configs/`.

Runs TensorFlow's oneDNN kernels (TF_ENABLE_ONEDNN_OPTS=1) unless that variable is set: on a
2-core AVX2 CPU, where TensorFlow leaves them off, the full RRDBNet PSNR step ran 1.26-1.38x
faster with them and the ESRGAN step about as fast (`esrgan_tf.cli.prefer_onednn`).
TF_ENABLE_ONEDNN_OPTS=0 keeps Eigen's kernels.
"""

import os

from absl import flags, logging

from esrgan_tf import cli, hardware

if __name__ == "__main__":  # the command's own process, before TensorFlow is imported
    cli.prefer_onednn()

from esrgan_tf.config import (  # noqa: E402
    DISCRIMINATORS,
    GAN_TYPES,
    GENERATORS,
    MIXED_PRECISION,
    PERCEPTUAL,
    RESNET_PREPROCESSING,
    LossConfig,
    ModelConfig,
    RunConfig,
    TrainConfig,
)
from esrgan_tf.data.pipeline import DEGRADATIONS, TrainDataConfig  # noqa: E402
from esrgan_tf.data.sources import BUILTINS  # noqa: E402
from esrgan_tf.training import stages  # noqa: E402


def define_flags(fv=flags.FLAGS):
    """Flags of `python -m esrgan_tf.train` into the FlagValues `fv`."""

    def string(name, default, help_):
        flags.DEFINE_string(name, default, help_, flag_values=fv)

    def integer(name, default, help_):
        flags.DEFINE_integer(name, default, help_, flag_values=fv)

    def number(name, default, help_):
        flags.DEFINE_float(name, default, help_, flag_values=fv)

    def boolean(name, default, help_):
        flags.DEFINE_boolean(name, default, help_, flag_values=fv)

    def enum(name, default, choices, help_):
        flags.DEFINE_enum(name, default, list(choices), help_, flag_values=fv)

    def strings(name, default, help_):
        flags.DEFINE_list(name, default, help_, flag_values=fv)

    # Run
    string("workdir", None, "Checkpoints, summaries and resolved flags; a run resumes from here.")
    integer("total_steps", 1000, "Optimiser steps of the stage.")
    integer("seed", 0, "Seeds data order, augmentation and initialisation.")
    boolean("deterministic", False, "TF op determinism (slower).")
    integer(
        "num_cpu_devices",
        1,
        "Without GPUs: split the CPU into this many logical "
        "devices (tests the multi-replica path).",
    )
    string(
        "init_checkpoint",
        "",
        "Generator weights to start from: a training workdir/checkpoint, a .weights.h5, or "
        "imported weights of the same architecture: PyTorch .pth/.safetensors, ncnn .param, "
        "zoo:<name> (fine-tuning, e.g. zoo:realesrgan-x4plus).",
    )
    number("ema_decay", 0.0, "EMA of the generator weights (0 = off; BasicSR 0.999).")
    enum(
        "mixed_precision",
        "none",
        MIXED_PRECISION,
        "Generator and discriminator maths in "
        "bfloat16 or float16 (with loss scaling); variables, output layers, loss networks "
        "and losses stay float32.",
    )
    boolean(
        "jit_compile",
        False,
        "Compile each network's forward and backward pass with XLA (networks that update "
        "state in training, batch or spectral norm, stay uncompiled). Measured on an AVX2 "
        "CPU: the full-size PSNR step 1.15x faster; the first step compiles for about 1 min.",
    )
    # Data
    string("data", None, "Shard directory from `python -m esrgan_tf.prepare` or a glob.")
    integer("batch_size", 16, "Global batch size.")
    integer("hr_size", 128, "HR patch size.")
    integer(
        "shuffle_buffer", 256, "Records in the shuffle buffer (it is saved in every checkpoint)."
    )
    enum(
        "prepare_if_missing",
        "",
        ("", *BUILTINS),
        "When --data holds no prepared data, first prepare built-in photos there: 'photos' "
        "(the colour photos bundled in the scikit-image, scikit-learn and matplotlib wheels; "
        "the quickstart) or 'skimage' (scikit-image's sample photos, gray ones included).",
    )
    integer(
        "holdout",
        3,
        "With --prepare_if_missing: photos held out for validation (written to <data>/val_hr).",
    )
    enum(
        "degradation",
        "none",
        DEGRADATIONS,
        "How each LR patch is made from its HR patch: 'none' = MATLAB bicubic (or the "
        "shards' stored LR), 'realesrgan' = Real-ESRGAN x4plus's second-order degradation "
        "(blur, resize, noise, JPEG twice, sinc), on the fly.",
    )
    boolean(
        "usm_target",
        False,
        "Pixel and perceptual losses against the unsharp-masked HR, the GAN losses against "
        "the plain HR (Real-ESRGAN).",
    )
    boolean(
        "augment",
        True,
        "Random horizontal flips (and, with --rotate, 90-degree rotations) of the training "
        "patches (ESRGAN §4.2); SRGAN mentions none (configs/srresnet_mse.flags: false).",
    )
    boolean("rotate", True, "Augment with 90-degree rotations as well as flips.")
    boolean(
        "permute_channels",
        False,
        "Put each training patch's R, G, B in a random one of their 6 orders (LR and HR "
        "alike): more colours from few photos (the quickstart).",
    )
    # Model
    enum("generator", "rrdbnet", GENERATORS, "Generator architecture.")
    integer("scale", 4, "Upscaling factor (of the model, the data and the metrics).")
    integer("num_feat", 64, "Generator channels.")
    integer("num_block", 23, "RRDBs (RRDBNet) or residual blocks (SRResNet).")
    integer("num_grow_ch", 32, "RRDBNet growth channels.")
    integer("num_conv", 16, "SRVGGNetCompact body convs (Real-ESRGAN's compact net).")
    boolean("unshuffle", False, "RRDBNet with BasicSR's pixel-unshuffle input (scale 1 or 2).")
    boolean("use_bn", True, "SRResNet batch normalisation.")
    enum("discriminator", "vgg", DISCRIMINATORS, "Discriminator architecture.")
    integer("d_num_feat", 64, "Discriminator base channels.")
    integer("d_strided_kernel", 4, "VGG discriminator stride-2 kernel (ESRGAN 4, SRGAN 3).")
    integer("d_dense_units", 100, "VGG discriminator hidden units (ESRGAN 100, SRGAN 1024).")
    # Losses
    enum("pixel_loss", "l1", ("l1", "mse"), "Pixel loss.")
    number("pixel_weight", 1.0, "Pixel loss weight.")
    enum("perceptual", "none", PERCEPTUAL, "Perceptual loss.")
    number("perceptual_weight", 1.0, "Perceptual loss weight.")
    strings("vgg_layers", ["block5_conv4"], "VGG19 conv layers of the perceptual loss.")
    strings("vgg_layer_weights", ["1.0"], "Their weights.")
    boolean("vgg_pre_activation", True, "VGG features before the ReLU (ESRGAN) or after (SRGAN).")
    enum("perceptual_criterion", "l1", ("l1", "mse"), "Feature distance.")
    number("vgg_feature_scale", 1.0, "Feature rescaling (SRGAN: 1/12.75).")
    strings(
        "resnet_layers",
        ["conv4_block6_out"],
        "ResNet50 stage output(s) of the dual loss, their L1 distances summed (ESRGAN-DP: "
        "conv4_block6_out; its public code: conv2_block3_out,conv3_block4_out,"
        "conv4_block6_out).",
    )
    flags.DEFINE_alias("resnet_layer", "resnet_layers", flag_values=fv)
    enum(
        "resnet_preprocess",
        "caffe",
        RESNET_PREPROCESSING,
        "Input of the ResNet50: 'caffe' (what Keras's ImageNet weights expect) or 'none' "
        "(the [0, 1] image, as ESRGAN-DP's public code).",
    )
    number("dp_mu", 0.5, "mu of the dual perceptual loss.")
    enum("gan_type", "none", GAN_TYPES, "Adversarial loss ('none': PSNR stage).")
    number("adversarial_weight", 0.0, "Generator adversarial loss weight.")
    string("vgg_weights", "imagenet", "'imagenet' or a local VGG19 weights file.")
    string("resnet_weights", "imagenet", "'imagenet' or a local ResNet50 weights file.")
    # Optimisation
    number("lr_g", 2e-4, "Generator learning rate.")
    number("lr_d", 1e-4, "Discriminator learning rate.")
    strings("lr_milestones", [], "Steps where the learning rates are multiplied by --lr_gamma.")
    number("lr_gamma", 0.5, "Learning-rate decay factor.")
    number("adam_beta1", 0.9, "Adam beta_1.")
    number("adam_beta2", 0.999, "Adam beta_2.")
    # Logging
    string("val_dir", "", "Folder of HR validation images ('' = none).")
    string(
        "val_lr_dir",
        "",
        "Folder of their LR images, matched by name ('' = MATLAB bicubic of the mod-cropped HR).",
    )
    integer("max_val_images", 0, "Validation images used (0 = all).")
    integer("val_every", 1000, "Validation interval (steps).")
    integer("log_every", 100, "Scalar summary interval (steps).")
    integer("checkpoint_every", 1000, "Checkpoint interval (steps).")
    integer("keep_checkpoints", 3, "Checkpoints kept.")
    # Two stages in one command (quickstart)
    integer(
        "pretrain_steps",
        0,
        "First train a PSNR-oriented stage (its pixel loss only) "
        "of this many steps in <workdir>/psnr, then this stage from it.",
    )
    number("pretrain_lr", 2e-4, "Learning rate of that PSNR stage.")
    strings("pretrain_lr_milestones", [], "Its learning-rate milestones.")
    boolean(
        "report",
        False,
        "At the end print bicubic / PSNR / GAN validation metrics and "
        "write comparison images to <workdir>/comparison.",
    )
    flags.mark_flags_as_required(["workdir", "data"], flag_values=fv)


def config_from_flags(fv=flags.FLAGS):
    """The `RunConfig` of parsed flags."""
    f = fv
    data = TrainDataConfig(
        shards=f.data,
        hr_size=f.hr_size,
        batch_size=f.batch_size,
        seed=f.seed,
        shuffle_buffer=f.shuffle_buffer,
        augment=f.augment,
        rotate=f.rotate,
        permute_channels=f.permute_channels,
        degradation=f.degradation,
        usm_target=f.usm_target,
    )
    model = ModelConfig(
        generator=f.generator,
        scale=f.scale,
        num_feat=f.num_feat,
        num_block=f.num_block,
        num_grow_ch=f.num_grow_ch,
        num_conv=f.num_conv,
        unshuffle=f.unshuffle,
        use_bn=f.use_bn,
        discriminator=f.discriminator,
        d_num_feat=f.d_num_feat,
        d_strided_kernel=f.d_strided_kernel,
        d_dense_units=f.d_dense_units,
    )
    loss = LossConfig(
        pixel_loss=f.pixel_loss,
        pixel_weight=f.pixel_weight,
        perceptual=f.perceptual,
        perceptual_weight=f.perceptual_weight,
        vgg_layers=tuple(f.vgg_layers),
        vgg_layer_weights=cli.float_list(f.vgg_layer_weights, "vgg_layer_weights"),
        vgg_pre_activation=f.vgg_pre_activation,
        perceptual_criterion=f.perceptual_criterion,
        vgg_feature_scale=f.vgg_feature_scale,
        resnet_layers=tuple(f.resnet_layers),
        resnet_preprocess=f.resnet_preprocess,
        dp_mu=f.dp_mu,
        gan_type=f.gan_type,
        adversarial_weight=f.adversarial_weight,
        vgg_weights=f.vgg_weights,
        resnet_weights=f.resnet_weights,
    )
    stage = TrainConfig(
        workdir=f.workdir,
        data=data,
        model=model,
        loss=loss,
        total_steps=f.total_steps,
        lr_g=f.lr_g,
        lr_d=f.lr_d,
        lr_milestones=cli.int_list(f.lr_milestones, "lr_milestones"),
        lr_gamma=f.lr_gamma,
        adam_beta1=f.adam_beta1,
        adam_beta2=f.adam_beta2,
        init_checkpoint=f.init_checkpoint,
        ema_decay=f.ema_decay,
        val_dir=f.val_dir,
        val_lr_dir=f.val_lr_dir,
        val_every=f.val_every,
        log_every=f.log_every,
        checkpoint_every=f.checkpoint_every,
        keep_checkpoints=f.keep_checkpoints,
        num_cpu_devices=f.num_cpu_devices,
        deterministic=f.deterministic,
        max_val_images=f.max_val_images,
        mixed_precision=f.mixed_precision,
        jit_compile=f.jit_compile,
    )
    return RunConfig(
        stage=stage,
        pretrain_steps=f.pretrain_steps,
        pretrain_lr=f.pretrain_lr,
        pretrain_lr_milestones=cli.int_list(f.pretrain_lr_milestones, "pretrain_lr_milestones"),
        prepare_builtin=f.prepare_if_missing,
        holdout=f.holdout,
        report=f.report,
    )


def main():
    logging.info(
        "TensorFlow oneDNN kernels: %s (%s=%s)",
        "on" if hardware.onednn() else "off",
        cli.ONEDNN_ENV,
        os.environ.get(cli.ONEDNN_ENV, "unset: TensorFlow's default for this CPU"),
    )
    stages.run(config_from_flags(), flags_text=flags.FLAGS.flags_into_string())


if __name__ == "__main__":
    define_flags()
    cli.run(main, quiet=False)
