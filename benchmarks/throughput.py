"""Generator throughput against the raw libraries it wraps, on this machine.

- embedding: synth.encoder.Encoder.embed vs SentenceTransformer.encode, same texts and batch size;
- decoding: synth.decoder.Decoder.decode (bridge + chat prompt + soft tokens) vs model.generate on a
  tokenised prompt of the same length, same batch, exactly the same number of new tokens;
- decoding by batch size: ``Decoder.decode`` of real-text vectors as a release decodes them (sampled at the
  voice default, texts ending where they end), one timed run per batch size, beside the same vectors
  decoded by ``model.generate`` (the decoder's path until a771a2c) at batch 32.
Each of the first two is timed best-of-``--repeats`` after a warm-up; ratios are ours / raw (1.0 = no overhead).

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
from smotext.synth.decoder import Decoder, row_seeds
from smotext.synth.demo_corpus import build
from smotext.synth.encoder import Encoder
from smotext.synth.models import load_lm
from smotext.synth.params import SINGLE_TEMPERATURE, SINGLE_TOP_P
from smotext.synth.smotext import default_bridge_path

from rt_benchmark import run_facts

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
    ap.add_argument("--sweep-texts", type=int, default=256, help="vectors decoded per batch size")
    ap.add_argument("--sweep-batches", type=int, nargs="*", default=[32, 64, 128, 256])
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

    sweep = []
    svecs = enc.embed([t for seed in range(args.sweep_texts // 220 + 1) for t, _ in build(seed + 100)][: args.sweep_texts])
    voice = dict(temperature=SINGLE_TEMPERATURE, top_p=SINGLE_TOP_P)
    seeds = lambda rows: row_seeds(0, rows, 1)

    def generate_path(d: Decoder) -> None:  # the decoder's loop until a771a2c: HF generate on the whole prompt
        for b in range(0, len(svecs), d.batch_size):
            chunk = torch.as_tensor(svecs[b : b + d.batch_size])
            d._texts(d.generate_ids(*d.prompt(chunk), seeds=seeds(range(b, b + len(chunk)))))

    for path, batch in [("generate", 32)] + [("decode", b) for b in args.sweep_batches]:
        d = Decoder(bridge, card, lm, batch_size=batch, max_new_tokens=args.new_tokens, **voice)
        run = (lambda d=d: generate_path(d)) if path == "generate" else (lambda d=d: d.decode(svecs))
        d.decode(svecs[:4])  # warm-up
        t0 = time.perf_counter()
        run()
        seconds = time.perf_counter() - t0
        sweep.append({"path": path, "batch": batch, "texts": len(svecs), "seconds": seconds, "texts_per_s": len(svecs) / seconds})
        print(sweep[-1], flush=True)
    result = {
        "date": date.today().isoformat(),
        "machine": f"{platform.machine()}, {os.cpu_count()} CPUs, torch {torch.__version__}, {torch.get_num_threads()} threads",
        "command": "python benchmarks/throughput.py",
        "code_version": run_facts("throughput.py", argv)["code_version"],
        "embedding": {"texts": len(texts), "ours_texts_per_s": len(texts) / ours_embed, "raw_texts_per_s": len(texts) / raw_embed,
                      "ratio": raw_embed / ours_embed, "target": 0.9},
        "decoding": {"batch": args.decode_batch, "new_tokens": args.new_tokens, "prompt_tokens": prompt_len,
                     "ours_texts_per_s": args.decode_batch / ours_decode, "raw_texts_per_s": args.decode_batch / raw_decode,
                     "ratio": raw_decode / ours_decode, "target": 0.8},
        "decoding_by_batch": {"temperature": SINGLE_TEMPERATURE, "top_p": SINGLE_TOP_P, "max_new_tokens": dec.max_new_tokens,
                              "rows": sweep},
    }
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "throughput.json").write_text(json.dumps(result, indent=2) + "\n")
    e, d = result["embedding"], result["decoding"]
    (RESULTS / "throughput.md").write_text(
        f"# Generator throughput vs raw libraries\n\n{result['date']} · {result['machine']} · `{result['command']}` · "
        f"code {result['code_version']}\n\n"
        "| stage | ours (texts/s) | raw (texts/s) | ratio | target |\n|---|---|---|---|---|\n"
        f"| embedding ({e['texts']} texts, batch 64) | {e['ours_texts_per_s']:.1f} | {e['raw_texts_per_s']:.1f} | {e['ratio']:.3f} | ≥ {e['target']} |\n"
        f"| decoding (batch {d['batch']}, {d['new_tokens']} new tokens, {d['prompt_tokens']}-token prompt) | "
        f"{d['ours_texts_per_s']:.2f} | {d['raw_texts_per_s']:.2f} | {d['ratio']:.3f} | ≥ {d['target']} |\n\n"
        "Raw embedding is `SentenceTransformer.encode`; raw decoding is `model.generate` on token ids of the same "
        "prompt length, with exactly the same number of new tokens. Best of "
        f"{args.repeats} timed runs after a warm-up.\n\n"
        f"## Decoding by batch size\n\n{len(svecs)} vectors of demo-corpus texts, sampled at T {SINGLE_TEMPERATURE} in a "
        f"{SINGLE_TOP_P} nucleus (the default of one text per vector), at most {dec.max_new_tokens} new tokens, each text ending where it "
        "ends; one timed run each. `decode` is `Decoder.decode` (the prompt's fixed start read once per batch, a row "
        "dropped when its text ends); `generate` is `model.generate` on the whole prompt, the decoder's path until "
        "a771a2c.\n\n| path | batch | texts/s | seconds |\n|---|---|---|---|\n"
        + "".join(f"| {r['path']} | {r['batch']} | {r['texts_per_s']:.2f} | {r['seconds']:.1f} |\n" for r in sweep)
    )
    print(json.dumps(result, indent=2))
    return result


if __name__ == "__main__":
    main()
