"""What machine a measurement was taken on, for benchmark and export reports."""

import os
import platform
import sys


def cpu_model():
    """The CPU's model name (from /proc/cpuinfo on Linux)."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def cpu_flags():
    """The CPU's feature flags (the `flags` line of /proc/cpuinfo; empty off Linux)."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            for line in f:
                if line.startswith("flags"):
                    return frozenset(line.split(":", 1)[1].split())
    except OSError:
        pass
    return frozenset()


# The vector extensions that decide CPU speed here, widest first: AVX-512 with BF16 runs
# bf16 natively, AVX-512 alone has VNNI int8 and wider float math, AVX2 + FMA is the
# slower kind (the same job takes 2-4x longer).
SIMD_LEVELS = (
    ("avx512_bf16", "AVX-512 + BF16"),
    ("avx512f", "AVX-512"),
    ("avx2", "AVX2"),
)


def simd(flags=None):
    """The widest of SIMD_LEVELS the CPU has ('AVX2', ...), or 'baseline'."""
    flags = cpu_flags() if flags is None else flags
    return next((name for flag, name in SIMD_LEVELS if flag in flags), "baseline")


# Float32 FLOPs per cycle and core of the vector FMA units, assuming two FMA pipes (Intel
# since Haswell, AMD since Zen 2): 2 pipes x lanes x 2 FLOPs. AMD Zen 4 runs AVX-512 on
# 256-bit pipes, so its real figure is the AVX2 one; the measured GEMM says which holds.
FLOPS_PER_CYCLE = (("avx512f", 64), ("fma", 32), ("avx", 16))


def clock_mhz():
    """The CPU clock in MHz: the maximum from cpufreq when the kernel exposes it, else the
    `cpu MHz` of /proc/cpuinfo (a VM's nominal clock); None when neither is readable."""
    try:
        with open("/sys/devices/system/cpu/cpu0/cpufreq/cpuinfo_max_freq", encoding="utf-8") as f:
            return int(f.read().strip()) / 1000.0
    except (OSError, ValueError):
        pass
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            for line in f:
                if line.startswith("cpu MHz"):
                    return float(line.split(":", 1)[1])
    except (OSError, ValueError):
        pass
    return None


def fma_peak_gflops(flags=None, cores=None, mhz=None):
    """The theoretical float32 peak, cores x clock x FLOPS_PER_CYCLE (None without a clock)."""
    flags = cpu_flags() if flags is None else flags
    cores = usable_cpus() if cores is None else cores
    mhz = clock_mhz() if mhz is None else mhz
    if not mhz:
        return None
    per_cycle = next((n for flag, n in FLOPS_PER_CYCLE if flag in flags), 8)
    return cores * mhz * 1e-3 * per_cycle


# Half precisions a device computes natively (anything else is emulated, several times
# slower: measured here, bf16 training on AVX2 took 9x the float32 time). NVIDIA GPUs:
# float16 tensor cores from compute capability 7.0 (Volta), bfloat16 from 8.0 (Ampere).
# CPUs: AVX512_BF16 / AMX-BF16 for bfloat16, AVX512_FP16 / AMX-FP16 for float16.
GPU_HALF_PRECISIONS = (((8, 0), ("bf16", "fp16")), ((7, 0), ("fp16",)))
CPU_HALF_PRECISIONS = (
    (("avx512_bf16", "amx_bf16"), "bf16"),
    (("avx512_fp16", "amx_fp16"), "fp16"),
)


def native_half_precisions(flags=None, gpu_capabilities=None):
    """The `--mixed_precision` values ('bf16', 'fp16') the devices that would run the work
    compute natively: the GPUs' when there are any (all of them must have it), else the CPU's.

    Args:
        flags: the CPU's flags (None: this machine's).
        gpu_capabilities: (major, minor) compute capability per GPU (None: TensorFlow's).
    """
    caps = gpu_compute_capabilities() if gpu_capabilities is None else gpu_capabilities
    if caps:
        lowest = min(tuple(c) for c in caps)
        return next((p for floor, p in GPU_HALF_PRECISIONS if lowest >= floor), ())
    flags = cpu_flags() if flags is None else flags
    return tuple(p for names, p in CPU_HALF_PRECISIONS if any(n in flags for n in names))


def gpu_compute_capabilities():
    """(major, minor) per TensorFlow GPU; (0, 0) where TensorFlow does not report it."""
    import tensorflow as tf  # pylint: disable=import-outside-toplevel

    return [
        tuple(tf.config.experimental.get_device_details(d).get("compute_capability", (0, 0)))
        for d in tf.config.list_physical_devices("GPU")
    ]


def usable_cpus():
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count()


def gpus():
    """TensorFlow's GPUs (imported here: a PyTorch benchmark describes its machine too)."""
    import tensorflow as tf  # pylint: disable=import-outside-toplevel

    return [d.name for d in tf.config.list_physical_devices("GPU")]


def onednn():
    """Whether TensorFlow runs its oneDNN kernels in this process (TF_ENABLE_ONEDNN_OPTS, or
    TensorFlow's per-CPU default when unset); None before TensorFlow is imported (a PyTorch
    benchmark describing its machine)."""
    if "tensorflow" not in sys.modules:
        return None
    # No public getter in TF 2.21; this is the flag TensorFlow's own kernels consult.
    from tensorflow.python.util import _pywrap_util_port  # pylint: disable=import-outside-toplevel

    return bool(_pywrap_util_port.IsMklEnabled())


# oneDNN for training. TensorFlow turns its oneDNN kernels on by itself only on CPUs with
# AVX512_VNNI / AVX512_BF16 / AMX; elsewhere convolutions and their gradients run on Eigen,
# about 1.3x slower for the training step on an AVX2 CPU. A batch-1 forward under oneDNN
# picks a slower GEMM convolution, so the inference commands keep TensorFlow's default.
# Measurements: docs/benchmarks.md "CPU kernels: oneDNN".
ONEDNN_ENV = "TF_ENABLE_ONEDNN_OPTS"


def prefer_onednn():
    """Turns TensorFlow's oneDNN kernels on for this process unless the user's
    TF_ENABLE_ONEDNN_OPTS says otherwise (0 keeps TensorFlow's CPU kernels). For the training
    commands, called before TensorFlow is imported: afterwards the setting has no effect and
    this returns False."""
    if "tensorflow" in sys.modules:
        return False
    os.environ.setdefault(ONEDNN_ENV, "1")
    return True


def describe(load_average=None, gpu_names=None):
    """The machine as a JSON-able dict.

    Args:
        load_average: the 1-minute load average read *before* the measurement added its
            own (other processes share the CPUs: a busy machine gives lower numbers).
        gpu_names: the accelerators (None: TensorFlow's).
    """
    flags = cpu_flags()
    usable = usable_cpus()
    return {
        "cpu": cpu_model(),
        "simd": simd(flags),
        "cpu_flags": sorted(f for f in flags if f.startswith(("avx", "fma", "amx", "f16c"))),
        "cpu_count": os.cpu_count(),
        "usable_cpus": usable,
        "clock_mhz": clock_mhz(),
        "fma_peak_gflops": fma_peak_gflops(flags, usable),
        "gpus": gpus() if gpu_names is None else gpu_names,
        "platform": platform.platform(),
        "python": platform.python_version(),
        "tensorflow": _version("tensorflow"),
        "tensorflow_onednn": onednn(),
        "load_average_1min_before": load_average,
    }


def label(hw):
    """'AMD EPYC, AVX2, 2 CPUs' for a `describe()` dict (older reports lack 'simd')."""
    simd_name = f", {hw['simd']}" if hw.get("simd") else ""
    return f"{hw['cpu']}{simd_name}, {hw['usable_cpus']} CPUs"


def _version(package):
    from importlib import metadata  # pylint: disable=import-outside-toplevel

    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return None
