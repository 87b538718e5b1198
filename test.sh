#!/usr/bin/env bash
# Install everything (once) and run the whole test suite: unit tests, real-model tests,
# the browser test, then the evaluation gates (gold set + capped XQuAD).
set -euo pipefail
cd "$(dirname "$0")"
bash scripts/setup.sh
export GRADIO_ANALYTICS_ENABLED=False ANONYMIZED_TELEMETRY=False
# The browser test's screenshots show Japanese and Chinese text: it needs a CJK font too.
if [ ! -x /usr/bin/chromium ] || [ ! -x /usr/bin/chromedriver ] || [ -z "$(fc-list :lang=zh 2>/dev/null)" ]; then
  if [ "$(id -u)" = 0 ]; then
    echo "==> installing Debian's chromium and a CJK font for the browser test"
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver fonts-noto-cjk >/dev/null
  else
    echo "==> no /usr/bin/chromium (or CJK font) and not root: the browser test may be skipped"
  fi
fi
mkdir -p reports
.venv/bin/python -m pytest "$@"
bash scripts/eval-gate.sh
