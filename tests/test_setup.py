"""scripts/llama-cmake-args.sh: llama.cpp's build flags from the CPU's own flags."""

import subprocess
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "llama-cmake-args.sh"
AVX2 = "fpu sse2 ssse3 sse4_1 sse4_2 avx f16c fma bmi2 avx2"
AVX512 = AVX2 + " avx512f avx512dq avx512cd avx512bw avx512vl"


def cmake_args(tmp_path, flags: str | None, **env) -> list[str]:
    cpuinfo = tmp_path / "cpuinfo"
    cpuinfo.write_text("processor\t: 0\n" + (f"flags\t\t: {flags}\n" if flags is not None else ""))
    out = subprocess.run(["bash", str(SCRIPT)], env={"PATH": "/usr/bin:/bin", "RAG_CPUINFO": str(cpuinfo), **env},
                         capture_output=True, text=True, check=True).stdout
    return out.split()


def test_an_avx2_cpu_gets_the_same_flags_as_before_so_its_cached_wheel_is_reused(tmp_path):
    assert " ".join(cmake_args(tmp_path, AVX2)) == (
        "-DGGML_NATIVE=OFF -DGGML_AVX=ON -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON -DGGML_BMI2=ON")


@pytest.mark.parametrize("extra, wanted", [
    ("", {"-DGGML_AVX512=ON"}),
    (" avx512vbmi avx512_vnni", {"-DGGML_AVX512=ON", "-DGGML_AVX512_VBMI=ON", "-DGGML_AVX512_VNNI=ON"}),
])
def test_an_avx512_cpu_gets_the_avx512_kernels_it_has(tmp_path, extra, wanted):
    args = cmake_args(tmp_path, AVX512 + extra)
    assert wanted <= set(args) and "-DGGML_AVX2=ON" in args
    assert not {a for a in args if a.endswith("=ON")} - wanted - {
        "-DGGML_AVX=ON", "-DGGML_AVX2=ON", "-DGGML_FMA=ON", "-DGGML_F16C=ON", "-DGGML_BMI2=ON"}


def test_a_partial_avx512_set_is_not_enough(tmp_path):
    # avx512f alone (no bw/vl) does not run llama.cpp's AVX-512 kernels.
    assert "-DGGML_AVX512=ON" not in cmake_args(tmp_path, AVX2 + " avx512f")


@pytest.mark.parametrize("flags", ["fpu sse2 sse4_2", None])
def test_a_cpu_without_avx2_or_without_flags_gets_the_plain_build(tmp_path, flags):
    args = cmake_args(tmp_path, flags)
    assert "-DGGML_AVX2=OFF" in args and not any(a.endswith("=ON") for a in args)


def test_never_native_and_never_amx(tmp_path):
    args = cmake_args(tmp_path, AVX512 + " avx512vbmi avx512_vnni amx_tile amx_int8 amx_bf16")
    assert "-DGGML_NATIVE=OFF" in args and not any("AMX" in a for a in args)


def test_the_override_wins(tmp_path):
    assert cmake_args(tmp_path, AVX512, RAG_LLAMA_CMAKE_ARGS="-DGGML_NATIVE=ON") == ["-DGGML_NATIVE=ON"]
