"""Is the demo's verdict a property of the data or of the seed?

For each seed, the README's main job (``smotext release`` on the shipped demo corpus, default
policy, the demo's number of synthetic texts) runs end to end; then the same split is audited
again with a planted leak: 5% of the synthetic texts replaced by verbatim copies of members that
carry PII (a name, phone number or email), so both copying and PII replay are planted. Records
verdict, deciding rules, which of them were measured and which "cannot tell", the interval ends
each rule compared, and the time per run.

    python benchmarks/verdict_stability.py --seeds 10 --work /tmp/verdicts

Each seed's outcome is kept in --work as it finishes, so an interrupted run resumes where it
stopped. Writes benchmarks/results/verdict_stability.{json,md}.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import shutil
import subprocess
import time
from collections import Counter
from datetime import date
from pathlib import Path

import numpy as np

OUT = Path(__file__).parent / "results"
LEAK_SHARE = 0.05
PII = re.compile(r"@|\(\d{3}\) 555-|\bMRN\b|This is [A-Z]|[A-Z][a-z]+ here\b")


def outcome(decision) -> dict:
    """The gate's answer in brief: verdict, the rules that decided it (measured vs cannot tell), and
    each block rule's compared number."""
    deciding = list(decision.deciding)
    return {"verdict": decision.verdict, "deciding": deciding, "undecided": list(decision.undecided),
            "measured": [r for r in deciding if r not in decision.undecided], "problems": list(decision.problems),
            "rules": {o.rule: {"status": o.status, "value": o.value, "compared": o.compared, "ci": o.ci,
                               "holdout_needed": o.holdout_needed}
                      for o in decision.outcomes if o.severity == "block"}}


def plant_leak(run: Path, seed: int):
    """The run's synthetic set with LEAK_SHARE of its texts replaced by verbatim copies of members
    that carry PII (chosen with ``seed``), and the splits it is audited against."""
    from smotext import read_corpus
    from smotext.synth.corpus import Corpus

    private = run / "private"
    members, holdout, test = (read_corpus(private / f"{n}.csv") for n in ("members", "holdout", "test"))
    synthetic = read_corpus(run / "synthetic.csv")
    rng = np.random.default_rng([seed, 1])
    n_copies = int(round(LEAK_SHARE * len(synthetic)))
    with_pii = [i for i, t in enumerate(members.texts) if PII.search(t)]
    sources = rng.choice(with_pii, size=n_copies, replace=False)
    slots = rng.choice(len(synthetic), size=n_copies, replace=False)
    texts, labels = list(synthetic.texts), list(synthetic.labels)
    for slot, src in zip(slots, sources):
        texts[slot], labels[slot] = members.texts[src], members.labels[src]
    leaked = Corpus(texts, labels, synthetic.labelled, f"{synthetic.source}+planted-leak", "")
    return members, holdout, test, leaked, n_copies


def one_seed(seed: int, work: Path, n: int) -> dict:
    from smotext import SMOTExT, Auditor, Gate, demo_corpus_path, release

    run = work / f"seed{seed}"
    if run.exists():
        shutil.rmtree(run)
    t0 = time.perf_counter()
    res = release(demo_corpus_path(), run, policy="default", seed=seed,
                  sampler=SMOTExT(sampling_strategy=n, random_state=seed), voice=None)  # as the demo: no adapter
    seconds = time.perf_counter() - t0
    members, holdout, test, leaked, n_copies = plant_leak(run, seed)
    t1 = time.perf_counter()
    audit = Auditor(seed=seed).run(members, holdout, leaked, test=test, generation=res.results["generation"])
    leak = Gate("default").decide(audit)
    leak_seconds = time.perf_counter() - t1
    ev = res.results["inputs"]["evaluated"]
    shutil.rmtree(run)
    return {"seed": seed, "seconds": round(seconds, 1), "members_evaluated": ev["members"], "holdout": ev["nonmembers"],
            "synthetic": len(leaked), "demo": outcome(res.decision),
            "leak": {**outcome(leak), "copies": n_copies, "seconds": round(leak_seconds, 1),
                     "pii_values_replayed": audit.metrics["pii.replay.values"].value}}


def fmt_rules(names: list[str]) -> str:
    return ", ".join(f"`{r}`" for r in names) or "—"


def render(meta: dict, rows: list[dict]) -> list[str]:
    demo_verdicts = Counter(r["demo"]["verdict"] for r in rows)
    leak_ok = sum(r["leak"]["verdict"] == "BLOCK" and bool(r["leak"]["measured"]) for r in rows)
    rules = list(rows[0]["demo"]["rules"])
    lines = [
        "# Verdict stability: the demo and a planted leak over seeds",
        "",
        f"{meta['date']} · {meta['machine']} · `{meta['command']}` · code {meta['code_version']} · {meta['seconds']} s in all",
        "",
        f"Each seed: `smotext release` on the shipped demo corpus ({meta['corpus_texts']:,} texts) with the `default` "
        f"policy and {meta['n']} synthetic texts (seed = split, generation and audit seed); then the same split "
        f"audited again with {LEAK_SHARE:.0%} of the synthetic texts replaced by verbatim copies of members that carry "
        "PII. *Measured* = a block rule whose whole interval is on the unsafe side, or a rule on a fact (PII "
        "replayed, ε); *cannot tell* = its interval straddles the threshold.",
        "",
        f"**Demo: {', '.join(f'{v} {c}/{len(rows)}' for v, c in demo_verdicts.items())}. "
        f"Planted leak: BLOCK with a measured rule {leak_ok}/{len(rows)}.**",
        "",
        "| seed | demo verdict | demo deciding (measured / cannot tell) | demo time (s) | leak verdict | leak measured | leak cannot tell | PII values replayed |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        d, lk = r["demo"], r["leak"]
        lines.append(f"| {r['seed']} | {d['verdict']} | {fmt_rules(d['measured'])} / {fmt_rules(d['undecided'])} | {r['seconds']} "
                     f"| {lk['verdict']} | {fmt_rules(lk['measured'])} | {fmt_rules(lk['undecided'])} | {lk['pii_values_replayed']:g} |")
    lines += ["", "Compared number per block rule (the interval's upper end for interval rules), demo runs: "
              "min / median / max over seeds, and its threshold.", "",
              "| rule | min | median | max | threshold |", "|---|---|---|---|---|"]
    from smotext import load_policy

    thresholds = {r.name: (r.comparison, r.threshold) for r in load_policy("default").rules}
    for rule in rules:
        vals = [r["demo"]["rules"][rule]["compared"] for r in rows if r["demo"]["rules"][rule]["compared"] is not None]
        if vals:
            c, t = thresholds[rule]
            lines.append(f"| `{rule}` | {min(vals):.4g} | {float(np.median(vals)):.4g} | {max(vals):.4g} | {c} {t:g} |")
    return lines


def main(argv=None) -> None:
    from smotext.synth.demo_corpus import DEMO_SYNTHETIC, demo_corpus_path

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, default=10)
    ap.add_argument("--n", type=int, default=DEMO_SYNTHETIC, help="synthetic texts per run (default: the demo's)")
    ap.add_argument("--work", type=Path, default=Path("out/verdict_stability"), help="per-seed outcomes (resume)")
    args = ap.parse_args(argv)
    # the code that runs is the code at the start, whatever is committed while it runs
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True,
                            cwd=Path(__file__).parent).stdout.strip()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    args.work.mkdir(parents=True, exist_ok=True)
    rows = []
    for seed in range(args.seeds):
        done = args.work / f"seed{seed}.json"
        if not done.is_file():
            row = one_seed(seed, args.work, args.n)
            done.write_text(json.dumps(row, indent=1))
        rows.append(json.loads(done.read_text()))
        r = rows[-1]
        print(f"seed {seed}: demo {r['demo']['verdict']} {r['demo']['deciding']} ({r['seconds']} s); "
              f"leak {r['leak']['verdict']} measured {r['leak']['measured']} cannot tell {r['leak']['undecided']}", flush=True)
    n_texts = sum(1 for _ in open(demo_corpus_path(), encoding="utf-8")) - 1
    meta = {"date": date.today().isoformat(), "machine": f"{platform.machine()}, {len(os.sched_getaffinity(0))} cores, no GPU",
            "command": f"python benchmarks/verdict_stability.py --seeds {args.seeds}" + (f" --n {args.n}" if args.n != DEMO_SYNTHETIC else ""),
            "code_version": commit, "n": args.n, "corpus_texts": n_texts,
            "seconds": round(sum(r["seconds"] + r["leak"]["seconds"] for r in rows), 1)}
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / "verdict_stability.json").write_text(json.dumps({"meta": meta, "runs": rows}, indent=1) + "\n")
    lines = render(meta, rows)
    (OUT / "verdict_stability.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
