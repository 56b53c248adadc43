"""Post-decoding filters, a registry by name. Each drops candidates and records a score for each.

A filter sees a ``Candidates`` batch and the ``FilterContext`` (the real corpus and what has been
accepted so far) and returns which candidates it keeps, plus per-candidate scores that go into the
private provenance file.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

from smotext.errors import SmotextError
from smotext.params import Param, int_at_least, number_in
from smotext.registry import Plugin, Registry
from smotext.synth.params import DEFAULT_FILTERS
from smotext.neighbors import topk_cosine
from smotext.text import ngram_index, ngrams, words, words_key

def max_cosine(a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """For each row of ``a``, the highest cosine to a row of ``b`` and its index (unit rows)."""
    sims, idx = topk_cosine(a, b, k=1)
    return sims[:, 0], idx[:, 0]


@dataclass
class Candidates:
    """Decoded texts with what they were meant to be: target vector and intended class."""

    texts: list[str]
    labels: list[str]
    targets: np.ndarray  # (n, d) unit vectors the texts were decoded from
    embeddings: np.ndarray  # (n, d) the texts re-embedded


@dataclass
class FilterContext:
    """The real corpus (embedded) and the synthetic texts accepted so far."""

    real_texts: list[str]
    real_labels: list[str]
    real_embeddings: np.ndarray
    accepted_keys: set = field(default_factory=set)
    accepted_embeddings: list = field(default_factory=list)
    _classifier: object = None
    _real_ngrams: dict = field(default_factory=dict)

    def classifier(self):
        """Logistic regression on the real embeddings, fitted once.

        Classes are weighted to balance: on an imbalanced corpus an unweighted fit leans to the
        majority, and the label filter would reject exactly the minority texts oversampling is for.
        """
        if self._classifier is None:
            from sklearn.linear_model import LogisticRegression

            self._classifier = LogisticRegression(max_iter=1000, C=10.0, class_weight="balanced").fit(
                self.real_embeddings, self.real_labels
            )
        return self._classifier

    def real_ngrams(self, n: int) -> set:
        if n not in self._real_ngrams:
            self._real_ngrams[n] = ngram_index(self.real_texts, n)
        return self._real_ngrams[n]

    def accept(self, texts: Sequence[str], embeddings: np.ndarray) -> None:
        self.accepted_keys.update(words_key(t) for t in texts)
        if len(texts):
            self.accepted_embeddings.append(np.asarray(embeddings, dtype=np.float32))


@dataclass
class FilterResult:
    keep: np.ndarray
    scores: dict[str, np.ndarray]


class Filter(Plugin):
    """Base class: subclasses set ``name``, ``description``, ``params`` and implement ``apply``."""

    kind_label = "filter"
    # Does the filter read real records (texts, labels, embeddings)? DP generation refuses those that
    # do: a decision that depends on real records after the noisy votes is outside the guarantee. A
    # plug-in that does not declare False counts as reading them.
    reads_real: bool = True

    def apply(self, cand: Candidates, ctx: FilterContext) -> FilterResult:
        raise NotImplementedError


FILTERS: Registry[Filter] = Registry("filter", Filter, group="smotext.filters")
register = FILTERS.register


def create_filter(name: str, **params) -> Filter:
    """A filter by registry name; an unknown name lists the valid ones."""
    return FILTERS.create(name, **params)


@register
class DegenerateFilter(Filter):
    reads_real = False
    name = "degenerate"
    description = "drops empty, too short, looping, prompt-echoing or assistant-boilerplate outputs"
    # Prompt echoes and assistant boilerplate: what an LM writes when the soft tokens carry too little.
    params = {
        "min_words": Param(3, "least number of words", int_at_least(0)),
        "max_repeat_share": Param(0.4, "most share of the text one word or bigram may take", number_in(0, 1)),
        "banned": Param((r"hidden text", r"\bas an? (ai|chatbot|language model|text-based)", r"\bai assistant\b",
                         r"^i'?m sorry for (the|any) (confusion|inconvenience|misunderstanding)"),
                        "regular expressions (on the lower-cased text) that drop an output"),
    }

    def apply(self, cand, ctx):
        keep = np.ones(len(cand.texts), dtype=bool)
        share = np.zeros(len(cand.texts), dtype=np.float32)
        for i, text in enumerate(cand.texts):
            toks = words(text)
            if len(toks) < self.settings["min_words"]:
                keep[i] = False
                continue
            top = Counter(toks).most_common(1)[0][1]
            bigrams = list(ngrams(toks, 2))
            top_bigram = Counter(bigrams).most_common(1)[0][1] if bigrams else 0
            share[i] = max(top / len(toks) if len(toks) >= 8 else 0.0, 2 * top_bigram / max(1, len(toks)) if top_bigram > 1 else 0.0)
            low = text.lower().strip()
            if share[i] > self.settings["max_repeat_share"] or any(re.search(b, low) for b in self.settings["banned"]):
                keep[i] = False
        return FilterResult(keep, {"repeat_share": share})


@register
class FidelityFilter(Filter):
    reads_real = False
    name = "fidelity"
    description = "drops outputs whose re-embedding is far from the vector they were decoded from"
    params = {"min_cosine": Param(0.3, "fidelity: least cosine of output to its target vector", number_in(-1, 1),
                                  flag="--min-fidelity")}

    def apply(self, cand, ctx):
        cos = np.einsum("nd,nd->n", cand.embeddings, cand.targets)
        return FilterResult(cos >= self.settings["min_cosine"], {"fidelity": cos})


@register
class LabelFilter(Filter):
    name = "label"
    description = "drops outputs a classifier trained on real embeddings assigns to another class"
    params = {"min_probability": Param(0.0, "label: least probability of the intended class", number_in(0, 1),
                                       flag="--min-label-probability")}

    def apply(self, cand, ctx):
        if len(set(ctx.real_labels)) < 2:  # one class: nothing to disagree with
            return FilterResult(np.ones(len(cand.texts), dtype=bool), {"label_probability": np.ones(len(cand.texts))})
        clf = ctx.classifier()
        proba = clf.predict_proba(cand.embeddings)
        classes = list(clf.classes_)
        pred = np.asarray(classes, dtype=object)[proba.argmax(axis=1)]
        p_int = proba[np.arange(len(cand.labels)), [classes.index(c) for c in cand.labels]]
        keep = (pred == np.asarray(cand.labels, dtype=object)) & (p_int >= self.settings["min_probability"])
        return FilterResult(keep, {"label_probability": p_int})


@register
class PrivacyFilter(Filter):
    name = "privacy"
    description = "drops outputs too close to any real record: embedding cosine or a shared run of n words"
    params = {
        "max_cosine": Param(0.9, "privacy: most cosine to any real record", number_in(-1, 1), flag="--max-real-cosine"),
        "ngram": Param(8, "privacy: drop outputs sharing this many consecutive words with a real record", int_at_least(1),
                       flag="--ngram"),
    }

    def apply(self, cand, ctx):
        cos, nearest = max_cosine(cand.embeddings, ctx.real_embeddings)
        n = int(self.settings["ngram"])
        real = ctx.real_ngrams(n)
        shares = np.array([any(g in real for g in ngrams(words(t), n)) for t in cand.texts], dtype=bool)
        keep = (cos <= self.settings["max_cosine"]) & ~shares
        return FilterResult(keep, {"max_real_cosine": cos, "nearest_real": nearest, "shares_real_ngram": shares})


@register
class DedupeFilter(Filter):
    reads_real = False
    name = "dedupe"
    description = "drops repeats of an accepted output (same words, or embedding cosine above a bound)"
    params = {"max_cosine": Param(0.98, "dedupe: most cosine between two outputs", number_in(-1, 1),
                                  flag="--dedupe-cosine")}

    def apply(self, cand, ctx):
        keep = np.ones(len(cand.texts), dtype=bool)
        seen = set(ctx.accepted_keys)
        for i, t in enumerate(cand.texts):
            key = words_key(t)
            keep[i] = key not in seen
            seen.add(key)
        cos = np.full(len(cand.texts), -1.0, dtype=np.float32)
        if ctx.accepted_embeddings:
            cos, _ = max_cosine(cand.embeddings, np.concatenate(ctx.accepted_embeddings))
        # Near-duplicates inside the batch: keep the first of each close group.
        for i in range(1, len(cand.texts)):
            earlier = cand.embeddings[:i][keep[:i]]
            if len(earlier):
                cos[i] = max(cos[i], float((earlier @ cand.embeddings[i]).max()))
        keep &= cos <= self.settings["max_cosine"]
        return FilterResult(keep, {"max_synthetic_cosine": cos})


DEFAULT_ORDER = DEFAULT_FILTERS


class FilterChain:
    """Runs filters in order; a candidate is kept only if every filter keeps it. Counts in/out per filter."""

    def __init__(self, filters: Sequence[Filter]):
        self.filters = list(filters)
        self.counts = {f.name: {"in": 0, "out": 0} for f in self.filters}

    @classmethod
    def build(cls, enabled: Sequence[str] = DEFAULT_ORDER, params: Mapping[str, Mapping] | None = None) -> "FilterChain":
        params = dict(params or {})
        unknown = sorted(set(params) - set(enabled))
        bad = [p for p in unknown if p not in FILTERS]
        if bad:
            raise SmotextError(f"unknown filter(s) {bad}; valid filters: {', '.join(FILTERS.names())}")
        order = [n for n in DEFAULT_ORDER if n in enabled] + [n for n in enabled if n not in DEFAULT_ORDER]
        return cls([create_filter(n, **params.get(n, {})) for n in order])

    def run(self, cand: Candidates, ctx: FilterContext) -> tuple[np.ndarray, dict[str, np.ndarray], list[str | None]]:
        """(kept mask, scores, the name of the filter that dropped each candidate or None)."""
        alive = np.ones(len(cand.texts), dtype=bool)
        dropped_by: list[str | None] = [None] * len(cand.texts)
        scores: dict[str, np.ndarray] = {}
        for f in self.filters:
            idx = np.flatnonzero(alive)
            self.counts[f.name]["in"] += len(idx)
            if not len(idx):
                continue
            sub = Candidates([cand.texts[i] for i in idx], [cand.labels[i] for i in idx], cand.targets[idx], cand.embeddings[idx])
            res = f.apply(sub, ctx)
            for key, vals in res.scores.items():
                full = scores.setdefault(key, np.full(len(cand.texts), np.nan, dtype=np.float64))
                full[idx] = vals
            for i in idx[~res.keep]:
                dropped_by[i] = f.name
            alive[idx[~res.keep]] = False
            self.counts[f.name]["out"] += int(res.keep.sum())
        return alive, scores, dropped_by

    def describe(self) -> list[dict]:
        return [{"name": f.name, "description": f.description, "params": _plain(f.settings), **self.counts[f.name]} for f in self.filters]


def _plain(params: Mapping) -> dict:
    return {k: list(v) if isinstance(v, tuple) else v for k, v in params.items()}
