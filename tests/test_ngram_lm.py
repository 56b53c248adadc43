"""The n-gram LM the Canary's Echo attack fits on synthetic texts: a proper distribution, and what it saw scores higher."""

import math

import pytest

from smotext.audit.ngram_lm import BOS, NgramLM

TEXTS = ["the cat sat on the mat", "the dog sat on the rug", "a bird flew over the house", "the cat ate the fish"]


@pytest.mark.parametrize("n", [1, 2, 3, 4])
@pytest.mark.parametrize("history", [("the", "cat", "sat"), ("over", "the", "house"), ("never", "seen", "this")])
def test_probabilities_sum_to_one_over_the_vocabulary_and_an_unknown_word(n, history):
    lm = NgramLM(n).fit(TEXTS)
    vocab = [g[0] for g in lm.counts[1] if g != (BOS,)] + ["<an unseen word>"]
    h = history[len(history) - (n - 1):] if n > 1 else ()
    assert sum(lm.prob(w, h) for w in vocab) == pytest.approx(1.0, abs=1e-12)


def test_a_seen_text_scores_above_an_unseen_one_of_the_same_words():
    lm = NgramLM(3).fit(TEXTS)
    assert lm.logprob("the cat sat on the mat") > lm.logprob("the mat sat on the cat") > lm.logprob("zebras juggle quietly")
    assert math.isfinite(lm.logprob(""))  # an empty text still has its end-of-text token


def test_bad_settings_are_refused():
    with pytest.raises(ValueError):
        NgramLM(0)
    with pytest.raises(ValueError):
        NgramLM(2, weights=(0.5, 0.4))
