"""Word-level overlap between texts: shared n-grams and longest common spans."""

from __future__ import annotations

from collections.abc import Sequence
from difflib import SequenceMatcher

from smotext.text import ngrams, words


def ngram_containment(text: str, index: set, n: int) -> float:
    """Share of ``text``'s word n-grams found in ``index`` (0 for texts shorter than n words)."""
    grams = list(ngrams(words(text), n))
    return sum(g in index for g in grams) / len(grams) if grams else 0.0


def longest_common_span(a: Sequence[str], b: Sequence[str]) -> tuple[int, int]:
    """(length, start in a) of the longest run of words shared by word lists a and b."""
    m = SequenceMatcher(None, a, b, autojunk=False).find_longest_match(0, len(a), 0, len(b))
    return m.size, m.a


def similarity(a: Sequence[str], b: Sequence[str]) -> float:
    """Word-sequence similarity in [0, 1] (difflib ratio): 1 = the same words in the same order."""
    return SequenceMatcher(None, a, b, autojunk=False).ratio()
