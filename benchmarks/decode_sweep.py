"""Which decoding settings make best-of-n most faithful: a sweep on a development slice of Rotten Tomatoes.

The slice is disjoint from the snippets ``bridge_fidelity.py`` scores (same draw, one part further on), so
choosing settings here does not tune on the benchmark's own texts. For each setting: mean cosine between the
target vector and the embedding of the kept candidate. Settings: greedy (n = 1), best of n sampled candidates
at several temperatures, the same with the greedy text as one of the n, beam search returning n beams, and
segment search (n continuations of a few tokens at a time, the closest kept; the Decoder's ``segment_tokens``).

    python benchmarks/decode_sweep.py --n 100   # the default bridge; writes benchmarks/results/decode_sweep.{md,json}
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
sys.path[:0] = [str(Path(__file__).resolve().parent), str(Path(__file__).resolve().parent.parent)]

import numpy as np
import torch

import rotten_tomatoes as rt
from bridge_fidelity import candidate_cosines
from smotext.synth.bridge import load_bridge
from smotext.synth.corpus import file_sha256
from smotext.synth.decoder import Decoder
from smotext.synth.encoder import Encoder
from smotext.synth.models import load_lm
from smotext.synth.smotext import default_bridge_path

RESULTS = Path(__file__).parent / "results"


def dev_slice(n: int, seed: int) -> list[str]:
    """``n`` snippets drawn after bridge_fidelity's eval and classifier parts at its default --n 500 (disjoint from both)."""
    parts = rt.draw(rt.load(), {"eval": {"fresh": 250, "rotten": 250}, "clf": 2000, "dev": n}, seed=seed + 500)
    return parts["dev"]["text"].tolist()


def beams(dec: Decoder, vectors: np.ndarray, n: int) -> list[list[str]]:
    """n beams per vector (beam search of width n), with the decoder's repetition penalty."""
    out = []
    tok = dec.lm.tokenizer
    for b in range(0, len(vectors), dec.batch_size):
        embeds, mask = dec.prompt(torch.as_tensor(vectors[b : b + dec.batch_size]))
        with torch.no_grad(), dec.bridge.attached(dec.lm.model):
            ids = dec.lm.model.generate(inputs_embeds=embeds, attention_mask=mask, max_new_tokens=dec.max_new_tokens,
                                        num_beams=n, num_return_sequences=n, do_sample=False, temperature=None,
                                        top_p=None, top_k=None, repetition_penalty=dec.repetition_penalty,
                                        pad_token_id=tok.pad_token_id, eos_token_id=tok.eos_token_id)
        texts = [t.strip() for t in tok.batch_decode(ids, skip_special_tokens=True)]
        out += [texts[i * n : (i + 1) * n] for i in range(len(texts) // n)]
    return out


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--bridge", default=None)
    ap.add_argument("--n", type=int, default=100, help="development snippets")
    ap.add_argument("--best-of", type=int, default=4)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--segments", type=int, nargs="*", default=[5, 10], help="segment lengths (tokens) to try")
    ap.add_argument("--out", type=Path, default=RESULTS)
    args = ap.parse_args(argv)

    texts = dev_slice(args.n, args.seed)
    enc, lm = Encoder(), load_lm(device="cpu")
    bridge_dir = Path(args.bridge or default_bridge_path())
    bridge, card = load_bridge(bridge_dir)
    dec = Decoder(bridge, card, lm, max_new_tokens=40, batch_size=32, embed=enc.embed)
    emb = enc.embed(texts)
    n = args.best_of
    rows: list[dict] = []
    t0 = time.perf_counter()

    def record(name: str, cos: np.ndarray, seconds: float | None) -> None:
        best = cos.max(1)
        rows.append({"setting": name, "cosine": float(best.mean()), "share_at_0.5": float((best >= 0.5).mean()),
                     "seconds": None if seconds is None else round(seconds, 1)})
        print(rows[-1], flush=True)

    greedy = {}
    for rp in (1.2, 1.0):
        dec.repetition_penalty = rp
        t = time.perf_counter()
        greedy[rp] = candidate_cosines(enc, emb, dec.decode(emb, progress=True))
        record(f"greedy, repetition penalty {rp}", greedy[rp], time.perf_counter() - t)
    for rp, temps in ((1.2, (0.6, 0.8, 1.0)), (1.0, (0.8,))):
        dec.repetition_penalty = rp
        for temp in temps:
            dec.temperature = temp
            t = time.perf_counter()
            sampled = candidate_cosines(enc, emb, dec.decode(emb, num_candidates=n, seed=args.seed, progress=True))
            secs = time.perf_counter() - t
            record(f"best of {n} sampled, T {temp}, top-p {dec.top_p_for(n)}, rep. penalty {rp}", sampled, secs)
            record(f"greedy + best of {n - 1} sampled, T {temp}, rep. penalty {rp}",
                   np.concatenate([greedy[rp], sampled[:, : n - 1]], axis=1), None)  # drawn from the rows above
    dec.repetition_penalty = 1.2
    t = time.perf_counter()
    record(f"best of {n} beams (beam search, width {n}), rep. penalty 1.2",
           candidate_cosines(enc, emb, beams(dec, emb, n)), time.perf_counter() - t)
    dec.temperature = 0.8
    for seg in args.segments:
        dec.segment_tokens = seg
        t = time.perf_counter()
        record(f"segment search: best of {n} continuations every {seg} tokens, T 0.8, rep. penalty 1.2",
               candidate_cosines(enc, emb, dec.decode(emb, num_candidates=n, seed=args.seed, progress=True)),
               time.perf_counter() - t)

    result = {
        "date": date.today().isoformat(), "machine": f"{platform.machine()}, {os.cpu_count()} CPUs",
        "command": "python benchmarks/decode_sweep.py " + shlex.join(argv if argv is not None else sys.argv[1:]),
        "bridge": args.bridge or "default", "bridge_sha256": file_sha256(bridge_dir / "bridge.safetensors"),
        "texts": len(texts), "best_of": n, "seconds": round(time.perf_counter() - t0, 1), "settings": rows,
    }
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "decode_sweep.json").write_text(json.dumps(result, indent=2) + "\n")
    (args.out / "decode_sweep.md").write_text(render(result))


def render(r: dict) -> str:
    lines = ["# Decoding settings for best-of-n\n",
             f"{r['date']} · {r['machine']} · `{r['command']}` · bridge {r['bridge']} (sha256 {r['bridge_sha256'][:8]}…) · "
             f"{r['texts']} Rotten Tomatoes development snippets, disjoint from bridge_fidelity's · {r['seconds']} s\n",
             "Cosine between the target vector and the embedding of the kept candidate (the closest of the n).\n",
             "| setting | mean cosine | share ≥ 0.5 | decode + embed seconds (— : made of the rows above) |", "|---|---|---|---|"]
    lines += [f"| {s['setting']} | {s['cosine']:.3f} | {s['share_at_0.5']:.2f} | {'—' if s['seconds'] is None else s['seconds']} |" for s in r["settings"]]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
