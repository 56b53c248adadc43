"""Canaries on Rotten Tomatoes: the one-run lower bound on ε and secret replay per generator.

    python benchmarks/canary_audit.py                          # M = 200 and 500, every generator (resumable)
    python benchmarks/canary_audit.py --canaries 200 --generators nodp eda
    python benchmarks/canary_audit.py --render                 # rewrite the markdown only

Protocol (the release run's, `smotext release --canaries M`): 1,000 members drawn from the snippets
outside the fixed test set of 2,000 and a disjoint holdout of 1,000 (as benchmarks/dp_generation.py);
M canaries written by the LM for the two classes (topic: a film critic's snippet) with a secret
suffix, half with fake PII, each added to the members by a coin from the canary secret. Each
generator runs on members + added canaries; every canary is scored against everything it wrote
(outputs with a canary parent included: the mechanism's output), and the natural-record attacks run
on what would be released (those outputs held back). Generators: non-DP SMOTExT and DP generation
at ε = 1, 4, 8 (600 texts requested), and two per-record baselines: EDA-style word operations and an
LLM paraphrase of every input record (one output each). Also: the bound a perfect attack would get
at each M (what an honest bound can reach at that size), and what planting costs in time.
Cells are cached under --work with the code that made them; a stopped run resumes.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
sys.path.insert(0, str(Path(__file__).resolve().parent))

import numpy as np
import pandas as pd

from dp_generation import TOPIC, Bench
from rt_benchmark import PeakRSS, eda, paraphrase, run_facts

RESULTS = Path(__file__).parent / "results"
OUT = "canary_audit"
POOL, N_SYNTHETIC = 1000, 600
GENERATORS = {"nodp": None, "eda": "eda", "paraphrase": "paraphrase",
              "eps1": {"method": "evolution", "target_epsilon": 1.0},
              "eps4": {"method": "evolution", "target_epsilon": 4.0}, "eps8": {"method": "evolution", "target_epsilon": 8.0}}
LABELS = {"nodp": "non-DP SMOTExT", "eda": "EDA-style word operations (one per record)",
          "paraphrase": "LLM paraphrase (SmolLM2, one per record)", "eps1": "DP generation, ε = 1",
          "eps4": "DP generation, ε = 4", "eps8": "DP generation, ε = 8"}
ATTACKS = ("mia_synthetic_embedding", "mia_synthetic_lexical", "mia_synthetic_ngram")
CEILING_M = (50, 100, 200, 500, 1000, 2000)
CANARY_ATTACKS = ("embedding", "attribution", "lexical", "ngram", "secret_replay", "fragments")  # secret_replay: older code


def ceiling(m: int, delta: float = 1e-5, attacks: int = 5) -> dict:
    """The bound a perfect attack gets with ``m`` canaries (every guess right), counted as one of
    ``attacks`` attacks as the audit does: the most an honest audit of that size can say."""
    from smotext.audit.canary_bound import max_provable

    b = max_provable(np.random.default_rng(0).random(m) < 0.5, delta, tests=attacks)
    return {"canaries": m, "epsilon": b.epsilon, "k": b.k, "guesses": b.guesses}


class CanaryBench(Bench):
    def canaries(self, m: int, seed: int):
        """The M canaries of a seed, written once and read back (with the seconds the LM took)."""
        from smotext.audit.canaries import Canary, make_canaries

        path = self.work / f"canaries-m{m}-seed{seed}.json"
        if path.exists():
            data = json.loads(path.read_text())
            return [Canary(**c) for c in data["canaries"]], data["seconds"]
        t0 = time.perf_counter()
        made = make_canaries(self.lm, ["fresh", "rotten"], m, secret=20_000 + seed, topic=TOPIC, progress=True)
        seconds = round(time.perf_counter() - t0, 1)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps({"seconds": seconds, "canaries": [c.to_json() for c in made]}, indent=1))
        return made, seconds

    def paraphrases(self, name: str, texts: list[str], seed: int) -> list[str]:
        path = self.work / f"{name}.json"
        if path.exists() and json.loads(path.read_text())["inputs"] == texts:
            return json.loads(path.read_text())["outputs"]
        out = paraphrase(self.lm, texts, seed)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps({"inputs": texts, "outputs": out}))
        return out

    def generate_with(self, cell: str, members: pd.DataFrame, canaries, gen, seed: int) -> tuple[pd.DataFrame, dict]:
        """Every text a generator wrote from members + added canaries, with ``held`` (a canary parent)."""
        from smotext.audit.canaries import canary_parented, plant
        from smotext.synth.pe_privacy import DPGeneration
        from smotext.synth.smotext import SMOTExT

        path = self.work / f"{cell}.csv"
        meta = path.with_suffix(".json")
        if path.exists() and meta.exists() and json.loads(meta.read_text()).get("synth_code_sha256") == self.code:
            return pd.read_csv(path, keep_default_na=False), json.loads(meta.read_text())
        texts, labels = plant(members["text"].tolist(), members["label"].tolist(), canaries)
        n_members = len(members)
        with PeakRSS() as m:
            if gen == "eda":
                rng = np.random.default_rng(seed)
                out, privacy = [eda(t, rng) for t in texts], {"mode": "non-dp"}
                frame = pd.DataFrame({"text": out, "label": labels, "held": np.arange(len(texts)) >= n_members})
            elif gen == "paraphrase":  # per record: the members' paraphrases are shared by every M
                out = self.paraphrases(f"paraphrase-members-seed{seed}", texts[:n_members], seed) + \
                    self.paraphrases(f"{cell}-canary-paraphrases", texts[n_members:], seed)
                frame = pd.DataFrame({"text": out, "label": labels, "held": np.arange(len(texts)) >= n_members})
                privacy = {"mode": "non-dp"}
            else:
                dp = None if gen is None else DPGeneration(topic=TOPIC, secret=10_000 + seed, **gen)
                sampler = SMOTExT(sampling_strategy=N_SYNTHETIC, random_state=seed, encoder=self.enc, lm=self.lm,
                                  progress=True, dp=dp)
                sampler.fit_resample(texts, labels)
                frame = sampler.synthetic_.assign(held=canary_parented(sampler.provenance_["parents"], n_members))
                privacy = sampler.privacy_
        info = {"seconds": round(m.seconds, 1), "privacy": privacy, "synth_code_sha256": self.code}
        frame = frame[frame["text"].str.strip() != ""].reset_index(drop=True)
        path.parent.mkdir(parents=True, exist_ok=True)
        frame.to_csv(path, index=False)
        meta.write_text(json.dumps(info, indent=1, default=str))
        return frame, info

    def measure(self, m: int, seed: int, name: str) -> dict:
        from smotext.audit.auditor import Auditor
        from smotext.audit.canaries import CanaryRun
        from smotext.synth.corpus import Corpus

        members, holdout = self.split(POOL, seed)
        canaries, canary_seconds = self.canaries(m, seed)
        frame, info = self.generate_with(f"m{m}/seed-{seed}/{name}", members, canaries, GENERATORS[name], seed)
        released = frame[~frame["held"].astype(bool)]
        run = CanaryRun(canaries, 20_000 + seed, frame["text"].tolist(), held_back=int(frame["held"].astype(bool).sum()),
                        topic=TOPIC)
        privacy = {k: v for k, v in info["privacy"].items() if k != "rounds"}
        manifest = {"smotext": "generate", "privacy": privacy,
                    "models": {"bridge": {"training": {"data": {"sensitive": False}}}}}  # the shipped bridge: public texts
        corpus = lambda df, tag: Corpus(df["text"].tolist(), df["label"].tolist(), True, tag, tag)
        res = Auditor([*ATTACKS, "generation_privacy", "canary"], encoder=self.enc, seed=seed).run(
            corpus(members, "members"), corpus(holdout, "holdout"), corpus(released, name), test=corpus(self.test, "test"),
            generation=manifest, canaries=run)
        if res.failed:
            raise RuntimeError(f"audit failed: {res.failed}")
        details = res.plugins["canary"]["details"]
        val = lambda k: res.metrics[k].value
        return {"canaries": m, "seed": seed, "generator": name, "generated": len(frame), "released": len(released),
                "held_back": run.held_back, "added": details["added"], "generation_seconds": info["seconds"],
                "canary_writing_seconds": canary_seconds, "claimed_epsilon": details["claimed_epsilon"],
                "epsilon_lower_bound": details["epsilon_lower_bound"], "strongest_attack": details["strongest_attack"],
                "bound_above_claim": val("canary.bound_above_claim"), "per_attack": details["per_attack"],
                "secret_replay": details["secret_replay"], "secret_replay_not_added": details["secret_replay_not_added"],
                "natural": {a: {"auc": val(f"{a}.auc"), "auc_ci": list(res.metrics[f"{a}.auc"].ci),
                                "tpr_at_fpr_0.01": val(f"{a}.tpr_at_fpr_0.01")} for a in ATTACKS},
                "delta": details["delta"]}


# ---------------------------------------------------------------- report

def _eps(v) -> str:
    return "∞" if v in ("inf", None) or (isinstance(v, float) and math.isinf(v)) else f"{float(v):.2f}"


def write_results(result: dict) -> None:
    (RESULTS / f"{OUT}.json").write_text(json.dumps(result, indent=1, default=str) + "\n")
    lines = ["# Canaries on Rotten Tomatoes: the one-run lower bound on ε\n",
             f"{result['date']} · {result['machine']} · `{result['command']}` · code {result['code_version']}\n",
             f"{POOL:,} members, a disjoint holdout of 1,000 and the fixed test set of 2,000 (as dp_generation). M canaries "
             "(an LM-written start for 'fresh' or 'rotten', then a secret suffix; half with a fake name, phone and "
             "email), each added to the members by a fair coin. SMOTExT and DP generation: 600 texts requested; EDA and "
             "paraphrase: one output per input record. Canaries are scored against everything the generator wrote; "
             "natural members vs holdout against what would be released (canary children held back). Bound: Steinke, "
             "Nasr and Jagielski (2023), 95% with the choice of k (5/10/20/30/50% of M) and of 5 attacks counted; "
             "δ = the run's (1e-5 for non-DP).\n"]
    for m in sorted({c["canaries"] for c in result["cells"]}):
        cells = [c for c in result["cells"] if c["canaries"] == m]
        runs = sorted({(c.get("command", result["command"]), c["code_version"]) for c in cells})
        lines += [f"## M = {m} canaries\n", "Run by " + "; ".join(f"`{cmd}` at code {v}" for cmd, v in runs) + ".\n",
                  "| generator | claimed ε | ε lower bound | strongest attack | right guesses (strongest) | embedding | attribution | "
                  "lexical | n-gram LM | secret replay | fragments | secrets echoed (added / not added) | generated | held back | "
                  "generation, s |",
                  "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
        for name in GENERATORS:
            for c in (c for c in cells if c["generator"] == name):
                pa = c["per_attack"]
                best = pa[c["strongest_attack"]]
                lines.append(
                    f"| {LABELS[name]} | {_eps(c['claimed_epsilon'])} | **{c['epsilon_lower_bound']:.2f}** | "
                    f"{c['strongest_attack'] if c['epsilon_lower_bound'] > 0 else '–'} | {best['correct']}/{best['guesses']} | "
                    + " | ".join(f"{pa[a]['epsilon']:.2f} ({pa[a]['correct']}/{pa[a]['guesses']})" if a in pa else "–"
                               for a in CANARY_ATTACKS)
                    + f" | {c['secret_replay']} / {c['added']} · "
                      f"{c['secret_replay_not_added']} / {c['canaries'] - c['added']} | {c['generated']} | {c['held_back']} | "
                      f"{c['generation_seconds']:.0f} |")
        lines.append("")
        lines += ["Natural records (members vs holdout, on the released texts): ROC AUC [95% interval] and TPR at 1% FPR.\n",
                  "| generator | " + " | ".join(a.replace("mia_synthetic_", "") + " AUC | TPR@1%" for a in ATTACKS) + " |",
                  "|---|" + "---|---|" * len(ATTACKS)]
        for name in GENERATORS:
            for c in (c for c in cells if c["generator"] == name):
                nat = c["natural"]
                lines.append(f"| {LABELS[name]} | " + " | ".join(
                    f"{nat[a]['auc']:.3f} [{nat[a]['auc_ci'][0]:.3f}, {nat[a]['auc_ci'][1]:.3f}] | {nat[a]['tpr_at_fpr_0.01']:.3f}"
                    for a in ATTACKS) + " |")
        writing = sorted({c["canary_writing_seconds"] for c in cells})
        lines += ["", f"Writing the {m} canaries: {', '.join(f'{s:.0f}' for s in writing)} s (LM, 2 cores).\n"]
    lines += ["## What a perfect attack could show (the ceiling of an honest bound)\n",
              "Every guess right, the bound computed as the audit does (5 attacks, δ = 1e-5, 95%):\n",
              "| canaries M | bound | k (guesses each way) |", "|---|---|---|"]
    lines += [f"| {c['canaries']} | {c['epsilon']:.2f} | {c['k']} |" for c in result["ceiling"]]
    if result.get("notes"):
        lines += ["", "## Notes\n", result["notes"]]
    (RESULTS / f"{OUT}.md").write_text("\n".join(lines) + "\n")


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--canaries", type=int, nargs="+", default=[200, 500])
    ap.add_argument("--seeds", type=int, nargs="+", default=[0])
    ap.add_argument("--generators", nargs="+", default=list(GENERATORS), choices=list(GENERATORS))
    ap.add_argument("--work", default="runs/canary-audit", help="cache of canaries and generated texts (resume)")
    ap.add_argument("--render", action="store_true", help="only rewrite the markdown from the results json")
    ap.add_argument("--notes", type=Path, help="a markdown file of comments to keep in the results")
    args = ap.parse_args(argv)
    path = RESULTS / f"{OUT}.json"
    old = json.loads(path.read_text()) if path.exists() else {}
    if args.notes:
        old["notes"] = args.notes.read_text().strip()
    if args.render:
        write_results(old)
        return
    result = {**run_facts("canary_audit.py", argv), "cells": [],
              "ceiling": [ceiling(m) for m in CEILING_M], "notes": old.get("notes", "")}
    key = lambda c: (c["canaries"], c["seed"], c["generator"])
    earlier = [{"code_version": old.get("code_version"), **c} for c in old.get("cells", [])]
    bench = CanaryBench(Path(args.work))
    for m in args.canaries:
        for seed in args.seeds:
            for name in args.generators:
                print(f"== M {m}, seed {seed}, {name}", file=sys.stderr, flush=True)
                result["cells"].append({**bench.measure(m, seed, name), "code_version": result["code_version"],
                                        "command": result["command"]})
                done = {key(c) for c in result["cells"]}
                write_results({**result, "cells": result["cells"] + [c for c in earlier if key(c) not in done]})


if __name__ == "__main__":
    main()
