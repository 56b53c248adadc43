"""Membership inference against the classifier trained on synthetic data only.

Threshold attacks on its loss and confidence, and an offline reference-model attack (LiRA/RMIA
style): reference classifiers trained on real population texts that are neither members nor
audited non-members calibrate how hard each record is.
"""

from __future__ import annotations

import numpy as np

from smotext.params import Param, int_at_least, number_in
from smotext.audit.registry import Metric, Plugin, PluginResult, register
from smotext.audit.stats import FPR_POINTS, attack_summary, roc_for_plot


def true_class_probability(clf, embeddings: np.ndarray, labels: list[str]) -> np.ndarray:
    classes = list(clf.classes_)
    proba = clf.predict_proba(embeddings)
    # A class the classifier never saw gets the smallest probability it can give.
    col = np.array([classes.index(y) if y in classes else -1 for y in labels])
    p = np.where(col >= 0, proba[np.arange(len(labels)), np.maximum(col, 0)], 0.0)
    return np.clip(p, 1e-12, 1.0)


UNIT = (0.0, 1.0)


def attack_produces(prefix: str, extra: tuple[str, ...] = ()) -> dict:
    """The metrics every attack reports: AUC and TPR at each FPR point, all in [0, 1], lower is safer."""
    names = ["auc"] + [f"tpr_at_fpr_{f:g}" for f in FPR_POINTS] + list(extra)
    return {f"{prefix}.{n}": ("lower", UNIT) for n in names}


def attack_result(prefix: str, what: str, member_scores, nonmember_scores) -> PluginResult:
    """Common tail of every attack: AUC/TPR metrics with intervals, plus the scores for the ROC plot."""
    summary = attack_summary(member_scores, nonmember_scores)
    res = PluginResult(details={"attack": what, "members": len(member_scores), "nonmembers": len(nonmember_scores)},
                       arrays={"member_scores": np.asarray(member_scores, float), "nonmember_scores": np.asarray(nonmember_scores, float)})
    res.details["roc"] = roc_for_plot(member_scores, nonmember_scores)
    for key, s in summary.items():
        ideal = 0.5 if key == "auc" else None
        desc = f"{what}: {'ROC AUC' if key == 'auc' else 'TPR at FPR ' + key.rsplit('_', 1)[1]} (members vs holdout)"
        res.metrics[f"{prefix}.{key}"] = Metric(s["value"], "lower", desc, ci=tuple(s["ci"]), ideal=ideal)
    return res


class MembershipAttack(Plugin):
    """An attack that scores each member and non-member (higher = more likely a member)."""

    kind = "attack"

    def scores(self, ctx, split) -> np.ndarray:
        raise NotImplementedError

    def run(self, ctx):
        if self.needs_labels:
            ctx.require_labels(self.name)
        return attack_result(self.name, self.description, self.scores(ctx, ctx.members), self.scores(ctx, ctx.nonmembers))


@register
class LossAttack(MembershipAttack):
    name = "mia_classifier_loss"
    description = "threshold on the synthetic-trained classifier's loss on the true label"
    produces = attack_produces(name)
    needs_labels = True

    def scores(self, ctx, split):
        return np.log(true_class_probability(ctx.target_classifier, split.embeddings, split.labels))  # = -loss


@register
class ConfidenceAttack(MembershipAttack):
    name = "mia_classifier_confidence"
    description = "threshold on the synthetic-trained classifier's top confidence (label-free)"
    produces = attack_produces(name)
    needs_labels = True

    def scores(self, ctx, split):
        return ctx.target_classifier.predict_proba(split.embeddings).max(axis=1)


@register
class ReferenceAttack(Plugin):
    name = "mia_classifier_reference"
    kind = "attack"
    description = "offline reference-model attack: target likelihood over the mean of reference models'"
    params = {"n_references": Param(4, "reference classifiers trained on population texts", int_at_least(1)),
              "subsample": Param(0.5, "share of the population each reference sees", number_in(0, 1, low_open=True))}
    produces = attack_produces(name)
    needs_labels = True

    def run(self, ctx):
        ctx.require_labels(self.name)
        rng = ctx.rng(self.name)
        pop = ctx.test  # real texts that are neither members nor audited non-members
        if len(set(pop.labels)) < 2:
            raise ValueError("the reference population (test split) needs at least 2 classes")
        target = ctx.target_classifier
        refs = []
        for r in range(self.settings["n_references"]):
            for _ in range(20):  # a subsample with one class can't train a classifier; draw again
                idx = rng.choice(len(pop), size=max(2, int(self.settings["subsample"] * len(pop))), replace=False)
                if len({pop.labels[i] for i in idx}) > 1:
                    break
            refs.append(ctx.fit_classifier(pop.embeddings[idx], [pop.labels[i] for i in idx], ctx.seed + r))

        def score(s):
            p_t = true_class_probability(target, s.embeddings, s.labels)
            p_r = np.mean([true_class_probability(m, s.embeddings, s.labels) for m in refs], axis=0)
            return np.log(p_t) - np.log(p_r)

        res = attack_result(self.name, self.description, score(ctx.members), score(ctx.nonmembers))
        res.details.update(n_references=len(refs), population="utility test split")
        return res
