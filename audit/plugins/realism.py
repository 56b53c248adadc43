"""Realism: can a classifier tell the synthetic texts from real ones, and are they as varied?

Detection follows SDMetrics' and synthcity's detection metrics for tables: a classifier trained to
separate real from synthetic records, scored by cross-validated ROC AUC (0.5 = indistinguishable).
It runs on two feature sets: the audit's encoder (the space the generator aims at, which flatters
it) and TF-IDF word n-grams (a judge outside that space: register, wording, punctuation). Beside it,
fluency (``audit.fluency``): the share of non-words in the synthetic texts against the real texts'
share, so that a detection AUC bought with broken text shows."""

from __future__ import annotations

from collections import Counter

import numpy as np

from smotext.audit.fluency import RATE_FLOOR, fluency, nonword_ratio
from smotext.audit.registry import Metric, Plugin, PluginResult, register
from smotext.params import Param, int_at_least
from smotext.text import contraction_words

OPENING_WORDS = 3
MIN_SHARED = 5  # real openings shown in the report only when this many texts share them


def distinct_bigrams(texts: list[str]) -> float:
    """Distinct word bigrams over all bigrams (distinct-2): 1 = no bigram repeats anywhere."""
    grams = [tuple(w[i:i + 2]) for w in map(contraction_words, texts) for i in range(len(w) - 1)]
    return len(set(grams)) / len(grams) if grams else 0.0


def repeated_openings(texts: list[str], n: int = OPENING_WORDS) -> float:
    """Share of texts that open with the same ``n`` words as an earlier text of the set."""
    counts = Counter(" ".join(contraction_words(t)[:n]) for t in texts)
    return sum(c - 1 for c in counts.values()) / len(texts) if texts else 0.0


def detection_auc(real, synthetic, seed: int, folds: int = 5) -> float:
    """Mean ROC AUC over stratified folds of a logistic regression told to find the synthetic texts.

    ``real`` and ``synthetic`` are feature matrices, or lists of strings (then TF-IDF word 1-2 grams,
    fitted inside each fold so the held-out fold's vocabulary is never seen)."""
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import StratifiedKFold, cross_val_score
    from sklearn.pipeline import make_pipeline

    y = np.r_[np.zeros(len(real)), np.ones(len(synthetic))]
    folds = min(folds, len(real), len(synthetic))
    if folds < 2:
        raise ValueError(f"detection needs at least 2 real and 2 synthetic texts, got {len(real)} and {len(synthetic)}")
    clf = LogisticRegression(max_iter=2000, random_state=seed)
    if isinstance(real, list):
        x = np.asarray(real + synthetic, dtype=object)
        clf = make_pipeline(TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True), clf)
    else:
        x = np.vstack([real, synthetic])
    cv = StratifiedKFold(folds, shuffle=True, random_state=seed)
    return float(cross_val_score(clf, x, y, cv=cv, scoring="roc_auc").mean())


@register
class Realism(Plugin):
    name = "realism"
    kind = "metric"
    description = ("Real-vs-synthetic detection (5-fold ROC AUC on TF-IDF and on embeddings; 0.5 = indistinguishable) "
                   "diversity (distinct word bigrams, repeated openings) and fluency (share of non-words) of equal-size "
                   "real and synthetic samples")
    params = {"samples": Param(10, "synthetic texts (and, with real examples asked for, masked real ones) shown side by side in the report", int_at_least(0))}
    produces = {
        "realism.detection_auc.tfidf": ("lower", (0.0, 1.0)),
        "realism.detection_auc.embedding": ("lower", (0.0, 1.0)),
        "realism.distinct_bigrams.real": ("higher", (0.0, 1.0)),
        "realism.distinct_bigrams.synthetic": ("higher", (0.0, 1.0)),
        "realism.distinct_bigrams.ratio": ("higher", (0.0, float("inf"))),
        "realism.repeated_openings.real": ("lower", (0.0, 1.0)),
        "realism.repeated_openings.synthetic": ("lower", (0.0, 1.0)),
        "realism.nonwords.real": ("lower", (0.0, 1.0)),
        "realism.nonwords.synthetic": ("lower", (0.0, 1.0)),
        "realism.nonwords.ratio": ("lower", (0.0, float("inf"))),
    }

    def run(self, ctx) -> PluginResult:
        rng = ctx.rng(self.name)
        real, syn = ctx.members, ctx.synthetic
        n = min(len(real), len(syn))  # distinct-n and repeats grow with set size: compare equal sizes
        ri, si = np.sort(rng.permutation(len(real))[:n]), np.sort(rng.permutation(len(syn))[:n])
        real_texts, syn_texts = [real.texts[i] for i in ri], [syn.texts[i] for i in si]
        res = PluginResult()
        m = res.metrics
        m["realism.detection_auc.tfidf"] = Metric(
            detection_auc(real_texts, syn_texts, ctx.seed), "lower",
            "a TF-IDF classifier's 5-fold ROC AUC telling synthetic from real texts (0.5 = indistinguishable)", ideal=0.5)
        m["realism.detection_auc.embedding"] = Metric(
            detection_auc(real.embeddings[ri], syn.embeddings[si], ctx.seed), "lower",
            "the same on the audit encoder's embeddings (the generator's own space)", ideal=0.5)
        d_real, d_syn = distinct_bigrams(real_texts), distinct_bigrams(syn_texts)
        m["realism.distinct_bigrams.real"] = Metric(d_real, "higher", "distinct word bigrams / all bigrams, real sample")
        m["realism.distinct_bigrams.synthetic"] = Metric(d_syn, "higher", "distinct word bigrams / all bigrams, synthetic sample")
        m["realism.distinct_bigrams.ratio"] = Metric(d_syn / d_real if d_real else float("nan"), "higher",
                                                     "synthetic distinct-2 over real distinct-2 (1 = as varied)", ideal=1.0)
        m["realism.repeated_openings.real"] = Metric(repeated_openings(real_texts), "lower",
                                                     f"share of real texts opening with another's first {OPENING_WORDS} words")
        m["realism.repeated_openings.synthetic"] = Metric(repeated_openings(syn_texts), "lower",
                                                          f"share of synthetic texts opening with another's first {OPENING_WORDS} words")
        f_real, f_syn = fluency(real_texts), fluency(syn_texts)
        m["realism.nonwords.real"] = Metric(f_real.rate, "lower", "share of lower-case words that are not English words, "
                                            "real sample")
        m["realism.nonwords.synthetic"] = Metric(f_syn.rate, "lower", "the same, synthetic sample")
        m["realism.nonwords.ratio"] = Metric(
            nonword_ratio(f_syn.rate, f_real.rate), "lower",
            f"synthetic non-word share over the real one (1 = as fluent as the corpus; real shares under {RATE_FLOOR:.1%} "
            "count as that)", ideal=1.0)
        k = min(int(self.settings["samples"]), n)
        real_pick, syn_pick = rng.choice(n, k, replace=False), rng.choice(n, k, replace=False)
        res.details = {
            "compared": n, "folds": 5, "opening_words": OPENING_WORDS,
            # the synthetic texts' most frequent non-words (public text); the real texts' are never shown
            "nonwords": {"words": {"real": f_real.words, "synthetic": f_syn.words}, "floor": RATE_FLOOR,
                         "synthetic_top": [[w, c] for w, c in f_syn.top]},
            # real texts only when asked for (ctx.real_examples), masked: the report is then internal
            "side_by_side": {"real": [ctx.show_real(real_texts[i]) for i in real_pick] if ctx.real_examples else [],
                             "synthetic": [syn_texts[i] for i in syn_pick]},
            # a real opening is shown only when at least MIN_SHARED texts share it (and masked): a first few
            # words can carry one person's name
            "common_openings": {"real": [(ctx.show_real(o), n) for o, n in Counter(
                                    " ".join(contraction_words(t)[:OPENING_WORDS]) for t in real_texts).most_common(5)
                                         if n >= MIN_SHARED and ctx.real_examples],
                                "synthetic": Counter(" ".join(contraction_words(t)[:OPENING_WORDS]) for t in syn_texts).most_common(5)},
        }
        return res
