"""Pooling over rotations (`release --rotations K`): do its intervals cover, does it decide where one
run cannot, and does it still catch a leak?

    python benchmarks/rotation_coverage.py --trials 200 --sizes 1500 2500 --rotations 5

Rotten Tomatoes snippets embedded once with the audit's encoder. Each trial draws a corpus of n
snippets; the rest of the corpus is a public pool. Two generators, each writing as many texts as it
has members: *null* draws them from the public pool (it never reads a member, so nothing can leak and
every interval should hold the null value: AUC 0.5, TPR at 1% FPR 0.01, DCR share 0.5, excess
near-copy rate 0), and *leak* does the same but copies a share of its members verbatim. Each is
audited twice from the same corpus: one run with the release's default split (holdout 0.3, test
0.2) and K rotations (test 0.2, folds of what is left), pooled by the product's own
``audit.rotation.pool``. The scores are the audit's nearest-synthetic cosine (the embedding attack),
the DCR share on the same cosines and near copies at cosine 0.97 (the reconstruction plug-in's
embedding rule; its word-similarity rule is left out). A run *passes* when the four default-policy
rules on these metrics pass on their interval ends; a leak is *caught* when one of them is measured
(its whole interval past the threshold).

Writes benchmarks/results/rotation_coverage.{json,md}.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import numpy as np

os.environ.setdefault("HF_HUB_OFFLINE", "1")
sys.path.insert(0, str(Path(__file__).resolve().parent))

import rotten_tomatoes as rt
from rt_benchmark import run_facts

from smotext.audit.auditor import AuditResult
from smotext.audit.registry import Metric
from smotext.audit.rotation import pool
from smotext.audit.stats import attack_summary, bootstrap, dcr_share, rate_difference_interval
from smotext.reports.release import rotation_splits, split_corpus
from smotext.synth.corpus import Corpus

RESULTS = Path(__file__).parent / "results"
NULL = {"auc": 0.5, "tpr_at_fpr_0.01": 0.01, "dcr_share": 0.5, "excess": 0.0}
KEYS = {"auc": "mia_synthetic_embedding.auc", "tpr_at_fpr_0.01": "mia_synthetic_embedding.tpr_at_fpr_0.01",
        "dcr_share": "reconstruction.dcr_share", "excess": "reconstruction.near_verbatim.excess_rate"}
THRESHOLDS = {"auc": 0.60, "tpr_at_fpr_0.01": 0.05, "dcr_share": 0.60, "excess": 0.02}  # policies/default.yaml
NEAR_COSINE, N_BOOT = 0.97, 200


def embeddings(cache: Path) -> tuple[list[str], np.ndarray]:
    df = rt.load()
    if cache.exists():
        with np.load(cache) as z:
            if int(z["n"]) == len(df):
                return df["text"].tolist(), z["e"]
    from smotext.synth.encoder import Encoder

    e = Encoder().embed(df["text"].tolist(), progress=True)
    np.savez(cache, e=e, n=len(df))
    return df["text"].tolist(), e


def one_run(members: np.ndarray, holdout: np.ndarray, public: np.ndarray, emb: np.ndarray, leak: float,
            rng: np.random.Generator) -> AuditResult:
    """A run as the audit scores it: members sampled to the holdout's size (as AuditContext does)."""
    syn = rng.choice(public, size=len(members), replace=False)
    copies = rng.random(len(syn)) < leak
    syn[copies] = rng.choice(members, size=int(copies.sum()), replace=False)
    evaluated = rng.choice(members, size=min(len(members), len(holdout)), replace=False)
    s = emb[syn]
    m_nn, h_nn = (emb[evaluated] @ s.T).max(axis=1), (emb[holdout] @ s.T).max(axis=1)
    near_m = ((s @ emb[evaluated].T).max(axis=1) >= NEAR_COSINE).sum()
    near_h = ((s @ emb[holdout].T).max(axis=1) >= NEAR_COSINE).sum()
    summary = attack_summary(m_nn, h_nn)
    dcr, lo, hi = bootstrap(dcr_share, m_nn, h_nn, rng, N_BOOT)
    metrics = {KEYS["auc"]: Metric(summary["auc"]["value"], "lower", "", ci=tuple(summary["auc"]["ci"])),
               KEYS["tpr_at_fpr_0.01"]: Metric(summary["tpr_at_fpr_0.01"]["value"], "lower", "",
                                               ci=tuple(summary["tpr_at_fpr_0.01"]["ci"])),
               KEYS["dcr_share"]: Metric(dcr, "lower", "", ci=(float(lo), float(hi))),
               KEYS["excess"]: Metric(float(near_m - near_h) / len(syn), "lower", "",
                                      ci=rate_difference_interval(int(near_m), int(near_h), len(syn)))}
    return AuditResult(metrics=metrics, plugins={"mia_synthetic_embedding": {"status": "ok"},
                                                 "reconstruction": {"status": "ok"}},
                       arrays={"mia_synthetic_embedding": {"member_scores": m_nn, "nonmember_scores": h_nn},
                               "reconstruction": {"member_nn": m_nn, "nonmember_nn": h_nn,
                                                  "near_verbatim_counts": np.array([near_m, near_h, len(syn)], float)}},
                       inputs={"evaluated": {"members": len(evaluated), "nonmembers": len(holdout)}})


def verdict(result: AuditResult) -> dict:
    """Per metric: (value, low, high); and whether all four rules pass / any is measured past its threshold."""
    got = {k: (result.metrics[key].value, *result.metrics[key].ci) for k, key in KEYS.items()}
    return {"metrics": got, "passes": all(hi <= THRESHOLDS[k] for k, (_, _, hi) in got.items()),
            "caught": any(lo > THRESHOLDS[k] for k, (_, lo, _) in got.items())}


def trial(n: int, t: int, k: int, texts: list[str], emb: np.ndarray, leak: float, seed: int) -> dict:
    rng = np.random.default_rng([seed, n, t])
    order = rng.permutation(len(texts))
    drawn, public = order[:n], order[n:]
    index = {texts[i]: i for i in drawn}
    corpus = Corpus([texts[i] for i in drawn], ["x"] * n, True, "rt", None)
    rows = lambda c: np.array([index[x] for x in c.texts])
    out = {}
    for name, share in (("null", 0.0), ("leak", leak)):
        members, holdout, _ = split_corpus(corpus, 0.3, 0.2, seed=t)
        single = verdict(one_run(rows(members), rows(holdout), public, emb, share, rng))
        runs, _ = rotation_splits(corpus, k, 0.2, seed=t)
        results = [one_run(rows(m), rows(h), public, emb, share, rng) for m, h in runs]
        info = pool(results[0], results[1:], rng, N_BOOT)
        out[name] = {"single": single, "pooled": verdict(results[0]), "holdout": [len(holdout), info["nonmembers"]]}
    return out


def summarise(rows: list[dict]) -> dict:
    res = {}
    for gen in ("null", "leak"):
        for how in ("single", "pooled"):
            v = [r[gen][how] for r in rows]
            cell = {"passes": float(np.mean([x["passes"] for x in v])), "caught": float(np.mean([x["caught"] for x in v])),
                    "holdout": rows[0][gen]["holdout"][0 if how == "single" else 1]}
            for k in KEYS:
                vals = np.array([x["metrics"][k] for x in v])
                cell[k] = {"coverage": float(np.mean((vals[:, 1] <= NULL[k]) & (NULL[k] <= vals[:, 2]))),
                           "mean_value": float(vals[:, 0].mean()), "mean_upper": float(vals[:, 2].mean())}
            res[f"{gen}/{how}"] = cell
    return res


def render(meta: dict, table: dict) -> list[str]:
    trials = meta["trials"]
    floor = 0.95 - 2 * (0.95 * 0.05 / trials) ** 0.5
    lines = [f"# Pooling over rotations: coverage, decisions, leaks caught", "",
             f"{meta['date']} · {meta['machine']} · `{meta['command']}` · code {meta['code_version']} · "
             f"{trials} trials per size, {meta['seconds']} s", "",
             __doc__.split("\n\n", 2)[2].split("Writes")[0].strip().replace("\n", " "), "",
             f"Leak: {meta['leak']:.0%} of the leaking generator's texts are verbatim copies of members. "
             f"Single run: the release's default split. Pooled: {meta['rotations']} rotations.", "",
             "| corpus n | generator | audit | holdout scored | passes all four rules | leak caught (measured) "
             "| AUC coverage | TPR@1% coverage | DCR coverage | excess-rate coverage | mean upper: AUC | TPR@1% | DCR share | excess rate |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    short = []
    for n, res in table.items():
        for cell, r in res.items():
            gen, how = cell.split("/")
            cov = lambda k: f"{r[k]['coverage']:.3f}" if gen == "null" else "–"
            lines.append(f"| {n} | {gen} | {how} | {r['holdout']} | {r['passes']:.3f} | {r['caught']:.3f} | "
                         + " | ".join(cov(k) for k in KEYS) + " | "
                         + " | ".join(f"{r[k]['mean_upper']:.4f}" for k in KEYS) + " |")
            if gen == "null":
                short += [f"{k} {how} at n = {n} ({r[k]['coverage']:.3f})" for k in KEYS if r[k]["coverage"] < floor]
    lines += ["", f"Coverage below {floor:.3f} (95% less two standard errors at {trials} trials): "
              + (", ".join(short) if short else "none") + "."]
    return lines


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--trials", type=int, default=200)
    ap.add_argument("--sizes", type=int, nargs="+", default=[1500, 2500])
    ap.add_argument("--rotations", type=int, default=5)
    ap.add_argument("--leak", type=float, default=0.1, help="share of the leaking generator's texts copied from members")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--cache", default="/tmp/smotext-rt-embeddings.npz")
    args = ap.parse_args(argv)
    meta = run_facts("rotation_coverage.py", argv)
    t0 = time.perf_counter()
    texts, emb = embeddings(Path(args.cache))
    table = {}
    for n in args.sizes:
        rows = []
        for t in range(args.trials):
            rows.append(trial(n, t, args.rotations, texts, emb, args.leak, args.seed))
            if (t + 1) % 25 == 0:
                print(f"n = {n}: {t + 1} trials, {time.perf_counter() - t0:.0f} s", file=sys.stderr, flush=True)
        table[n] = summarise(rows)
    meta.update(trials=args.trials, rotations=args.rotations, leak=args.leak, seconds=round(time.perf_counter() - t0, 1))
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "rotation_coverage.json").write_text(json.dumps({"meta": meta, "results": table}, indent=1) + "\n")
    lines = render(meta, table)
    (RESULTS / "rotation_coverage.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
