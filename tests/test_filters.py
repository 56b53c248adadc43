"""Each filter on real embeddings from the real encoder."""

import numpy as np
import pytest

from smotext.errors import SmotextError
from smotext.synth.filters import FILTERS, Candidates, FilterChain, FilterContext, create_filter

REAL = [
    ("I was charged twice for my visit, please refund the duplicate payment.", "billing"),
    ("My invoice total does not match the estimate you gave me.", "billing"),
    ("Please send an itemised bill for last month to my email.", "billing"),
    ("I have had a fever and a sore throat since yesterday.", "symptom"),
    ("There is a painful rash spreading on my left arm.", "symptom"),
    ("I feel dizzy every time I stand up quickly.", "symptom"),
]


@pytest.fixture(scope="module")
def ctx(encoder):
    texts, labels = zip(*REAL)
    return FilterContext(list(texts), list(labels), encoder.embed(list(texts)))


def cands(encoder, texts, labels, targets=None):
    emb = encoder.embed(texts)
    return Candidates(list(texts), list(labels), emb if targets is None else targets, emb)


def test_registry_lists_valid_names_on_error():
    assert {"degenerate", "fidelity", "label", "privacy", "dedupe"} <= set(FILTERS.names())
    with pytest.raises(SmotextError, match="valid filters: degenerate"):
        create_filter("nope")
    with pytest.raises(SmotextError, match="unknown parameter"):
        create_filter("fidelity", min_cos=0.2)


def test_degenerate_drops_empty_short_looping_and_prompt_echo(encoder, ctx):
    texts = ["", "ok then", "the the the the the the the the the", "The hidden text is: hello there friend",
             "yes no yes no yes no yes no yes no", "I'm sorry for the inconvenience, but I can't provide a refund.",
             "As a chatbot I cannot see your bill.", "I'm sorry to bother you, but my bill shows a fee I do not understand."]
    res = create_filter("degenerate").apply(cands(encoder, texts, ["billing"] * 8), ctx)
    assert res.keep.tolist() == [False, False, False, False, False, False, False, True]


def test_fidelity_keeps_close_and_drops_far(encoder, ctx):
    target = encoder.embed(["I was billed two times for one appointment."])
    texts = ["I got charged twice for a single appointment.", "The cat sat on the warm windowsill all afternoon."]
    res = create_filter("fidelity", min_cosine=0.5).apply(cands(encoder, texts, ["billing"] * 2, np.repeat(target, 2, 0)), ctx)
    assert res.keep.tolist() == [True, False]
    assert res.scores["fidelity"][0] > 0.6 > res.scores["fidelity"][1]


def test_label_drops_outputs_of_the_wrong_class(encoder, ctx):
    texts = ["Why was my card billed twice for the same visit?", "I have a high temperature and chills."]
    res = create_filter("label").apply(cands(encoder, texts, ["billing", "billing"]), ctx)
    assert res.keep.tolist() == [True, False]


def test_label_does_not_lean_to_the_majority_on_imbalanced_data():
    # 900 vs 100 points from two unit Gaussians 2 apart: an unweighted fit moves the boundary
    # ~1.1 into the minority side; a candidate just past the midpoint belongs to the minority.
    rng = np.random.default_rng(0)
    emb = np.vstack([rng.normal((-1, 0), 1, (900, 2)), rng.normal((1, 0), 1, (100, 2))])
    labels = ["major"] * 900 + ["minor"] * 100
    imbalanced = FilterContext([""] * 1000, labels, emb)
    points = np.array([[0.4, 0.0], [-0.4, 0.0]])
    res = create_filter("label").apply(Candidates(["a", "b"], ["minor", "major"], points, points), imbalanced)
    assert res.keep.tolist() == [True, True]


def test_label_passes_everything_for_one_class(encoder):
    texts = [t for t, _ in REAL]
    one = FilterContext(texts, ["_all_"] * len(texts), encoder.embed(texts))
    res = create_filter("label").apply(cands(encoder, ["anything at all here"], ["_all_"]), one)
    assert res.keep.tolist() == [True]


def test_privacy_drops_copies_near_copies_and_shared_ngrams(encoder, ctx):
    texts = [
        REAL[0][0],  # verbatim copy
        "I was charged twice for my visit, please refund the duplicated payment!",  # a word changed
        "Note: I feel dizzy every time I stand up quickly, anything new?",  # 8 shared words, else different
        "Could someone explain the lab fee on my statement?",  # new
    ]
    res = create_filter("privacy", max_cosine=0.9, ngram=8).apply(cands(encoder, texts, ["billing"] * 4), ctx)
    assert res.keep.tolist() == [False, False, False, True]
    assert res.scores["nearest_real"][0] == 0 and res.scores["max_real_cosine"][0] > 0.99
    assert bool(res.scores["shares_real_ngram"][2])


def test_dedupe_against_accepted_and_within_batch(encoder, ctx):
    ctx_local = FilterContext(ctx.real_texts, ctx.real_labels, ctx.real_embeddings)
    accepted = ["Please explain the extra charge on my bill."]
    ctx_local.accept(accepted, encoder.embed(accepted))
    texts = ["please explain the extra charge on my bill", "My rash got worse overnight.", "My rash got worse overnight!",
             "I need a copy of my receipt."]
    res = create_filter("dedupe").apply(cands(encoder, texts, ["x"] * 4), ctx_local)
    assert res.keep.tolist() == [False, True, False, True]


def test_chain_counts_in_and_out_and_names_the_dropper(encoder, ctx):
    chain = FilterChain.build(["degenerate", "privacy"])
    texts = ["", REAL[3][0], "Is there a fee for a missed appointment?"]
    keep, scores, dropped = chain.run(cands(encoder, texts, ["billing"] * 3), ctx)
    assert keep.tolist() == [False, False, True]
    assert dropped == ["degenerate", "privacy", None]
    counts = {d["name"]: (d["in"], d["out"]) for d in chain.describe()}
    assert counts == {"degenerate": (3, 2), "privacy": (2, 1)}
    assert np.isnan(scores["max_real_cosine"][0])  # never reached the privacy filter


def test_chain_refuses_unknown_filter_names():
    with pytest.raises(SmotextError, match="unknown filter"):
        FilterChain.build(["degenerate", "typo"])
