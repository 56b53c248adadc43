"""Scale: generation throughput in this process vs Ray with 1 and 2 workers, segment search's LM cost
against whole samples, CPU thread and precision settings; one run, side by side, on this machine.

    python benchmarks/scale.py                  # all parts; results in benchmarks/results/scale.{md,json}
    python benchmarks/scale.py --parts engines  # one part (engines, segments, cpu, audit); others are kept

Throughput counts kept synthetic texts per second of the whole fit_resample (decoding, embedding,
filters, extra rounds), from the demo corpus with the shipped bridge, greedy. Peak memory: the
driver's resident set, plus the Ray workers' (summed over their processes, sampled every 50 ms).
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

import numpy as np

from rt_benchmark import PeakRSS, run_facts

RESULTS = Path(__file__).parent / "results"
OUT = "scale"


def _rss_of(pid: str) -> float:
    try:
        with open(f"/proc/{pid}/status") as f:
            return next(int(line.split()[1]) for line in f if line.startswith("VmRSS")) / 1024
    except (OSError, StopIteration, ValueError):
        return 0.0


def _ray_worker_pids() -> list[str]:
    pids = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            cmd = Path(f"/proc/{pid}/cmdline").read_bytes()
        except OSError:
            continue
        if cmd.startswith(b"ray::_Worker"):
            pids.append(pid)
    return pids


class Peak(PeakRSS):
    """Peak resident memory (MiB) of this process (``peak``) and, separately, of the Ray workers summed."""

    def __enter__(self):
        self.workers = 0.0
        return super().__enter__()

    def _sample(self):
        super()._sample()
        self.workers = max(self.workers, sum(_rss_of(p) for p in _ray_worker_pids()))


def engines(args) -> list[dict]:
    """The same generation (greedy, demo corpus) in this process and on Ray with 1 and 2 workers."""
    from smotext.engine import Engine
    from smotext.synth.demo_corpus import build
    from smotext.synth.smotext import SMOTExT

    rows = [r for seed in range(3) for r in build(seed)][: args.corpus]
    texts, labels = [t for t, _ in rows], [c for _, c in rows]
    out, reference = [], None
    # Ray's unit is a worker with its cores: 1 and 2 workers of 1 core each measure how work spreads;
    # 1 worker with both cores (torch's threads instead of processes) is shown beside them.
    for name, engine in (("in-process (2 threads)", Engine("local")),
                         ("ray, 1 worker x 1 thread", Engine("ray", workers=1, threads=1)),
                         ("ray, 2 workers x 1 thread", Engine("ray", workers=2, threads=1)),
                         ("ray, 1 worker x 2 threads", Engine("ray", workers=1, threads=2))):
        s = SMOTExT(sampling_strategy=args.n, random_state=0, engine=engine, progress=False)
        with Peak() as peak:
            s.fit_resample(texts, labels)
        made = s.synthetic_["text"].tolist()
        reference = reference if reference is not None else made
        row = {"engine": name, "texts": len(made), "seconds": round(peak.seconds, 1),
               "texts_per_s": len(made) / peak.seconds, "peak_driver_mib": round(peak.peak),
               "peak_workers_mib": round(peak.workers), "same_output_as_in_process": made == reference,
               "candidates_decoded": s.report_.candidates_decoded}
        out.append(row)
        print(json.dumps(row), flush=True)
    return out


def audit(args) -> list[dict]:
    """The audit (all plug-ins, cache off) at each size in ``--audit-sizes``, in this process's engine,
    each size in its own process (``audit_scale.py --one``): seconds per phase and peak memory."""
    import subprocess

    out = []
    for n in args.audit_sizes:
        run = subprocess.run([sys.executable, str(Path(__file__).parent / "audit_scale.py"), "--one", str(n)],
                             capture_output=True, text=True, check=True)
        out.append(json.loads(run.stdout.strip().splitlines()[-1]))
        print(json.dumps(out[-1]), flush=True)
    return out


def segments(args) -> list[dict]:
    """LM time of best-of-4 by segments (cache carried across segments) against 4 whole samples."""
    from smotext.synth.bridge import load_bridge
    from smotext.synth.decoder import Decoder
    from smotext.synth.demo_corpus import build
    from smotext.synth.encoder import Encoder
    from smotext.synth.models import load_lm
    from smotext.synth.smotext import default_bridge_path

    enc, lm = Encoder(), load_lm(device="cpu")
    bridge, card = load_bridge(default_bridge_path())
    vecs = enc.embed([t for t, _ in build(5)][: args.segment_vectors])
    embed_seconds = [0.0]

    def timed_embed(texts):
        t0 = time.perf_counter()
        out = enc.embed(texts)
        embed_seconds[0] += time.perf_counter() - t0
        return out

    out = []
    for name, seg in (("4 whole samples", None), ("best of 4 by 5-token segments", 5)):
        dec = Decoder(bridge, card, lm, batch_size=32, embed=timed_embed, segment_tokens=seg)
        embed_seconds[0] = 0.0
        t0 = time.perf_counter()
        dec.decode(vecs, num_candidates=4, seed=0)
        total = time.perf_counter() - t0
        out.append({"decoding": name, "vectors": len(vecs), "seconds": round(total, 1),
                    "lm_seconds": round(total - embed_seconds[0], 1), "embed_seconds": round(embed_seconds[0], 1)})
        print(json.dumps(out[-1]), flush=True)
    out[1]["lm_time_ratio"] = out[1]["lm_seconds"] / out[0]["lm_seconds"]
    return out


def cpu(args) -> list[dict]:
    """Greedy decoding with 1 and 2 threads, float32 and bfloat16 (autocast): speed, and whether the
    texts stay those of float32 (1 thread), and how close each text is to its vector."""
    import torch

    from smotext.synth.bridge import load_bridge
    from smotext.synth.decoder import Decoder
    from smotext.synth.demo_corpus import build
    from smotext.synth.encoder import Encoder
    from smotext.synth.models import load_lm
    from smotext.synth.smotext import default_bridge_path

    enc, lm = Encoder(), load_lm(device="cpu")
    bridge, card = load_bridge(default_bridge_path())
    vecs = enc.embed([t for t, _ in build(6)][: args.cpu_vectors])
    dec = Decoder(bridge, card, lm, batch_size=32)
    threads = torch.get_num_threads()
    out, reference = [], None
    for n_threads in sorted({1, threads}):
        for precision in ("float32", "bfloat16"):
            torch.set_num_threads(n_threads)
            autocast = torch.autocast("cpu", dtype=torch.bfloat16, enabled=precision == "bfloat16")
            t0 = time.perf_counter()
            with autocast:
                texts = [c[0] for c in dec.decode(vecs)]
            seconds = time.perf_counter() - t0
            if reference is None:
                reference = texts
            fidelity = float((enc.embed(texts) * vecs).sum(1).mean())  # each text's cosine to its vector
            out.append({"threads": n_threads, "precision": precision, "vectors": len(vecs), "seconds": round(seconds, 1),
                        "texts_per_s": len(vecs) / seconds, "fidelity": fidelity,
                        "same_texts": float(np.mean([a == b for a, b in zip(texts, reference)]))})
            print(json.dumps(out[-1]), flush=True)
    torch.set_num_threads(threads)
    return out


PARTS = {"engines": engines, "segments": segments, "cpu": cpu, "audit": audit}


def write(result: dict) -> None:
    (RESULTS / f"{OUT}.json").write_text(json.dumps(result, indent=1) + "\n")
    f = lambda v, d=2: "–" if v is None else f"{v:.{d}f}"
    lines = ["# Scale on this machine\n"]
    lines += [f"- {part}: {r['date']} · {r['machine']} · `{r['command']}` · code {r['code_version']}"
              for part, r in result.get("runs", {}).items()] + [""]
    lines += goals(result)
    if result.get("engines"):
        rows = result["engines"]
        base = rows[1]["texts_per_s"] if len(rows) > 1 else None
        lines += ["## Generation: in this process vs Ray workers (greedy, the shipped bridge, demo corpus)\n",
                  "| engine | texts | seconds | texts/s | vs Ray 1 worker x 1 thread | peak MiB driver | peak MiB workers | same texts |",
                  "|---|---|---|---|---|---|---|---|"]
        for r in rows:
            lines.append(f"| {r['engine']} | {r['texts']} | {r['seconds']:.0f} | {f(r['texts_per_s'])} | "
                         f"{f(r['texts_per_s'] / base) if base else '–'} | {r['peak_driver_mib']} | {r['peak_workers_mib']} | "
                         f"{'yes' if r['same_output_as_in_process'] else 'NO'} |")
        lines += ["", "Seconds are the whole `fit_resample`, starting Ray and loading the models in each worker "
                      "included; every run made the same texts.", ""]
    if result.get("segments"):
        rows = result["segments"]
        lines += ["## Best of 4: segments against whole samples (LM time excludes embedding the candidates)\n",
                  "| decoding | vectors | seconds | LM seconds | embedding seconds |", "|---|---|---|---|---|"]
        lines += [f"| {r['decoding']} | {r['vectors']} | {r['seconds']:.1f} | {r['lm_seconds']:.1f} | {r['embed_seconds']:.1f} |"
                  for r in rows]
        lines += ["", f"LM time of segment search / whole samples: {rows[1]['lm_time_ratio']:.2f}×\n"]
    if result.get("cpu"):
        lines += ["## Greedy decoding: threads and precision\n",
                  "| threads | precision | vectors | seconds | texts/s | texts equal to float32 | fidelity to the vector |",
                  "|---|---|---|---|---|---|---|"]
        lines += [f"| {r['threads']} | {r['precision']} | {r['vectors']} | {r['seconds']:.1f} | {f(r['texts_per_s'])} | "
                  f"{r['same_texts']:.0%} | {f(r.get('fidelity'), 3)} |" for r in result["cpu"]]
        lines.append("")
    if result.get("audit"):
        lines += ["## Audit (all plug-ins, every text embedded: cache off; N real against N synthetic)\n",
                  "| records | total s | embed s | pii s | reconstruction s | peak RSS MiB |", "|---|---|---|---|---|---|"]
        lines += [f"| {r['records']:,} | {r['total_s']:.0f} | {r['embed_s']:.0f} | {r['plugins_s'].get('pii', 0):.0f} | "
                  f"{r['plugins_s'].get('reconstruction', 0):.0f} | {r['peak_rss_mib']:,} |" for r in result["audit"]]
        precisions = ", ".join(sorted({r.get("precision", "float32") for r in result["audit"]}))
        lines += ["", f"Embedding in {precisions} (`--precision auto`), each repeated text once; the PII scan in one "
                      "spaCy process per core. Before these (audit_scale.md, 2026-11-22, float32): 50,000 in 817 s.", ""]
    lines += ["## GPU\n", result.get("gpu_note", "No GPU was available to this run: no GPU numbers.") + "\n"]
    (RESULTS / f"{OUT}.md").write_text("\n".join(lines))


def goals(result: dict) -> list[str]:
    """The issue's goals on this machine against what the stored parts measured."""
    out = ["## Goals on this machine\n", "| goal | measured | met |", "|---|---|---|"]
    met = lambda ok: "yes" if ok else "**no**"
    if result.get("segments"):
        r = result["segments"][1]["lm_time_ratio"]
        out.append(f"| segment search at n = 4: at most 1.3x the LM time of 4 whole samples | {r:.2f}x | {met(r <= 1.3)} |")
    audit = {a["records"]: a for a in result.get("audit", [])}
    if 50_000 in audit:
        t = audit[50_000]["total_s"]
        out.append(f"| the audit at 50,000 records in at most 8 minutes | {t / 60:.1f} min | {met(t <= 480)} |")
    rows = {r["engine"]: r for r in result.get("engines", [])}
    one, two = rows.get("ray, 1 worker x 1 thread"), rows.get("ray, 2 workers x 1 thread")
    if one and two:
        r = two["texts_per_s"] / one["texts_per_s"]
        out.append(f"| Ray with 2 workers at least 1.6x the throughput of 1 ({two['texts']} texts, start-up included) | "
                   f"{r:.2f}x | {met(r >= 1.6)} |")
    out.append("| GPU: at least 500 texts/s greedy on one GPU; the audit at 1M x 1M records | not measured: no GPU "
               "was lent to this work | **no** |")
    return out + [""]


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--parts", nargs="+", default=list(PARTS), choices=list(PARTS))
    ap.add_argument("--n", type=int, default=200, help="synthetic texts per engine")
    ap.add_argument("--corpus", type=int, default=600, help="real texts the engines' runs draw from")
    ap.add_argument("--segment-vectors", type=int, default=64)
    ap.add_argument("--cpu-vectors", type=int, default=64)
    ap.add_argument("--audit-sizes", type=int, nargs="+", default=[10_000, 50_000])
    args = ap.parse_args(argv)
    path = RESULTS / f"{OUT}.json"
    result = json.loads(path.read_text()) if path.exists() else {}
    for part in args.parts:
        result[part] = PARTS[part](args)
        result.setdefault("runs", {})[part] = run_facts(Path(__file__).name, argv)
        write(result)


if __name__ == "__main__":
    main()
