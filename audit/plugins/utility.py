"""Utility: train on real members / synthetic / both, test on real held-out texts (the seed paper's Table 1)."""

from __future__ import annotations

import numpy as np
from sklearn.metrics import accuracy_score, f1_score

from smotext.audit.registry import Metric, Plugin, PluginResult, register


def scores(clf, embeddings: np.ndarray, labels: list[str], classes: list[str]) -> dict:
    pred = clf.predict(embeddings)
    per_class = f1_score(labels, pred, labels=classes, average=None, zero_division=0)
    return {
        "accuracy": float(accuracy_score(labels, pred)),
        "macro_f1": float(f1_score(labels, pred, labels=classes, average="macro", zero_division=0)),
        "weighted_f1": float(f1_score(labels, pred, labels=classes, average="weighted", zero_division=0)),
        "per_class_f1": {c: float(v) for c, v in zip(classes, per_class)},
    }


@register
class Utility(Plugin):
    name = "utility"
    kind = "metric"
    description = "train-on-synthetic / test-on-real: accuracy and F1 of one classifier trained three ways"
    needs_labels = True
    produces = {
        **{f"utility.{k}.{m}": ("higher", (0.0, 1.0)) for k in ("real", "synthetic", "real_plus_synthetic")
           for m in ("accuracy", "macro_f1", "weighted_f1")},
        "utility.gap.accuracy": ("lower", (-1.0, 1.0)),
    }

    def run(self, ctx) -> PluginResult:
        ctx.require_labels(self.name)
        classes = ctx.classes
        train = {
            "real": (ctx.members.embeddings, ctx.members.labels),
            "synthetic": (ctx.synthetic.embeddings, ctx.synthetic.labels),
            "real+synthetic": (np.vstack([ctx.members.embeddings, ctx.synthetic.embeddings]),
                               ctx.members.labels + ctx.synthetic.labels),
        }
        table = {}
        for name, (x, y) in train.items():
            clf = ctx.target_classifier if name == "synthetic" else ctx.fit_classifier(x, y, ctx.seed)
            table[name] = {**scores(clf, ctx.test.embeddings, ctx.test.labels, classes), "train_size": len(y)}
        res = PluginResult(details={"table": table, "test_size": len(ctx.test), "classes": classes,
                                    "classifier": "logistic regression on frozen embeddings (C=10)"})
        for name, row in table.items():
            key = name.replace("+", "_plus_")
            for m in ("accuracy", "macro_f1", "weighted_f1"):
                res.metrics[f"utility.{key}.{m}"] = Metric(row[m], "higher", f"{m.replace('_', '-')} on real test texts, trained on {name}")
        res.metrics["utility.gap.accuracy"] = Metric(
            table["real"]["accuracy"] - table["synthetic"]["accuracy"], "lower",
            "accuracy lost by training on synthetic instead of real texts", ideal=0.0)
        return res
