"""Do the audit's 95% bootstrap intervals cover what they claim, under the null?

Members and holdout are drawn from the same pool (no leak), the audit's own interval code
(``smotext.audit.stats``: ``attack_summary`` for AUC and TPR at 1% FPR, ``bootstrap(dcr_share)``
for the DCR share) is run on each draw, and we count how often the interval holds the null's
true value: AUC 0.5, DCR share 0.5, TPR at 1% FPR 0.01 (a threshold passing 1% of non-members
passes 1% of members too). Attack scores are i.i.d. normal; a record's cosine to its nearest
synthetic text is i.i.d. Beta(8, 4) — any continuous law gives the same ranks.

    python benchmarks/interval_coverage.py --trials 200 --sizes 66 200 1000

Writes benchmarks/results/interval_coverage.{json,md}.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import time
from datetime import date
from pathlib import Path

import numpy as np

from smotext.audit.stats import attack_summary, bootstrap, dcr_share

NULL = {"auc": 0.5, "tpr_at_fpr_0.01": 0.01, "dcr_share": 0.5}
OUT = Path(__file__).parent / "results"


def one_size(n: int, trials: int, n_boot: int, seed: int) -> dict:
    rng = np.random.default_rng([seed, n])
    hits = {k: 0 for k in NULL}
    widths = {k: [] for k in NULL}
    values = {k: [] for k in NULL}
    for _ in range(trials):
        m, h = rng.normal(size=n), rng.normal(size=n)
        summary = attack_summary(m, h, rng, n_boot)
        dm, dh = rng.beta(8, 4, size=n), rng.beta(8, 4, size=n)
        point, lo, hi = bootstrap(dcr_share, dm, dh, rng, n_boot)
        got = {"auc": (summary["auc"]["value"], *summary["auc"]["ci"]),
               "tpr_at_fpr_0.01": (summary["tpr_at_fpr_0.01"]["value"], *summary["tpr_at_fpr_0.01"]["ci"]),
               "dcr_share": (point, float(lo), float(hi))}
        for k, (v, a, b) in got.items():
            hits[k] += a <= NULL[k] <= b
            widths[k].append(b - a)
            values[k].append(v)
    return {k: {"coverage": hits[k] / trials, "mean_width": float(np.mean(widths[k])),
                "mean_value": float(np.mean(values[k]))} for k in NULL}


def render(meta: dict, rows: dict) -> list[str]:
    """The markdown page: the table, then which intervals fall short of 95% by more than sampling error."""
    trials = meta["trials"]
    floor = 0.95 - 2 * (0.95 * 0.05 / trials) ** 0.5  # two standard errors of a coverage estimated from `trials` draws
    lines = [
        "# Bootstrap interval coverage under the null",
        "",
        f"{meta['date']} · {meta['machine']} · `{meta['command']}` · code {meta['code_version']} · "
        f"{meta['bootstrap']} resamples per interval, {trials} draws per size, {meta['seconds']} s",
        "",
        "Members and holdout (n each) drawn from one pool; the audit's percentile-bootstrap interval "
        "(members and non-members resampled apart) should hold the null value in 95% of draws.",
        "",
        "| n (members = holdout) | metric | null value | coverage of the 95% interval | mean width | mean point value |",
        "|---|---|---|---|---|---|",
    ]
    short = []
    for n, res in rows.items():
        for k, r in res.items():
            lines.append(f"| {n} | {k} | {NULL[k]} | {r['coverage']:.3f} | {r['mean_width']:.3f} | {r['mean_value']:.4f} |")
            if r["coverage"] < floor:
                short.append(f"{k} at n = {n} ({r['coverage']:.2f})")
    lines += ["", f"Below {floor:.3f} (95% less two standard errors at {trials} draws): "
              + (", ".join(short) if short else "none") + "."]
    if short:
        lines.append("Goal not met there: these intervals cover less than they claim. Not yet fixed.")
    if any(s.startswith("tpr_") for s in short):
        lines.append("TPR at 1% FPR has a resolution "
                     "of 1/n non-members (at 66 no false positive is allowed at all) and its point value is biased up; "
                     "it needs an interval that accounts for that (e.g. an exact binomial bound) before a policy "
                     "decides on its interval end.")
    return lines


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--trials", type=int, default=200)
    ap.add_argument("--sizes", type=int, nargs="+", default=[66, 200, 1000])
    ap.add_argument("--bootstrap", type=int, default=200, help="resamples per interval (the audit's default)")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)
    t0 = time.perf_counter()
    rows = {n: one_size(n, args.trials, args.bootstrap, args.seed) for n in args.sizes}
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True,
                            cwd=Path(__file__).parent).stdout.strip()
    meta = {"date": date.today().isoformat(), "machine": f"{platform.machine()}, {len(os.sched_getaffinity(0))} cores",
            "command": f"python benchmarks/interval_coverage.py --trials {args.trials} --sizes {' '.join(map(str, args.sizes))}",
            "code_version": commit, "bootstrap": args.bootstrap, "trials": args.trials,
            "seconds": round(time.perf_counter() - t0, 1)}
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / "interval_coverage.json").write_text(json.dumps({"meta": meta, "null": NULL, "results": rows}, indent=1) + "\n")
    lines = render(meta, rows)
    (OUT / "interval_coverage.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
