"""Frozen dataclass configs of the models and of training (built from flags by the
`python -m esrgan_tf.train` driver, or directly by tests and notebooks).

Library code receives these, never `FLAGS`. Every parameter has one owner: the SR factor
is `ModelConfig.scale`, from which the input pipeline, validation and the metrics' border
crop take it. The paper defaults live in the flagfiles under `configs/`.
"""

import dataclasses

from esrgan_tf.data.pipeline import TrainDataConfig, check_patch_size
from esrgan_tf.data.sources import BUILTINS
from esrgan_tf.models.features import RESNET50_LAYERS, RESNET_PREPROCESSING

GENERATORS = ("rrdbnet", "srresnet", "srvgg")
DISCRIMINATORS = ("vgg", "unet")
GAN_TYPES = ("none", "gan", "ragan")
PERCEPTUAL = ("none", "vgg", "dual")
# --mixed_precision -> the Keras dtype policy of the generator and discriminator.
MIXED_PRECISION = {"none": None, "bf16": "mixed_bfloat16", "fp16": "mixed_float16"}
SCALES = (1, 2, 3, 4, 8)


def _check_choice(name, value, choices):
    if value not in choices:
        raise ValueError(f"{name} must be one of {choices}, got {value!r}")


@dataclasses.dataclass(frozen=True)
class ModelConfig:
    """Generator and discriminator architecture.

    Attributes:
        generator: 'rrdbnet' (ESRGAN), 'srresnet' (SRGAN) or 'srvgg' (Real-ESRGAN's
            SRVGGNetCompact).
        scale: SR factor (1 only for RRDBNet and SRVGGNetCompact).
        num_feat, num_block, num_grow_ch: generator width/depth (num_block: RRDBs or
            residual blocks; num_grow_ch: RRDBNet only).
        num_conv: SRVGGNetCompact's body convs (16 in realesr-animevideov3).
        unshuffle: RRDBNet with BasicSR's pixel-unshuffle input (scale 1 or 2: Real-ESRGAN's
            x2plus), not this project's own x2 / x1 RRDBNet.
        use_bn: SRResNet batch normalisation.
        discriminator: 'vgg' (VGG-style, fixed patch size) or 'unet' (spectral norm).
        d_num_feat: discriminator base width.
        d_strided_kernel, d_dense_units: VGG-style discriminator variant
            (ESRGAN: 4 and 100; SRGAN: 3 and 1024).
    """

    generator: str = "rrdbnet"
    scale: int = 4
    num_feat: int = 64
    num_block: int = 23
    num_grow_ch: int = 32
    num_conv: int = 16
    unshuffle: bool = False
    use_bn: bool = True
    discriminator: str = "vgg"
    d_num_feat: int = 64
    d_strided_kernel: int = 4
    d_dense_units: int = 100

    def __post_init__(self):
        _check_choice("generator", self.generator, GENERATORS)
        _check_choice("discriminator", self.discriminator, DISCRIMINATORS)
        _check_choice("scale", self.scale, SCALES)
        if self.scale == 1 and self.generator == "srresnet":
            raise ValueError("SRResNet has no x1 variant (scale 1)")
        if self.unshuffle and (self.generator != "rrdbnet" or self.scale not in (1, 2)):
            raise ValueError("unshuffle is BasicSR's RRDBNet layout for scale 1 or 2 only")


@dataclasses.dataclass(frozen=True)
class LossConfig:
    """Loss terms and weights: L_G = w_percep L_percep + w_adv L_adv + w_pix L_pix.

    Attributes:
        pixel_loss: 'l1' or 'mse'; pixel_weight its weight (0 disables).
        perceptual: 'none', 'vgg' or 'dual' (VGG19 + ResNet50, ESRGAN-DP).
        perceptual_weight: weight of the (dual) perceptual term.
        vgg_layers: VGG19 conv layer names; vgg_layer_weights their weights.
        vgg_pre_activation: features before the ReLU (ESRGAN) or after (SRGAN).
        perceptual_criterion: 'l1' or 'mse' on the features.
        vgg_feature_scale: multiplies the features (SRGAN: 1/12.75).
        resnet_layers: ResNet50 stage output(s) of the dual loss; with several, their L1
            distances are summed (ESRGAN-DP: beta_{3,6} = conv4_block6_out; its public code:
            stages 1-3).
        resnet_preprocess: "caffe" (Keras's ImageNet weights' input) or "none" (the [0, 1]
            image as it is, as ESRGAN-DP's public code feeds its ResNet).
        dp_mu: mu of the dual perceptual loss.
        gan_type: 'none' (PSNR stage), 'gan' (SRGAN) or 'ragan' (ESRGAN).
        adversarial_weight: weight of the generator's adversarial loss.
        vgg_weights, resnet_weights: 'imagenet' or a local weights file.
    """

    pixel_loss: str = "l1"
    pixel_weight: float = 1.0
    perceptual: str = "none"
    perceptual_weight: float = 1.0
    vgg_layers: tuple = ("block5_conv4",)
    vgg_layer_weights: tuple = (1.0,)
    vgg_pre_activation: bool = True
    perceptual_criterion: str = "l1"
    vgg_feature_scale: float = 1.0
    resnet_layers: tuple = ("conv4_block6_out",)
    resnet_preprocess: str = "caffe"
    dp_mu: float = 0.5
    gan_type: str = "none"
    adversarial_weight: float = 0.0
    vgg_weights: str = "imagenet"
    resnet_weights: str = "imagenet"

    def __post_init__(self):
        _check_choice("pixel_loss", self.pixel_loss, ("l1", "mse"))
        _check_choice("perceptual", self.perceptual, PERCEPTUAL)
        _check_choice("perceptual_criterion", self.perceptual_criterion, ("l1", "mse"))
        _check_choice("gan_type", self.gan_type, GAN_TYPES)
        _check_choice("resnet_preprocess", self.resnet_preprocess, RESNET_PREPROCESSING)
        bad = [n for n in self.resnet_layers if n not in RESNET50_LAYERS]
        if bad or not self.resnet_layers:
            raise ValueError(
                f"resnet_layers must be some of {RESNET50_LAYERS}, got {self.resnet_layers}"
            )
        if len(self.vgg_layers) != len(self.vgg_layer_weights):
            raise ValueError(
                f"vgg_layers {self.vgg_layers} and vgg_layer_weights "
                f"{self.vgg_layer_weights} differ in length"
            )
        if self.dp_mu <= 0:
            raise ValueError(f"dp_mu must be positive, got {self.dp_mu}")


@dataclasses.dataclass(frozen=True)
class TrainConfig:
    """One training stage.

    Attributes:
        workdir: checkpoints, summaries, resolved flags; a run resumes from it.
        data: the training input pipeline (at the model's scale).
        model, loss: see ModelConfig / LossConfig.
        total_steps: optimiser steps of this stage.
        lr_g, lr_d: initial Adam learning rates.
        lr_milestones: steps at which both rates are multiplied by lr_gamma.
        adam_beta1, adam_beta2: Adam betas.
        init_checkpoint: generator weights to start from (a training workdir or
            checkpoint, or a `.weights.h5`, e.g. converted official weights).
        ema_decay: exponential moving average of G (0 disables; BasicSR: 0.999).
        val_dir: folder of HR images for validation ('' disables).
        val_lr_dir: folder of the matching LR images ('' = MATLAB bicubic of the HR).
        val_every, log_every, checkpoint_every: in steps.
        keep_checkpoints: checkpoints kept by the CheckpointManager.
        num_cpu_devices: split the CPU into N logical devices (no GPU only).
        deterministic: enable TF op determinism (for reproducibility tests).
        max_val_images: cap on validation images (0 = all).
        grid_images: validation images shown as LR-bicubic | SR | HR grids.
        mixed_precision: "none", "bf16" or "fp16": the generator's and discriminator's
            maths in that type, their variables, output layers, the VGG / ResNet loss
            networks and the losses in float32; "fp16" adds dynamic loss scaling.
        jit_compile: compile each network's forward and backward pass with XLA (the
            generator, discriminator and loss networks, each on its own; the losses,
            cross-replica means and updates stay TensorFlow ops, so every strategy runs it).
    """

    workdir: str
    data: TrainDataConfig
    model: ModelConfig = ModelConfig()
    loss: LossConfig = LossConfig()
    total_steps: int = 1000
    lr_g: float = 2e-4
    lr_d: float = 1e-4
    lr_milestones: tuple = ()
    lr_gamma: float = 0.5
    adam_beta1: float = 0.9
    adam_beta2: float = 0.999
    init_checkpoint: str = ""
    ema_decay: float = 0.0
    val_dir: str = ""
    val_lr_dir: str = ""
    val_every: int = 1000
    log_every: int = 100
    checkpoint_every: int = 1000
    keep_checkpoints: int = 3
    num_cpu_devices: int = 1
    deterministic: bool = False
    max_val_images: int = 0
    grid_images: int = 2
    mixed_precision: str = "none"
    jit_compile: bool = False

    def __post_init__(self):
        _check_choice("mixed_precision", self.mixed_precision, tuple(MIXED_PRECISION))
        if not self.workdir:
            raise ValueError("workdir is required")
        if self.total_steps <= 0:
            raise ValueError(f"total_steps must be positive, got {self.total_steps}")
        if list(self.lr_milestones) != sorted(self.lr_milestones):
            raise ValueError(f"lr_milestones must be increasing, got {self.lr_milestones}")
        for name in ("val_every", "log_every", "checkpoint_every", "keep_checkpoints"):
            if getattr(self, name) <= 0:
                raise ValueError(f"{name} must be positive, got {getattr(self, name)}")
        if not 0 <= self.ema_decay < 1:
            raise ValueError(f"ema_decay must be in [0, 1), got {self.ema_decay}")
        check_patch_size(self.data, self.model.scale)
        if (
            self.model.discriminator == "vgg"
            and self.loss.gan_type != "none"
            and self.data.hr_size not in (96, 128, 192, 256)
        ):
            raise ValueError(
                f"the VGG-style discriminator needs hr_size 96, 128, 192 or "
                f"256, got {self.data.hr_size}"
            )

    @property
    def is_gan(self):
        return self.loss.gan_type != "none"


@dataclasses.dataclass(frozen=True)
class RunConfig:
    """Everything one `python -m esrgan_tf.train` command does, stage by stage.

    Attributes:
        stage: the configured stage (PSNR-oriented or GAN).
        pretrain_steps: > 0 first trains a PSNR-oriented stage (the stage's pixel loss
            only) of this many steps in <workdir>/psnr, and starts `stage` from it.
        pretrain_lr, pretrain_lr_milestones: that stage's learning rate and milestones.
        prepare_builtin: "photos" or "skimage" (`sources.BUILTINS`): when `stage.data.shards`
            holds no prepared data, first prepare those built-in photos there (the quickstart).
        holdout: with `prepare_builtin`, photos held out for validation.
        report: end with a bicubic / PSNR / GAN comparison on the validation set.
    """

    stage: TrainConfig
    pretrain_steps: int = 0
    pretrain_lr: float = 2e-4
    pretrain_lr_milestones: tuple = ()
    prepare_builtin: str = ""
    holdout: int = 3
    report: bool = False

    def __post_init__(self):
        if self.pretrain_steps < 0:
            raise ValueError(f"pretrain_steps must be >= 0, got {self.pretrain_steps}")
        if self.pretrain_steps and self.stage.init_checkpoint:
            raise ValueError(
                "--init_checkpoint and --pretrain_steps exclude each other: the "
                "pretraining stage is what the next stage starts from"
            )
        _check_choice("prepare_builtin", self.prepare_builtin, ("", *BUILTINS))
