"""Decoding choices by realism, utility and fluency, on a release's own bridge and splits.

    python benchmarks/decoding_fluency.py --corpus rt.csv --bridge BRIDGE   # a voice-adapted bridge
    python benchmarks/decoding_fluency.py --corpus rt.csv                   # the shipped bridge

The corpus is split as `release` splits it (default fractions, seed 0); the bridge is one that
release trained on those members (release_defaults keeps each cell's). For each decoding (greedy;
sampled at T with nucleus top_p) SMOTExT writes --n texts from the members (seed 0) and the audit's
realism and utility plug-ins score them against the holdout and the test split. Each decoding is
cached under --work; --render rewrites the markdown from the cache.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
sys.path.insert(0, str(Path(__file__).resolve().parent))

import pandas as pd

from release_defaults import METRICS
from rt_benchmark import run_facts

RESULTS = Path(__file__).parent / "results"
OUT = "decoding_fluency"
# name -> (temperature, top_p); 0 = greedy. The shipped nucleus is 0.95.
DECODINGS = {"greedy": (0.0, 0.95), "t0.8": (0.8, 0.95), "t1.0": (1.0, 0.95), "t1.2": (1.2, 0.95),
             "t1.2-p0.9": (1.2, 0.9), "t1.2-p0.8": (1.2, 0.8), "t1.0-p0.9": (1.0, 0.9), "t0.9-p0.9": (0.9, 0.9)}
# the release benchmark's metric columns that a generation without privacy parts has
COLUMNS = {k: METRICS[k] for k in ("detection_tfidf", "detection_emb", "nonwords", "nonwords_real", "nonwords_ratio",
                                   "distinct2_ratio", "openings", "acc_tfidf", "acc_tfidf_real", "acc_emb", "acc_emb_real")}


def splits(corpus: Path):
    """Members, holdout and test as `release` draws them from ``corpus`` by default (seed 0)."""
    from smotext.reports.release import split_corpus
    from smotext.synth.corpus import Corpus

    df = pd.read_csv(corpus, keep_default_na=False)
    return split_corpus(Corpus(df["text"].tolist(), df["label"].tolist(), True, str(corpus), "-"), seed=0)


def measure(corpus: Path, bridge: str | None, name: str, n: int, models) -> dict:
    from smotext.audit.auditor import Auditor
    from smotext.synth.corpus import Corpus
    from smotext.synth.smotext import SMOTExT

    temperature, top_p = DECODINGS[name]
    members, holdout, test = splits(corpus)
    enc, lm = models
    sampler = SMOTExT(sampling_strategy=n, random_state=0, encoder=enc, lm=lm, bridge=bridge, temperature=temperature,
                      top_p=top_p, progress=True)
    t0 = time.perf_counter()
    sampler.fit_resample(members.texts, members.labels)
    seconds = time.perf_counter() - t0
    syn = Corpus(sampler.synthetic_["text"].tolist(), sampler.synthetic_["label"].tolist(), True, name, name)
    res = Auditor(["realism", "utility"], encoder=enc, seed=0, n_boot=200).run(members, holdout, syn, test=test)
    val = lambda k: res.metrics[k].value if k in res.metrics else None
    return {"decoding": name, "temperature": temperature, "top_p": top_p, "texts": len(syn.texts),
            "keep_rate": sampler.report_.keep_rate, "dropped_by": dict(sampler.report_.dropped_by),
            "seconds": round(seconds, 1),
            **{c: val(k) for c, k in COLUMNS.items()}, "samples": syn.texts[:8]}


# What the rows show, written from them (rerun --render after new rows, and read these again).
NOTES = [
    "The adapted bridge: the bias voice adapter `smotext release` trained at ε = 4 (DP-SGD, 30 steps of expected "
    "batch 83, noise multiplier 0.692, 638 s) on the 2,000 members of release_defaults' Rotten Tomatoes draw; the "
    "members, holdout (1,200) and test (800) are that release's split. 300 texts a row, one draw each (no spread "
    "over seeds measured): compare rows with each other, not with release cells of 2,000 texts.",
    "T 1.2 within the 0.95 nucleus (the default until ce911d9) buys the lowest TF-IDF detection AUC with broken "
    "text: 3.52x the real texts' share of non-words (\"Patriya Ma Indranh\", \"latenovember\"), the most decodes "
    "thrown away (keep rate 0.300: the fidelity filter dropped 478) and the longest time.",
    "T 1.0 within a 0.9 nucleus writes as many non-words as the real texts (0.98x), is the least detectable by "
    "embeddings (0.765) and about as hard to tell by TF-IDF (0.795), with distinct bigrams 0.96x real. It is the "
    "default since ce911d9.",
    "T 0.8 is the most fluent (0.65x) and keeps the most decodes (0.452), and the TF-IDF classifier trained on its "
    "texts did best (0.637 against 0.613 for as many real members; T 1.0: 0.569), but it is the easiest to tell from "
    "real (0.860 / 0.814) and repeats openings (22%). The default cell of release_defaults measures the chosen "
    "decoding at full size.",
    "adapted (lora): the rank-4 LoRA adapter (q and v in all 30 layers, ε = 4, the same DP-SGD schedule) that "
    "release_defaults' lora cell trained on the same 2,000 members, decoded at code a6bfbd0 (the faster decoding: "
    "the s column is not comparable with the bias rows', decoded at cc189b2). Its rows' non-word ratios are against "
    "this split's 300-text real reference (0.0133), noisier and higher than the release's (0.0105): compare the "
    "absolute shares. At T 1.0 in a 0.9 nucleus lora wrote 0.0148 non-words here and 0.0169 in the full release "
    "(bias: 0.0130 and 0.0134).",
    "lora at T 0.9 in a 0.9 nucleus is the first setting to come near every realism and utility goal on these 300 "
    "texts: detection 0.779 (TF-IDF) and 0.752 (embeddings), non-words 0.0102 (fewer than the real texts'), a TF-IDF "
    "classifier as accurate as on as many real members (0.613 both), keep rate 0.415; distinct bigrams 0.92x stays "
    "below the 0.95 goal. At full size (release_defaults' cell, since 6a2c013 the default) it measured 0.855 / "
    "0.793 with 1.15x the real texts' non-words.",
    "shipped: the bridge smotext ships, without an adapter, on the same split (code 989196d). Greedy, its default "
    "until 6a2c013, is the easiest to tell from real (0.955 / 0.888), the least varied (distinct bigrams 0.66x, 42% "
    "repeated openings) and writes fewer non-words than the corpus (0.46x: the mode of each token). Sampled at T 1.0 "
    "in a 0.9 nucleus it measured 0.876 / 0.822, distinct bigrams 0.92x, 13% repeated openings, non-words 0.95x, and "
    "the same TF-IDF accuracy (0.610 against greedy's 0.611; real 0.613) and keep rate (0.559 against 0.566), for 18% "
    "more time: the shipped bridge's default since 6a2c013. T 0.9 and T 0.8 sit between the two on realism.",
]


def render(rows: list[dict]) -> str:
    f = lambda v, d=3: "–" if v is None else f"{v:.{d}f}"
    runs = dict.fromkeys(f"- {r['date']} · {r['machine']} · `{r['command']}` · code {r['code_version']}" for r in rows)
    lines = ["# Decoding by realism, utility and fluency", "", *runs, "",
             "Each row: SMOTExT on a release's 2,000 members, the texts asked for, seed 0, decoded one way; scored by "
             "the audit's realism and utility plug-ins against that release's holdout and test split. Non-words: "
             "share of counted lower-case words not in the English list (audit/fluency.py); accuracy (real): the same "
             "classifier on as many real members (TF-IDF) or on all members (embeddings).", "",
             "| bridge | decoding | T | top_p | texts | detection AUC TF-IDF / emb. | non-words (real) | × real | "
             "distinct-2 × real | repeated openings | accuracy TF-IDF (real) | accuracy emb. (real) | keep rate | s |",
             "|" + "---|" * 14]
    for r in rows:
        lines.append(f"| {r['bridge']} | {r['decoding']} | {r['temperature']:g} | {r['top_p']:g} | {r['texts']} | "
                     f"{f(r['detection_tfidf'])} / {f(r['detection_emb'])} | {f(r['nonwords'], 4)} "
                     f"({f(r['nonwords_real'], 4)}) | {f(r['nonwords_ratio'], 2)} | {f(r['distinct2_ratio'], 2)} | "
                     f"{f(r['openings'])} | {f(r['acc_tfidf'])} ({f(r['acc_tfidf_real'])}) | {f(r['acc_emb'])} "
                     f"({f(r['acc_emb_real'])}) | {f(r['keep_rate'])} | {r['seconds']:.0f} |")
    lines += ["", "## What this shows", "", *(f"- {n}" for n in NOTES), "", "## Samples", ""]
    for r in rows:
        lines += [f"{r['bridge']}, {r['decoding']}:", ""] + [f"- {' ⏎ '.join(t.splitlines())}" for t in r["samples"]] + [""]
    return "\n".join(lines) + "\n"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--corpus", type=Path, required=True, help="the corpus file a release split")
    ap.add_argument("--bridge", type=Path, help="a bridge release adapted on its members (default: the shipped one)")
    ap.add_argument("--decodings", nargs="+", choices=list(DECODINGS), default=list(DECODINGS))
    ap.add_argument("--n", type=int, default=600)
    ap.add_argument("--work", type=Path, default=Path.home() / ".cache" / "smotext" / OUT)
    ap.add_argument("--label", help="the bridge's name in the table (default: adapted, or shipped without --bridge)")
    ap.add_argument("--render", action="store_true")
    args = ap.parse_args()
    bridge = None if args.bridge is None else str(args.bridge)
    tag = args.label or ("shipped" if bridge is None else "adapted")
    models = None
    if not args.render:
        from smotext.synth.encoder import Encoder
        from smotext.synth.models import load_lm

        models = (Encoder(), load_lm(device="cpu"))
    for name in ([] if args.render else args.decodings):
        path = args.work / f"{tag.replace(' ', '-')}-{name}-n{args.n}.json"
        if path.exists():
            continue
        row = {"bridge": tag, **measure(args.corpus, bridge, name, args.n, models), "n": args.n,
               **run_facts(Path(__file__).name)}
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(row, indent=1))
        print(json.dumps({k: v for k, v in row.items() if k != "samples"}), flush=True)
    rows = [json.loads(p.read_text()) for p in sorted(args.work.glob("*.json"))]
    order = {name: i for i, name in enumerate(DECODINGS)}
    rows.sort(key=lambda r: (r["bridge"], order[r["decoding"]]))
    (RESULTS / f"{OUT}.json").write_text(json.dumps(rows, indent=1) + "\n")
    (RESULTS / f"{OUT}.md").write_text(render(rows))


if __name__ == "__main__":
    main()
