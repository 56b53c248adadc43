"""Text helpers shared by generation and the audit (ground layer): the word tokeniser, n-grams and
the two keys texts are compared by.

Two keys, on purpose: ``same_text_key`` (case and runs of whitespace ignored) decides whether two
records are copies, for the splits and their overlap check; ``words_key`` (the words only,
punctuation dropped) decides whether two generated texts say the same thing, for dedupe. Realism's
diversity counts contractions as one word (``contraction_words``), as its published numbers did."""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence

_WORD = re.compile(r"\w+", re.UNICODE)
_WORD_WITH_CONTRACTION = re.compile(r"\w+(?:'\w+)?")


def words(text: str) -> list[str]:
    """The lower-cased words of ``text`` (runs of letters, digits and underscores)."""
    return _WORD.findall(text.lower())


def contraction_words(text: str) -> list[str]:
    """``words``, but "don't" is one word (realism's diversity)."""
    return _WORD_WITH_CONTRACTION.findall(text.lower())


def words_key(text: str) -> str:
    """A text as compared for saying the same thing: its words, joined by single spaces."""
    return " ".join(words(text))


def same_text_key(text: str) -> str:
    """A text as compared for being a copy: case and runs of whitespace ignored."""
    return " ".join(text.lower().split())


def ngrams(tokens: Sequence[str], n: int) -> Iterable[tuple]:
    """The n-grams of ``tokens``, in order."""
    return (tuple(tokens[i : i + n]) for i in range(len(tokens) - n + 1))


def ngram_index(texts: Iterable[str], n: int) -> set:
    """Every word n-gram that occurs in any of ``texts``."""
    return {g for t in texts for g in ngrams(words(t), n)}
