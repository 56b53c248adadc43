"""Do the audit's 95% intervals cover what they claim, under the null?

Members and holdout are drawn from the same pool (no leak), the audit's own interval code
(``smotext.audit.stats``: ``attack_summary`` for AUC and TPR at 1% FPR, ``bootstrap(dcr_share)``
for the DCR share, ``rate_difference_interval`` for the near-copy excess rate) is run on each
draw, and we count how often the interval holds the null's true value: AUC 0.5, DCR share 0.5,
TPR at 1% FPR 0.01 (a threshold passing 1% of non-members passes 1% of members too), excess
rate 0. Attack scores are i.i.d. normal; a record's cosine to its nearest synthetic text is
i.i.d. Beta(8, 4) — any continuous law gives the same ranks; each of n synthetic texts nearly
copies a member and a holdout record with the same probability, 3%, independently.
``--method bootstrap`` scores the percentile bootstrap the audit used before, for comparison.

    python benchmarks/interval_coverage.py --trials 1000 --sizes 66 200 1000

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

from smotext.audit.stats import FPR_POINTS, attack_summary, auc, bootstrap, dcr_share, rate_difference_interval, tpr_at_fpr

NULL = {"auc": 0.5, "tpr_at_fpr_0.01": 0.01, "dcr_share": 0.5, "near_copy_excess_rate": 0.0}
COPY_RATE = 0.03


def bootstrap_summary(m, h, rng, n_boot):
    """The percentile bootstrap the audit used for AUC and TPR before (kept to compare)."""
    point, lo, hi = bootstrap(lambda a, b: [auc(a, b)] + [tpr_at_fpr(a, b, f) for f in FPR_POINTS], m, h, rng, n_boot)
    names = ["auc"] + [f"tpr_at_fpr_{f:g}" for f in FPR_POINTS]
    return {k: {"value": p, "ci": [float(a), float(b)]} for k, p, a, b in zip(names, point, lo, hi)}
OUT = Path(__file__).parent / "results"


def one_size(n: int, trials: int, n_boot: int, seed: int, method: str = "audit") -> dict:
    rng = np.random.default_rng([seed, n])
    hits = {k: 0 for k in NULL}
    upper = {k: [] for k in NULL}
    widths = {k: [] for k in NULL}
    values = {k: [] for k in NULL}
    for _ in range(trials):
        m, h = rng.normal(size=n), rng.normal(size=n)
        summary = attack_summary(m, h) if method == "audit" else bootstrap_summary(m, h, rng, n_boot)
        dm, dh = rng.beta(8, 4, size=n), rng.beta(8, 4, size=n)
        point, lo, hi = bootstrap(dcr_share, dm, dh, rng, n_boot)
        got = {"auc": (summary["auc"]["value"], *summary["auc"]["ci"]),
               "tpr_at_fpr_0.01": (summary["tpr_at_fpr_0.01"]["value"], *summary["tpr_at_fpr_0.01"]["ci"]),
               "dcr_share": (point, float(lo), float(hi))}
        km, kh = int((rng.random(n) < COPY_RATE).sum()), int((rng.random(n) < COPY_RATE).sum())
        got["near_copy_excess_rate"] = ((km - kh) / n, *rate_difference_interval(km, kh, n))
        for k, (v, a, b) in got.items():
            hits[k] += a <= NULL[k] <= b
            widths[k].append(b - a)
            upper[k].append(b)
            values[k].append(v)
    return {k: {"coverage": hits[k] / trials, "mean_width": float(np.mean(widths[k])),
                "mean_value": float(np.mean(values[k])), "mean_upper": float(np.mean(upper[k])),
                "p95_upper": float(np.percentile(upper[k], 95))} for k in NULL}


METHODS = {"audit": "the audit's intervals: AUC by DeLong on the logit scale, TPR at 1% FPR by holdout order "
                     "statistics + Clopper-Pearson (exact, conservative), DCR share by percentile bootstrap "
                     "(members and holdout resampled apart), near-copy excess rate by Newcombe's hybrid score interval",
           "bootstrap": "percentile bootstrap for AUC and TPR (what the audit used before), the rest as the audit"}


def render(meta: dict, rows: dict) -> list[str]:
    """The markdown page: the table, then which intervals fall short of 95% by more than sampling error."""
    trials = meta["trials"]
    floor = 0.95 - 2 * (0.95 * 0.05 / trials) ** 0.5  # two standard errors of a coverage estimated from `trials` draws
    lines = [
        f"# Interval coverage under the null ({meta['method']})",
        "",
        f"{meta['date']} · {meta['machine']} · `{meta['command']}` · code {meta['code_version']} · "
        f"{meta['bootstrap']} resamples per bootstrap interval, {trials} draws per size, {meta['seconds']} s",
        "",
        f"Members and holdout (n each) drawn from one pool; {METHODS[meta['method']]}. "
        "Each should hold the null value in at least 95% of draws. The upper end is what the shipped "
        "policies compare with their thresholds, so its mean and 95th percentile under the null say how "
        "large an audit must be before a leak-free generator can pass.",
        "",
        "| n (members = holdout) | metric | null value | coverage of the 95% interval | mean width | mean point value | mean upper end | 95th pct upper end |",
        "|---|---|---|---|---|---|---|---|",
    ]
    short = []
    for n, res in rows.items():
        for k, r in res.items():
            lines.append(f"| {n} | {k} | {NULL[k]} | {r['coverage']:.3f} | {r['mean_width']:.3f} | {r['mean_value']:.4f} "
                         f"| {r['mean_upper']:.4f} | {r['p95_upper']:.4f} |")
            if r["coverage"] < floor:
                short.append(f"{k} at n = {n} ({r['coverage']:.3f})")
    lines += ["", f"Below {floor:.3f} (95% less two standard errors at {trials} draws): "
              + (", ".join(short) if short else "none") + "."]
    if short:
        lines.append("These intervals cover less than they claim.")
    return lines


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--trials", type=int, default=1000)
    ap.add_argument("--sizes", type=int, nargs="+", default=[66, 200, 1000])
    ap.add_argument("--bootstrap", type=int, default=200, help="resamples per bootstrap interval (the audit's default)")
    ap.add_argument("--method", choices=sorted(METHODS), default="audit")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)
    # the code that runs is the code at the start, whatever is committed while it runs
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True,
                            cwd=Path(__file__).parent).stdout.strip()
    t0 = time.perf_counter()
    rows = {n: one_size(n, args.trials, args.bootstrap, args.seed, args.method) for n in args.sizes}
    meta = {"date": date.today().isoformat(), "machine": f"{platform.machine()}, {len(os.sched_getaffinity(0))} cores",
            "command": f"python benchmarks/interval_coverage.py --trials {args.trials} --sizes {' '.join(map(str, args.sizes))}"
                       + (f" --method {args.method}" if args.method != "audit" else ""),
            "method": args.method, "code_version": commit, "bootstrap": args.bootstrap, "trials": args.trials,
            "seconds": round(time.perf_counter() - t0, 1)}
    stem = "interval_coverage" + ("" if args.method == "audit" else f"_{args.method}")
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / f"{stem}.json").write_text(json.dumps({"meta": meta, "null": NULL, "results": rows}, indent=1) + "\n")
    lines = render(meta, rows)
    (OUT / f"{stem}.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
