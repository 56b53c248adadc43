"""How many decodes a greedy run wastes, and what skipping near-copy mixes saves.

On 1,000 texts drawn from the shipped demo corpus (seed 0), SMOTExT asks for 300 synthetic texts with
the shipped bridge and greedy decoding, once decoding every planned mix (``near_copy`` 1) and once
with the default ``near_copy``. For each: texts kept, candidates decoded, the keep rate (kept over
decoded), near-copies skipped, what each filter cost, and the time. A separate plan of 400 mixes,
all decoded, shows how often a mix within a cosine of an earlier one decodes to an earlier text.

    python benchmarks/keep_rate.py            # writes benchmarks/results/keep_rate.{md,json}
    python benchmarks/keep_rate.py --render   # rewrites the markdown from the results file
"""

from __future__ import annotations

import json
import os
import sys
import time
from collections import Counter
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
sys.path[:0] = [str(Path(__file__).resolve().parent), str(Path(__file__).resolve().parent.parent)]

import numpy as np

from rt_benchmark import run_facts
from smotext.synth.corpus import read_corpus
from smotext.synth.demo_corpus import demo_corpus_path
from smotext.synth.params import NEAR_COPY_COSINE
from smotext.synth.sampling import plan_mixes
from smotext.synth.smotext import SMOTExT
from smotext.text import words_key

RESULTS = Path(__file__).parent / "results"
TEXTS, WANTED, PLANNED = 1000, 300, 400
THRESHOLDS = (0.95, 0.98, 0.99)
KEEP_GOAL = 0.5


def draw():
    corpus = read_corpus(demo_corpus_path(), "text", "label")
    idx = np.random.default_rng(0).permutation(len(corpus.texts))[:TEXTS]
    return [corpus.texts[i] for i in idx], [corpus.labels[i] for i in idx]


def run(texts, labels, near_copy: float) -> dict:
    sampler = SMOTExT(sampling_strategy=WANTED, random_state=0, near_copy=near_copy, temperature=0)  # greedy
    t0 = time.perf_counter()
    sampler.fit_resample(texts, labels)
    r = sampler.report_
    return {"near_copy": near_copy, "made": sum(r.made.values()), "decoded": r.candidates_decoded,
            "keep_rate": round(r.keep_rate, 4), "near_copies_skipped": r.near_copies_skipped, "rounds": r.rounds,
            "vectors_lost_by_filter": r.dropped_by, "seconds": round(time.perf_counter() - t0, 1)}


def near_copies(texts, labels) -> dict:
    """One plan of PLANNED mixes, every one decoded greedily: repeats of an earlier text against the
    cosine of each mix to the nearest earlier one."""
    sampler = SMOTExT(random_state=0, temperature=0).load_models()
    emb = sampler.encoder_.embed(texts)
    counts = {c: round(n * PLANNED / len(texts)) for c, n in Counter(labels).items()}
    plan = plan_mixes(emb, labels, counts, np.random.default_rng(1))
    targets = plan.mix(emb)
    keys = [words_key(c[0]) for c in sampler.decoder_.decode(targets)]
    seen, repeat = set(), []
    for k in keys:
        repeat.append(k in seen)
        seen.add(k)
    repeat = np.array(repeat)
    sims = targets @ targets.T
    nearest_earlier = np.array([sims[i, :i].max() if i else -1.0 for i in range(len(targets))])
    rows = []
    for th in THRESHOLDS:
        near = nearest_earlier > th
        rows.append({"cosine_above": th, "mixes": int(near.sum()), "of_them_repeats": int((near & repeat).sum()),
                     "repeats_elsewhere": int((repeat & ~near).sum())})
    return {"planned": len(targets), "repeats": int(repeat.sum()), "by_threshold": rows}


def write(result: dict) -> None:
    (RESULTS / "keep_rate.json").write_text(json.dumps(result, indent=1) + "\n")
    f = result["facts"]
    lines = ["# Keep rate of greedy generation, and near-copy mixes\n",
             f"- {f['date']} · {f['machine']} · `{f['command']}` · code {f['code_version']}", "",
             f"{TEXTS:,} texts drawn from the demo corpus (seed 0); {WANTED} synthetic texts asked for; shipped bridge, "
             "greedy decoding, default filters. Keep rate: texts kept over candidates decoded.\n",
             "| near_copy | made | decoded | keep rate | near-copies skipped | rounds | vectors lost by filter | s |",
             "|---|---|---|---|---|---|---|---|"]
    for r in result["runs"]:
        lost = ", ".join(f"{k} {v}" for k, v in sorted(r["vectors_lost_by_filter"].items(), key=lambda kv: -kv[1]))
        lines.append(f"| {r['near_copy']:g} | {r['made']} | {r['decoded']} | {r['keep_rate']:.3f} | "
                     f"{r['near_copies_skipped']} | {r['rounds']} | {lost} | {r['seconds']:.0f} |")
    best = max(r["keep_rate"] for r in result["runs"])
    if best < KEEP_GOAL:
        lines += ["", f"Goal (issue 39): keep rate >= {KEEP_GOAL:.0%}. Missed by {KEEP_GOAL - best:.3f}: skipping near-copies "
                  "removes most repeats, but the degenerate, label and fidelity filters still drop about half of what "
                  "greedy decoding writes with the shipped bridge."]
    nc = result["near_copies"]
    lines += ["", f"One plan of {nc['planned']} mixes, all decoded greedily: {nc['repeats']} repeat an earlier text.\n",
              "| cosine to the nearest earlier mix above | mixes | of them repeats | repeats among the rest |", "|---|---|---|---|"]
    lines += [f"| {r['cosine_above']:g} | {r['mixes']} | {r['of_them_repeats']} | {r['repeats_elsewhere']} |"
              for r in nc["by_threshold"]]
    (RESULTS / "keep_rate.md").write_text("\n".join(lines) + "\n")


def main() -> None:
    if sys.argv[1:] == ["--render"]:  # rewrite the markdown from the results file only
        return write(json.loads((RESULTS / "keep_rate.json").read_text()))
    facts = run_facts(Path(__file__).name)
    texts, labels = draw()
    result = {"facts": facts, "runs": [run(texts, labels, 1.0), run(texts, labels, NEAR_COPY_COSINE)],
              "near_copies": near_copies(texts, labels)}
    write(result)
    print((RESULTS / "keep_rate.md").read_text())


if __name__ == "__main__":
    main()
