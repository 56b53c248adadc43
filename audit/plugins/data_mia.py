"""Membership inference from the synthetic texts alone: is a record unusually close to some synthetic text?

SMOTExT outputs lie between their parents, so closeness to the nearest synthetic texts is the
attack to beat. Scored by embedding cosine and by shared word n-grams.
"""

from __future__ import annotations

import numpy as np

from audit.plugins.classifier_mia import attack_result
from audit.registry import Plugin, register
from audit.text_overlap import ngram_containment, ngram_index


@register
class EmbeddingDistanceAttack(Plugin):
    name = "mia_synthetic_embedding"
    kind = "attack"
    description = "mean cosine of a record to its k nearest synthetic texts"
    params = {"k": 1}

    def run(self, ctx):
        k = int(self.settings["k"])
        score = lambda which: ctx.nearest_synthetic(which, k=max(k, 5))[0][:, :k].mean(axis=1)
        res = attack_result(self.name, self.description, score("members"), score("nonmembers"), ctx, self.name)
        res.details["k"] = k
        return res


@register
class LexicalOverlapAttack(Plugin):
    name = "mia_synthetic_lexical"
    kind = "attack"
    description = "share of a record's word n-grams that occur in some synthetic text"
    params = {"n": 4}

    def run(self, ctx):
        n = int(self.settings["n"])
        index = ngram_index(ctx.synthetic.texts, n)
        score = lambda split: np.array([ngram_containment(t, index, n) for t in split.texts])
        res = attack_result(self.name, self.description, score(ctx.members), score(ctx.nonmembers), ctx, self.name)
        res.details["n"] = n
        return res
