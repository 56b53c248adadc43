#!/usr/bin/env bash
# Set up, then run the test suite (arguments go to pytest).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
# The report is tested in a real headless browser: Debian's chromium.
if ! command -v chromium >/dev/null 2>&1 && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
  echo "installing chromium for the report test" >&2
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
fi
. .venv/bin/activate
export HF_HUB_OFFLINE=1
python -m pytest -q "$@"
