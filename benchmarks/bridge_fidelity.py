"""How faithfully a bridge decodes: cosine between a target vector and the embedding of its decoded text.

On the demo corpus (out of the bridge's training domain): (a) round trip, each text's own vector;
(b) SMOTExT mixes, λ = 0.5 between same-class neighbours; (c) the baseline of a random other text.

    python benchmarks/bridge_fidelity.py --n 64      # writes benchmarks/results/bridge_fidelity.{md,json}
"""

import argparse
import json
import os
import platform
import time
from datetime import date
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import numpy as np

from synth.bridge import load_bridge
from synth.decoder import Decoder
from synth.demo_corpus import build
from synth.encoder import Encoder
from synth.models import load_lm
from synth.sampling import plan_mixes
from synth.smotext import default_bridge_path

RESULTS = Path(__file__).parent / "results"


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=64)
    ap.add_argument("--bridge", default=None)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)
    rows = build(seed=101)
    rng = np.random.default_rng(args.seed)
    pick = rng.choice(len(rows), size=args.n, replace=False)
    texts, labels = [rows[i][0] for i in pick], [rows[i][1] for i in pick]
    enc, lm = Encoder(), load_lm(device="cpu")
    bridge, card = load_bridge(args.bridge or default_bridge_path())
    dec = Decoder(bridge, card, lm, max_new_tokens=40, batch_size=32)
    t0 = time.perf_counter()
    emb = enc.embed(texts)
    own = [c[0] for c in dec.decode(emb)]
    cos_own = (enc.embed(own) * emb).sum(1)
    all_emb = enc.embed([t for t, _ in rows])
    plan = plan_mixes(all_emb, [y for _, y in rows], {c: args.n // 4 for c in sorted(set(labels))}, rng, lambda_range=(0.5, 0.5))
    z = plan.mix(all_emb)
    mixed = [c[0] for c in dec.decode(z)]
    cos_mix = (enc.embed(mixed) * z).sum(1)
    cos_random = (emb * emb[rng.permutation(len(emb))]).sum(1)
    result = {
        "date": date.today().isoformat(), "machine": f"{platform.machine()}, {os.cpu_count()} CPUs",
        "command": f"python benchmarks/bridge_fidelity.py --n {args.n}", "bridge_steps": card.training.get("steps"),
        "round_trip_cosine": float(cos_own.mean()), "mix_cosine": float(cos_mix.mean()),
        "random_pair_cosine": float(cos_random.mean()),
        "exact_reconstructions": int(sum(a.strip().lower() == b.strip().lower() for a, b in zip(own, texts))),
        "share_mix_above_0.3": float((cos_mix >= 0.3).mean()), "seconds": round(time.perf_counter() - t0, 1),
        "examples": [{"real": t, "decoded": o} for t, o in list(zip(texts, own))[:5]]
                    + [{"mix_of": [rows[p][0] for p in plan.parents[i]], "decoded": mixed[i]} for i in range(5)],
    }
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "bridge_fidelity.json").write_text(json.dumps(result, indent=2) + "\n")
    ex = "\n".join(f"- real: {e['real']}\n  decoded: {e['decoded']}" if "real" in e else
                   f"- mix of: {' | '.join(e['mix_of'])}\n  decoded: {e['decoded']}" for e in result["examples"])
    (RESULTS / "bridge_fidelity.md").write_text(
        f"# Default bridge fidelity (demo corpus, out of domain)\n\n{result['date']} · {result['machine']} · `{result['command']}` · "
        f"bridge trained {result['bridge_steps']} steps\n\n| measure | mean cosine to target |\n|---|---|\n"
        f"| round trip (a text's own vector) | {result['round_trip_cosine']:.3f} |\n"
        f"| SMOTExT mix, λ = 0.5 | {result['mix_cosine']:.3f} |\n| baseline: a random other text | {result['random_pair_cosine']:.3f} |\n\n"
        f"Exact reconstructions: {result['exact_reconstructions']} of {args.n}. Share of mixes at cosine ≥ 0.3 (the "
        f"default fidelity filter): {result['share_mix_above_0.3']:.2f}.\n\n## Examples\n\n{ex}\n")
    print(json.dumps({k: v for k, v in result.items() if k != "examples"}, indent=1))


if __name__ == "__main__":
    main()
