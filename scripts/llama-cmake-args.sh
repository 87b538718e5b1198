#!/usr/bin/env bash
# Print the CMake flags for building llama.cpp (llama-cpp-python) for this machine's CPU:
# the instruction sets its flags in /proc/cpuinfo (or $RAG_CPUINFO) list, named one by one,
# never -march=native and never AMX (llama.cpp's AMX kernels crashed in these VMs on any
# prompt longer than one token). AVX-512 with VNNI/VBMI reads prompts ~1.45x faster than
# AVX2 on an AVX-512 Xeon (docs/decisions.md, 2026-12-07); a CPU without it gets AVX2, and
# one without AVX2 the plain build. RAG_LLAMA_CMAKE_ARGS overrides the choice.
set -euo pipefail
if [ -n "${RAG_LLAMA_CMAKE_ARGS:-}" ]; then
  echo "$RAG_LLAMA_CMAKE_ARGS"
  exit 0
fi
flags=" $(grep -m1 -E '^flags' "${RAG_CPUINFO:-/proc/cpuinfo}" 2>/dev/null | cut -d: -f2 || true) "
has() { for f in "$@"; do [[ "$flags" == *" $f "* ]] || return 1; done; }
args="-DGGML_NATIVE=OFF"
if has avx avx2 fma f16c bmi2; then
  args="$args -DGGML_AVX=ON -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON -DGGML_BMI2=ON"
  if has avx512f avx512cd avx512vl avx512dq avx512bw; then
    args="$args -DGGML_AVX512=ON"
    if has avx512vbmi; then args="$args -DGGML_AVX512_VBMI=ON"; fi
    if has avx512_vnni; then args="$args -DGGML_AVX512_VNNI=ON"; fi
  fi
else
  args="$args -DGGML_AVX=OFF -DGGML_AVX2=OFF -DGGML_FMA=OFF -DGGML_F16C=OFF -DGGML_BMI2=OFF"
fi
echo "$args"
