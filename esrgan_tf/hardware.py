"""What machine a measurement was taken on, for benchmark and export reports."""

import os
import platform

import tensorflow as tf


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


def describe(load_average=None):
    """The machine as a JSON-able dict.

    Args:
        load_average: the 1-minute load average read *before* the measurement added its
            own (other processes share the CPUs: a busy machine gives lower numbers).
    """
    flags = cpu_flags()
    usable = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return {
        "cpu": cpu_model(),
        "simd": simd(flags),
        "cpu_flags": sorted(f for f in flags if f.startswith(("avx", "fma", "amx", "f16c"))),
        "cpu_count": os.cpu_count(),
        "usable_cpus": usable,
        "gpus": [d.name for d in tf.config.list_physical_devices("GPU")],
        "platform": platform.platform(),
        "python": platform.python_version(),
        "tensorflow": tf.__version__,
        "load_average_1min_before": load_average,
    }


def label(hw):
    """'AMD EPYC, AVX2, 2 CPUs' for a `describe()` dict (older reports lack 'simd')."""
    simd_name = f", {hw['simd']}" if hw.get("simd") else ""
    return f"{hw['cpu']}{simd_name}, {hw['usable_cpus']} CPUs"
