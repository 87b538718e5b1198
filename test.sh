#!/usr/bin/env bash
# Install everything (once) and run the whole test suite: unit tests, real-model tests,
# the browser test, then the evaluation gates (gold set + capped XQuAD).
set -euo pipefail
cd "$(dirname "$0")"
bash scripts/setup.sh
export GRADIO_ANALYTICS_ENABLED=False ANONYMIZED_TELEMETRY=False
if [ ! -x /usr/bin/chromium ] || [ ! -x /usr/bin/chromedriver ]; then
  if [ "$(id -u)" = 0 ]; then
    echo "==> installing Debian's chromium for the browser test"
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver >/dev/null
  else
    echo "==> no /usr/bin/chromium and not root: the browser test will be skipped"
  fi
fi
mkdir -p reports
.venv/bin/python -m pytest "$@"
bash scripts/eval-gate.sh
