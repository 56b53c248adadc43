"""A word n-gram language model, the attack model of "The Canary's Echo" (Meeus et al., ICML 2025):
fitted on the synthetic corpus alone, it scores how likely a candidate text is; a record the
generator saw tends to be more likely than an unseen one of the same kind.

Interpolated (Jelinek-Mercer) maximum-likelihood estimates of orders n down to 2, over an add-one
unigram, so every text gets a finite score; fixed weights keep it deterministic and fit-free."""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable

from smotext.text import words

BOS, EOS = "<s>", "</s>"


class NgramLM:
    """Word n-gram LM; ``logprob(text)`` is the mean log-probability per token (end of text included),
    so texts of different lengths compare."""

    def __init__(self, n: int = 3, weights: tuple[float, ...] | None = None):
        if n < 1:
            raise ValueError(f"n must be >= 1, got {n}")
        self.n = n
        # weight of each order, highest first; what an unseen context would take goes to lower orders
        self.weights = weights or tuple(0.5 ** (i + 1) for i in range(n - 1)) + (0.5 ** (n - 1),)
        if len(self.weights) != n or abs(sum(self.weights) - 1) > 1e-9:
            raise ValueError(f"need {n} weights summing to 1, got {self.weights}")

    def _tokens(self, text: str) -> list[str]:
        return [BOS] * (self.n - 1) + words(text) + [EOS]

    def fit(self, texts: Iterable[str]) -> "NgramLM":
        self.counts = [Counter() for _ in range(self.n + 1)]  # counts[k][gram of k words]
        for t in texts:
            toks = self._tokens(t)
            for k in range(1, self.n + 1):
                for i in range(len(toks) - k + 1):
                    self.counts[k][tuple(toks[i:i + k])] += 1
        self.unigram_total = sum(c for g, c in self.counts[1].items() if g != (BOS,))
        self.vocab = sum(1 for g in self.counts[1] if g != (BOS,)) + 1  # the words it can predict, + an unknown one
        return self

    def prob(self, word: str, history: tuple[str, ...]) -> float:
        p_uni = (self.counts[1][(word,)] + 1) / (self.unigram_total + self.vocab)
        p, spare = 0.0, 0.0
        for k in range(self.n, 1, -1):  # orders n .. 2, each over its own context
            w = self.weights[self.n - k] + spare
            ctx = history[len(history) - (k - 1):]
            seen = self.counts[k - 1][ctx]
            if seen:
                p += w * self.counts[k][ctx + (word,)] / seen
                spare = 0.0
            else:
                spare = w  # an unseen context passes its weight down
        return p + (self.weights[-1] + spare) * p_uni

    def logprob(self, text: str) -> float:
        toks = self._tokens(text)
        h = self.n - 1
        lps = [math.log(self.prob(toks[i], tuple(toks[i - h:i]) if h else ())) for i in range(h, len(toks))]
        return sum(lps) / len(lps)


def likelihood_ratio(synthetic_texts: list[str], population_texts: list[str], n: int = 3):
    """The Canary's Echo score as a function of texts: mean log-likelihood under an n-gram LM fitted on
    the synthetic texts minus that under one fitted on population texts (which takes out what makes
    a text likely anywhere: short, common words). Higher = more likely a member."""
    import numpy as np

    lm, ref = NgramLM(n).fit(synthetic_texts), NgramLM(n).fit(population_texts)
    return lambda texts: np.array([lm.logprob(t) - ref.logprob(t) for t in texts])
