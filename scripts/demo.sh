#!/usr/bin/env bash
# The main job on the shipped demo corpus: 40 synthetic patient-portal messages.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
. .venv/bin/activate
export HF_HUB_OFFLINE=1
smotext generate synth/assets/demo_corpus.csv --out out/demo/synthetic.csv --n 40 --seed 0 "$@"
echo
echo "synthetic texts:  out/demo/synthetic.csv"
echo "manifest:         out/demo/synthetic.manifest.json"
echo "provenance:       out/demo/synthetic.provenance.jsonl (private: links outputs to real records)"
head -n 6 out/demo/synthetic.csv
