#!/usr/bin/env bash
# Install everything (once), index the seed articles if needed, and open the chat UI.
set -euo pipefail
cd "$(dirname "$0")"
bash scripts/setup.sh
export GRADIO_ANALYTICS_ENABLED=False ANONYMIZED_TELEMETRY=False
exec .venv/bin/python ui.py "$@"
