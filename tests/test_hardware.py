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
