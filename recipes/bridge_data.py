"""Build the default bridge's training texts: short texts the LM writes itself, across many genres.

Privacy-clean by construction (no real records, no benchmark corpus) and available offline.
Seeded and resumable: rows already in the output file are kept and generation continues.

    python -m recipes.bridge_data --out runs/bridge-data.jsonl --n 2400 --seed 0
    python -m recipes.bridge_data --out runs/bridge-critic.jsonl --n 2000 --seed 0 --mix critic

``--mix critic`` asks for short critics' verdicts on films (praise, pans and mixed feelings):
the short, opinionated register of review snippets, written by the LM, never copied from a review corpus.
"""

from __future__ import annotations

import argparse
import itertools
import json
import random
from pathlib import Path

from tqdm.auto import tqdm

from smotext.errors import SmotextError
from smotext.synth.lm_writer import clean, write_batch
from smotext.synth.models import load_lm

GENRES = [
    "product review", "movie review", "restaurant review", "hotel review", "clinical note about a patient visit",
    "nurse's shift note", "customer support ticket", "IT helpdesk ticket", "short work email", "news sentence",
    "forum post asking for advice", "social media post", "recipe instruction", "travel description",
    "job posting sentence", "sports report sentence", "weather report", "book review", "complaint to a landlord",
    "bank customer message", "science fact", "history fact", "school announcement", "app store review",
]
TOPICS = [
    "a broken laptop", "a late delivery", "back pain", "a birthday party", "a new phone", "a rainy weekend",
    "a hospital discharge", "a billing error", "a football match", "a vegetarian dinner", "a train delay",
    "a password reset", "a job interview", "a noisy neighbour", "a flu vaccine", "a summer holiday",
    "a software update", "a credit card fraud alert", "an allergic reaction", "a museum visit", "a coffee shop",
    "an online course", "a car repair", "a wedding", "a lost package", "a blood test", "a concert",
    "a gym membership", "a power outage", "a science fair", "a medication refill", "a cooking class",
    "a refund request", "a garden", "a printer problem", "a mountain hike", "a dentist appointment",
    "an election", "a new restaurant", "a mobile app crash",
]


CRITIC_GENRES = [
    "film critic's one-sentence verdict", "short movie review quote", "newspaper film review sentence",
    "sarcastic one-line movie review", "film festival review sentence", "movie blog review sentence",
    "witty film critic's remark", "blunt one-line film review",
]
CRITIC_TOPICS = [
    f"{stance} {work}"
    for stance in ("praising", "panning", "with mixed feelings about")
    for work in (
        "a slow-paced family drama", "a romantic comedy", "a horror sequel", "a big-budget action film",
        "a nature documentary", "an animated family film", "a costume period piece", "a thriller with a twist ending",
        "a low-budget indie film", "a remake of a classic", "a biopic of a singer", "a war film", "a musical",
        "a science-fiction epic", "a coming-of-age story", "a crime caper", "a political satire", "a teen comedy",
        "a western", "a martial arts film", "a spy thriller", "a psychological drama", "a disaster movie",
        "a film adapted from a novel", "a debut feature", "a star-studded ensemble comedy",
    )
]
MIXES = {"general": (GENRES, TOPICS, "about "), "critic": (CRITIC_GENRES, CRITIC_TOPICS, "")}


def prompts(seed: int, mix: str = "general"):
    """An endless, seeded stream of (genre, topic, prompt) triples for one mix of genres."""
    if mix not in MIXES:
        raise SmotextError(f"unknown mix {mix!r}; choose one of {sorted(MIXES)}")
    genres, topics, joiner = MIXES[mix]
    rng = random.Random(seed)
    pairs = list(itertools.product(genres, topics))
    for epoch in itertools.count():
        rng.shuffle(pairs)
        for genre, topic in pairs:
            length = rng.choice(["one sentence", "one or two sentences", "two sentences"])
            yield genre, topic, f"Write a {genre} {joiner}{topic}, {length} long. Reply with the text only."


def read_texts(path: str | Path) -> list[str]:
    """The texts of a file this recipe wrote, in order."""
    path = Path(path)
    if not path.exists():
        raise SmotextError(f"{path} not found: build it with python -m recipes.bridge_data --out {path}")
    return [json.loads(line)["text"] for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def normalise(text: str) -> str:
    """A text with case, spacing and end punctuation set aside, to tell copies apart from new texts."""
    return " ".join(text.lower().split()).strip(" .!?\"'")


def heldout_texts(heldout: str | Path, train: str | Path, n: int) -> list[str]:
    """Up to ``n`` distinct texts of ``heldout`` that are not copies of a text in ``train``."""
    seen = {normalise(t) for t in read_texts(train)}
    return [t for t in dict.fromkeys(read_texts(heldout)) if normalise(t) not in seen][:n]


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", required=True)
    ap.add_argument("--n", type=int, default=2400)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--batch-size", type=int, default=32)
    ap.add_argument("--max-new-tokens", type=int, default=40)
    ap.add_argument("--lm", default=None)
    ap.add_argument("--mix", default="general", choices=sorted(MIXES), help="which genres to ask for")
    args = ap.parse_args(argv)

    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    done = out.read_text(encoding="utf-8").splitlines() if out.exists() else []
    seen = {json.loads(line)["text"] for line in done}
    lm = load_lm(args.lm)
    stream = prompts(args.seed, args.mix)
    progress = out.with_suffix(out.suffix + ".progress")
    batch_no = int(progress.read_text()) if progress.exists() and seen else 0
    for _ in range(batch_no * args.batch_size):  # skip prompts an interrupted run already used
        next(stream)
    bar = tqdm(total=args.n, initial=len(seen), desc="writing texts", unit="text")
    with open(out, "a", encoding="utf-8") as f:
        while len(seen) < args.n:
            batch = [next(stream) for _ in range(args.batch_size)]
            texts = write_batch(lm, [p for _, _, p in batch], args.seed * 1_000_003 + batch_no, args.max_new_tokens)
            batch_no += 1
            for (genre, topic, _), text in zip(batch, texts):
                text = clean(text)
                if text and text not in seen and len(seen) < args.n:
                    seen.add(text)
                    f.write(json.dumps({"text": text, "label": genre, "topic": topic}) + "\n")
                    bar.update(1)
            f.flush()
            progress.write_text(str(batch_no))
    bar.close()


if __name__ == "__main__":
    main()
