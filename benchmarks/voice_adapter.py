"""The DP voice adapter on Rotten Tomatoes: what adapting the default bridge to a corpus buys, at which ε.

    python benchmarks/voice_adapter.py --pilot                 # adapter kinds compared (small, non-DP and ε = 4)
    python benchmarks/voice_adapter.py --kind prefix           # the grid: unadapted, non-DP, ε = 1, 4, 8 (resumable)
    python benchmarks/voice_adapter.py --decoding              # decoding choices on one adapted bridge
    python benchmarks/voice_adapter.py --render                # rewrite the markdown only

Data: the fixed real test set of 2,000 (as rt_benchmark and dp_generation), 1,000 members and a disjoint
holdout of 1,000 drawn from the rest (seed 0), and an adaptation pool of the members plus 5,000 further
snippets (6,000, disjoint from test and holdout: the holdout stays a clean non-member set for the MIA).
A dev set of 200 further snippets scores the pilot. Each setting adapts the shipped default bridge on
the pool, then runs the Table 1 protocol: SMOTExT on the members with the adapted bridge, 2,600
synthetic texts requested, audited against the holdout and the test set (utility with the project's
embedding classifier and with TF-IDF, realism, data MIA, DCR, the decoder's ε) and round-trip
fidelity on 200 test snippets. Adapters, synthetic sets and measurements are cached under --work
with the code that made them, so a stopped run resumes where it stopped.
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
import pandas as pd

import rotten_tomatoes as rt
from rt_benchmark import PeakRSS, run_facts, synth_code_sha256
from smotext.synth.dp import VOICE_LR, VOICE_STEPS, voice_batch
from smotext.synth.params import ADAPTER_LR

RESULTS = Path(__file__).parent / "results"
OUT = "voice_adapter"
POOL, MEMBERS, HOLDOUT, DEV, N_SYNTHETIC, N_FIDELITY, N_SHOWN = 6000, 1000, 1000, 200, 2600, 200, 10
SETTINGS = {"unadapted": None, "nodp": "inf", "eps1": 1.0, "eps4": 4.0, "eps8": 8.0}
PILOT_KINDS = ["bias", "prefix", "lowrank"]
GRID_ORDER = ["eps4", "unadapted", "nodp", "eps1", "eps8"]  # the goals' cells first
# eps4-greedy: the ε = 4 cell as first measured, decoded greedily (before adapted bridges sampled by default)
SHOWN_ORDER = ["unadapted", "eps4-greedy", "nodp", "eps1", "eps4", "eps8"]
AUDIT = ["utility", "realism", "mia_synthetic_embedding", "reconstruction", "decoder_privacy"]


class Bench:
    def __init__(self, work: Path, seed: int = 0):
        from smotext.synth.encoder import Encoder
        from smotext.synth.models import load_lm

        self.work, self.seed = work, seed
        self.enc, self.lm = Encoder(), load_lm(device="cpu")
        df = rt.load()
        self.test = rt.draw(df, {"test": 2000}, seed=12345)["test"]  # the same real test set as rt_benchmark
        rest = df[~df["text"].isin(set(self.test["text"]))].reset_index(drop=True)
        parts = rt.draw(rest, {"members": MEMBERS, "holdout": HOLDOUT}, seed=seed)  # as dp_generation's split
        self.members, self.holdout = parts["members"], parts["holdout"]
        others = rest[~rest["text"].isin(set(self.members["text"]) | set(self.holdout["text"]))]
        extra = others.sample(POOL - MEMBERS + DEV, random_state=seed)
        self.pool = pd.concat([self.members, extra[: POOL - MEMBERS]], ignore_index=True)
        self.dev = extra[POOL - MEMBERS:].reset_index(drop=True)
        self.code = synth_code_sha256()
        self.version = run_facts(Path(__file__).name)["code_version"]  # the code this process runs, not HEAD later

    # ------------------------------------------------------------ adapting

    def adapt(self, name: str, kind: str, epsilon, steps: int, batch: int, lr: float, texts: pd.DataFrame | None = None):
        """Adapt the default bridge into work/adapters/name (resuming its checkpoint); returns (folder, seconds)."""
        from smotext.synth.corpus import Corpus
        from smotext.synth.dp import DPConfig
        from smotext.synth.train import TrainConfig, decoder_trainer

        folder = self.work / "adapters" / name
        done = folder / "done.json"
        if done.exists():
            return folder, json.loads(done.read_text())["seconds"]
        texts = self.pool if texts is None else texts
        corpus = Corpus.from_texts(texts["text"].tolist(), source="rt-pool")
        dp = None if epsilon == "inf" else DPConfig(float(epsilon))
        cfg = TrainConfig(steps=steps, batch_size=batch, lr=lr, warmup_steps=max(1, steps // 10), adapter=kind, dp=dp,
                          seed=self.seed, checkpoint_every=1)
        trainer = decoder_trainer(corpus, config=cfg, init="default", public=dp is None, encoder=self.enc, lm=self.lm,
                                  description="Rotten Tomatoes adaptation pool (benchmark)", progress=True,
                                  dp_secret=20_000 + self.seed)
        card = trainer.train(folder, progress=True)
        done.write_text(json.dumps({"seconds": round(trainer.seconds, 1), "synth_code_sha256": self.code,
                                    "epsilon": card.training["dp"].get("epsilon"),
                                    "noise_multiplier": card.training["dp"].get("noise_multiplier")}))
        return folder, trainer.seconds

    def dev_loss(self, bridge_folder) -> float:
        """Mean per-text reconstruction loss of the dev snippets through a bridge (lower = closer to the corpus)."""
        from smotext.synth.bridge import load_bridge
        from smotext.synth.smotext import default_bridge_path
        from smotext.synth.train import BridgeTrainer, TrainConfig

        bridge = load_bridge(bridge_folder or default_bridge_path())
        texts = self.dev["text"].tolist()
        return BridgeTrainer(self.lm, self.enc.name, self.enc.fingerprint, self.enc.embed(texts), texts, TrainConfig(),
                             {}, init=bridge, dp_secret=0).mean_loss()

    def decode(self, bridge_folder, texts: list[str], **decoding) -> list[str]:
        from smotext.synth.bridge import load_bridge
        from smotext.synth.decoder import Decoder
        from smotext.synth.smotext import default_bridge_path

        bridge, card = load_bridge(bridge_folder or default_bridge_path())
        dec = Decoder(bridge, card, self.lm, embed=self.enc.embed, **decoding)
        return [c[0] for c in dec.decode(self.enc.embed(texts), progress=True)]

    def fidelity(self, bridge_folder, texts: list[str]) -> tuple[float, list[str]]:
        out = self.decode(bridge_folder, texts)
        return float((self.enc.embed(out) * self.enc.embed(texts)).sum(1).mean()), out

    # ------------------------------------------------------------ the Table 1 cell

    def generate(self, name: str, bridge_folder, n: int, **sampler_options) -> tuple[pd.DataFrame, dict]:
        from smotext.synth.smotext import SMOTExT

        path = self.work / "synthetic" / f"{name}.csv"
        meta = path.with_suffix(".json")
        if path.exists() and meta.exists():
            return pd.read_csv(path, keep_default_na=False), json.loads(meta.read_text())
        sampler = SMOTExT(sampling_strategy=n, random_state=self.seed, encoder=self.enc, lm=self.lm, progress=True,
                          bridge=str(bridge_folder) if bridge_folder else None, **sampler_options)
        with PeakRSS() as m:
            sampler.fit_resample(self.members["text"].tolist(), self.members["label"].tolist())
        info = {"seconds": round(m.seconds, 1), "peak_rss_mib": round(m.peak), "texts": len(sampler.synthetic_),
                "generation_fidelity": float(sampler.provenance_["fidelity"].mean()), "decoding": sampler.decoding_,
                "candidates_decoded": sampler.report_.candidates_decoded, "dropped_by": dict(sampler.report_.dropped_by),
                "synth_code_sha256": self.code}
        path.parent.mkdir(parents=True, exist_ok=True)
        sampler.synthetic_.to_csv(path, index=False)
        meta.write_text(json.dumps(info, indent=1))
        return sampler.synthetic_.copy(), info

    def measure(self, name: str, bridge_folder, adapt_seconds: float | None, n: int = N_SYNTHETIC, tag: str = "",
                round_trip: bool = True, **sampler_options) -> dict:
        from smotext.audit.auditor import Auditor
        from smotext.synth.corpus import Corpus

        syn, info = self.generate(name + tag, bridge_folder, n, **sampler_options)
        syn = syn[syn["text"].str.strip() != ""]
        corpus = lambda df, t: Corpus(df["text"].tolist(), df["label"].tolist(), True, t, t)
        from smotext.synth.smotext import default_bridge_path

        card = json.loads((Path(bridge_folder or default_bridge_path()) / "bridge.json").read_text())
        res = Auditor(AUDIT, encoder=self.enc, seed=self.seed, n_boot=200).run(
            corpus(self.members, "members"), corpus(self.holdout, "holdout"), corpus(syn, name), test=corpus(self.test, "test"),
            generation={"models": {"bridge": {"training": card["training"], "path": str(bridge_folder or "default")}}})
        val = lambda k: res.metrics[k].value if k in res.metrics else None
        fid = self.fidelity(bridge_folder, self.test["text"].tolist()[:N_FIDELITY])[0] if round_trip else None
        rng = np.random.default_rng(self.seed)
        return {
            "setting": name + tag, "decoding": describe_decoding(info.get("decoding")), "texts": len(syn),
            "generation_seconds": info["seconds"], "adapt_seconds": adapt_seconds,
            "candidates_decoded": info["candidates_decoded"],
            "detection_auc_tfidf": val("realism.detection_auc.tfidf"), "detection_auc_embedding": val("realism.detection_auc.embedding"),
            "distinct_bigrams": val("realism.distinct_bigrams.synthetic"), "distinct_bigrams_real": val("realism.distinct_bigrams.real"),
            "distinct_bigrams_ratio": val("realism.distinct_bigrams.ratio"),
            "repeated_openings": val("realism.repeated_openings.synthetic"),
            "repeated_openings_real": val("realism.repeated_openings.real"),
            "accuracy_synthetic": val("utility.synthetic.accuracy"), "accuracy_real": val("utility.real.accuracy"),
            "tfidf_accuracy_synthetic": val("utility.tfidf.synthetic.accuracy"), "tfidf_accuracy_real": val("utility.tfidf.real.accuracy"),
            "data_mia_auc": val("mia_synthetic_embedding.auc"), "data_mia_tpr_1pct": val("mia_synthetic_embedding.tpr_at_fpr_0.01"),
            "dcr_share": val("reconstruction.dcr_share"), "decoder_epsilon": val("decoder_privacy.epsilon"),
            "fidelity": fid, "generation_fidelity": info.get("generation_fidelity"), "audit_failed": res.failed,
            "samples": [syn["text"].iloc[i] for i in rng.choice(len(syn), N_SHOWN, replace=False)],
        }


def describe_decoding(d: dict | None) -> str:
    """A decoding as the tables show it: greedy, sampled at T, best of n (whole or by segment)."""
    if not d or (d["num_candidates"] == 1 and not d["temperature"]):
        return "greedy"
    if d["num_candidates"] == 1:
        return f"sampled, T {d['temperature']:g}"
    how = "whole" if d["segment_tokens"] is None else f"segments of {d['segment_tokens']}"
    return f"best of {d['num_candidates']} ({how}), T {d['temperature']:g}"


# ---------------------------------------------------------------- runs

def cached(path: Path, b: "Bench", make) -> dict:
    """A cell's measurements, made once: kept across code changes (each records the generator code
    and commit that made it; delete the cell's files under --work to measure it again)."""
    if path.exists():
        return json.loads(path.read_text())
    got = {**make(), "synth_code_sha256": b.code, "code_version": b.version}
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(got, indent=1, default=str))
    return got


def kind_lr(args, kind: str) -> float:
    """The learning rate asked for, else the adapter kind's default (as a release trains it)."""
    return args.lr if args.lr is not None else ADAPTER_LR.get(kind, VOICE_LR)


def pilot(b: Bench, args) -> list[dict]:
    rows = []
    base = cached(b.work / "pilot" / "unadapted.json", b, lambda: {"kind": "none", "epsilon": None,
                                                                         "dev_loss": b.dev_loss(None)})
    rows.append(base)
    shown = b.dev["text"].tolist()[:N_SHOWN]
    for kind in args.kinds:
        lr = kind_lr(args, kind)
        for eps in ("inf", 4.0):
            name = f"pilot-{kind}-{'nodp' if eps == 'inf' else f'eps{eps:g}'}"

            def make(kind=kind, eps=eps, name=name, lr=lr):
                folder, seconds = b.adapt(name, kind, eps, args.pilot_steps, args.pilot_batch, lr)
                card = json.loads((folder / "bridge.json").read_text())
                return {"kind": kind, "epsilon": card["training"]["dp"].get("epsilon", "inf"), "seconds": seconds,
                        "steps": args.pilot_steps, "batch": args.pilot_batch, "lr": lr,
                        "noise_multiplier": card["training"]["dp"].get("noise_multiplier"),
                        "dev_loss": b.dev_loss(folder), "decoded": b.decode(folder, shown)}
            rows.append(cached(b.work / "pilot" / f"{name}.json", b, make))
            print(json.dumps({k: v for k, v in rows[-1].items() if k != "decoded"}), flush=True)
    return rows


def grid(b: Bench, args) -> list[dict]:
    cells = []
    for name in args.settings:
        eps = SETTINGS[name]

        def make(name=name, eps=eps):
            folder, seconds = (None, None) if eps is None else b.adapt(f"{args.kind}-{name}", args.kind, eps, args.steps,
                                                                        args.batch, kind_lr(args, args.kind))
            out = b.measure(name, folder, seconds)
            if folder:
                dp = json.loads((folder / "bridge.json").read_text())["training"]["dp"]
                out.update(kind=args.kind, steps=args.steps, batch=args.batch, lr=kind_lr(args, args.kind), epsilon=dp.get("epsilon", "inf"),
                           noise_multiplier=dp.get("noise_multiplier"), dev_loss=b.dev_loss(folder))
            else:
                out.update(epsilon=None, dev_loss=b.dev_loss(None))
            return out
        cells.append(cached(b.work / "cells" / f"{args.kind}-{name}.json" if eps is not None else
                            b.work / "cells" / "unadapted.json", b, make))
        print(json.dumps({k: v for k, v in cells[-1].items() if k != "samples"}), flush=True)
    return cells


DECODING = {"greedy": {}, "whole4": {"num_candidates": 4, "segment_tokens": None}, "seg4": {"num_candidates": 4},
            "sample": {"temperature": 0.8}, "sample-t1.0": {"temperature": 1.0}, "sample-t1.2": {"temperature": 1.2},
            "seg4-t1.2": {"num_candidates": 4, "temperature": 1.2}}
UNADAPTED_DECODING = ["whole4", "sample", "sample-t1.0", "sample-t1.2"]  # on the default bridge: what decoding alone buys
N_DECODING_NOTE = ("Synthetic-only accuracy compares against the same number of real members; the "
                   "texts-per-setting and the real side differ from the Table 1 cells (600 against 2,600 and 1,000).")
SKIP_DECODING = {"seg4-t1.2"}  # segment search at T 0.8 was no more varied than 4 whole samples, at twice the time


def decoding(b: Bench, args) -> list[dict]:
    """Decoding choices on the ε = 4 adapter (and the default bridge): diversity and fidelity of each,
    on args.decoding_n texts."""
    folder = b.work / "adapters" / f"{args.kind}-eps4"
    if not (folder / "done.json").exists():
        raise SystemExit(f"{folder}: run the grid's eps4 setting first")
    runs = [("eps4", folder, name, options) for name, options in DECODING.items() if name not in SKIP_DECODING]
    runs += [("unadapted", None, name, DECODING[name]) for name in UNADAPTED_DECODING]
    rows = []
    for bridge, where, name, options in runs:
        key = name if bridge == "eps4" else f"unadapted-{name}"
        file = f"{args.kind}-{name}" if bridge == "eps4" else key
        rows.append(cached(b.work / "decoding" / f"{file}-n{args.decoding_n}.json", b, lambda: {
            **b.measure(f"{bridge}-{name}", where, None, n=args.decoding_n, tag=f"-n{args.decoding_n}", round_trip=False,
                        **options), "decoding": key, "bridge": bridge}))
        print(json.dumps({k: v for k, v in rows[-1].items() if k != "samples"}), flush=True)
    return rows


def threshold(b: Bench, args) -> list[dict]:
    """Where DP adaptation stops learning: the members alone (1,000 texts, signal below the plan's
    bar at ε = 4 and 8) against the pool's runs; dev loss only."""
    rows = []
    for eps in (4.0, 8.0):
        def make(eps=eps):
            from smotext.synth.dp import plan_voice

            batch = voice_batch(MEMBERS)
            folder, seconds = b.adapt(f"{args.kind}-members-eps{eps:g}", args.kind, eps, args.steps, batch, kind_lr(args, args.kind),
                                      texts=b.members)
            plan = plan_voice(MEMBERS, eps, steps=args.steps, batch_size=batch)
            return {"texts": MEMBERS, "epsilon": eps, "batch": batch, "noise_multiplier": plan.noise_multiplier,
                    "signal": plan.signal, "dev_loss": b.dev_loss(folder), "adapt_seconds": seconds}
        rows.append(cached(b.work / "threshold" / f"{args.kind}-members-eps{eps:g}.json", b, make))
        print(json.dumps(rows[-1]), flush=True)
    return rows


# ---------------------------------------------------------------- report

def one_line(text: str) -> str:
    return " ⏎ ".join(line.strip() for line in text.strip().splitlines())


def write_results(result: dict) -> None:
    (RESULTS / f"{OUT}.json").write_text(json.dumps(result, indent=1, default=str) + "\n")
    lines = ["# The DP voice adapter on Rotten Tomatoes\n",
             *[f"- {mode}: {r['date']} · {r['machine']} · `{r['command']}` · code {r['code_version']}"
               for mode, r in result.get("runs", {}).items()], "",
             f"Adaptation pool {POOL:,} snippets (the {MEMBERS:,} members plus {POOL - MEMBERS:,} more), disjoint from the "
             f"fixed test set of 2,000 and from the audit's holdout of {HOLDOUT:,}. δ = 1/(10·{POOL:,}). Synthetic: SMOTExT on the "
             f"members, {N_SYNTHETIC:,} texts requested, default decoding (each cell says which). Detection AUC: 5-fold "
             "logistic regression telling "
             "real members from synthetic texts (0.5 = indistinguishable). Fidelity: round-trip cosine of "
             f"{N_FIDELITY} test snippets decoded greedily; to the mix: mean cosine of each kept synthetic text to the vector "
             "it was decoded from, as decoded (code: the commit each cell ran).\n"]
    if result.get("pilot"):
        lines += ["## Adapter kinds compared (pilot)\n",
                  "| adapter | ε | steps × expected batch | lr | noise multiplier | dev loss | adapt time, s | code |",
                  "|---|---|---|---|---|---|---|---|"]
        for r in result["pilot"]:
            eps = r.get("epsilon")
            eps = "–" if eps is None else ("∞" if eps == "inf" else f"{eps:.2f}")
            shape = f"{r['steps']} × {r['batch']}" if "steps" in r else "–"
            nm = f"{r['noise_multiplier']:.3f}" if r.get("noise_multiplier") else "–"
            lr = f"{r['lr']:g}" if r.get("lr") else "–"
            code = r.get("code_version") or result.get("runs", {}).get("pilot", {}).get("code_version", "–")
            lines.append(f"| {r['kind']} | {eps} | {shape} | {lr} | {nm} | {r['dev_loss']:.3f} | {r.get('seconds', 0):.0f} "
                         f"| {code} |")
        lines += ["", *[f"- {note}" for note in result.get("pilot_notes", [])], ""]
    if result.get("cells"):
        lines += ["## Table 1 protocol\n",
                  "| setting | ε | decoding | texts | detection AUC TF-IDF | detection AUC emb. | distinct-2 (real) | "
                  "repeated openings (real) | accuracy emb. (real) | accuracy TF-IDF (real) | fidelity round trip / to the mix | "
                  "dev loss | data MIA AUC | TPR@1% | DCR share | adapt s | generate s | code |", "|" + "---|" * 18]
        f = lambda v, d=3: "–" if v is None else f"{v:.{d}f}"
        for c in result["cells"]:
            eps = c.get("epsilon")
            eps = "–" if eps is None else ("∞" if eps == "inf" else f"{eps:.2f}")
            lines.append(f"| {c['setting']} | {eps} | {c.get('decoding', 'greedy')} | {c['texts']} | {f(c['detection_auc_tfidf'])} | {f(c['detection_auc_embedding'])} | "
                         f"{f(c['distinct_bigrams'])} ({f(c['distinct_bigrams_real'])}) | {f(c['repeated_openings'])} "
                         f"({f(c['repeated_openings_real'])}) | {f(c['accuracy_synthetic'])} ({f(c['accuracy_real'])}) | "
                         f"{f(c['tfidf_accuracy_synthetic'])} ({f(c['tfidf_accuracy_real'])}) | {f(c['fidelity'])} / {f(c.get('generation_fidelity'))} | "
                         f"{f(c.get('dev_loss'))} | {f(c['data_mia_auc'])} | {f(c['data_mia_tpr_1pct'])} | {f(c['dcr_share'])} | "
                         f"{f(c.get('adapt_seconds'), 0)} | {f(c['generation_seconds'], 0)} | {c.get('code_version', '–')} |")
        lines.append("")
        real = result.get("real_samples", [])
        lines += ["## Ten real members beside ten synthetic texts per setting\n", "Real (line breaks shown as ⏎):\n"]
        lines += [f"- {one_line(t)}" for t in real] + [""]
        for c in result["cells"]:
            lines += [f"{c['setting']}:\n"] + [f"- {one_line(t)}" for t in c["samples"]] + [""]
    f3 = lambda v: "–" if v is None else f"{v:.3f}"
    if result.get("decoding"):
        lines += ["## Decoding choices (the ε = 4 adapter; `unadapted-*`: the default bridge)\n",
                  "greedy: one greedy text per vector; whole4 / seg4: the closest of 4 samples at T 0.8, whole or "
                  "chosen every 5 tokens (segment search); sample: one sample per vector at T 0.8 (-t1.0, -t1.2: at "
                  f"that temperature). {N_DECODING_NOTE}\n",
                  "| decoding | texts | distinct-2 (real) | repeated openings | detection AUC TF-IDF | detection AUC emb. | "
                  "fidelity to the mix | accuracy emb. (real) | accuracy TF-IDF (real) | data MIA AUC | generate s |",
                  "|" + "---|" * 11]
        for c in result["decoding"]:
            lines.append(f"| {c['decoding']} | {c['texts']} | {f3(c['distinct_bigrams'])} ({f3(c['distinct_bigrams_real'])}) | "
                         f"{f3(c['repeated_openings'])} | {f3(c['detection_auc_tfidf'])} | {f3(c['detection_auc_embedding'])} | "
                         f"{f3(c['generation_fidelity'])} | {f3(c['accuracy_synthetic'])} ({f3(c['accuracy_real'])}) | "
                         f"{f3(c['tfidf_accuracy_synthetic'])} ({f3(c['tfidf_accuracy_real'])}) | {f3(c['data_mia_auc'])} | "
                         f"{c['generation_seconds']:.0f} |")
        lines.append("")
    if result.get("threshold"):
        lines += ["## Too few texts: adapting on the 1,000 members alone\n",
                  "| texts | ε | expected batch | noise multiplier | signal (batch / noise) | dev loss | adapt s |", "|---|---|---|---|---|---|---|"]
        for r in result["threshold"]:
            lines.append(f"| {r['texts']:,} | {r['epsilon']:g} | {r['batch']} | {r['noise_multiplier']:.3f} | {r['signal']:.0f} | "
                         f"{r['dev_loss']:.3f} | {r['adapt_seconds']:.0f} |")
        lines.append("")
    if result.get("notes"):
        lines += ["## What this shows\n"] + [f"- {n}" for n in result["notes"]] + [""]
    (RESULTS / f"{OUT}.md").write_text("\n".join(lines))


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--work", type=Path, default=Path("runs/voice-adapter"))
    ap.add_argument("--pilot", action="store_true", help="compare adapter kinds (small runs)")
    ap.add_argument("--kinds", nargs="+", default=PILOT_KINDS)
    ap.add_argument("--pilot-steps", type=int, default=8)
    ap.add_argument("--pilot-batch", type=int, default=96)
    ap.add_argument("--kind", default="bias", help="adapter kind of the grid (bias: chosen by the pilot)")
    ap.add_argument("--settings", nargs="+", default=GRID_ORDER, choices=list(SETTINGS))
    ap.add_argument("--steps", type=int, default=VOICE_STEPS)
    ap.add_argument("--batch", type=int, default=voice_batch(POOL), help="(expected) texts per step")
    ap.add_argument("--lr", type=float, default=None, help="learning rate (default: the adapter kind's)")
    ap.add_argument("--decoding", action="store_true", help="compare decoding choices on the ε = 4 adapter")
    ap.add_argument("--decoding-n", type=int, default=600, help="synthetic texts per decoding choice")
    ap.add_argument("--threshold", action="store_true", help="adapt on the members alone, where the plan says too few")
    ap.add_argument("--render", action="store_true", help="rewrite the markdown from the results file only")
    args = ap.parse_args(argv)
    path = RESULTS / f"{OUT}.json"
    result = json.loads(path.read_text()) if path.exists() else {}
    if args.render:
        return write_results(result)
    b = Bench(args.work)
    mode = "pilot" if args.pilot else "decoding" if args.decoding else "threshold" if args.threshold else "grid"
    if args.pilot and args.kinds != PILOT_KINDS:  # a pilot of some kinds keeps the earlier pilot's line
        mode = f"pilot ({', '.join(args.kinds)})"
    result.setdefault("runs", {})[mode] = run_facts(Path(__file__).name, argv)
    if args.pilot:  # rows of kinds not run this time are kept
        new = pilot(b, args)
        ran = {(r["kind"], r["epsilon"] == "inf") for r in new}
        result["pilot"] = [new[0]] + [r for r in result.get("pilot", [])[1:] if (r["kind"], r["epsilon"] == "inf")
                                      not in ran] + new[1:]
    elif args.decoding:
        result["decoding"] = decoding(b, args)
    elif args.threshold:
        result["threshold"] = threshold(b, args)
    else:
        cells = {c["setting"]: c for c in result.get("cells", [])}
        cells.update({c["setting"]: c for c in grid(b, args)})
        result["cells"] = [cells[k] for k in SHOWN_ORDER if k in cells]
        result["real_samples"] = b.members["text"].sample(N_SHOWN, random_state=b.seed).tolist()
    write_results(result)


if __name__ == "__main__":
    main()
