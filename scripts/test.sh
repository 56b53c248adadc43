#!/usr/bin/env bash
# Set up, then run the test suite (slow tests too with: bash scripts/test.sh --runslow).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
. .venv/bin/activate
export HF_HUB_OFFLINE=1
python -m pytest -q "$@"
