"""How faithfully a bridge decodes: cosine between a target vector and the embedding of its decoded text.

Two sets of held-out texts: (a) in domain, public texts of the bridge's training mix it never saw
(built by the same recipe with another seed, minus any text in the training file); (b) Rotten Tomatoes
snippets, out of domain (the bridge is never trained on them). For each: round-trip cosine at n = 1
(greedy) and best-of-n (segment search by default, ``--segment-tokens 0`` for n whole samples; the
candidate closest to the target kept), the exact-reconstruction rate,
and the baseline of a random other text. Interpolation: same-class Rotten Tomatoes neighbours mixed at
λ = 0.5, the decoded text's cosine to each parent, and how often a fresh/rotten classifier trained on real
embeddings gives it the parents' label.

Rerunning overwrites the results but keeps one line per earlier bridge (``history``), so the file records
the bridges compared; ``--notes`` adds a hand-written reading.

    python -m recipes.bridge_data --out runs/bridge-heldout.jsonl --n 500 --seed 1
    python benchmarks/bridge_fidelity.py --heldout runs/bridge-heldout.jsonl --train-data runs/bridge-data.jsonl --n 500
        # writes benchmarks/results/bridge_fidelity.{md,json}
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shlex
import sys
import time
from datetime import date
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
sys.path[:0] = [str(Path(__file__).resolve().parent), str(Path(__file__).resolve().parent.parent)]  # rotten_tomatoes, recipes

import numpy as np
from sklearn.linear_model import LogisticRegression

import rotten_tomatoes as rt
from recipes.bridge_data import heldout_texts, normalise
from smotext.synth.bridge import load_bridge
from smotext.synth.corpus import file_sha256
from smotext.synth.decoder import SEGMENT_TOKENS, Decoder
from smotext.synth.encoder import Encoder
from smotext.errors import SmotextError
from smotext.synth.models import load_lm
from smotext.synth.sampling import plan_mixes
from smotext.synth.smotext import default_bridge_path

RESULTS = Path(__file__).parent / "results"
N_EXAMPLES = 10


def candidate_cosines(enc: Encoder, targets: np.ndarray, candidates: list[list[str]]) -> np.ndarray:
    """(texts, candidates) cosine of each candidate's embedding to its target vector."""
    flat = [c for cs in candidates for c in cs]
    return (enc.embed(flat).reshape(len(targets), len(candidates[0]), -1) * targets[:, None, :]).sum(-1)


def best_of(enc: Encoder, targets: np.ndarray, candidates: list[list[str]]) -> tuple[list[str], np.ndarray]:
    """The candidate closest to each target, and its cosine."""
    cos = candidate_cosines(enc, targets, candidates)
    pick = cos.argmax(1)
    return [cs[i] for cs, i in zip(candidates, pick)], cos[np.arange(len(targets)), pick]


def round_trip(enc, dec, texts: list[str], n_best: int, seed: int) -> dict:
    emb = enc.embed(texts)
    greedy = [c[0] for c in dec.decode(emb, progress=True)]
    cos_greedy = (enc.embed(greedy) * emb).sum(1)
    best, cos_best = best_of(enc, emb, dec.decode(emb, num_candidates=n_best, seed=seed, progress=True))
    rng = np.random.default_rng(seed)
    exact = lambda outs: float(np.mean([normalise(a) == normalise(b) for a, b in zip(outs, texts)]))
    return {
        "texts": len(texts),
        "cosine_n1": float(cos_greedy.mean()), f"cosine_n{n_best}": float(cos_best.mean()),
        "share_at_0.3_n1": float((cos_greedy >= 0.3).mean()), f"share_at_0.3_n{n_best}": float((cos_best >= 0.3).mean()),
        "exact_rate_n1": exact(greedy), f"exact_rate_n{n_best}": exact(best),
        "random_pair_cosine": float((emb * emb[rng.permutation(len(emb))]).sum(1).mean()),
        "examples": [{"real": t, "n1": g, f"n{n_best}": b} for t, g, b in list(zip(texts, greedy, best))[:N_EXAMPLES]],
    }


def interpolation(enc, dec, texts, labels, clf, n_pairs: int, seed: int) -> dict:
    emb = enc.embed(texts)
    rng = np.random.default_rng(seed)
    classes = sorted(set(labels))
    plan = plan_mixes(emb, labels, {c: n_pairs // len(classes) for c in classes}, rng, lambda_range=(0.5, 0.5))
    z = plan.mix(emb)
    out = [c[0] for c in dec.decode(z, progress=True)]
    out_emb = enc.embed(out)
    to_parents = np.einsum("nd,npd->np", out_emb, emb[plan.parents])
    kept = clf.predict(out_emb) == np.asarray(plan.labels)
    return {
        "pairs": len(plan), "cosine_to_target": float((out_emb * z).sum(1).mean()),
        "cosine_to_parent_a": float(to_parents[:, 0].mean()), "cosine_to_parent_b": float(to_parents[:, 1].mean()),
        "cosine_to_nearer_parent": float(to_parents.max(1).mean()), "label_kept": float(kept.mean()),
        "label_kept_by_target_vector": float((clf.predict(z) == np.asarray(plan.labels)).mean()),
        "examples": [{"parents": [texts[p] for p in plan.parents[i]], "label": plan.labels[i], "decoded": out[i]}
                     for i in range(min(N_EXAMPLES, len(plan)))],
    }


def headline(r: dict) -> dict:
    """One run's main numbers, kept in ``history`` when a later run overwrites the results."""
    n = r["best_of"]
    keep = {k: r.get(k) for k in ("date", "bridge", "bridge_sha256", "bridge_steps", "bridge_training_texts", "best_of",
                                  "segment_tokens")}
    for key in ("in_domain", "rotten_tomatoes"):
        keep[key] = {"cosine_n1": r[key]["cosine_n1"], f"cosine_n{n}": r[key][f"cosine_n{n}"]}
    keep["label_kept"] = r["interpolation"]["label_kept"]
    return keep


def history(old: dict | None, new: dict) -> list[dict]:
    """Earlier runs to keep beside ``new``: all of ``old``'s history, plus ``old`` itself unless it measured
    the same bridge with the same decoding (a rerun replaces its own line)."""
    if not old:
        return []
    same = (bool(old.get("bridge_sha256")) and old["bridge_sha256"] == new["bridge_sha256"]
            and old.get("segment_tokens") == new.get("segment_tokens"))
    return list(old.get("history", [])) + ([] if same else [headline(old)])


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--heldout", type=Path, default=Path("runs/bridge-heldout.jsonl"))
    ap.add_argument("--train-data", type=Path, default=Path("runs/bridge-data.jsonl"),
                    help="the bridge's training texts: any held-out text also in it is dropped")
    ap.add_argument("--n", type=int, default=500, help="texts per set (and λ = 0.5 pairs)")
    ap.add_argument("--best-of", type=int, default=4)
    ap.add_argument("--segment-tokens", type=int, default=SEGMENT_TOKENS,
                    help="best-of-n by segment search, this many tokens a step (0: n whole samples)")
    ap.add_argument("--bridge", default=None)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", type=Path, default=RESULTS, help="folder for bridge_fidelity.{md,json}")
    ap.add_argument("--notes", type=Path, default=None, help="markdown to add under 'Reading' (kept in the JSON)")
    args = ap.parse_args(argv)
    notes = args.notes.read_text(encoding="utf-8").strip() if args.notes else ""

    if args.n < 12:
        raise SmotextError("--n must be >= 12: the λ = 0.5 pairs need 6 texts per class (5 neighbours each)")
    heldout = heldout_texts(args.heldout, args.train_data, args.n)
    df = rt.load()
    parts = rt.draw(df, {"eval": {"fresh": args.n // 2, "rotten": args.n - args.n // 2}, "clf": 2000}, seed=args.seed + 500)
    enc, lm = Encoder(), load_lm(device="cpu")
    bridge_dir = Path(args.bridge or default_bridge_path())
    bridge, card = load_bridge(bridge_dir)
    dec = Decoder(bridge, card, lm, max_new_tokens=40, batch_size=32, embed=enc.embed,
                  segment_tokens=args.segment_tokens or None)
    t0 = time.perf_counter()
    clf = LogisticRegression(max_iter=2000, C=10.0, random_state=args.seed).fit(
        enc.embed(parts["clf"]["text"].tolist()), parts["clf"]["label"])
    result = {
        "date": date.today().isoformat(), "machine": f"{platform.machine()}, {os.cpu_count()} CPUs",
        "command": "python benchmarks/bridge_fidelity.py " + shlex.join(argv if argv is not None else sys.argv[1:]),
        "bridge": args.bridge or "default", "bridge_sha256": file_sha256(bridge_dir / "bridge.safetensors"),
        "bridge_steps": card.training.get("steps"), "bridge_training_texts": card.training.get("data", {}).get("texts"),
        "best_of": args.best_of, "segment_tokens": args.segment_tokens or None,
        "in_domain": round_trip(enc, dec, heldout, args.best_of, args.seed),
        "rotten_tomatoes": round_trip(enc, dec, parts["eval"]["text"].tolist(), args.best_of, args.seed),
        "interpolation": interpolation(enc, dec, parts["eval"]["text"].tolist(), parts["eval"]["label"].tolist(), clf,
                                       args.n, args.seed),
    }
    result["seconds"] = round(time.perf_counter() - t0, 1)
    result["notes"] = notes
    args.out.mkdir(parents=True, exist_ok=True)
    out_json = args.out / "bridge_fidelity.json"
    result["history"] = history(json.loads(out_json.read_text(encoding="utf-8")) if out_json.exists() else None, result)
    out_json.write_text(json.dumps(result, indent=2) + "\n")
    (args.out / "bridge_fidelity.md").write_text(render(result))
    print(json.dumps({k: {m: v for m, v in r.items() if m != "examples"} if isinstance(r, dict) else r
                      for k, r in result.items()}, indent=1))


def decoding(r: dict) -> str:
    """How a run drew its n candidates (runs before segment search sampled whole texts)."""
    seg = r.get("segment_tokens")
    return f"segment search, {seg} tokens a step" if seg else "sampling whole texts"


def render(r: dict) -> str:
    n = r["best_of"]
    sets = (("in_domain", "held-out texts of the training mix (in domain)"), ("rotten_tomatoes", "Rotten Tomatoes (out of domain)"))
    lines = ["# Bridge fidelity\n", f"{r['date']} · {r['machine']} · `{r['command']}` · bridge: {r['bridge']}, "
             f"{r['bridge_steps']} training steps on {r.get('bridge_training_texts')} texts · sha256 "
             f"{(r.get('bridge_sha256') or '?')[:8]}… · {r['seconds']} s\n",
             f"Cosine between a target vector and the all-MiniLM-L6-v2 embedding of its decoded text; n = 1 is greedy, "
             f"n = {n} draws {n} candidates by {decoding(r)} and keeps the closest. Goals: ≥ 0.60 in domain and ≥ 0.50 on Rotten Tomatoes "
             "at n = 4.\n",
             f"| set | texts | cosine, n = 1 | cosine, n = {n} | share ≥ 0.3, n = 1 | share ≥ 0.3, n = {n} | exact copies, n = 1 | "
             f"exact copies, n = {n} | random other text |", "|---|---|---|---|---|---|---|---|---|"]
    for key, name in sets:
        s = r[key]
        lines.append(f"| {name} | {s['texts']} | {s['cosine_n1']:.3f} | {s[f'cosine_n{n}']:.3f} | {s['share_at_0.3_n1']:.2f} | "
                     f"{s[f'share_at_0.3_n{n}']:.2f} | {s['exact_rate_n1']:.3f} | {s[f'exact_rate_n{n}']:.3f} | "
                     f"{s['random_pair_cosine']:.3f} |")
    i = r["interpolation"]
    lines += ["", f"## Interpolation (Rotten Tomatoes, same-class neighbours, λ = 0.5, greedy; {i['pairs']} pairs)\n",
              "| measure | value |", "|---|---|",
              f"| cosine to the mixed target | {i['cosine_to_target']:.3f} |",
              f"| cosine to parent a / parent b | {i['cosine_to_parent_a']:.3f} / {i['cosine_to_parent_b']:.3f} |",
              f"| cosine to the nearer parent | {i['cosine_to_nearer_parent']:.3f} |",
              f"| parents' label kept (classifier on real embeddings) | {i['label_kept']:.3f} |",
              f"| … the same classifier on the target vector itself | {i['label_kept_by_target_vector']:.3f} |", ""]
    if r.get("history"):
        lines += ["## Runs compared (every bridge and decoding this benchmark measured, oldest first; the last row is this run)\n",
                  f"| date | bridge | sha256 | steps | training texts | best-of-n by | in domain n = 1 / {n} | "
                  f"Rotten Tomatoes n = 1 / {n} | label kept |",
                  "|---|---|---|---|---|---|---|---|---|"]
        for h in r["history"] + [headline(r)]:
            m = h["best_of"]
            lines.append(f"| {h['date']} | {h['bridge']} | {(h.get('bridge_sha256') or '?')[:8]} | {h['bridge_steps']} | "
                         f"{h.get('bridge_training_texts') or '?'} | {decoding(h)} | {h['in_domain']['cosine_n1']:.3f} / "
                         f"{h['in_domain'][f'cosine_n{m}']:.3f} | {h['rotten_tomatoes']['cosine_n1']:.3f} / "
                         f"{h['rotten_tomatoes'][f'cosine_n{m}']:.3f} | {h['label_kept']:.3f} |")
        lines.append("")
    if r.get("notes"):
        lines += ["## Reading\n", r["notes"], ""]
    for key, name in sets:
        lines += [f"## Examples: {name}\n"]
        lines += [f"- real: {e['real']}\n  - n = 1: {e['n1']}\n  - n = {n}: {e[f'n{n}']}" for e in r[key]["examples"]]
        lines.append("")
    lines += ["## Examples: interpolation\n"]
    lines += [f"- {e['label']}: {' | '.join(e['parents'])}\n  - decoded: {e['decoded']}" for e in i["examples"]]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
