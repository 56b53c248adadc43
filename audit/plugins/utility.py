"""Utility: train on real members / synthetic / both, test on real held-out texts (the seed paper's Table 1).

The main classifier works on the audit encoder's embeddings: the space the generator aims at (and its
label filter decides in), which flatters synthetic texts. A TF-IDF classifier, trained on as many
real as synthetic texts, is a judge outside that space."""

from __future__ import annotations

import numpy as np
from sklearn.metrics import accuracy_score, f1_score

from smotext.audit.registry import Metric, Plugin, PluginResult, register


def scores(clf, embeddings: np.ndarray, labels: list[str], classes: list[str]) -> dict:
    return _scores(clf.predict(embeddings), labels, classes)


def _scores(pred, labels: list[str], classes: list[str]) -> dict:
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
        **{f"utility.tfidf.{k}.{m}": ("higher", (0.0, 1.0)) for k in ("real", "synthetic") for m in ("accuracy", "macro_f1")},
        "utility.tfidf.gap.accuracy": ("lower", (-1.0, 1.0)),
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
        tfidf = self.tfidf(ctx, classes)
        res.details["tfidf"] = tfidf
        for name in ("real", "synthetic"):
            for m in ("accuracy", "macro_f1"):
                res.metrics[f"utility.tfidf.{name}.{m}"] = Metric(
                    tfidf[name][m], "higher", f"{m.replace('_', '-')} on real test texts of a TF-IDF classifier trained on "
                                              f"{tfidf['train_size']} {name} texts")
        res.metrics["utility.tfidf.gap.accuracy"] = Metric(
            tfidf["real"]["accuracy"] - tfidf["synthetic"]["accuracy"], "lower",
            "accuracy lost by training the TF-IDF classifier on synthetic instead of as many real texts", ideal=0.0)
        return res

    @staticmethod
    def tfidf(ctx, classes: list[str]) -> dict:
        """Train-on-synthetic vs train-on-real with TF-IDF word 1-2 grams, on equal-size samples."""
        from sklearn.feature_extraction.text import TfidfVectorizer
        from sklearn.linear_model import LogisticRegression
        from sklearn.pipeline import make_pipeline

        rng = ctx.rng("utility.tfidf")
        n = min(len(ctx.members), len(ctx.synthetic))
        out = {"train_size": n, "classifier": "logistic regression (C=10) on TF-IDF word 1-2 grams"}
        for name, split in (("real", ctx.members), ("synthetic", ctx.synthetic)):
            rows = np.sort(rng.permutation(len(split))[:n])
            clf = make_pipeline(TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True),
                                LogisticRegression(max_iter=2000, C=10.0, random_state=ctx.seed))
            clf.fit([split.texts[i] for i in rows], [split.labels[i] for i in rows])
            out[name] = _scores(clf.predict(ctx.test.texts), ctx.test.labels, classes)
        return out
