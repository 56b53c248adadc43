"""Fluency (audit.fluency): validated on real texts with planted misspellings, as the realism
plug-in reports it."""

import random

import pytest

from smotext.audit.fluency import RATE_FLOOR, counted_words, fluency, is_word, nonword_ratio
from smotext.synth.corpus import Corpus, read_corpus
from smotext.synth.demo_corpus import demo_corpus_path


def misspell(word: str, rng: random.Random) -> str:
    """A typo: one letter inside the word replaced, doubled or dropped, or the next word glued on."""
    i = rng.randrange(1, len(word))
    kind = rng.randrange(3)
    if kind == 0:
        return word[:i] + rng.choice("qxzjkv") + word[i + 1:]
    if kind == 1:
        return word[:i] + word[i] * 3 + word[i + 1:]
    return word[:i] + word[i + 1:] + "qz"


def plant(texts: list[str], share: float, seed: int) -> tuple[list[str], int]:
    """``texts`` with a ``share`` of their counted words misspelt; returns the texts and how many were."""
    rng = random.Random(seed)
    out, planted = [], 0
    for text in texts:
        words = text.split(" ")
        for j, w in enumerate(words):
            if w.isalpha() and w.islower() and len(w) >= 3 and is_word(w) and rng.random() < share:
                words[j] = misspell(w, rng)
                planted += 1
        out.append(" ".join(words))
    return out, planted


@pytest.fixture(scope="module")
def demo():
    return read_corpus(demo_corpus_path(), "text", "label")


@pytest.fixture(scope="module")
def real_texts(demo):
    return demo.texts[:1500]


def test_what_counts_as_a_word():
    assert counted_words("Ottoline didn't like the FBI's 3D film-making, e.g. it’s odd.") == \
        ["didn't", "like", "the", "film", "making", "it's", "odd"]  # names, acronyms and one letter are not counted
    assert all(map(is_word, ["didn't", "it's", "critics'", "film's", "movies"]))
    assert not any(map(is_word, ["forit", "measureofsorcero", "magnatahoiceomovies", "filmqz"]))


@pytest.mark.parametrize("share", [0.02, 0.05, 0.10])
def test_planted_misspellings_are_measured(real_texts, share):
    base = fluency(real_texts)
    typos, planted = plant(real_texts, share, seed=int(share * 100))
    measured = fluency(typos)
    assert measured.words == pytest.approx(base.words, rel=0.01)  # a typo is still one counted word
    # every planted typo is found (a misspelling that happens to be a word would be missed: allow 10%)
    found = measured.nonwords - base.nonwords
    assert 0.9 * planted <= found <= planted, (found, planted)
    assert planted / base.words > share / 3  # most counted words could take a typo
    assert measured.rate == pytest.approx((base.nonwords + planted) / base.words, rel=0.05)
    assert nonword_ratio(measured.rate, base.rate) == pytest.approx(measured.rate / base.rate)
    assert nonword_ratio(measured.rate, base.rate) > 1 + 0.9 * planted / base.nonwords


def test_ratio_is_floored():
    assert nonword_ratio(0.01, 0.0) == 0.01 / RATE_FLOOR
    assert nonword_ratio(0.04, 0.02) == 2.0
    assert fluency([]).rate == 0.0 and fluency(["Names Only Here."]).words == 0


def test_the_audit_reports_planted_misspellings(encoder, demo):
    from smotext.audit.auditor import Auditor

    part = lambda lo, hi, texts=None, name="": Corpus(texts or demo.texts[lo:hi], demo.labels[lo:hi], True, name, name)
    typos, _ = plant(demo.texts[300:450], 0.10, seed=1)
    auditor = Auditor(["realism"], encoder=encoder, seed=0)
    m = auditor.run(part(0, 150, name="members"), part(150, 300, name="holdout"), part(300, 450, typos, "typos")).metrics
    assert m["realism.nonwords.synthetic"].value > m["realism.nonwords.real"].value + 0.05
    assert m["realism.nonwords.ratio"].value > 2
    clean = auditor.run(part(0, 150, name="members"), part(150, 300, name="holdout"), part(300, 450, name="clean")).metrics
    assert clean["realism.nonwords.ratio"].value == pytest.approx(1, abs=0.35)  # another draw of the same corpus
