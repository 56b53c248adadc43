"""DP generation on Rotten Tomatoes: what the votes buy, at which ε, next to non-DP SMOTExT.

    python benchmarks/dp_generation.py --pools 1000 8000 --seeds 0 1 2     # the grid (resumable)
    python benchmarks/dp_generation.py --sweep                             # the settings compared first
    python benchmarks/dp_generation.py --render                            # rewrite the markdown only

Table 1 protocol: members drawn from the pool (1,000, or 8,000 where votes per candidate outgrow
the noise), 2,600 synthetic texts requested, a fixed real test set of 2,000 and a disjoint holdout of
1,000 for the audit. Variants: DP generation at ε = 1, 4, 8; the same evolution without noise
(σ = 0: not private); without votes (the public start evolved blind: the floor what the private
data adds to); non-DP SMOTExT; the DP fine-tuning baseline (``finetune``) and evolution from a
DP-adapted decoder (``adapted``); ε = 4 with a larger population, more rounds, or half the variations
the LM's rewrites of survivors (``rewrite``, Aug-PE's paraphrase). Measured: synthetic-only accuracy and macro-F1 (logistic regression
on all-MiniLM-L6-v2, the audit's classifier), the audit's data MIA (nearest-synthetic cosine: AUC,
TPR at 1% FPR) and DCR share on members vs holdout, the audit's TF-IDF accuracy (trained on the synthetic
texts, and on as many real members), real-vs-synthetic detection AUC (5-fold,
logistic regression on embeddings and on TF-IDF; 0.5 = indistinguishable), wall time.
Every cell (pool, seed, variant) is cached under --work with the code that made it; a stopped run
resumes, and the results file holds whatever cells are done.
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

import rotten_tomatoes as rt
from rt_benchmark import PeakRSS, classify, mean_std, run_facts, synth_code_sha256

RESULTS = Path(__file__).parent / "results"
OUT = "dp_generation"
TOPIC = ("one-sentence movie review snippet by a film critic ('fresh' means the critic liked the film, "
         "'rotten' means they did not)")
# DP generation's cells name their method: 'auto' (the default) would fine-tune from DPSGD_FROM members on
VARIANTS = {"no_votes": {"ablation": "no_votes", "target_epsilon": 4.0},
            "eps1": {"method": "evolution", "target_epsilon": 1.0}, "eps4": {"method": "evolution", "target_epsilon": 4.0},
            "eps8": {"method": "evolution", "target_epsilon": 8.0},
            "no_noise": {"ablation": "no_noise", "target_epsilon": 4.0}, "dpft4": {"finetune": True, "target_epsilon": 4.0},
            "dpft4_labels": {"finetune": True, "target_epsilon": 4.0, "label_epsilon": 1.0},
            "eps4_pop256": {"target_epsilon": 4.0, "population": 256}, "eps4_iter4": {"target_epsilon": 4.0, "iterations": 4},
            "finetune4": {"method": "finetune", "target_epsilon": 4.0},
            "finetune4_l05": {"method": "finetune", "target_epsilon": 4.0, "label_epsilon": 0.5},
            "adapted4": {"method": "adapted-evolution", "target_epsilon": 4.0},
            "eps4_rewrite": {"target_epsilon": 4.0, "rewrite_share": 0.5},
            "eps4_blanks": {"target_epsilon": 4.0, "rewrite_share": 0.5, "rewrite_style": "blanks"},
            "eps4_both": {"target_epsilon": 4.0, "rewrite_share": 0.5, "rewrite_style": "both"}, "nodp": None}
LABELS = {"no_votes": "no votes (public start, evolved blind)", "eps1": "DP generation, ε = 1", "eps4": "DP generation, ε = 4",
          "eps8": "DP generation, ε = 8", "no_noise": "votes without noise (σ = 0, not private)",
          "dpft4": "DP fine-tuning (LoRA, DP-SGD), ε = 4",
          "dpft4_labels": "DP fine-tuning at ε = 3 + DP label model at ε = 1", "eps4_pop256": "DP generation, ε = 4, population 256 a class",
          "eps4_iter4": "DP generation, ε = 4, 4 rounds",
          "finetune4": "`--dp-method finetune` (DP-SGD ε = 3 + label model ε = 1)",
          "finetune4_l05": "`--dp-method finetune --dp-label-epsilon 0.5` (DP-SGD ε = 3.5 + label model ε = 0.5)",
          "adapted4": "`--dp-method adapted-evolution` (DP-SGD ε = 3 + votes and label model ε = 1)",
          "eps4_rewrite": "DP generation, ε = 4, half the variations LM rewrites of survivors (Aug-PE)",
          "eps4_blanks": "DP generation, ε = 4, half the variations LM fill-in-the-blanks of survivors (Aug-PE)",
          "eps4_both": "DP generation, ε = 4, half the variations LM rewrites or fill-in-the-blanks of survivors",
          "nodp": "non-DP SMOTExT"}
# The DP fine-tuning baseline (Yue et al. 2023's recipe at this machine's scale): rank-4 LoRA updates of
# the LM's q/v layers (the lora voice adapter) trained with DP-SGD on the members, each read from its
# class's public prompt, then sampled from that prompt. The prompt is the shipped bridge reading a
# public description of the class (what the topic says the class means), so the LM is asked "write a
# text like this description" and LoRA learns the members' texts under it.
CLASS_PROMPTS = {"fresh": "A film critic's one-sentence review of a film they liked.",
                 "rotten": "A film critic's one-sentence review of a film they did not like."}
DPFT_STEPS = 24  # DP-SGD steps: 0.23-0.26 s per text's gradient through the 135M LM on 2 cores (measured)
DPFT_SAMPLING = (0.9, 0.9)  # temperature, top-p: the lora voice adapter's (synth/params.py SINGLE_DECODING)


def dpft_batch(members: int) -> int:
    """Expected Poisson batch of the DP fine-tuning baseline: 1/32 of the members, 64 to 256."""
    return int(min(256, max(64, round(members / 32))))


SWEEP = [{"iterations": 1, "population": 64}, {"iterations": 2, "population": 64}, {"iterations": 2, "population": 256},
         {"iterations": 4, "population": 64}, {"iterations": 2, "population": 64, "votes": "contrast"},
         {"iterations": 1, "population": 256, "votes": "contrast"}]


def detection_auc(real: np.ndarray, syn: np.ndarray, seed: int) -> float:
    """5-fold ROC AUC of a logistic regression telling real rows from synthetic ones (balanced sizes)."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import StratifiedKFold, cross_val_score

    rng = np.random.default_rng(seed)
    n = min(real.shape[0], syn.shape[0])
    pick = lambda x: x[rng.permutation(x.shape[0])[:n]]
    if hasattr(real, "tocsr"):  # sparse TF-IDF rows
        from scipy.sparse import vstack

        x = vstack([pick(real), pick(syn)])
    else:
        x = np.concatenate([pick(real), pick(syn)])
    y = np.r_[np.zeros(n), np.ones(n)]
    cv = StratifiedKFold(5, shuffle=True, random_state=seed)
    return float(cross_val_score(LogisticRegression(max_iter=2000), x, y, cv=cv, scoring="roc_auc").mean())


class Bench:
    def __init__(self, work: Path):
        from smotext.synth.encoder import Encoder
        from smotext.synth.models import load_lm

        self.work = work
        self.enc, self.lm = Encoder(), load_lm(device="cpu")
        df = rt.load()
        self.test = rt.draw(df, {"test": 2000}, seed=12345)["test"]  # the same real test set as rt_benchmark
        self.pool = df[~df["text"].isin(set(self.test["text"]))].reset_index(drop=True)
        self.test_emb = self.enc.embed(self.test["text"].tolist())
        self.code = synth_code_sha256()

    def split(self, pool: int, seed: int) -> tuple[pd.DataFrame, pd.DataFrame]:
        parts = rt.draw(self.pool, {"members": pool, "holdout": 1000}, seed=seed)
        return parts["members"], parts["holdout"]

    def generate(self, cell: str, members: pd.DataFrame, variant: dict | None, seed: int, n: int) -> tuple[pd.DataFrame, dict]:
        """The synthetic texts of one cell, made once (with their cost and privacy facts) then read back."""
        from smotext.synth.pe_privacy import DPGeneration
        from smotext.synth.smotext import SMOTExT

        path = self.work / f"{cell}.csv"
        meta = path.with_suffix(".json")
        if path.exists() and meta.exists():
            info = json.loads(meta.read_text())
            if info.get("synth_code_sha256") == self.code:
                return pd.read_csv(path, keep_default_na=False), info
            print(f"{path}: made by other generator code; making it again", file=sys.stderr)
        path.parent.mkdir(parents=True, exist_ok=True)
        if variant is not None and variant.get("finetune"):
            frame, info = self.finetune(members, seed, n, variant["target_epsilon"], path.with_suffix(".bridge"),
                                        variant.get("label_epsilon"))
        else:
            dp = None if variant is None else DPGeneration(topic=TOPIC, secret=10_000 + seed, **variant)
            sampler = SMOTExT(sampling_strategy=n, random_state=seed, encoder=self.enc, lm=self.lm, progress=True, dp=dp)
            with PeakRSS() as m:
                sampler.fit_resample(members["text"].tolist(), members["label"].tolist())
            rep, frame = sampler.report_, sampler.synthetic_
            privacy = sampler.privacy_ if variant is not None else {"mode": "non-dp"}
            if variant is not None and variant.get("method") in ("finetune", "adapted-evolution"):
                from smotext.synth.budget import compose

                # the release's ε: the label releases' and DP-SGD's, which the adapted bridge's card carries
                card = sampler.decoder_.card.training
                total = compose(privacy, {"training": card, "dp": card["dp"]})
                privacy = {**privacy, "generation_epsilon": privacy["epsilon"], "epsilon": total["epsilon"],
                           "delta": total["delta"]}
                if "prompted_label" in sampler.provenance_:
                    frame = frame.assign(prompted_label=sampler.provenance_["prompted_label"].to_numpy())
            info = {"seconds": round(m.seconds, 1), "peak_rss_mib": round(m.peak), "texts": len(frame),
                    "candidates_decoded": rep.candidates_decoded, "dropped_by": dict(rep.dropped_by),
                    "seconds_by_phase": {k: round(v, 1) for k, v in rep.seconds.items()}, "privacy": privacy}
        info["synth_code_sha256"] = self.code
        frame.to_csv(path, index=False)
        meta.write_text(json.dumps(info, indent=1, default=str))
        return frame.copy(), info

    def finetune(self, members: pd.DataFrame, seed: int, n: int, epsilon: float, folder: Path,
                 label_epsilon: float | None = None) -> tuple[pd.DataFrame, dict]:
        """The DP fine-tuning baseline: LoRA trained with DP-SGD on the members under their class's
        prompt (CLASS_PROMPTS), then ``n`` texts sampled from the prompts, the same number a class
        (the class sizes are taken as public: no budget is spent on them). With ``label_epsilon``,
        LoRA gets ε − label_epsilon and δ/2, and the texts are then given classes by DP generation's
        label model (``noisy_centroids``, one Gaussian release at label_epsilon and δ/2; the class
        sizes kept): the two add up to ε and δ (basic composition). The prompted class is kept as
        ``prompted_label``."""
        from smotext.synth.bridge import load_bridge
        from smotext.synth.decoder import Decoder
        from smotext.synth.dp import DPConfig, noise_multiplier, resolve_delta
        from smotext.synth.models import weights_fingerprint
        from smotext.synth.pe_privacy import VotePlan, assign_classes, noisy_centroids
        from smotext.synth.params import ADAPTER_LR
        from smotext.synth.smotext import default_bridge_path
        from smotext.synth.train import BridgeTrainer, TrainConfig

        classes = sorted(CLASS_PROMPTS)
        codes = self.enc.embed([CLASS_PROMPTS[c] for c in classes])
        texts, labels = members["text"].tolist(), members["label"].tolist()
        batch = dpft_batch(len(texts))
        delta = resolve_delta(None, len(texts))
        lora_dp = DPConfig(epsilon) if label_epsilon is None else DPConfig(epsilon - label_epsilon, delta / 2)
        cfg = TrainConfig(steps=DPFT_STEPS, batch_size=batch, lr=ADAPTER_LR["lora"], warmup_steps=max(1, DPFT_STEPS // 10),
                          adapter="lora", adapter_size=4, seed=seed, dp=lora_dp, checkpoint_every=4)
        start = load_bridge(default_bridge_path(), device="cpu")
        cfg.init = weights_fingerprint(default_bridge_path() / "bridge.safetensors")
        with PeakRSS() as m:
            t0 = time.perf_counter()
            trainer = BridgeTrainer(self.lm, self.enc.name, self.enc.fingerprint, codes[[classes.index(y) for y in labels]],
                                    texts, cfg, {"texts": len(texts), "sensitive": True, "description": "members"},
                                    init=start, dp_secret=20_000 + seed)
            card = trainer.train(folder, progress=True)
            train_s = time.perf_counter() - t0
            bridge, card = load_bridge(folder, device="cpu")
            dec = Decoder(bridge, card, self.lm, temperature=DPFT_SAMPLING[0], top_p=DPFT_SAMPLING[1])
            want = {c: n // len(classes) + (i < n % len(classes)) for i, c in enumerate(classes)}
            rows, decoded = [], 0
            for k, c in enumerate(classes):
                seen: set[str] = set()
                for attempt in range(4):  # sampled again where empty or repeated texts fall short
                    short = want[c] - len(seen)
                    if short <= 0:
                        break
                    ask = math.ceil(short * 1.25) + 4
                    out = dec.decode(np.repeat(codes[k][None], ask, 0), seed=1_000 * seed + 100 * k + attempt, progress=True)
                    decoded += ask
                    for (t,) in out:
                        t = t.strip()
                        if t and t not in seen and len(seen) < want[c]:
                            seen.add(t)
                            rows.append((t, c))
        frame = pd.DataFrame(rows, columns=["text", "label"])
        dp = card.training["dp"]
        privacy = {"mode": "dp-sgd", "epsilon": dp.get("epsilon"), "delta": dp.get("delta"), "sigma": dp.get("noise_multiplier"),
                   "dp": dp}
        if label_epsilon is not None:
            sigma = noise_multiplier(label_epsilon, delta / 2, 1.0, 1, "prv", "the label model", "", ())
            plan = VotePlan(sigma=sigma, iterations=0, public_class_counts=True, delta=delta / 2, accountant="prv",
                            target_epsilon=label_epsilon, records=len(texts), secret=30_000 + seed, label_model=True)
            centroids = noisy_centroids(plan, self.enc.embed(texts), labels, classes)
            which = assign_classes(self.enc.embed(frame["text"].tolist()), centroids, [want[c] for c in classes])
            frame["prompted_label"] = frame["label"]
            frame["label"] = [classes[k] for k in which]
            spent = plan.epsilon()
            privacy.update(epsilon=dp.get("epsilon") + spent, delta=delta, lora_epsilon=dp.get("epsilon"),
                           label_model={"epsilon": spent, "delta": delta / 2, "sigma": sigma})
        info = {"seconds": round(m.seconds, 1), "peak_rss_mib": round(m.peak), "texts": len(frame),
                "candidates_decoded": decoded, "seconds_by_phase": {"train": round(train_s, 1),
                                                                    "sample": round(m.seconds - train_s, 1)},
                "schedule": {"steps": DPFT_STEPS, "expected_batch": batch, "lr": cfg.lr, "sampling": DPFT_SAMPLING},
                "privacy": privacy}
        return frame, info

    def measure(self, pool: int, seed: int, name: str, n: int = 2600, variant: dict | None | str = "grid",
                tag: str = "") -> dict:
        from sklearn.feature_extraction.text import TfidfVectorizer

        from smotext.audit.auditor import Auditor
        from smotext.synth.corpus import Corpus

        members, holdout = self.split(pool, seed)
        variant = VARIANTS[name] if variant == "grid" else variant
        syn, info = self.generate(f"pool-{pool}/seed-{seed}/{name}{tag}", members, variant, seed, n)
        syn = syn[syn["text"].str.strip() != ""]
        s_emb, m_emb = self.enc.embed(syn["text"].tolist()), self.enc.embed(members["text"].tolist())
        ty = self.test["label"].tolist()
        out = {"pool": pool, "seed": seed, "variant": name, "texts": len(syn), **{k: info[k] for k in ("seconds", "peak_rss_mib")},
               "synthetic_only": classify(s_emb, syn["label"], self.test_emb, ty, seed),
               "real_only": classify(m_emb, members["label"], self.test_emb, ty, seed)}
        if "prompted_label" in syn:  # the DP fine-tuning texts with the class they were sampled for
            out["synthetic_only_prompted"] = classify(s_emb, syn["prompted_label"], self.test_emb, ty, seed)
        corpus = lambda df, tag_: Corpus(df["text"].tolist(), df["label"].tolist(), True, tag_, tag_)
        res = Auditor(["mia_synthetic_embedding", "reconstruction", "utility"], encoder=self.enc, seed=seed, n_boot=200).run(
            corpus(members, "members"), corpus(holdout, "holdout"), corpus(syn, name), test=corpus(self.test, "test"))
        val = lambda k: res.metrics[k].value if k in res.metrics else None
        out.update(data_mia_auc=val("mia_synthetic_embedding.auc"), data_mia_tpr_1pct=val("mia_synthetic_embedding.tpr_at_fpr_0.01"),
                   dcr_share=val("reconstruction.dcr_share"), audit_failed=res.failed,
                   # the audit's TF-IDF judge: trained on the synthetic texts, and on as many real members
                   tfidf_accuracy=val("utility.tfidf.synthetic.accuracy"), tfidf_accuracy_real=val("utility.tfidf.real.accuracy"))
        tfidf = TfidfVectorizer(ngram_range=(1, 2), min_df=2).fit(members["text"].tolist() + syn["text"].tolist())
        out["detection_auc_embedding"] = detection_auc(m_emb, s_emb, seed)
        out["detection_auc_tfidf"] = detection_auc(tfidf.transform(members["text"]), tfidf.transform(syn["text"]), seed)
        priv = info.get("privacy", {})
        out["epsilon"] = priv.get("epsilon") if priv.get("mode") != "non-dp" else "inf"
        out["sigma"] = priv.get("sigma")
        out["survivors"] = [r["survivors_total"] for r in priv.get("rounds", [])]
        out["samples"] = syn.sample(min(5, len(syn)), random_state=seed)[["label", "text"]].values.tolist()
        return out


# ---------------------------------------------------------------- report

def fmt(ms, digits=3):
    mean, std, n = ms
    if mean is None:
        return "–"
    return f"{mean:.{digits}f} ± {std:.{digits}f}" if n > 1 else f"{mean:.{digits}f}"


def tfidf(rows: list[dict]) -> str:
    """The TF-IDF judge's accuracy on the rows' texts (and on as many real members), '–' for rows
    measured before it was."""
    if any(r.get("tfidf_accuracy") is None for r in rows):
        return "–"
    return f"{fmt(mean_std([r['tfidf_accuracy'] for r in rows]))} ({fmt(mean_std([r['tfidf_accuracy_real'] for r in rows]))})"


def write_results(result: dict) -> None:
    (RESULTS / f"{OUT}.json").write_text(json.dumps(result, indent=1, default=str) + "\n")
    lines = ["# DP generation on Rotten Tomatoes\n",
             f"{result['date']} · {result['machine']} · `{result['command']}` · code {result['code_version']}\n",
             "Members drawn from the 10,605 snippets outside the fixed test set of 2,000; a disjoint holdout of 1,000 for "
             "the audit; 2,600 synthetic texts requested per cell unless a section says otherwise. DP generation: default settings unless the sweep says "
             f"otherwise, public topic: \"{TOPIC}\", δ = 1/(10·members). Classifier: logistic regression (C = 10) on "
             "all-MiniLM-L6-v2. Detection AUC: 5-fold logistic regression, real members vs synthetic (0.5 = "
             "indistinguishable). Mean ± std over the seeds measured (n says how many).\n"]
    for pool, n in sorted({(c["pool"], c.get("n", 2600)) for c in result["cells"]}):
        cells = [c for c in result["cells"] if c["pool"] == pool and c.get("n", 2600) == n]
        versions = sorted({c.get("code_version", result["code_version"]) for c in cells})
        lines += [f"## {pool:,} members, {n:,} synthetic texts requested{'' if n == 2600 else ' (reduced from the protocol: see notes)'}\n",
                  f"Code: {', '.join(versions)}.\n",
                  "| variant | n | ε | texts | synthetic-only accuracy | macro-F1 | TF-IDF accuracy (as many real) | "
                  "data MIA AUC | data MIA TPR@1%FPR | DCR share | detection AUC (emb) | detection AUC (TF-IDF) | wall time, s |",
                  "|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
        real = mean_std(list({c["seed"]: c["real_only"]["accuracy"] for c in cells}.values()))  # one per seed
        for name in VARIANTS:
            rows = [c for c in cells if c["variant"] == name]
            if not rows:
                continue
            ms = lambda key, sub=None: mean_std([(c[key][sub] if sub else c[key]) for c in rows])
            eps = rows[0]["epsilon"]
            eps = "∞" if eps in ("inf", None) or eps == float("inf") else f"{eps:.2f}"
            lines.append(f"| {LABELS[name]} | {len(rows)} | {eps} | {fmt(ms('texts'), 0)} | "
                         f"{fmt(ms('synthetic_only', 'accuracy'))} | {fmt(ms('synthetic_only', 'macro_f1'))} | "
                         f"{tfidf(rows)} | {fmt(ms('data_mia_auc'))} | {fmt(ms('data_mia_tpr_1pct'))} | {fmt(ms('dcr_share'))} | "
                         f"{fmt(ms('detection_auc_embedding'))} | {fmt(ms('detection_auc_tfidf'))} | {fmt(ms('seconds'), 0)} |")
        lines += ["", f"Real members only (same classifier, same test set): accuracy {fmt(real)}.\n"]
        for name in VARIANTS:
            rows = [c for c in cells if c["variant"] == name]
            if rows:
                lines += [f"Samples, {LABELS[name]} (seed {rows[0]['seed']}):\n"] + \
                         [f"- *{y}*: {t}" for y, t in rows[0]["samples"]] + [""]
    if result.get("sweep"):
        lines += ["## Settings compared (1,000 members, seed 0, ε = 4, 600 synthetic texts)\n",
                  "| iterations | population per class | votes | survivors per round | synthetic-only accuracy | macro-F1 | "
                  "detection AUC (emb) | data MIA AUC | wall time, s | code |", "|---|---|---|---|---|---|---|---|---|---|"]
        for c in result["sweep"]:
            lines.append(f"| {c['iterations']} | {c['population']} | {c.get('votes', 'own_class')} | {c['survivors']} | "
                         f"{c['synthetic_only']['accuracy']:.3f} | {c['synthetic_only']['macro_f1']:.3f} | "
                         f"{c['detection_auc_embedding']:.3f} | {c['data_mia_auc']:.3f} | {c['seconds']:.0f} | "
                         f"{c.get('code_version', result['code_version'])} |")
        lines.append("")
    if result.get("notes"):
        lines += ["## Notes\n", result["notes"], ""]
    (RESULTS / f"{OUT}.md").write_text("\n".join(lines))


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--pools", type=int, nargs="+", default=[1000, 8000])
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    ap.add_argument("--variants", nargs="+", default=list(VARIANTS), choices=list(VARIANTS))
    ap.add_argument("--n", type=int, default=2600, help="synthetic texts requested per cell (the protocol's 2,600)")
    ap.add_argument("--sweep", action="store_true", help="compare iterations/population at ε = 4 (600 texts) first")
    ap.add_argument("--work", default="runs/dp-generation", help="cache of generated texts (resume)")
    ap.add_argument("--render", action="store_true", help="only rewrite the markdown from the results json")
    ap.add_argument("--notes", type=Path, help="a markdown file of comments to keep in the results")
    args = ap.parse_args(argv)
    path = RESULTS / f"{OUT}.json"
    old = json.loads(path.read_text()) if path.exists() else {}
    if args.render:
        if args.notes:
            old["notes"] = args.notes.read_text().strip()
        write_results(old)
        return
    # the code that runs is the code at the start, whatever is committed while it runs
    result = {**run_facts("dp_generation.py", argv), "cells": [],
              "sweep": [{"code_version": old.get("code_version"), **c} for c in old.get("sweep", [])],
              "notes": old.get("notes", "")}
    earlier = [{"code_version": old.get("code_version"), **c} for c in old.get("cells", [])]
    key = lambda c: (c["pool"], c["seed"], c["variant"], c.get("n", 2600))
    keep = lambda c: not any(key(c) == key(x) for x in result["cells"])
    bench = Bench(Path(args.work))
    t0 = time.perf_counter()
    if args.sweep:
        settings = lambda c: {k: c.get(k, "own_class" if k == "votes" else None) for k in ("iterations", "population", "votes")}
        for s in SWEEP:  # a setting measured before (by the code its entry names) is kept, not measured again
            if any(settings(c) == settings(s) for c in result["sweep"]):
                continue
            print(f"== sweep {s}", file=sys.stderr, flush=True)
            tag = f"-sweep-T{s['iterations']}-M{s['population']}" + (f"-{s['votes']}" if "votes" in s else "")
            cell = bench.measure(1000, 0, "eps4", n=600, variant={"target_epsilon": 4.0, **s}, tag=tag)
            result["sweep"].append({**s, **cell, "code_version": result["code_version"]})
            write_results(result)
    for pool in args.pools:
        for seed in args.seeds:
            for name in args.variants:
                print(f"== pool {pool}, seed {seed}, {name}", file=sys.stderr, flush=True)
                tag = "" if args.n == 2600 else f"-n{args.n}"
                result["cells"].append({**bench.measure(pool, seed, name, n=args.n, tag=tag), "n": args.n,
                                        "code_version": result["code_version"]})
                result["seconds"] = round(time.perf_counter() - t0)
                write_results({**result, "cells": result["cells"] + [c for c in earlier if keep(c)]})
    print(f"wrote {RESULTS / (OUT + '.md')}")


if __name__ == "__main__":
    main()
