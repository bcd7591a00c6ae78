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
