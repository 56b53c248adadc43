"""Compare bridge settings by measurement: train one bridge per variant, score each on held-out texts.

Variants change one setting of a base recipe at a time (K soft tokens, MLP width, learning rate,
noise on the input vectors, the prompt). Each trains with `smotext fit-decoder` (checkpointed, so a
stopped sweep resumes where it was) and is scored by its greedy round-trip cosine on held-out texts of
the training mix. The table goes to benchmarks/results/bridge_sweep.{md,json}. Variants already
trained and scored (under --work) are reused, so adding a --vary to a finished sweep trains only it.

    python -m recipes.bridge_data --out runs/bridge-heldout.jsonl --n 500 --seed 1
    python -m recipes.bridge_sweep --data runs/bridge-data.jsonl --heldout runs/bridge-heldout.jsonl \\
        --steps 150 --vary lr=3e-3 --vary soft_tokens=16 --vary hidden=2048 --vary lora_rank=8 \\
        --prompt "Write out the hidden text:"
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import shlex
import subprocess
import sys
from datetime import date
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import numpy as np

from smotext.errors import SmotextError

RESULTS = Path(__file__).resolve().parent.parent / "benchmarks" / "results"
BASE = {"soft_tokens": 8, "hidden": 1024, "lr": 1e-3, "noise_std": 0.2, "batch_size": 16, "max_target_tokens": 48,
        "lora_rank": 0, "instruction": None}
TYPES = {"soft_tokens": int, "hidden": int, "lr": float, "noise_std": float, "batch_size": int, "max_target_tokens": int,
         "lora_rank": int}


def parse_vary(items: list[str]) -> list[tuple[str, object]]:
    """`key=v1,v2` → [(key, v1), (key, v2)], each a one-setting change of the base recipe."""
    out = []
    for item in items:
        key, _, values = item.partition("=")
        if key not in TYPES or not values:
            raise SmotextError(f"--vary {item!r}: expected KEY=V1,V2 with KEY one of {sorted(TYPES)}")
        try:
            out += [(key, TYPES[key](v)) for v in values.split(",")]
        except ValueError:
            raise SmotextError(f"--vary {item!r}: {key} takes {TYPES[key].__name__} values") from None
    return out


def variants(vary: list[tuple[str, object]], prompts: list[str]) -> dict[str, dict]:
    """{name: settings}: the base recipe, then each one-setting change."""
    out = {"base": dict(BASE)}
    for key, value in vary + [("instruction", p) for p in prompts]:
        out[f"{key}={value}"] = {**BASE, key: value}
    return out


def train(name: str, settings: dict, args) -> Path:
    folder = args.work / re.sub(r"[^\w.=-]+", "_", name)
    if (folder / "bridge.safetensors").exists():
        return folder
    cmd = [sys.executable, "-m", "smotext", "fit-decoder", str(args.data), "--out", str(folder), "--steps", str(args.steps),
           "--seed", str(args.seed), "--public", "--checkpoint-every", str(args.checkpoint_every),
           "--soft-tokens", str(settings["soft_tokens"]), "--hidden", str(settings["hidden"]), "--lr", str(settings["lr"]),
           "--noise-std", str(settings["noise_std"]), "--batch-size", str(settings["batch_size"]),
           "--max-target-tokens", str(settings["max_target_tokens"]), "--lora-rank", str(settings["lora_rank"]),
           "--description", "bridge sweep variant " + name]
    if settings["instruction"]:
        cmd += ["--instruction", settings["instruction"]]
    print(f"== training {name}", file=sys.stderr, flush=True)
    if subprocess.run(cmd).returncode != 0:
        raise SmotextError(f"training {name} failed (rerun to resume from its checkpoint)")
    return folder


def evaluate(folder: Path, texts: list[str], emb: np.ndarray, enc, lm) -> dict:
    from smotext.synth.bridge import load_bridge
    from smotext.synth.decoder import Decoder

    cached = folder / "sweep_eval.json"
    if cached.exists() and json.loads(cached.read_text()).get("texts") == len(texts):
        return json.loads(cached.read_text())
    bridge, card = load_bridge(folder)
    out = [c[0] for c in Decoder(bridge, card, lm, max_new_tokens=40).decode(emb, progress=True)]
    cos = (enc.embed(out) * emb).sum(1)
    res = {"texts": len(texts), "cosine": float(cos.mean()), "share_at_0.3": float((cos >= 0.3).mean()),
           "final_loss": card.training.get("final_loss"), "steps": card.training.get("steps"),
           "train_seconds": card.training.get("train_seconds"), "example": {"real": texts[0], "decoded": out[0]}}
    cached.write_text(json.dumps(res, indent=1))
    return res


def main(argv=None) -> None:
    from recipes.bridge_data import heldout_texts
    from smotext.synth.encoder import Encoder
    from smotext.synth.models import load_lm

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, required=True, help="training texts (jsonl from recipes.bridge_data)")
    ap.add_argument("--heldout", type=Path, required=True, help="held-out texts of the same mix")
    ap.add_argument("--steps", type=int, default=300)
    ap.add_argument("--vary", action="append", default=[], help="KEY=V1,V2: one-setting changes of the base recipe")
    ap.add_argument("--prompt", action="append", default=[], help="an alternative instruction before the soft tokens")
    ap.add_argument("--eval-n", type=int, default=200)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--checkpoint-every", type=int, default=25)
    ap.add_argument("--work", type=Path, default=Path("runs/bridge-sweep"))
    ap.add_argument("--out", type=Path, default=RESULTS)
    ap.add_argument("--notes", type=Path, default=None, help="markdown to append under 'Reading' (kept in the JSON)")
    args = ap.parse_args(argv)
    args.notes_text = args.notes.read_text(encoding="utf-8").strip() if args.notes else ""
    runs = variants(parse_vary(args.vary), args.prompt)  # bad flags fail before anything trains
    heldout = heldout_texts(args.heldout, args.data, args.eval_n)
    if not heldout:
        raise SmotextError(f"{args.heldout}: no held-out text that is not also in {args.data}")
    enc, lm = Encoder(), load_lm()
    emb = enc.embed(heldout)
    rows = {}
    for name, settings in runs.items():
        rows[name] = {"settings": settings, **evaluate(train(name, settings, args), heldout, emb, enc, lm)}
        write(rows, args, len(heldout))
    print(f"wrote {args.out / 'bridge_sweep.md'}")


def write(rows: dict, args, n_eval: int) -> None:
    result = {"date": date.today().isoformat(), "machine": f"{platform.machine()}, {os.cpu_count()} CPUs",
              "command": "python -m recipes.bridge_sweep " + shlex.join(sys.argv[1:]), "steps": args.steps,
              "eval_texts": n_eval, "base": BASE, "runs": rows, "notes": args.notes_text}
    lines = ["# Bridge settings compared\n",
             f"{result['date']} · {result['machine']} · `{result['command']}` · {args.steps} steps each · greedy round-trip "
             f"cosine on {n_eval} held-out texts of the training mix\n",
             "Base recipe: " + ", ".join(f"{k} = {v}" for k, v in BASE.items() if v is not None) + ", the default prompt.\n",
             "| variant | round-trip cosine | share ≥ 0.3 | final loss | s per step |", "|---|---|---|---|---|"]
    for name, r in sorted(rows.items(), key=lambda kv: -kv[1]["cosine"]):
        per_step = r["train_seconds"] / r["steps"] if r.get("train_seconds") and r.get("steps") else None
        loss = f"{r['final_loss']:.3f}" if r.get("final_loss") is not None else "–"
        lines.append(f"| {name} | {r['cosine']:.3f} | {r['share_at_0.3']:.2f} | {loss} | "
                     f"{f'{per_step:.2f}' if per_step else '–'} |")
    if args.notes_text:
        lines += ["\n## Reading\n", args.notes_text]
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "bridge_sweep.md").write_text("\n".join(lines) + "\n")
    (args.out / "bridge_sweep.json").write_text(json.dumps(result, indent=1) + "\n")


if __name__ == "__main__":
    try:
        main()
    except SmotextError as e:
        sys.exit(f"bridge_sweep: {e}")
