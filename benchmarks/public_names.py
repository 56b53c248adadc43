"""Which replayed names are public figures': the base LM's familiarity with a name, validated.

    python benchmarks/public_names.py

The pii plug-in excuses a replayed member PERSON value when the base LM (which never saw the corpus)
completes it readily: the mean log-probability per token of the words after the first, following
"I was talking about FIRST" (``audit.pii.name_familiarity``), at least ``PUBLIC_NAME_LOGPROB``. This
scores four lists: public figures' names (scientists, politicians, film people, writers, athletes,
musicians), invented names written here (realistic first and last names), every name the demo
corpus plants as patients' PII (its FIRST × LAST lists: these must never be excused, or the planted
leak would pass) and 200 canary names (``audit.canaries.fake_pii``). For each list: how many the
threshold calls public, and the ROC AUC of public figures against the rest.
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
sys.path.insert(0, str(Path(__file__).resolve().parent))

import numpy as np

from rt_benchmark import run_facts

RESULTS = Path(__file__).parent / "results"
SWEEP = (-1.0, -1.5, -2.0, -2.5, -3.0, -3.5)
OUT = "public_names"
PUBLIC = [
    "Albert Einstein", "Marie Curie", "Isaac Newton", "Charles Darwin", "Stephen Hawking", "Ada Lovelace", "Alan Turing",
    "Nikola Tesla", "Galileo Galilei", "Richard Feynman", "Niels Bohr", "Rosalind Franklin", "Sigmund Freud",
    "Louis Pasteur", "Carl Sagan", "Jane Goodall", "Max Planck", "Dmitri Mendeleev", "Gregor Mendel", "Johannes Kepler",
    "Barack Obama", "Abraham Lincoln", "Winston Churchill", "Nelson Mandela", "Mahatma Gandhi", "Angela Merkel",
    "Vladimir Putin", "Donald Trump", "Hillary Clinton", "George Washington", "Martin Luther King", "Mitt Romney",
    "Joe Biden", "Margaret Thatcher", "John Kennedy", "Franklin Roosevelt", "Thomas Jefferson", "Ronald Reagan",
    "Napoleon Bonaparte", "Julius Caesar",
    "Tom Hanks", "Meryl Streep", "Steven Spielberg", "Martin Scorsese", "Leonardo DiCaprio", "Quentin Tarantino",
    "Alfred Hitchcock", "Stanley Kubrick", "Clint Eastwood", "Brad Pitt", "Julia Roberts", "Woody Allen",
    "Robert De Niro", "Marilyn Monroe", "Charlie Chaplin", "Audrey Hepburn", "Morgan Freeman", "Denzel Washington",
    "Scarlett Johansson", "Harrison Ford",
    "William Shakespeare", "Jane Austen", "Charles Dickens", "Mark Twain", "Ernest Hemingway", "Leo Tolstoy",
    "Virginia Woolf", "George Orwell", "Agatha Christie", "Stephen King",
    "Pablo Picasso", "Vincent van Gogh", "Leonardo da Vinci", "Claude Monet", "Frida Kahlo",
    "Wolfgang Amadeus Mozart", "Ludwig van Beethoven", "Elvis Presley", "Michael Jackson", "Taylor Swift",
    "Bob Dylan", "John Lennon", "Paul McCartney", "Freddie Mercury", "Madonna Ciccone",
    "Serena Williams", "Michael Jordan", "Muhammad Ali", "Lionel Messi", "Cristiano Ronaldo", "Roger Federer",
    "Usain Bolt", "Tiger Woods", "Babe Ruth", "Pele Nascimento",
    "Elon Musk", "Bill Gates", "Steve Jobs", "Oprah Winfrey", "Mark Zuckerberg", "Warren Buffett",
]
INVENTED = [
    "Grace Hadley", "Tomas Larsen", "Priya Venkat", "Marcus Delray", "Elena Voskresen", "Jorge Almendra",
    "Sandra Whitcombe", "Keiko Tanabe", "Derek Fallon", "Nadia Okafor", "Lukas Brenner", "Maya Ellison",
    "Owen Castellano", "Rita Pruitt", "Hannah Kowalczyk", "Victor Abernathy", "Lena Strand", "Samuel Okoye",
    "Ivy Marchetti", "Paul Renner", "Chloe Danvers", "Omar Haddad", "Beth Langridge", "Carlos Etxeberria",
    "Fiona McAlister", "Ravi Sundar", "Julia Brandt", "Noah Pemberton", "Tessa Harlow", "Gideon Marsh",
    "Lorna Beckett", "Anton Vasquez", "Mira Sandoval", "Felix Oduya", "Clara Westbrook", "Dmitri Sokolin",
    "Yusuf Karam", "Agnes Thornbury", "Reuben Calloway", "Sabine Roux", "Ingrid Halvorsen", "Mateo Quiroga",
    "Harriet Oakes", "Desmond Achterberg", "Lucia Ferrante", "Bruno Castell", "Wendy Albright", "Kofi Asante",
    "Nora Lindgren", "Ezra Whitfield",
]


def demo_names() -> list[str]:
    from smotext.synth.demo_corpus import FIRST, LAST

    return [f"{f} {l}" for f in FIRST for l in LAST]


def canary_names(n: int = 200) -> list[str]:
    from smotext.audit.canaries import fake_pii

    rng = np.random.default_rng(0)
    return [fake_pii(rng)["PERSON"] for _ in range(n)]


def main() -> None:
    from sklearn.metrics import roc_auc_score

    from smotext.audit.pii import NAME_CONTEXT, PUBLIC_NAME_LOGPROB, name_familiarity
    from smotext.synth.models import load_lm

    lm = load_lm(None)
    lists = {"public figures": PUBLIC, "invented here": INVENTED, "demo corpus patients": demo_names(),
             "canary names": canary_names()}
    t0 = time.perf_counter()
    scores = {k: np.array(name_familiarity(lm, v)) for k, v in lists.items()}
    seconds = round(time.perf_counter() - t0, 1)
    public = scores["public figures"]
    rows = []
    for k, s in scores.items():
        called = int((s >= PUBLIC_NAME_LOGPROB).sum())
        above = sorted(((round(float(x), 2), n) for x, n in zip(s, lists[k]) if x >= PUBLIC_NAME_LOGPROB), reverse=True)
        below = sorted((round(float(x), 2), n) for x, n in zip(s, lists[k]) if x < PUBLIC_NAME_LOGPROB)
        auc = None if k == "public figures" else float(roc_auc_score([1] * len(public) + [0] * len(s), np.r_[public, s]))
        rows.append({"list": k, "names": len(s), "called_public": called, "median": float(np.median(s)),
                     "auc_public_vs_this": auc, "called_public_examples": above[:8],
                     "missed_examples": below[:8] if k == "public figures" else []})
    sweep = [{"threshold": t, **{k: int((s >= t).sum()) for k, s in scores.items()}} for t in SWEEP]
    facts = run_facts(Path(__file__).name, [])
    result = {**facts, "threshold": PUBLIC_NAME_LOGPROB, "context": NAME_CONTEXT, "lm": lm.name,
              "seconds": seconds, "rows": rows, "sweep": sweep,
              "scores": {k: dict(zip(lists[k], map(float, s))) for k, s in scores.items()}}
    (RESULTS / f"{OUT}.json").write_text(json.dumps(result, indent=1) + "\n")
    lines = ["# Public figures' names: what the base LM completes unprompted", "",
             f"{facts['date']} · {facts['machine']} · `{facts['command']}` · code {facts['code_version']}", "",
             __doc__.split("\n\n", 2)[2].strip().replace("\n", " "), "",
             f"Threshold {PUBLIC_NAME_LOGPROB} (mean log-probability per token after the first word, context "
             f"\"{NAME_CONTEXT}\"), LM {lm.name}; scoring all {sum(map(len, lists.values()))} names took {seconds} s.", "",
             "| list | names | called public | median score | AUC, public figures vs this list |", "|---|---|---|---|---|"]
    for r in rows:
        auc = "–" if r["auc_public_vs_this"] is None else f"{r['auc_public_vs_this']:.3f}"
        lines.append(f"| {r['list']} | {r['names']} | {r['called_public']} ({r['called_public'] / r['names']:.0%}) | "
                     f"{r['median']:.2f} | {auc} |")
    lines += ["", "Called public at other thresholds (names of each list scoring at least the threshold):", "",
              "| threshold | " + " | ".join(lists) + " |", "|---|" + "---|" * len(lists)]
    lines += [f"| {s['threshold']} | " + " | ".join(f"{s[k]} of {len(lists[k])}" for k in lists) + " |" for s in sweep]
    lines += ["", "Highest-scoring names each list has above the threshold, and public figures it misses (a miss "
                  "keeps a replayed famous name counted: a false alarm, never a leak let through):", ""]
    for r in rows:
        shown = ", ".join(f"{n} ({x})" for x, n in r["called_public_examples"]) or "none"
        lines.append(f"- {r['list']}, called public: {shown}")
        if r["missed_examples"]:
            lines.append(f"- {r['list']}, missed: " + ", ".join(f"{n} ({x})" for x, n in r["missed_examples"]))
    (RESULTS / f"{OUT}.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
