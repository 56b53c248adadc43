"""Fluency: how many of a text set's words are not English words, beside the real texts' rate.

Detection AUC can be bought with broken text (sampling hot enough writes "measureofsorcero"), so
realism reports the share of non-words next to it. A word here is a run of ASCII letters (an
apostrophe inside joins "don't"); only lower-case words of two or more letters are counted, so
names, acronyms and sentence openings never count against a text. A word is known when
pyspellchecker's English frequency list (about 160,000 words, shipped inside the package) has it.

A corpus's own rate is not zero (slang, titles, rare words the list lacks), so the measure that
matters is the ratio of the synthetic rate to the real texts' rate. Rates below ``RATE_FLOOR``
count as the floor in that ratio: a corpus with almost no non-words must not turn one typo into a
ten-fold ratio."""

from __future__ import annotations

import functools
import re
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass

RATE_FLOOR = 0.005  # the ratio's denominator is at least this: half a percent of non-words is noise
_LETTERS = re.compile(r"[A-Za-z]+(?:'[A-Za-z]+)*")
_APOSTROPHES = str.maketrans({"\u2019": "'", "\u2018": "'", "`": "'"})


@functools.lru_cache(maxsize=1)
def _dictionary() -> frozenset[str]:
    from spellchecker import SpellChecker

    return frozenset(SpellChecker(language="en", distance=1).word_frequency.dictionary)


def counted_words(text: str) -> list[str]:
    """The lower-case words of ``text`` that fluency counts (two or more letters, no capitals)."""
    found = _LETTERS.findall(text.translate(_APOSTROPHES))
    return [w for w in found if len(w) >= 2 and w.islower()]


def is_word(word: str) -> bool:
    """Whether ``word`` (lower case) is an English word: in the list, or its stem before "'s"/"'" is."""
    known = _dictionary()
    if word in known:
        return True
    stem = word[:-2] if word.endswith("'s") else word.rstrip("'")
    return stem != word and stem in known


@dataclass
class Fluency:
    """Non-words among the counted words of a text set."""

    words: int
    nonwords: int
    top: list[tuple[str, int]]  # the most frequent non-words, with their counts

    @property
    def rate(self) -> float:
        return self.nonwords / self.words if self.words else 0.0


def fluency(texts: Iterable[str], top: int = 8) -> Fluency:
    """Count the non-words in ``texts`` (see the module's docstring for what counts)."""
    counts: Counter[str] = Counter()
    total = 0
    for text in texts:
        ws = counted_words(text)
        total += len(ws)
        counts.update(w for w in ws if not is_word(w))
    return Fluency(total, sum(counts.values()), counts.most_common(top))


def nonword_ratio(synthetic_rate: float, real_rate: float) -> float:
    """The synthetic texts' non-word rate over the real texts' (the latter floored at ``RATE_FLOOR``)."""
    return synthetic_rate / max(real_rate, RATE_FLOOR)
