#!/usr/bin/env bash
# The main job on the shipped demo corpus: split it, generate 200 synthetic messages from the members,
# audit them against the holdout, gate with the shipped `default` policy, write the report.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
. .venv/bin/activate
export HF_HUB_OFFLINE=1
code=0
smotext release --corpus synth/assets/demo_corpus.csv --policy default --out out/demo \
    --n 200 --seed 0 "$@" || code=$?
echo
echo "report:     $(pwd)/out/demo/report.html   (open it in a browser)"
echo "results:    out/demo/results.json"
echo "synthetic:  out/demo/synthetic.csv (copied to out/demo/release/ only on RELEASE)"
# RELEASE (0) and BLOCK (1) are both a finished demo; 2 is an error.
[ "$code" -le 1 ] || exit "$code"
