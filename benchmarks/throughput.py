"""Generator throughput against the raw libraries it wraps, on this machine.

- embedding: synth.encoder.Encoder.embed vs SentenceTransformer.encode, same texts and batch size;
- decoding: synth.decoder.Decoder.decode (bridge + chat prompt + soft tokens) vs model.generate on a
  tokenised prompt of the same length, same batch, exactly the same number of new tokens.
Each is timed best-of-``--repeats`` after a warm-up; ratios are ours / raw (1.0 = no overhead).

    python benchmarks/throughput.py            # writes benchmarks/results/throughput.{md,json}
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from datetime import date
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import torch

from smotext.synth.bridge import load_bridge
from smotext.synth.decoder import Decoder
from smotext.synth.demo_corpus import build
from smotext.synth.encoder import Encoder
from smotext.synth.models import load_lm
from smotext.synth.smotext import default_bridge_path

RESULTS = Path(__file__).parent / "results"


def best_of(fn, repeats: int) -> float:
    fn()  # warm-up
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--texts", type=int, default=880)
    ap.add_argument("--decode-batch", type=int, default=32)
    ap.add_argument("--new-tokens", type=int, default=40)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--bridge", default=None)
    args = ap.parse_args(argv)
    torch.manual_seed(0)

    texts = [t for seed in range(args.texts // 220 + 1) for t, _ in build(seed)][: args.texts]
    enc = Encoder(batch_size=64)
    ours_embed = best_of(lambda: enc.embed(texts), args.repeats)
    raw_embed = best_of(lambda: enc.model.encode(texts, batch_size=64, normalize_embeddings=True), args.repeats)

    lm = load_lm(device="cpu")
    bridge, card = load_bridge(args.bridge or default_bridge_path())
    dec = Decoder(bridge, card, lm, max_new_tokens=args.new_tokens, min_new_tokens=args.new_tokens, batch_size=args.decode_batch)
    vecs = enc.embed(texts[: args.decode_batch])
    ours_decode = best_of(lambda: dec.decode(vecs), args.repeats)
    prompt_len = len(dec.template.prefix_ids) + card.config.n_tokens + len(dec.template.suffix_ids)
    ids = torch.randint(100, 40000, (args.decode_batch, prompt_len))
    gen = dict(max_new_tokens=args.new_tokens, min_new_tokens=args.new_tokens, do_sample=False, repetition_penalty=1.2,
               pad_token_id=lm.tokenizer.pad_token_id, temperature=None, top_p=None, top_k=None)

    def raw():
        with torch.no_grad():
            out = lm.model.generate(input_ids=ids, attention_mask=torch.ones_like(ids), **gen)
        lm.tokenizer.batch_decode(out[:, prompt_len:], skip_special_tokens=True)

    raw_decode = best_of(raw, args.repeats)
    result = {
        "date": date.today().isoformat(),
        "machine": f"{platform.machine()}, {os.cpu_count()} CPUs, torch {torch.__version__}, {torch.get_num_threads()} threads",
        "command": "python benchmarks/throughput.py",
        "embedding": {"texts": len(texts), "ours_texts_per_s": len(texts) / ours_embed, "raw_texts_per_s": len(texts) / raw_embed,
                      "ratio": raw_embed / ours_embed, "target": 0.9},
        "decoding": {"batch": args.decode_batch, "new_tokens": args.new_tokens, "prompt_tokens": prompt_len,
                     "ours_texts_per_s": args.decode_batch / ours_decode, "raw_texts_per_s": args.decode_batch / raw_decode,
                     "ratio": raw_decode / ours_decode, "target": 0.8},
    }
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "throughput.json").write_text(json.dumps(result, indent=2) + "\n")
    e, d = result["embedding"], result["decoding"]
    (RESULTS / "throughput.md").write_text(
        f"# Generator throughput vs raw libraries\n\n{result['date']} · {result['machine']} · `{result['command']}`\n\n"
        "| stage | ours (texts/s) | raw (texts/s) | ratio | target |\n|---|---|---|---|---|\n"
        f"| embedding ({e['texts']} texts, batch 64) | {e['ours_texts_per_s']:.1f} | {e['raw_texts_per_s']:.1f} | {e['ratio']:.3f} | ≥ {e['target']} |\n"
        f"| decoding (batch {d['batch']}, {d['new_tokens']} new tokens, {d['prompt_tokens']}-token prompt) | "
        f"{d['ours_texts_per_s']:.2f} | {d['raw_texts_per_s']:.2f} | {d['ratio']:.3f} | ≥ {d['target']} |\n\n"
        "Raw embedding is `SentenceTransformer.encode`; raw decoding is `model.generate` on token ids of the same "
        "prompt length, with exactly the same number of new tokens. Best of "
        f"{args.repeats} timed runs after a warm-up.\n"
    )
    print(json.dumps(result, indent=2))
    return result


if __name__ == "__main__":
    main()
