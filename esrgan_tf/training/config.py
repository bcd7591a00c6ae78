"""Configs of training: the losses of a stage, a stage, and a whole train command (light: no
TensorFlow; `python -m esrgan_tf.train` makes its flags from them).

Every parameter has one owner: the SR factor is `ModelConfig.scale`, from which the input
pipeline, validation and the metrics' border crop take it. The papers' values live in the
flagfiles under `configs/`.
"""

import dataclasses

from esrgan_tf.data.config import BUILTINS, TrainDataConfig
from esrgan_tf.models.config import RESNET50_LAYERS, RESNET_PREPROCESSING, ModelConfig
from esrgan_tf.options import check_choice, option

GAN_TYPES = ("none", "gan", "ragan")
PERCEPTUAL = ("none", "vgg", "dual")
# --mixed_precision -> the Keras dtype policy of the generator and discriminator.
MIXED_PRECISION = {"none": None, "bf16": "mixed_bfloat16", "fp16": "mixed_float16"}
# Patch sizes of the VGG-style discriminator (its dense layer fixes the input size).
VGG_DISCRIMINATOR_SIZES = (96, 128, 192, 256)


@dataclasses.dataclass(frozen=True)
class LossConfig:
    """Loss terms and weights: L_G = w_percep L_percep + w_adv L_adv + w_pix L_pix."""

    pixel_loss: str = option("l1", "Pixel loss.", choices=("l1", "mse"))
    pixel_weight: float = option(1.0, "Pixel loss weight (0 disables it).")
    perceptual: str = option(
        "none",
        "Perceptual loss: none, vgg (VGG19) or dual (VGG19 + ResNet50, ESRGAN-DP).",
        choices=PERCEPTUAL,
    )
    perceptual_weight: float = option(1.0, "Weight of the (dual) perceptual loss.")
    vgg_layers: tuple[str, ...] = option(
        ("block5_conv4",), "VGG19 conv layers of the perceptual loss."
    )
    vgg_layer_weights: tuple[float, ...] = option((1.0,), "Their weights.")
    vgg_pre_activation: bool = option(
        True, "VGG features before the ReLU (ESRGAN) or after (SRGAN)."
    )
    perceptual_criterion: str = option("l1", "Feature distance.", choices=("l1", "mse"))
    vgg_feature_scale: float = option(1.0, "Feature rescaling (SRGAN: 1/12.75).")
    resnet_layers: tuple[str, ...] = option(
        ("conv4_block6_out",),
        "ResNet50 stage output(s) of the dual loss, their L1 distances summed (ESRGAN-DP: "
        "conv4_block6_out; its public code: conv2_block3_out,conv3_block4_out,"
        "conv4_block6_out).",
        choices=RESNET50_LAYERS,
        aliases=("resnet_layer",),
    )
    resnet_preprocess: str = option(
        "caffe",
        "Input of the ResNet50: 'caffe' (what Keras's ImageNet weights expect) or 'none' "
        "(the [0, 1] image, as ESRGAN-DP's public code).",
        choices=RESNET_PREPROCESSING,
    )
    dp_mu: float = option(0.5, "mu of the dual perceptual loss (ESRGAN-DP §4.3.1: 0.5).")
    gan_type: str = option(
        "none", "Adversarial loss ('none': PSNR stage; ESRGAN: ragan).", choices=GAN_TYPES
    )
    adversarial_weight: float = option(0.0, "Generator adversarial loss weight.")
    vgg_weights: str = option(
        "imagenet",
        "'imagenet', a local copy of Keras's VGG19 weights (.h5) or torchvision's "
        "(vgg19-dcbb9e9d.pth, .safetensors, .npz).",
    )
    resnet_weights: str = option(
        "imagenet", "'imagenet' or a local copy of Keras's ResNet50 weights (.h5)."
    )

    def __post_init__(self):
        check_choice("pixel_loss", self.pixel_loss, ("l1", "mse"))
        check_choice("perceptual", self.perceptual, PERCEPTUAL)
        check_choice("perceptual_criterion", self.perceptual_criterion, ("l1", "mse"))
        check_choice("gan_type", self.gan_type, GAN_TYPES)
        check_choice("resnet_preprocess", self.resnet_preprocess, RESNET_PREPROCESSING)
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
    """One training stage (PSNR-oriented or GAN)."""

    workdir: str = option(
        help="Checkpoints, summaries and resolved flags; a run resumes from here."
    )
    input: TrainDataConfig = option(help="The training input pipeline.")
    model: ModelConfig = option(ModelConfig(), "The networks.")
    loss: LossConfig = option(LossConfig(), "The losses.")
    total_steps: int = option(1000, "Optimiser steps of the stage.")
    lr_g: float = option(2e-4, "Generator learning rate (Adam).")
    lr_d: float = option(1e-4, "Discriminator learning rate (Adam).")
    lr_milestones: tuple[int, ...] = option(
        (), "Steps where the learning rates are multiplied by --lr_gamma."
    )
    lr_gamma: float = option(0.5, "Learning-rate decay factor.")
    adam_beta1: float = option(0.9, "Adam beta_1.")
    adam_beta2: float = option(0.999, "Adam beta_2.")
    init_checkpoint: str = option(
        "",
        "Generator weights to start from: a training workdir/checkpoint, a .weights.h5, or "
        "imported weights of the same architecture: PyTorch .pth/.safetensors, ncnn .param, "
        "zoo:<name> (fine-tuning, e.g. zoo:realesrgan-x4plus).",
    )
    ema_decay: float = option(0.0, "EMA of the generator weights (0 = off; BasicSR 0.999).")
    val_dir: str = option("", "Folder of HR validation images ('' = none).")
    val_lr_dir: str = option(
        "",
        "Folder of their LR images, matched by name ('' = MATLAB bicubic of the mod-cropped HR).",
    )
    val_every: int = option(1000, "Validation interval (steps).")
    log_every: int = option(100, "Scalar summary interval (steps).")
    checkpoint_every: int = option(1000, "Checkpoint interval (steps).")
    keep_checkpoints: int = option(3, "Checkpoints kept.")
    num_cpu_devices: int = option(
        1,
        "Without GPUs: split the CPU into this many logical devices (tests the multi-replica "
        "path).",
    )
    deterministic: bool = option(False, "TF op determinism (slower).")
    max_val_images: int = option(0, "Validation images used (0 = all).")
    grid_images: int = option(2, "Validation images shown as LR-bicubic | SR | HR grids.")
    mixed_precision: str = option(
        "auto",
        "Generator and discriminator maths in bfloat16 or float16 (with dynamic loss "
        "scaling); variables, output layers, loss networks and losses stay float32. 'auto': "
        "bf16 on a TPU, else none.",
        choices=("auto", *MIXED_PRECISION),
    )
    jit_compile: bool = option(
        False,
        "Compile each network's forward and backward pass with XLA, each on its own (networks "
        "that update state in training, batch or spectral norm, stay uncompiled); the first "
        "step compiles for about a minute.",
    )

    steps_per_loop: int = option(
        8,
        "Optimiser steps per call of the compiled training loop (one host round trip per "
        "call); checkpoints, validation, the NaN check and SIGTERM act between calls, and a "
        "call never runs past a checkpoint or validation step.",
    )
    tpu: str = option(
        "",
        "Train on a TPU with TPUStrategy: 'local' on a Cloud TPU VM, else the TPU's name or "
        "grpc:// address (TPUClusterResolver).",
    )

    def __post_init__(self):
        check_choice("mixed_precision", self.mixed_precision, ("auto", *MIXED_PRECISION))
        if not self.workdir:
            raise ValueError("workdir is required")
        if self.total_steps <= 0:
            raise ValueError(f"total_steps must be positive, got {self.total_steps}")
        if list(self.lr_milestones) != sorted(self.lr_milestones):
            raise ValueError(f"lr_milestones must be increasing, got {self.lr_milestones}")
        for name in (
            "val_every",
            "log_every",
            "checkpoint_every",
            "keep_checkpoints",
            "steps_per_loop",
        ):
            if getattr(self, name) <= 0:
                raise ValueError(f"{name} must be positive, got {getattr(self, name)}")
        if not 0 <= self.ema_decay < 1:
            raise ValueError(f"ema_decay must be in [0, 1), got {self.ema_decay}")
        if self.input.hr_size % self.model.scale:
            raise ValueError(
                f"hr_size={self.input.hr_size} must be a multiple of scale={self.model.scale}"
            )
        if (
            self.model.discriminator == "vgg"
            and self.loss.gan_type != "none"
            and self.input.hr_size not in VGG_DISCRIMINATOR_SIZES
        ):
            raise ValueError(
                f"the VGG-style discriminator needs hr_size 96, 128, 192 or "
                f"256, got {self.input.hr_size}"
            )

    @property
    def is_gan(self):
        return self.loss.gan_type != "none"

    @property
    def precision(self):
        """The mixed precision this stage computes in ('auto' resolved: bf16 on a TPU)."""
        if self.mixed_precision == "auto":
            return "bf16" if self.tpu else "none"
        return self.mixed_precision


@dataclasses.dataclass(frozen=True)
class RunConfig:
    """Everything one `python -m esrgan_tf.train` command does, stage by stage: optionally
    the built-in data first, a PSNR stage, the configured stage, and a report."""

    stage: TrainConfig = option(help="The configured stage (PSNR-oriented or GAN).")
    pretrain_steps: int = option(
        0,
        "First train a PSNR-oriented stage (its pixel loss only) of this many steps in "
        "<workdir>/psnr, then this stage from it.",
    )
    pretrain_lr: float = option(2e-4, "Learning rate of that PSNR stage.")
    pretrain_lr_milestones: tuple[int, ...] = option((), "Its learning-rate milestones.")
    prepare_if_missing: str = option(
        "",
        "When --data holds no prepared data, first prepare built-in photos there: 'photos' "
        "(the colour photos bundled in the scikit-image, scikit-learn and matplotlib wheels; "
        "the quickstart) or 'skimage' (scikit-image's sample photos, gray ones included).",
        choices=("", *BUILTINS),
    )
    holdout: int = option(
        3, "With --prepare_if_missing: photos held out for validation (written to <data>/val_hr)."
    )
    report: bool = option(
        False,
        "At the end print bicubic / PSNR / GAN validation metrics and write comparison images "
        "to <workdir>/comparison.",
    )

    def __post_init__(self):
        if self.pretrain_steps < 0:
            raise ValueError(f"pretrain_steps must be >= 0, got {self.pretrain_steps}")
        if self.pretrain_steps and self.stage.init_checkpoint:
            raise ValueError(
                "--init_checkpoint and --pretrain_steps exclude each other: the "
                "pretraining stage is what the next stage starts from"
            )
        check_choice("prepare_if_missing", self.prepare_if_missing, ("", *BUILTINS))
