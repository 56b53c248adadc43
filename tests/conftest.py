"""Shared fixtures: the real encoder, the real LM and a tiny trained bridge, loaded once per session."""

import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")  # no test may reach a hub
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

import numpy as np
import pytest

TEXTS = [
    "The patient reports a mild headache since Monday.",
    "My order never arrived and I want a refund.",
    "Please reschedule my appointment to Friday morning.",
    "The printer keeps jamming on the second page.",
    "I need a refill of my blood pressure medication.",
    "The invoice shows a charge I do not recognise.",
    "She has had a dry cough for two weeks.",
    "The app crashes whenever I open the settings menu.",
]


@pytest.fixture(scope="session")
def encoder():
    from smotext.synth.encoder import Encoder

    return Encoder()


@pytest.fixture(scope="session")
def lm():
    from smotext.synth.models import load_lm

    return load_lm(device="cpu")


OUTSIDE_CANARIES, OUTSIDE_SECRET = 200, 918_273_645_519  # the secret: long enough that its digits appear nowhere by chance


@pytest.fixture(scope="session")
def corpus(tmp_path_factory):
    """400 texts of the demo corpus, as a CSV file."""
    import pandas as pd

    from smotext.synth.demo_corpus import demo_corpus_path

    path = tmp_path_factory.mktemp("outside") / "corpus.csv"
    pd.read_csv(demo_corpus_path()).sample(400, random_state=3).to_csv(path, index=False)
    return path


@pytest.fixture(scope="session")
def prepared(corpus, lm):
    """``corpus`` prepared with 200 canaries, shared by the canary and outside-generator tests: the LM
    takes over a minute to write them."""
    import pandas as pd

    from smotext.pipeline import prepare

    out = corpus.parent / "prepared"
    run = prepare(corpus, out, canaries=OUTSIDE_CANARIES, canary_secret=OUTSIDE_SECRET,
                  canary_topic="a patient portal message", lm=lm)
    assert run.canaries == OUTSIDE_CANARIES and run.rows == len(pd.read_csv(out / "train.csv"))
    return out


@pytest.fixture(scope="session")
def tiny_bridge_dir(tmp_path_factory, encoder, lm):
    """A bridge trained for 2 steps: real weights and card, decoding quality irrelevant."""
    from smotext.synth.train import BridgeTrainer, TrainConfig

    out = tmp_path_factory.mktemp("tiny_bridge")
    cfg = TrainConfig(steps=2, batch_size=4, warmup_steps=1, n_tokens=2, hidden=32, max_target_tokens=12, checkpoint_every=1)
    trainer = BridgeTrainer(lm, encoder.name, encoder.fingerprint, encoder.embed(TEXTS), TEXTS, cfg, {"sha256": "tiny", "texts": len(TEXTS)})
    trainer.train(out, progress=False)
    return out


@pytest.fixture(scope="session")
def texts():
    return list(TEXTS)


@pytest.fixture(scope="session")
def text_embeddings(encoder):
    return encoder.embed(TEXTS)


def unit_rows(n, d, seed=0):
    x = np.random.default_rng(seed).normal(size=(n, d)).astype(np.float32)
    return x / np.linalg.norm(x, axis=1, keepdims=True)


# ---------------------------------------------------------------- shared helpers

from pathlib import Path  # noqa: E402

LM_TEXTS = Path(__file__).parent / "data" / "lm_texts.jsonl"  # SmolLM2-written texts with a coarse genre label


def default_bridge_manifest() -> dict:
    """A generation manifest's bridge facts as `smotext generate` writes them for the shipped bridge."""
    from smotext.synth.bridge import load_bridge
    from smotext.synth.smotext import default_bridge_path

    card = load_bridge(default_bridge_path())[1]
    return {"smotext": "generate", "models": {"bridge": {"path": str(default_bridge_path()), "sha256": "",
                                                          "training": {k: card.training[k] for k in ("data", "dp")}}}}


def labelled_rows(seed: int = 0) -> list[tuple[str, str]]:
    """LM_TEXTS as (text, label) rows, shuffled by ``seed``."""
    import json
    import random

    rows = [(r["text"], r["label"]) for r in map(json.loads, LM_TEXTS.read_text().splitlines())]
    random.Random(seed).shuffle(rows)
    return rows


def write_corpus(path, rows, cols=("text", "label")):
    """A CSV corpus of ``rows`` at ``path``."""
    import pandas as pd

    pd.DataFrame(rows, columns=list(cols)).to_csv(path, index=False)
    return path


@pytest.fixture(scope="session")
def tiny(tiny_bridge_dir):
    """The tiny trained bridge, loaded: (Bridge, ModelCard)."""
    from smotext.synth.bridge import load_bridge

    return load_bridge(tiny_bridge_dir)
