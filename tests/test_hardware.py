import os
import subprocess
import sys

import pytest

from esrgan_tf import hardware

AVX2_MACHINE = frozenset("fpu sse2 avx avx2 fma f16c".split())
AVX512_MACHINE = AVX2_MACHINE | {"avx512f", "avx512bw", "avx512_vnni"}
BF16_MACHINE = AVX512_MACHINE | {"avx512_bf16"}


def test_simd_names_the_widest_extension():
    assert hardware.simd(frozenset({"sse2"})) == "baseline"
    assert hardware.simd(AVX2_MACHINE) == "AVX2"
    assert hardware.simd(AVX512_MACHINE) == "AVX-512"
    assert hardware.simd(BF16_MACHINE) == "AVX-512 + BF16"


def test_reports_carry_the_flags_that_decide_speed():
    hw = hardware.describe()
    assert set(hw["cpu_flags"]) <= hardware.cpu_flags()
    assert hw["simd"] == hardware.simd()
    assert hardware.label(hw) == f"{hw['cpu']}, {hw['simd']}, {hw['usable_cpus']} CPUs"
    # Reports written before the flags were recorded still render.
    old = {"cpu": "X", "usable_cpus": 2}
    assert hardware.label(old) == "X, 2 CPUs"


def test_native_half_precisions_per_device():
    avx2 = frozenset({"avx", "avx2", "fma"})
    sapphire = avx2 | {"avx512f", "avx512_bf16", "avx512_fp16", "amx_bf16"}
    # No GPU: the CPU's; bf16 is emulated on AVX2 (9x slower measured), so not offered.
    assert hardware.native_half_precisions(avx2, []) == ()
    assert hardware.native_half_precisions(avx2 | {"avx512f", "avx512_bf16"}, []) == ("bf16",)
    assert hardware.native_half_precisions(sapphire, []) == ("bf16", "fp16")
    # GPUs decide when present, the oldest one for all: T4 (7.5) fp16, A100 (8.0) both,
    # Pascal (6.1) neither; a GPU beside an AVX-512 CPU is still the GPU's answer.
    assert hardware.native_half_precisions(avx2, [(7, 5)]) == ("fp16",)
    assert hardware.native_half_precisions(avx2, [(8, 0), (9, 0)]) == ("bf16", "fp16")
    assert hardware.native_half_precisions(sapphire, [(6, 1)]) == ()
    assert hardware.native_half_precisions(avx2, [(8, 6), (7, 0)]) == ("fp16",)


_ONEDNN_PROBE = """
import os, sys
from esrgan_tf import hardware
print(hardware.prefer_onednn(), os.environ.get(hardware.ONEDNN_ENV), hardware.onednn())
sys.modules["tensorflow"] = sys  # as if TensorFlow were loaded: too late to change it
print(hardware.prefer_onednn())
"""


@pytest.mark.parametrize("given,first", [(None, "True 1 None"), ("0", "True 0 None")])
def test_training_prefers_onednn_unless_the_user_says_otherwise(given, first, repo_root):
    env = {k: v for k, v in os.environ.items() if k != "TF_ENABLE_ONEDNN_OPTS"}
    if given is not None:
        env["TF_ENABLE_ONEDNN_OPTS"] = given
    proc = subprocess.run(
        [sys.executable, "-c", _ONEDNN_PROBE],
        capture_output=True,
        text=True,
        env={**env, "PYTHONPATH": repo_root, "TF_CPP_MIN_LOG_LEVEL": "3"},
        cwd=repo_root,
        timeout=300,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    before, after = proc.stdout.split("\n")[:2]
    # Set before TensorFlow loads (onednn() cannot tell yet: None), unless the user set it;
    # afterwards it changes nothing.
    assert before == first and after == "False"
