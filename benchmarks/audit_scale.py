"""Audit runtime and peak memory at 1k, 10k and 50k records: N real (N/2 members + N/2 holdout) x N synthetic.

Each size runs in its own process (peak RSS is per process), with the embedding cache off so the
timing includes embedding every text once. Texts come from the demo-corpus generator with many seeds.

    python benchmarks/audit_scale.py                 # 1000 10000 50000
    python benchmarks/audit_scale.py --sizes 1000    # a quick look
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import time
from datetime import date
from pathlib import Path

RESULTS = Path(__file__).parent / "results"


def texts(n: int, offset: int, exclude: set[str] | None = None) -> tuple[list[str], list[str]]:
    """``n`` demo-corpus rows from seeds ``offset``, ``offset + 1``, ...; with ``exclude``, only texts
    not in it (and each once), which are then added to it."""
    from smotext.synth.demo_corpus import build

    rows, seed = [], offset
    while len(rows) < n:
        new = build(seed)
        if exclude is not None:
            new = [(t, c) for t, c in new if t not in exclude and not exclude.add(t)]
        rows += new
        seed += 1
    return [t for t, _ in rows[:n]], [label for _, label in rows[:n]]


def one(n: int) -> dict:
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    from smotext.audit.auditor import Auditor
    from smotext.synth.corpus import Corpus

    sets, real = {}, set()
    for i, (name, size) in enumerate((("members", n // 2), ("holdout", n // 2), ("synthetic", n))):
        # members and holdout are distinct records (the audit refuses an overlap); synthetic texts may repeat
        t, y = texts(size, offset=10_000 * (i + 1), exclude=real if name != "synthetic" else None)
        sets[name] = Corpus(t, y, True, name, name)
    t0 = time.perf_counter()
    result = Auditor(cache=False, seed=0).run(sets["members"], sets["holdout"], sets["synthetic"])
    total = time.perf_counter() - t0
    peak_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return {
        "records": n, "total_s": round(total, 1), "peak_rss_mib": round(peak_kib / 1024),
        "embed_s": result.run["seconds"]["embed"], "precision": result.run["encoder"]["precision"],
        "plugins_s": {k: v["seconds"] for k, v in result.plugins.items()},
        "failed": result.failed,
    }


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", type=int, nargs="+", default=[1000, 10000, 50000])
    ap.add_argument("--one", type=int, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.one:
        print(json.dumps(one(args.one)))
        return
    rows = []
    for n in args.sizes:
        out = subprocess.run([sys.executable, __file__, "--one", str(n)], capture_output=True, text=True, check=True)
        rows.append(json.loads(out.stdout.strip().splitlines()[-1]))
        print(json.dumps(rows[-1]), flush=True)
    import torch

    # Sizes run separately are merged into one table (a newer run of a size replaces the older one).
    old = RESULTS / "audit_scale.json"
    if old.exists():
        kept = [r for r in json.loads(old.read_text())["runs"] if r["records"] not in args.sizes]
        rows = sorted(kept + rows, key=lambda r: r["records"])
    result = {"date": date.today().isoformat(), "command": "python benchmarks/audit_scale.py --sizes 1000 10000 50000",
              "machine": f"{platform.machine()}, {os.cpu_count()} CPUs, torch {torch.__version__}", "runs": rows}
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "audit_scale.json").write_text(json.dumps(result, indent=2) + "\n")
    plugins = list(rows[0]["plugins_s"])
    lines = [
        "# Audit runtime and peak memory", "",
        f"{result['date']} · {result['machine']} · `{result['command']}`", "",
        "N records = N real (N/2 members + N/2 holdout, 30% of the holdout the utility test split) against "
        "N synthetic, every text embedded (cache off), all plug-ins with 200 bootstrap resamples. Texts from the "
        "demo-corpus generator (short templated messages). Times in seconds; peak RSS of the whole process.", "",
        "| records | total | embed | " + " | ".join(plugins) + " | peak RSS (MiB) |",
        "|---" * (len(plugins) + 4) + "|",
    ]
    for r in rows:
        lines.append(f"| {r['records']:,} | {r['total_s']} | {r['embed_s']} | " + " | ".join(str(r["plugins_s"][p]) for p in plugins)
                     + f" | {r['peak_rss_mib']:,} |")
    (RESULTS / "audit_scale.md").write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
