"""Real-ESRGAN's high-order degradation model in TF ops, for tf.data map functions.

Real-ESRGAN (Wang et al., ICCV 2021 Workshops, §3) makes each LR training image from its HR
image with two rounds of blur -> resize -> noise -> JPEG, the second ending with a 2-D sinc
filter (ringing and overshoot) grouped with the resize to the LR size. The reference is
Real-ESRGAN's code on BasicSR 1.4.2, which this module follows step by step (its own code,
BasicSR's is only read and run as a test oracle):

* kernels and noise: ``basicsr/data/degradations.py``;
* how kernels are drawn: ``basicsr/data/realesrgan_dataset.py`` (``RealESRGANDataset``);
* the order of the steps and the other draws: ``RealESRGANModel.feed_data`` in
  ``basicsr/models/realesrgan_model.py`` (the same as Real-ESRGAN's
  ``realesrgan/models/realesrgan_model.py``);
* ``filter2D`` and ``USMSharp``: ``basicsr/utils/img_process_util.py``;
* the numbers: Real-ESRGAN's ``options/train_realesrgan_x4plus.yml`` (its degradation
  settings are the same as ``train_realesrnet_x4plus.yml``'s).

Everything is a function of a stateless seed (``tf.random.stateless_*``), so an example's
degradation is the same eagerly and inside tf.data, on every run and after a resume.
`sample_degradation` draws every random choice of one example into a dict of tensors, and
`apply_degradation` applies them; `degrade` is the two together.

Where this differs from Real-ESRGAN's code, on purpose:

* Every draw is per example. Real-ESRGAN draws the resize scales and modes, the Gaussian-or-
  Poisson choice, whether to blur a second time and the final order once per *batch*, and
  mixes batches with a 180-example pool to make up for it (``_dequeue_and_enqueue``). Gray
  Gaussian noise there is also one noise pattern per batch (``generate_gaussian_noise_pt``
  draws ``randn(h, w)`` and broadcasts it over the batch); here each image has its own.
* Resizing is `tf.image.resize` (``antialias=False``, half-pixel centres, like PyTorch's
  ``F.interpolate(align_corners=False)``). Bilinear is the same as PyTorch's for the same input
  and output sizes. Bicubic uses Keys' a = -0.5, PyTorch's a = -0.75 (a little less overshoot
  here). 'area' downscaling weighs input pixels by their exact overlap; PyTorch's 'area' is
  ``adaptive_avg_pool2d``, equal weights over whole-pixel windows [floor(i*in/out),
  ceil((i+1)*in/out)). For upscaling both are nearest-neighbour-like: PyTorch averages the 1
  or 2 input pixels a window touches, TF blends them by overlap. Stage 1 resizes by a scale
  factor, where PyTorch maps coordinates with 1/scale and TF with in/out (the output sizes
  are the same, floor(in * scale)).
* JPEG is libjpeg (``EncodeJpegVariableQuality``, 4:2:0 chroma, accurate integer DCT), with an
  integer quality uniform in [30, 95]. Real-ESRGAN uses ``DiffJPEG``, a re-implementation in
  PyTorch with a real-valued quality, its own rounding of the quantisation tables, nearest
  chroma upsampling and zero padding to a multiple of 16; its output is not rounded to 8 bits.
* Real-ESRGAN degrades a 400x400 crop and then crops the 256x256 training patch (the LR at
  the same place); `degrade` degrades whatever it is given, so the reflect-padded borders of the
  blurs fall on the patch border.

Images are NHWC / HWC float32 RGB in [0, 1].
"""

import dataclasses
import math

import numpy as np
import tensorflow as tf

# ---------------------------------------------------------------------------------------
# Configuration
# ---------------------------------------------------------------------------------------

# The kernel types of RealESRGANDataset's `kernel_list` (the names BasicSR's
# `random_mixed_kernels` accepts), then the two kinds the sampler adds: a sinc (drawn before
# the type, with `sinc_prob`) and the identity "pulse" (the final sinc when it is skipped,
# RealESRGANDataset's `pulse_tensor`). A sampled kernel's "kind" is its index in KERNEL_KINDS.
KERNEL_TYPES = (
    "iso",
    "aniso",
    "generalized_iso",
    "generalized_aniso",
    "plateau_iso",
    "plateau_aniso",
)
KERNEL_KINDS = KERNEL_TYPES + ("sinc", "pulse")
SINC, PULSE = KERNEL_KINDS.index("sinc"), KERNEL_KINDS.index("pulse")
# Resize interpolation modes: RealESRGANModel.feed_data picks one with
# `random.choice(['area', 'bilinear', 'bicubic'])` at each of its three resizes.
RESIZE_MODES = ("area", "bilinear", "bicubic")
# Directions of a random resize, in the order of the `resize_prob` option ("up, down, keep").
RESIZE_DIRECTIONS = ("up", "down", "keep")

# RealESRGANDataset: `self.kernel_range = [2 * v + 1 for v in range(3, 11)]  # kernel size
# ranges from 7 to 21`, every kernel zero-padded to 21x21 (`pad_size = (21 - kernel_size) // 2`
# for the stage kernels, `circular_lowpass_kernel(..., pad_to=21)` for the final sinc).
KERNEL_SIZES = tuple(range(7, 22, 2))
KERNEL_PAD = 21
# RealESRGANDataset: `if kernel_size < 13: omega_c = np.random.uniform(np.pi / 3, np.pi)`
# `else: omega_c = np.random.uniform(np.pi / 5, np.pi)` for the stage sinc kernels ("this sinc
# filter setting is for kernels ranging from [7, 21]"); the final sinc always uses
# `np.random.uniform(np.pi / 3, np.pi)`.
SINC_OMEGA_BELOW_13 = (math.pi / 3, math.pi)
SINC_OMEGA_FROM_13 = (math.pi / 5, math.pi)
# torchvision's `rgb_to_grayscale` (ITU-R 601-2 luma), which generate_poisson_noise_pt uses.
_GRAY_WEIGHTS = (0.2989, 0.587, 0.114)


def _check_probabilities(name, probs, count):
    if len(probs) != count or any(p < 0 for p in probs) or abs(sum(probs) - 1.0) > 1e-6:
        raise ValueError(f"{name} must be {count} non-negative probabilities summing to 1")


def _check_probability(name, p):
    if not 0.0 <= p <= 1.0:
        raise ValueError(f"{name} must be in [0, 1], got {p}")


def _check_range(name, value_range, lowest=-math.inf):
    if len(value_range) != 2 or not lowest <= value_range[0] <= value_range[1]:
        raise ValueError(f"{name} must be (low, high) with {lowest} <= low <= high")


@dataclasses.dataclass(frozen=True)
class BlurConfig:
    """How one stage draws its blur kernel (RealESRGANDataset's kernel options).

    Attributes:
        kernel_types: names from KERNEL_TYPES (`kernel_list`).
        kernel_probs: their probabilities (`kernel_prob`).
        kernel_sizes: odd sizes, drawn uniformly (`kernel_range`, hard-coded in BasicSR).
        sigma_range: sigma_x and sigma_y, each uniform in it (`blur_sigma`, passed as both
            `sigma_x_range` and `sigma_y_range`).
        rotation_range: theta of the anisotropic kernels (`[-math.pi, math.pi]`).
        betag_range, betap_range: shape beta of the generalized Gaussian and plateau
            kernels. Drawn as BasicSR's `random_bivariate_generalized_Gaussian` /
            `random_bivariate_plateau` do: with probability 1/2 uniform in [low, 1], else
            uniform in [1, high] (so with betap_range (1, 2), beta_p = 1 half the time).
        sinc_prob: probability of a sinc kernel instead (`sinc_prob`), with omega_c in
            SINC_OMEGA_BELOW_13 for sizes below 13, else in SINC_OMEGA_FROM_13.
    """

    kernel_types: tuple = KERNEL_TYPES
    kernel_probs: tuple = (0.45, 0.25, 0.12, 0.03, 0.12, 0.03)
    kernel_sizes: tuple = KERNEL_SIZES
    sigma_range: tuple = (0.2, 3.0)
    rotation_range: tuple = (-math.pi, math.pi)
    betag_range: tuple = (0.5, 4.0)
    betap_range: tuple = (1.0, 2.0)
    sinc_prob: float = 0.1

    def __post_init__(self):
        unknown = set(self.kernel_types) - set(KERNEL_TYPES)
        if unknown or not self.kernel_types:
            raise ValueError(f"kernel_types must be some of {KERNEL_TYPES}, got {unknown}")
        _check_probabilities("kernel_probs", self.kernel_probs, len(self.kernel_types))
        if not self.kernel_sizes or any(
            k % 2 == 0 or not 1 <= k <= KERNEL_PAD for k in self.kernel_sizes
        ):
            raise ValueError(f"kernel_sizes must be odd in [1, {KERNEL_PAD}]")
        _check_range("sigma_range", self.sigma_range, lowest=1e-6)
        _check_range("rotation_range", self.rotation_range)
        for name in ("betag_range", "betap_range"):
            beta_range = getattr(self, name)
            _check_range(name, beta_range, lowest=1e-6)
            if not beta_range[0] <= 1.0 <= beta_range[1]:  # BasicSR's draw assumes it
                raise ValueError(f"{name} must contain 1, got {beta_range}")
        _check_probability("sinc_prob", self.sinc_prob)


@dataclasses.dataclass(frozen=True)
class StageConfig:
    """One round of blur -> random resize -> noise -> JPEG (RealESRGANModel options).

    Attributes:
        blur: how the kernel is drawn.
        blur_prob: probability of blurring at all (1 in stage 1; `second_blur_prob`).
        resize_probs: probabilities of up, down, keep (`resize_prob`).
        resize_range: (low, high): down-scales are uniform in [low, 1], up-scales in
            [1, high] (`resize_range`). Stage 1 scales the image it gets; stage 2 scales the
            target LR size (`size=(int(ori_h / scale * s), ...)`).
        gaussian_noise_prob: Gaussian noise, else Poisson (`gaussian_noise_prob`).
        noise_range: Gaussian sigma on the 0..255 scale (`noise_range`).
        poisson_scale_range: Poisson noise scale (`poisson_scale_range`).
        gray_noise_prob: the same noise in all channels (`gray_noise_prob`).
        jpeg_range: JPEG quality (`jpeg_range`).
    """

    blur: BlurConfig = BlurConfig()
    blur_prob: float = 1.0
    resize_probs: tuple = (0.2, 0.7, 0.1)
    resize_range: tuple = (0.15, 1.5)
    gaussian_noise_prob: float = 0.5
    noise_range: tuple = (1.0, 30.0)
    poisson_scale_range: tuple = (0.05, 3.0)
    gray_noise_prob: float = 0.4
    jpeg_range: tuple = (30, 95)

    def __post_init__(self):
        _check_probability("blur_prob", self.blur_prob)
        _check_probabilities("resize_probs", self.resize_probs, len(RESIZE_DIRECTIONS))
        _check_range("resize_range", self.resize_range, lowest=1e-6)
        if not self.resize_range[0] <= 1.0 <= self.resize_range[1]:
            raise ValueError(f"resize_range must contain 1, got {self.resize_range}")
        _check_probability("gaussian_noise_prob", self.gaussian_noise_prob)
        _check_range("noise_range", self.noise_range, lowest=0.0)
        _check_range("poisson_scale_range", self.poisson_scale_range, lowest=0.0)
        _check_probability("gray_noise_prob", self.gray_noise_prob)
        if not all(isinstance(q, int) for q in self.jpeg_range):
            raise ValueError(f"jpeg_range must be two ints, got {self.jpeg_range}")
        _check_range("jpeg_range", self.jpeg_range, lowest=1)
        if self.jpeg_range[1] > 100:
            raise ValueError(f"JPEG quality is at most 100, got {self.jpeg_range}")


# train_realesrgan_x4plus.yml, "the first degradation process": resize_prob: [0.2, 0.7, 0.1],
# resize_range: [0.15, 1.5], gaussian_noise_prob: 0.5, noise_range: [1, 30],
# poisson_scale_range: [0.05, 3], gray_noise_prob: 0.4, jpeg_range: [30, 95]; datasets.train:
# kernel_list [iso, aniso, generalized_iso, generalized_aniso, plateau_iso, plateau_aniso],
# kernel_prob: [0.45, 0.25, 0.12, 0.03, 0.12, 0.03], sinc_prob: 0.1, blur_sigma: [0.2, 3],
# betag_range: [0.5, 4], betap_range: [1, 2]. The first blur is unconditional (feed_data).
FIRST_STAGE = StageConfig()
# The same file, "the second degradation process": second_blur_prob: 0.8,
# resize_prob2: [0.3, 0.4, 0.3], resize_range2: [0.3, 1.2], gaussian_noise_prob2: 0.5,
# noise_range2: [1, 25], poisson_scale_range2: [0.05, 2.5], gray_noise_prob2: 0.4,
# jpeg_range2: [30, 95]; kernel_list2 / kernel_prob2 / sinc_prob2 / betag_range2 /
# betap_range2 as in stage 1, blur_sigma2: [0.2, 1.5].
SECOND_STAGE = StageConfig(
    blur=BlurConfig(sigma_range=(0.2, 1.5)),
    blur_prob=0.8,
    resize_probs=(0.3, 0.4, 0.3),
    resize_range=(0.3, 1.2),
    noise_range=(1.0, 25.0),
    poisson_scale_range=(0.05, 2.5),
)


@dataclasses.dataclass(frozen=True)
class DegradationConfig:
    """Real-ESRGAN's degradation model; the defaults are RealESRGAN x4plus's.

    Attributes:
        first, second: the two stages (FIRST_STAGE, SECOND_STAGE).
        final_sinc_prob: probability of the final sinc filter, else the identity
            (`final_sinc_prob: 0.8`), size from first.blur.kernel_sizes' set, omega_c in
            final_sinc_omega_range.
        final_sinc_omega_range: (RealESRGANDataset: `np.random.uniform(np.pi / 3, np.pi)`).
        resize_sinc_first_prob: probability of [resize to LR + sinc] then JPEG, else JPEG then
            [resize + sinc] (feed_data: `if np.random.uniform() < 0.5`).
        usm_weight, usm_radius, usm_threshold: the USM sharpening of the ground truth
            (BasicSR's `USMSharp(radius=50, sigma=0)`, `forward(img, weight=0.5,
            threshold=10)`); radius is the Gaussian's kernel size, made odd (51).
        degrade_sharpened: degrade the sharpened ground truth, as RealESRGANModel does
            (`out = filter2D(self.gt_usm, self.kernel1)`; RealESRNet likewise with
            `gt_usm: True`), else the plain one.
    """

    first: StageConfig = FIRST_STAGE
    second: StageConfig = SECOND_STAGE
    final_sinc_prob: float = 0.8
    final_sinc_omega_range: tuple = SINC_OMEGA_BELOW_13
    resize_sinc_first_prob: float = 0.5
    usm_weight: float = 0.5
    usm_radius: int = 50
    usm_threshold: float = 10.0
    degrade_sharpened: bool = True

    def __post_init__(self):
        _check_probability("final_sinc_prob", self.final_sinc_prob)
        _check_range("final_sinc_omega_range", self.final_sinc_omega_range, lowest=0.0)
        _check_probability("resize_sinc_first_prob", self.resize_sinc_first_prob)
        if self.usm_radius < 1:
            raise ValueError(f"usm_radius must be positive, got {self.usm_radius}")


# Real-ESRGAN x4plus's degradations (and Real-ESRNet x4plus's: the same options).
REAL_ESRGAN_X4PLUS = DegradationConfig()

# ---------------------------------------------------------------------------------------
# Kernels
# ---------------------------------------------------------------------------------------

# The formula each kind evaluates: the Gaussians are the generalized one with beta = 1.
_GENERALIZED, _PLATEAU, _SINC, _PULSE = range(4)
_FORMULA = {
    "iso": _GENERALIZED,
    "aniso": _GENERALIZED,
    "generalized_iso": _GENERALIZED,
    "generalized_aniso": _GENERALIZED,
    "plateau_iso": _PLATEAU,
    "plateau_aniso": _PLATEAU,
    "sinc": _SINC,
    "pulse": _PULSE,
}


def _evaluate_kernel(kind, size, sigma_x, sigma_y, theta, beta, omega_c, grid_size):
    """The normalised kernel of `kind` (an index in KERNEL_KINDS) on a grid_size^2 grid,
    zero outside its central size x size square.

    Real-ESRGAN §3.1 / BasicSR `mesh_grid`, `pdf2`, `bivariate_*`: on the grid C = (x, y) of
    offsets from the centre (x along columns), q = C^T Sigma^-1 C with
    Sigma = R(theta) diag(sigma_x^2, sigma_y^2) R(theta)^T, and
      generalized Gaussian: exp(-q^beta / 2)   (beta = 1: Gaussian),
      plateau:              1 / (1 + q^beta),
    each divided by its sum. The sinc is BasicSR's `circular_lowpass_kernel`, the circularly
    symmetric ideal low-pass filter with cutoff omega_c: omega_c J1(omega_c r) / (2 pi r), and
    omega_c^2 / (4 pi) at r = 0, also divided by its sum.
    """
    f64 = tf.float64
    sigma_x, sigma_y, theta, beta, omega_c = (
        tf.cast(v, f64) for v in (sigma_x, sigma_y, theta, beta, omega_c)
    )
    axis = tf.range(grid_size, dtype=f64) - tf.cast(grid_size - 1, f64) / 2.0
    x, y = axis[None, :], axis[:, None]
    # Sigma^-1 = R diag(1 / sigma_x^2, 1 / sigma_y^2) R^T, so q = |R^T C / sigma|^2.
    cos, sin = tf.cos(theta), tf.sin(theta)
    u = (cos * x + sin * y) / sigma_x
    v = (-sin * x + cos * y) / sigma_y
    q_beta = tf.pow(u * u + v * v, beta)
    r = tf.sqrt(x * x + y * y)
    safe_r = tf.where(r > 0, r, tf.ones_like(r))
    sinc = tf.where(
        r > 0,
        omega_c * tf.math.special.bessel_j1(omega_c * safe_r) / (2.0 * math.pi * safe_r),
        omega_c * omega_c / (4.0 * math.pi),
    )
    formula = tf.gather([_FORMULA[name] for name in KERNEL_KINDS], kind)
    kernel = tf.switch_case(
        formula,
        [
            lambda: tf.exp(-0.5 * q_beta),
            lambda: 1.0 / (q_beta + 1.0),
            lambda: sinc,
            lambda: tf.cast(tf.equal(r, 0.0), f64),
        ],
    )
    half = tf.cast(size - 1, f64) / 2.0
    inside = (tf.abs(x) <= half) & (tf.abs(y) <= half)
    kernel = tf.where(inside, kernel, tf.zeros_like(kernel))
    return tf.cast(kernel / tf.reduce_sum(kernel), tf.float32)


def _kernel(kind, size, sigma_x, sigma_y, theta, beta, omega_c, pad_to):
    if isinstance(size, int) and (size % 2 == 0 or size < 1):
        raise ValueError(f"kernel size must be a positive odd number, got {size}")
    if pad_to and pad_to % 2 == 0:
        raise ValueError(f"pad_to must be odd (or 0), got {pad_to}")
    if pad_to and isinstance(size, int) and size > pad_to:
        raise ValueError(f"kernel size {size} is larger than pad_to={pad_to}")
    grid_size = pad_to or size
    return _evaluate_kernel(
        KERNEL_KINDS.index(kind), size, sigma_x, sigma_y, theta, beta, omega_c, grid_size
    )


def gaussian_kernel(size, sigma_x, sigma_y=None, theta=0.0, pad_to=0):
    """Bivariate Gaussian kernel [n, n] float32 (n = pad_to or size), sum 1.

    Isotropic when sigma_y is None (BasicSR `bivariate_Gaussian`); theta in radians.
    """
    kind = "iso" if sigma_y is None else "aniso"
    sigma_y = sigma_x if sigma_y is None else sigma_y
    return _kernel(kind, size, sigma_x, sigma_y, theta, 1.0, 0.0, pad_to)


def generalized_gaussian_kernel(size, sigma_x, sigma_y=None, theta=0.0, beta=1.0, pad_to=0):
    """Generalized Gaussian kernel exp(-q^beta / 2) (BasicSR
    `bivariate_generalized_Gaussian`), [n, n] float32, sum 1."""
    kind = "generalized_iso" if sigma_y is None else "generalized_aniso"
    sigma_y = sigma_x if sigma_y is None else sigma_y
    return _kernel(kind, size, sigma_x, sigma_y, theta, beta, 0.0, pad_to)


def plateau_kernel(size, sigma_x, sigma_y=None, theta=0.0, beta=1.0, pad_to=0):
    """Plateau-shaped kernel 1 / (1 + q^beta) (BasicSR `bivariate_plateau`), [n, n] float32,
    sum 1."""
    kind = "plateau_iso" if sigma_y is None else "plateau_aniso"
    sigma_y = sigma_x if sigma_y is None else sigma_y
    return _kernel(kind, size, sigma_x, sigma_y, theta, beta, 0.0, pad_to)


def sinc_kernel(size, omega_c, pad_to=0):
    """2-D circular low-pass (sinc) kernel with cutoff omega_c in radians (pi the highest),
    BasicSR `circular_lowpass_kernel(omega_c, size, pad_to)`; [n, n] float32, sum 1."""
    return _kernel("sinc", size, 1.0, 1.0, 0.0, 1.0, omega_c, pad_to)


def kernel_from_params(params, pad_to=KERNEL_PAD):
    """The kernel [pad_to, pad_to] float32 of a dict of `sample_kernel_params`."""
    return _evaluate_kernel(
        params["kind"],
        params["size"],
        params["sigma_x"],
        params["sigma_y"],
        params["theta"],
        params["beta"],
        params["omega_c"],
        pad_to,
    )


def _uniform(seed, low, high, dtype=tf.float64):
    return tf.random.stateless_uniform([], seed, low, high, dtype=dtype)


def _choice(seed, probs):
    """Index drawn with probabilities `probs` (inverse CDF of one uniform)."""
    cumulative = tf.constant(np.cumsum(probs)[:-1], tf.float64)
    u = _uniform(seed, 0.0, 1.0)
    return tf.reduce_sum(tf.cast(u >= cumulative, tf.int32))


def _bernoulli(seed, p):
    return _uniform(seed, 0.0, 1.0) < p


def _kind_in(kind, names):
    return tf.reduce_any(tf.equal(kind, [KERNEL_KINDS.index(name) for name in names]))


def sample_kernel_params(seed, blur):
    """Draws one stage kernel as RealESRGANDataset does.

    The size is uniform over blur.kernel_sizes; with blur.sinc_prob the kernel is a sinc,
    else a type drawn from blur.kernel_types with blur.kernel_probs (BasicSR
    `random_mixed_kernels`), with sigma_x (and for the anisotropic types sigma_y and theta)
    uniform in their ranges and beta drawn as BlurConfig describes.

    Args:
        seed: stateless seed, int32/int64 [2].
        blur: a BlurConfig.
    Returns:
        A dict of scalar tensors: kind (int32, index in KERNEL_KINDS), size (int32), sigma_x,
        sigma_y, theta, beta, omega_c (float64; neutral values where a kind does not use
        them: sigma_y = sigma_x and theta = 0 for isotropic kinds, beta = 1 for Gaussians,
        omega_c = 0 unless sinc).
    """
    seeds = tf.random.experimental.stateless_split(seed, 10)
    sizes = tf.constant(blur.kernel_sizes, tf.int32)
    size = tf.gather(
        sizes,
        tf.random.stateless_uniform([], seeds[0], 0, len(blur.kernel_sizes), dtype=tf.int32),
    )
    kinds = tf.constant([KERNEL_KINDS.index(t) for t in blur.kernel_types], tf.int32)
    kind = tf.gather(kinds, _choice(seeds[1], blur.kernel_probs))
    is_sinc = _bernoulli(seeds[2], blur.sinc_prob)
    kind = tf.where(is_sinc, SINC, kind)

    sigma_x = _uniform(seeds[3], *blur.sigma_range)
    isotropic = _kind_in(kind, ("iso", "generalized_iso", "plateau_iso"))
    sigma_y = tf.where(isotropic, sigma_x, _uniform(seeds[4], *blur.sigma_range))
    theta = tf.where(
        isotropic, tf.constant(0.0, tf.float64), _uniform(seeds[5], *blur.rotation_range)
    )
    is_plateau = _kind_in(kind, ("plateau_iso", "plateau_aniso"))
    low, high = tf.unstack(
        tf.where(
            is_plateau,
            tf.constant(blur.betap_range, tf.float64),
            tf.constant(blur.betag_range, tf.float64),
        )
    )
    t = _uniform(seeds[7], 0.0, 1.0)
    beta = tf.where(_bernoulli(seeds[6], 0.5), low + t * (1.0 - low), 1.0 + t * (high - 1.0))
    is_gaussian = _kind_in(kind, ("iso", "aniso"))
    beta = tf.where(is_gaussian | is_sinc, tf.constant(1.0, tf.float64), beta)

    below_13 = _uniform(seeds[8], *SINC_OMEGA_BELOW_13)
    from_13 = _uniform(seeds[9], *SINC_OMEGA_FROM_13)
    omega_c = tf.where(is_sinc, tf.where(size < 13, below_13, from_13), 0.0)
    return {
        "kind": kind,
        "size": size,
        "sigma_x": sigma_x,
        "sigma_y": sigma_y,
        "theta": theta,
        "beta": beta,
        "omega_c": tf.cast(omega_c, tf.float64),
    }


def sample_final_sinc_params(seed, config):
    """The final filter: with config.final_sinc_prob a sinc of a size uniform over
    config.first.blur.kernel_sizes and omega_c uniform in config.final_sinc_omega_range,
    else the identity (kind PULSE). Same dict as `sample_kernel_params`."""
    seeds = tf.random.experimental.stateless_split(seed, 3)
    sizes = tf.constant(config.first.blur.kernel_sizes, tf.int32)
    use_sinc = _bernoulli(seeds[0], config.final_sinc_prob)
    size = tf.gather(
        sizes,
        tf.random.stateless_uniform(
            [], seeds[1], 0, len(config.first.blur.kernel_sizes), dtype=tf.int32
        ),
    )
    one = tf.constant(1.0, tf.float64)
    return {
        "kind": tf.where(use_sinc, SINC, PULSE),
        "size": tf.where(use_sinc, size, 1),
        "sigma_x": one,
        "sigma_y": one,
        "theta": tf.constant(0.0, tf.float64),
        "beta": one,
        "omega_c": tf.where(use_sinc, _uniform(seeds[2], *config.final_sinc_omega_range), 0.0),
    }


def sample_kernel(seed, blur, pad_to=KERNEL_PAD):
    """A random stage kernel [pad_to, pad_to] float32 (see `sample_kernel_params`)."""
    return kernel_from_params(sample_kernel_params(seed, blur), pad_to)


# ---------------------------------------------------------------------------------------
# Filtering and sharpening
# ---------------------------------------------------------------------------------------


def filter2d(image, kernel):
    """BasicSR's `filter2D`: correlation with `kernel`, the input reflect-padded by k // 2.

    Computed with FFTs: the same sums (to float32 rounding, ~1e-6), ~20x faster on CPU than
    `tf.nn.depthwise_conv2d` with a 21x21 kernel on a 256x256 image (4 ms vs 95 ms).

    Args:
        image: [H, W, C] float32, H and W > k // 2 (reflect padding needs it).
        kernel: [k, k] float32, k odd and static.
    Returns:
        [H, W, C] float32.
    """
    k = kernel.shape[0]
    if k is None or k % 2 == 0 or kernel.shape[1] != k:
        raise ValueError(f"kernel must be a static odd square, got shape {kernel.shape}")
    r = k // 2
    shape = tf.shape(image)
    h, w = shape[0], shape[1]
    padded = tf.transpose(tf.pad(image, [[r, r], [r, r], [0, 0]], mode="REFLECT"), [2, 0, 1])
    # Any FFT length >= the padded size gives the valid part without wrap-around; multiples
    # of 16 are faster than arbitrary sizes.
    fft_length = ((tf.shape(padded)[1:] + 15) // 16) * 16
    # Convolution with the flipped kernel is correlation with the kernel.
    flipped = tf.reverse(tf.cast(kernel, tf.float32), axis=[0, 1])
    spectrum = tf.signal.rfft2d(padded, fft_length) * tf.signal.rfft2d(flipped, fft_length)
    out = tf.signal.irfft2d(spectrum, fft_length)[:, k - 1 : k - 1 + h, k - 1 : k - 1 + w]
    return tf.transpose(out, [1, 2, 0])


def usm_size(radius=50):
    """The side of BasicSR `USMSharp`'s blur kernel: `radius` made odd (51 for 50). Plain
    Python, so that configs can be checked without initialising TensorFlow."""
    return radius + 1 if radius % 2 == 0 else radius


def usm_kernel(radius=50):
    """BasicSR `USMSharp`'s blur: `cv2.getGaussianKernel(radius, 0)` (radius made odd) as an
    outer product, [n, n] float32. OpenCV's sigma for sigma <= 0 is
    0.3 * ((n - 1) / 2 - 1) + 0.8 (8.0 for n = 51)."""
    n = usm_size(radius)
    sigma = 0.3 * ((n - 1) * 0.5 - 1) + 0.8
    x = np.arange(n, dtype=np.float64) - (n - 1) / 2
    g = np.exp(-(x * x) / (2 * sigma * sigma))
    g /= g.sum()
    return tf.constant(np.outer(g, g), tf.float32)


def usm_sharpen(image, weight=0.5, radius=50, threshold=10.0):
    """Unsharp masking of the ground truth, BasicSR `USMSharp`:

    residual = I - blur(I); mask = |residual| * 255 > threshold (per channel);
    out = blur(mask) * clip(I + weight * residual, 0, 1) + (1 - blur(mask)) * I,
    blur being `filter2d` with `usm_kernel(radius)`.

    Args:
        image: [H, W, C] float32 in [0, 1], H and W > radius // 2 + 1.
    """
    kernel = usm_kernel(radius)
    residual = image - filter2d(image, kernel)
    mask = tf.cast(tf.abs(residual) * 255.0 > threshold, tf.float32)
    soft_mask = filter2d(mask, kernel)
    sharp = tf.clip_by_value(image + weight * residual, 0.0, 1.0)
    return soft_mask * sharp + (1.0 - soft_mask) * image


# ---------------------------------------------------------------------------------------
# Resize, noise, JPEG
# ---------------------------------------------------------------------------------------


def resize(image, size, mode):
    """`tf.image.resize` of [H, W, C] to `size` (int32 [2]) with RESIZE_MODES[mode] (a scalar
    int32 tensor), no antialiasing (see the module docstring for PyTorch's differences)."""
    branches = [
        lambda method=method: tf.image.resize(image, size, method=method) for method in RESIZE_MODES
    ]
    return tf.switch_case(mode, branches)


def _sample_resize(seed, stage):
    seeds = tf.random.experimental.stateless_split(seed, 3)
    direction = _choice(seeds[0], stage.resize_probs)
    low, high = stage.resize_range
    t = _uniform(seeds[1], 0.0, 1.0)
    scale = tf.gather(tf.stack([1.0 + t * (high - 1.0), low + t * (1.0 - low), 1.0]), direction)
    mode = tf.random.stateless_uniform([], seeds[2], 0, len(RESIZE_MODES), dtype=tf.int32)
    return {"direction": direction, "scale": scale, "mode": mode}


def add_gaussian_noise(image, seed, sigma, gray):
    """image + N(0, (sigma / 255)^2), clipped to [0, 1] (BasicSR
    `random_add_gaussian_noise_pt(..., clip=True, rounds=False)`).

    Args:
        image: [H, W, C] float32.
        seed: stateless seed [2].
        sigma: noise standard deviation on the 0..255 scale.
        gray: bool; one noise plane for all channels.
    """
    shape = tf.shape(image)
    noise = tf.cond(
        gray,
        lambda: tf.random.stateless_normal(tf.concat([shape[:2], [1]], 0), seed),
        lambda: tf.random.stateless_normal(shape, seed),
    )
    return tf.clip_by_value(image + noise * (tf.cast(sigma, tf.float32) / 255.0), 0.0, 1.0)


def _poisson_noise(image, seed):
    """BasicSR `generate_poisson_noise_pt` for one image (before the scale): the image rounded
    to 8-bit levels x, vals = the power of 2 >= the number of distinct levels in it;
    noise = Poisson(x * vals) / vals - x."""
    levels = tf.clip_by_value(tf.round(image * 255.0), 0.0, 255.0)
    rounded = levels / 255.0
    count = tf.math.count_nonzero(
        tf.math.bincount(tf.reshape(tf.cast(levels, tf.int32), [-1]), minlength=256),
        dtype=tf.int32,
    )
    # 2 ** ceil(log2(count)) with integers: a float log2 of an exact power of 2 can round up.
    powers = tf.constant([2**i for i in range(9)], tf.int32)
    vals = tf.cast(tf.reduce_min(tf.where(powers >= count, powers, 256)), tf.float32)
    counts = tf.random.stateless_poisson(tf.shape(image), seed, rounded * vals, dtype=tf.float32)
    return counts / vals - rounded


def add_poisson_noise(image, seed, scale, gray):
    """image + scale * Poisson noise, clipped to [0, 1] (BasicSR
    `random_add_poisson_noise_pt(..., clip=True, rounds=False)`).

    Args:
        image: [H, W, 3] float32.
        seed: stateless seed [2].
        scale: noise scale.
        gray: bool; the noise of the gray image (torchvision's `rgb_to_grayscale` weights) in
            all channels.
    """

    def gray_noise():
        luma = tf.reduce_sum(image * tf.constant(_GRAY_WEIGHTS, tf.float32), -1, keepdims=True)
        return _poisson_noise(luma, seed)

    noise = tf.cond(gray, gray_noise, lambda: _poisson_noise(image, seed))
    return tf.clip_by_value(image + noise * tf.cast(scale, tf.float32), 0.0, 1.0)


def _sample_noise(seed, stage):
    seeds = tf.random.experimental.stateless_split(seed, 5)
    return {
        "gaussian": _bernoulli(seeds[0], stage.gaussian_noise_prob),
        "sigma": _uniform(seeds[1], *stage.noise_range, dtype=tf.float32),
        "poisson_scale": _uniform(seeds[2], *stage.poisson_scale_range, dtype=tf.float32),
        "gray": _bernoulli(seeds[3], stage.gray_noise_prob),
        "seed": seeds[4],
    }


def add_noise(image, params):
    """Gaussian or Poisson noise as a dict of `sample_degradation` ("noise1"/"noise2") says."""
    return tf.cond(
        params["gaussian"],
        lambda: add_gaussian_noise(image, params["seed"], params["sigma"], params["gray"]),
        lambda: add_poisson_noise(image, params["seed"], params["poisson_scale"], params["gray"]),
    )


def jpeg(image, quality):
    """JPEG round trip of [H, W, 3] float32 at integer `quality` (scalar int32 tensor).

    The input is clipped to [0, 1] first (feed_data: "clamp to [0, 1], otherwise JPEGer will
    result in unpleasant artifacts") and rounded to 8 bits, which `tf.image.adjust_jpeg_quality`
    would instead truncate (x * 255.5); the output is in multiples of 1/255.
    """
    pixels = tf.cast(tf.round(tf.clip_by_value(image, 0.0, 1.0) * 255.0), tf.uint8)
    encoded = tf.raw_ops.EncodeJpegVariableQuality(images=pixels, quality=quality)
    decoded = tf.io.decode_jpeg(encoded, channels=3, dct_method="INTEGER_ACCURATE")
    return tf.cast(decoded, tf.float32) / 255.0


# ---------------------------------------------------------------------------------------
# The two-stage degradation
# ---------------------------------------------------------------------------------------


def sample_degradation(seed, config=REAL_ESRGAN_X4PLUS):
    """Every random choice of one example's degradation, as a dict of tensors.

    Keys: kernel1, kernel2, final_sinc (dicts of `sample_kernel_params` plus "kernel", the
    21x21 float32 kernel), blur2 (bool), resize1, resize2 (direction: index in
    RESIZE_DIRECTIONS, scale: float64, mode: index in RESIZE_MODES), noise1, noise2 (gaussian,
    gray: bool; sigma, poisson_scale: float32; seed), jpeg1, jpeg2 (int32 quality),
    resize_sinc_first (bool), final_mode (index in RESIZE_MODES).
    Batched by tf.data, these are the per-example parameters of a batch.
    """
    s = tf.random.experimental.stateless_split(seed, 12)
    kernels = {}
    for name, params in (
        ("kernel1", sample_kernel_params(s[0], config.first.blur)),
        ("kernel2", sample_kernel_params(s[1], config.second.blur)),
        ("final_sinc", sample_final_sinc_params(s[2], config)),
    ):
        kernels[name] = dict(params, kernel=kernel_from_params(params))

    def quality(seed, stage):
        low, high = stage.jpeg_range
        return tf.random.stateless_uniform([], seed, low, high + 1, dtype=tf.int32)

    return {
        **kernels,
        "blur2": _bernoulli(s[3], config.second.blur_prob),
        "resize1": _sample_resize(s[4], config.first),
        "resize2": _sample_resize(s[5], config.second),
        "noise1": _sample_noise(s[6], config.first),
        "noise2": _sample_noise(s[7], config.second),
        "jpeg1": quality(s[8], config.first),
        "jpeg2": quality(s[9], config.second),
        "resize_sinc_first": _bernoulli(s[10], config.resize_sinc_first_prob),
        "final_mode": tf.random.stateless_uniform([], s[11], 0, len(RESIZE_MODES), dtype=tf.int32),
    }


def minimum_hr_size(scale, config=REAL_ESRGAN_X4PLUS):
    """The smallest HR side `degrade` accepts: every image that is blurred must be larger than
    the reflect padding (k // 2 = 10 for the 21x21 kernels, 25 for USM's 51x51)."""
    pad = KERNEL_PAD // 2
    usm_pad = usm_size(config.usm_radius) // 2
    smallest_stage1 = min(config.first.resize_range[0], 1.0)
    size = usm_pad + 1
    while math.floor(size * smallest_stage1) <= pad or size // scale <= pad or size <= usm_pad:
        size += 1
    return size


def apply_degradation(hr, params, scale, config=REAL_ESRGAN_X4PLUS):
    """Degrades one HR image with the choices of `sample_degradation`.

    Real-ESRGAN's order (RealESRGANModel.feed_data): the USM-sharpened ground truth ->
    stage 1: blur (kernel1) -> resize by resize1.scale -> noise1 -> JPEG (jpeg1);
    stage 2: blur (kernel2, if blur2) -> resize to resize2.scale x the LR size -> noise2;
    then either [resize to the LR size + final sinc] -> JPEG (jpeg2), or JPEG ->
    [resize + final sinc]; finally clamp and round to 8-bit levels,
    `torch.clamp((out * 255.0).round(), 0, 255) / 255.`.

    Args:
        hr: [H, W, 3] float32 in [0, 1], H and W >= minimum_hr_size(scale, config).
        params: a dict of `sample_degradation`.
        scale: SR factor (Python int); the LR is [H // scale, W // scale, 3].
        config: the DegradationConfig `params` were drawn with (for USM and
            degrade_sharpened).
    Returns:
        (lr, hr_usm): float32 LR in multiples of 1/255, and the USM-sharpened HR (Real-ESRGAN
        trains its L1 and perceptual losses against it: `l1_gt_usm: True`,
        `percep_gt_usm: True`, and its GAN loss against the plain HR: `gan_gt_usm: False`).
    """
    hr = tf.convert_to_tensor(hr, tf.float32)
    if hr.shape.rank != 3:
        raise ValueError(f"hr must be [H, W, 3], got shape {hr.shape}")
    minimum = minimum_hr_size(scale, config)
    static_hw = hr.shape[:2]
    if any(n is not None and n < minimum for n in static_hw):
        raise ValueError(f"HR images must be at least {minimum} px at x{scale}, got {hr.shape}")
    hw = tf.shape(hr)[:2]
    if not static_hw.is_fully_defined():
        tf.debugging.assert_greater_equal(
            hw, minimum, message=f"HR images must be at least {minimum} px at x{scale}"
        )
    lr_size = hw // scale
    hr_usm = usm_sharpen(hr, config.usm_weight, config.usm_radius, config.usm_threshold)
    out = hr_usm if config.degrade_sharpened else hr

    def scaled(base, factor):  # F.interpolate's floor(size * scale_factor), int(h / s * scale)
        size = tf.cast(tf.floor(tf.cast(base, tf.float64) * factor), tf.int32)
        return tf.maximum(size, 1)

    # Stage 1.
    out = filter2d(out, params["kernel1"]["kernel"])
    out = resize(out, scaled(hw, params["resize1"]["scale"]), params["resize1"]["mode"])
    out = add_noise(out, params["noise1"])
    out = jpeg(out, params["jpeg1"])

    # Stage 2.
    kernel2 = params["kernel2"]["kernel"]
    out = tf.cond(params["blur2"], lambda: filter2d(out, kernel2), lambda: out)
    lr_base = tf.cast(hw, tf.float64) / scale
    out = resize(out, scaled(lr_base, params["resize2"]["scale"]), params["resize2"]["mode"])
    out = add_noise(out, params["noise2"])

    # Resize to the LR size + the final sinc, and JPEG, in either order.
    sinc = params["final_sinc"]

    def resize_and_sinc(image):
        image = resize(image, lr_size, params["final_mode"])
        return tf.cond(
            tf.equal(sinc["kind"], PULSE), lambda: image, lambda: filter2d(image, sinc["kernel"])
        )

    out = tf.cond(
        params["resize_sinc_first"],
        lambda: jpeg(resize_and_sinc(out), params["jpeg2"]),
        lambda: resize_and_sinc(jpeg(out, params["jpeg2"])),
    )
    lr = tf.clip_by_value(tf.round(out * 255.0), 0.0, 255.0) / 255.0
    lr_static = [None if n is None else n // scale for n in static_hw]
    return tf.ensure_shape(lr, lr_static + [3]), tf.ensure_shape(hr_usm, hr.shape)


def degrade(hr, seed, scale, config=REAL_ESRGAN_X4PLUS):
    """Real-ESRGAN's high-order degradation of an HR image or batch, from a stateless seed.

    A pure function of (hr, seed): use it eagerly, in a `tf.function`, or as a tf.data map
    function with one seed per example (as `pipeline.train_dataset` makes them).

    Args:
        hr: [H, W, 3] or [B, H, W, 3] float32 in [0, 1]; H, W >= minimum_hr_size(scale).
        seed: int32/int64 [2] stateless seed; for a batch, example i uses the i-th seed of
            `tf.random.experimental.stateless_split(seed, B)`.
        scale: SR factor (Python int).
        config: a DegradationConfig (default: Real-ESRGAN x4plus).
    Returns:
        (lr, hr_usm): [.., H // scale, W // scale, 3] float32 LR, quantised to 1/255, and the
        USM-sharpened HR (see `apply_degradation`).
    """
    hr = tf.convert_to_tensor(hr, tf.float32)
    if hr.shape.rank == 3:
        return apply_degradation(hr, sample_degradation(seed, config), scale, config)
    if hr.shape.rank != 4:
        raise ValueError(f"hr must be [H, W, 3] or [B, H, W, 3], got shape {hr.shape}")
    seeds = tf.random.experimental.stateless_split(seed, tf.shape(hr)[0])
    return tf.map_fn(
        lambda args: degrade(args[0], args[1], scale, config),
        (hr, seeds),
        fn_output_signature=(tf.float32, tf.float32),
    )
