"""Canaries on real components: the LM writes their prefixes, the encoder embeds them, and the one-run
bound separates a generator that copies its inputs from one that never saw the canaries."""

import json
import random
from pathlib import Path

import numpy as np
import pytest

from smotext.audit.canaries import canary_audit, canary_scores, make_canaries

DATA = Path(__file__).parent / "data" / "lm_texts.jsonl"
M = 200


@pytest.fixture(scope="module")
def natural():
    rows = [json.loads(line) for line in DATA.read_text().splitlines()]
    random.Random(1).shuffle(rows)
    return [r["text"] for r in rows[:300]], [r["text"] for r in rows[300:600]]


@pytest.fixture(scope="module")
def canaries(lm):
    return make_canaries(lm, ["review", "service"], M, secret=7, topic="short customer text")


def test_canaries_are_made_for_the_classes_with_secret_coins(canaries, lm):
    assert len(canaries) == M and {c.label for c in canaries} == {"review", "service"}
    assert 70 <= sum(c.added for c in canaries) <= 130  # fair coins (a 1-in-10^4 draw falls outside)
    assert len({c.secret for c in canaries}) == M  # every secret suffix is its own
    assert all(c.text.startswith(c.prefix) and c.secret in c.text for c in canaries)
    with_pii = [c for c in canaries if c.pii]
    assert 60 <= len(with_pii) <= 140 and all(c.pii["EMAIL_ADDRESS"] in c.text for c in with_pii)
    # the coins and suffixes come from the secret: the same secret makes the same canaries
    again = make_canaries(lm, ["review", "service"], 4, secret=7, topic="short customer text")
    other = make_canaries(lm, ["review", "service"], 4, secret=8, topic="short customer text")
    assert [c.secret for c in again] != [c.secret for c in other]


def test_a_generator_that_copies_its_inputs_is_bounded_above_2(canaries, natural, encoder):
    members, population = natural
    added = [c.text for c in canaries if c.added]
    synthetic = members + added  # the worst generator: it releases its members
    scores = canary_scores(canaries, synthetic, population, encoder.embed([c.text for c in canaries]), encoder.embed(synthetic))
    audit = canary_audit(canaries, scores, delta=1e-5)
    assert audit["epsilon_lower_bound"] >= 2 and audit["per_attack"]["embedding"]["correct"] == audit["per_attack"]["embedding"]["guesses"]
    assert audit["secret_replay"] == len(added) and audit["secret_replay_not_added"] == 0


def test_a_generator_that_never_saw_the_canaries_bounds_nothing(canaries, natural, encoder):
    members, population = natural
    scores = canary_scores(canaries, members, population, encoder.embed([c.text for c in canaries]), encoder.embed(members))
    audit = canary_audit(canaries, scores, delta=1e-5)
    # its outputs do not depend on the coins: each attack's guesses are coin flips
    assert audit["epsilon_lower_bound"] < 1 and audit["secret_replay"] == 0
    assert set(audit["per_attack"]) == {"embedding", "lexical", "ngram", "secret_replay"}
