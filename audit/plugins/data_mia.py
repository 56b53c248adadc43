"""Membership inference from the synthetic texts alone: is a record unusually close to some synthetic text?

SMOTExT outputs lie between their parents, so closeness to the nearest synthetic texts is the
attack to beat. Scored by embedding cosine, by shared word n-grams, and by a word n-gram LM fitted
on the synthetic corpus (The Canary's Echo's strongest data-only attack).
"""

from __future__ import annotations

import numpy as np

from smotext.audit.plugins.classifier_mia import MembershipAttack, attack_produces
from smotext.params import Param, int_at_least
from smotext.audit.registry import Metric, register
from smotext.audit.ngram_lm import likelihood_ratio
from smotext.audit.stats import attack_summary
from smotext.audit.text_overlap import ngram_containment
from smotext.text import ngram_index


@register
class EmbeddingDistanceAttack(MembershipAttack):
    name = "mia_synthetic_embedding"
    description = "mean cosine of a record to its k nearest synthetic texts"
    params = {"k": Param(1, "score = mean cosine to the k nearest synthetic texts", int_at_least(1))}
    produces = attack_produces(name, extra=("parents.auc",))

    def scores(self, ctx, split):
        k = int(self.settings["k"])
        which = "members" if split is ctx.members else "nonmembers"
        return ctx.nearest_synthetic(which, k=max(k, 5))[0][:, :k].mean(axis=1)

    def run(self, ctx):
        res = super().run(ctx)
        res.details["k"] = int(self.settings["k"])
        if ctx.parent_rows:
            # Members that never served as a parent can't leak through their children: score the parents alone.
            members, nonmembers = res.arrays["member_scores"], res.arrays["nonmember_scores"]
            is_parent = np.isin(ctx.members.rows, sorted(ctx.parent_rows))
            res.details["parents"] = {"members_evaluated": int(is_parent.sum())}
            if is_parent.sum() >= 2:
                sub = attack_summary(members[is_parent], nonmembers)
                res.metrics[f"{self.name}.parents.auc"] = Metric(
                    sub["auc"]["value"], "lower", "nearest-synthetic cosine: ROC AUC, members that were parents vs holdout",
                    ci=tuple(sub["auc"]["ci"]), ideal=0.5)
        return res


@register
class LexicalOverlapAttack(MembershipAttack):
    name = "mia_synthetic_lexical"
    description = "share of a record's word n-grams that occur in some synthetic text"
    params = {"n": Param(4, "word n-gram length", int_at_least(1))}
    produces = attack_produces(name)

    def run(self, ctx):
        n = int(self.settings["n"])
        self._index = ngram_index(ctx.synthetic.texts, n)
        res = super().run(ctx)
        res.details["n"] = n
        return res

    def scores(self, ctx, split):
        n = int(self.settings["n"])
        return np.array([ngram_containment(t, self._index, n) for t in split.texts])


@register
class NgramLMAttack(MembershipAttack):
    name = "mia_synthetic_ngram"
    description = ("a word n-gram LM fitted on the synthetic texts: a record's mean log-likelihood under it, over its "
                   "likelihood under the same LM fitted on population texts")
    params = {"n": Param(3, "word n-gram order", int_at_least(1))}
    produces = attack_produces(name)

    def run(self, ctx):
        n = int(self.settings["n"])
        # population texts: the test split, neither a member nor an evaluated non-member
        self._score = likelihood_ratio(ctx.synthetic.texts, ctx.test.texts, n)
        res = super().run(ctx)
        res.details.update(n=n, population_texts=len(ctx.test))
        return res

    def scores(self, ctx, split):
        return self._score(split.texts)
