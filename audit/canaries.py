"""Canaries: fake records made for the corpus, each added to the members by a secret fair coin, then
scored by every data-only attack to give the one-run lower bound on ε (``audit.canary_bound``).

A canary is built for the attacks that see only synthetic text ("The Canary's Echo", Meeus et al.,
ICML 2025): an in-distribution prefix the LM writes for the class, then a random, unusual suffix
(the secret), and for some a fake name, phone and email. The suffix makes a canary easy to
recognise if it echoes through, so a bound from canaries speaks for the most exposed records,
not the average one. Everything random here comes from the secret, never the published seed.
"""

from __future__ import annotations

import math
import re
import string
from collections.abc import Callable
from dataclasses import asdict, dataclass, field

import numpy as np

from smotext.audit.canary_bound import CanaryBound, audit_bound
from smotext.audit.ngram_lm import likelihood_ratio
from smotext.audit.pii import value_grams, value_tokens
from smotext.audit.text_overlap import ngram_containment
from smotext.text import ngram_index
from smotext.neighbors import topk_cosine

# The attacks the bound is taken over. ``fragments`` finds whatever ``secret_replay`` finds (a whole
# secret brings all its pieces), and more; the replay count is kept as a metric, not as a sixth test.
CANARY_ATTACKS = ("embedding", "attribution", "lexical", "ngram", "fragments")
# Attacks that guess 'added' only. A made-up word found again says 'added'; none found says little
# about a generator that rewrites (most added canaries leave no word behind either), so 'not added'
# guesses from it would be near coin flips and drag the count down.
ONE_SIDED = frozenset({"fragments"})
_VOWELS, _CONSONANTS = "aeiou", "bcdfghklmnprstvz"


@dataclass(frozen=True)
class Canary:
    """One fake record: its text (prefix + secret [+ PII]), class, the secret suffix, fake PII values
    and the coin (added to the members or not)."""

    text: str
    label: str
    prefix: str
    secret: str
    added: bool
    pii: dict[str, str] = field(default_factory=dict)

    def to_json(self) -> dict:
        return asdict(self)

    @property
    def secrets(self) -> list[str]:
        """The values whose reappearance in synthetic text is an echo: the suffix and any fake PII."""
        return [self.secret, *self.pii.values()]


def _word(rng: np.random.Generator, syllables: int) -> str:
    return "".join(rng.choice(list(_CONSONANTS)) + rng.choice(list(_VOWELS)) for _ in range(syllables))


def secret_suffix(rng: np.random.Generator) -> str:
    """Three made-up words and a code: unusual enough that no corpus or LM writes them by chance."""
    words = " ".join(_word(rng, int(rng.integers(3, 5))) for _ in range(3))
    code = "".join(rng.choice(list(string.ascii_uppercase + string.digits)) for _ in range(6))
    return f"Reference {words} {code}."


def fake_pii(rng: np.random.Generator) -> dict[str, str]:
    first, last = _word(rng, 3).capitalize(), _word(rng, 4).capitalize()
    phone = f"(555) {rng.integers(100, 1000)}-{rng.integers(1000, 10000)}"
    return {"PERSON": f"{first} {last}", "PHONE_NUMBER": phone,
            "EMAIL_ADDRESS": f"{first.lower()}.{last.lower()}{rng.integers(10, 100)}@example.org"}


MIN_REWRITE_WORDS = 4  # a rewrite shorter than this (a stub) keeps the LM's own prefix
# A canary's start is one sentence: the secret follows it. Asked for one or two, the LM writes longer
# and runs past its token budget more often (128 canaries on 2 cores: 97.6 s, against 71.9 s now).
CANARY_LENGTHS = ("one sentence",)


def make_canaries(lm, classes: list[str], m: int, secret: int, topic: str | None = None,
                  pii_share: float = 0.5, progress: bool = False,
                  voice: Callable[[list[str], int], list[str]] | None = None) -> list[Canary]:
    """``m`` canaries spread over ``classes``: an LM-written prefix for the class (from the class name
    and ``topic`` only), a secret suffix, fake PII on about ``pii_share`` of them, and a fair coin each.

    ``voice(texts, seed)`` rewrites the prefixes in the voice of the decoder that writes the release
    (e.g. embed each and decode it with a bridge adapted to the corpus), so the canaries start the way
    that decoder's texts do ("The Canary's Echo": in-distribution start, high-perplexity end); a
    rewrite under ``MIN_REWRITE_WORDS`` words keeps the LM's prefix."""
    from smotext.synth.lm_writer import write_texts
    from smotext.synth.private_evolution import start_prompts

    if m < 2:
        raise ValueError(f"need at least 2 canaries, got {m}")
    if not classes:
        raise ValueError("need at least one class to write canaries for")
    rng = np.random.default_rng([secret, 0xCA7A])
    per_class = math.ceil(m / len(classes))
    prefixes: dict[str, list[str]] = {c: [] for c in classes}
    for attempt in range(8):  # the LM's refusals and stubs are dropped; ask again, with room to spare, for what is missing
        missing = {c: per_class - len(prefixes[c]) for c in classes}
        asks = [pair for c in classes if missing[c] > 0
                for pair in start_prompts([c], missing[c] if attempt == 0 else 2 * missing[c] + 4, topic,
                                          int(rng.integers(2**31)), CANARY_LENGTHS)]
        if not asks:
            break
        written = write_texts(lm, [p for _, p in asks], int(rng.integers(2**31)), progress=progress, desc="writing canaries")
        for (c, _), t in zip(asks, written):
            if t and len(prefixes[c]) < per_class:
                prefixes[c].append(t)
    order = [(c, prefixes[c][i]) for i in range(per_class) for c in classes if i < len(prefixes[c])]  # classes interleaved
    if len(order) < m:
        raise ValueError(f"the LM wrote {len(order)} usable canary prefixes of {m}")
    order = order[:m]
    if voice is not None:
        # its own stream from the secret: the suffixes, PII and coins stay what they are without a voice
        rewritten = voice([p for _, p in order], int(np.random.default_rng([secret, 0x701CE]).integers(2**31)))
        order = [(c, r if len(r.split()) >= MIN_REWRITE_WORDS else p) for (c, p), r in zip(order, rewritten)]
    out = []
    for c, prefix in order:
        suffix = secret_suffix(rng)
        pii = fake_pii(rng) if rng.random() < pii_share else {}
        extra = f" Contact {pii['PERSON']} at {pii['PHONE_NUMBER']} or {pii['EMAIL_ADDRESS']}." if pii else ""
        out.append(Canary(f"{prefix} {suffix}{extra}", c, prefix, suffix, bool(rng.random() < 0.5), pii))
    return out


_TEMPLATE_WORDS = frozenset({"reference", "contact", "example"})  # every canary's fixed wording, not its secret
FRAGMENT_CHARS = 5  # shorter pieces (a phone number's groups, a year) turn up in any text
_ALNUM = re.compile(r"[a-z0-9]+")


def fragments(canary: Canary) -> set[str]:
    """The made-up pieces of a canary's secrets, lowercased: its invented words and code, the fake
    name and the email's local part. No corpus or LM writes one by chance, so finding one anywhere
    in generated text says the generator saw that canary, even where it rewrote the rest."""
    return {t for v in canary.secrets for t in _ALNUM.findall(v.lower()) if len(t) >= FRAGMENT_CHARS} - _TEMPLATE_WORDS


def fragment_scores(canaries: list[Canary], texts: list[str]) -> np.ndarray:
    """Per canary: how many of its ``fragments`` occur as a word anywhere in ``texts``."""
    seen = {t for text in texts for t in _ALNUM.findall(text.lower()) if len(t) >= FRAGMENT_CHARS}
    return np.array([len(fragments(c) & seen) for c in canaries], float)


def echoed(value: str, index: set[tuple[str, ...]]) -> bool:
    toks = value_tokens(value)
    return bool(toks) and toks in index


def attribution_scores(canary_emb: np.ndarray, synthetic_emb: np.ndarray, batch: int = 4096) -> np.ndarray:
    """Each synthetic text is put down to its nearest canary; a canary scores the highest cosine among
    the texts put down to it (0 if none). Canaries share their form (a start, then "Reference ..."),
    so a child of one added canary is often the nearest synthetic text of many that were not; making
    the canaries compete for each text tells them apart where plain nearness can't."""
    score = np.zeros(len(canary_emb))
    for b in range(0, len(synthetic_emb), batch):
        sims = synthetic_emb[b:b + batch] @ canary_emb.T
        owner = sims.argmax(axis=1)
        np.maximum.at(score, owner, sims[np.arange(len(owner)), owner])
    return score


def canary_scores(canaries: list[Canary], synthetic_texts: list[str], population_texts: list[str],
                  canary_emb: np.ndarray | None = None, synthetic_emb: np.ndarray | None = None,
                  lexical_n: int = 4, ngram_n: int = 3) -> dict[str, np.ndarray]:
    """Every data-only attack's score for every canary (higher = 'added'): cosine to the nearest
    synthetic text and the attribution score (when embeddings are given), the share of its word n-grams in synthetic texts,
    the synthetic-fitted n-gram LM over the population-fitted one, how many of its secrets
    (suffix, PII values) reappear verbatim, and ``fragments``: how many made-up pieces of its secrets
    reappear anywhere, ties broken by the attribution score (a paraphraser that rewrites a canary
    keeps one invented word of it more often than a whole secret; it guesses 'added' only, see
    ``ONE_SIDED``, and the tie-break picks its guesses past the canaries with a word found)."""
    texts = [c.text for c in canaries]
    out: dict[str, np.ndarray] = {}
    if canary_emb is not None and synthetic_emb is not None:
        canary_emb, synthetic_emb = np.asarray(canary_emb), np.asarray(synthetic_emb)
        out["embedding"] = topk_cosine(canary_emb, synthetic_emb, k=1)[0][:, 0]
        out["attribution"] = attribution_scores(canary_emb, synthetic_emb)
    index = ngram_index(synthetic_texts, lexical_n)
    out["lexical"] = np.array([ngram_containment(t, index, lexical_n) for t in texts])
    out["ngram"] = likelihood_ratio(synthetic_texts, population_texts, ngram_n)(texts)
    lengths = {len(value_tokens(v)) for c in canaries for v in c.secrets}
    grams = value_grams(synthetic_texts, lengths)
    out["secret_replay"] = np.array([sum(echoed(v, grams) for v in c.secrets) for c in canaries], float)
    # attribution is a cosine, at most 1: half of it never outranks one more fragment found
    tie = 0.5 * np.clip(out["attribution"], 0.0, 1.0) if "attribution" in out else 0.0
    out["fragments"] = fragment_scores(canaries, synthetic_texts) + tie
    return out


def canary_audit(canaries: list[Canary], scores: dict[str, np.ndarray], delta: float, level: float = 0.95,
                 seed: int = 0, repeats: int = 1) -> dict:
    """The one-run bound per attack of ``CANARY_ATTACKS`` (each tested at its share of 1 - ``level``, so
    their maximum holds at ``level``; those in ``ONE_SIDED`` guess 'added' only) and the maximum.
    ``repeats``: how many times each added canary was added (group privacy keeps the bound one
    about one record). Also counts, added and not, the canaries with a secret written again whole
    (``secret_replay``) and with at least one made-up piece of a secret found (``fragment_echo``)."""
    added = np.array([c.added for c in canaries])
    tested = {name: s for name, s in scores.items() if name in CANARY_ATTACKS}
    bounds: dict[str, CanaryBound] = {name: audit_bound(s, added, delta, level, tests=len(tested), seed=seed,
                                                        group=repeats, sides="added" if name in ONE_SIDED else "both")
                                      for name, s in tested.items()}
    worst = max(bounds, key=lambda k: bounds[k].epsilon)
    replay = scores.get("secret_replay", np.zeros(len(canaries)))
    pieces = np.floor(scores.get("fragments", np.zeros(len(canaries))))  # whole fragments; the tie-break is below 1
    return {"canaries": len(canaries), "added": int(added.sum()), "repeats": repeats, "delta": delta, "level": level,
            "per_attack": {k: b.to_json() for k, b in bounds.items()},
            "epsilon_lower_bound": bounds[worst].epsilon, "strongest_attack": worst,
            "secret_replay": int((replay[added] > 0).sum()), "secret_replay_not_added": int((replay[~added] > 0).sum()),
            "fragment_echo": int((pieces[added] > 0).sum()), "fragment_echo_not_added": int((pieces[~added] > 0).sum())}


@dataclass
class CanaryRun:
    """One release's canary experiment: the canaries (coins included), the secret they came from, and
    every text the generator wrote on members + added canaries, including the outputs held back
    for having a canary parent. The bound is about that whole output: it is what the generator, a DP
    mechanism or not, produced from its input; holding canary children back keeps fake records out
    of the release, it must not hide their echo from the audit. ``scores`` (per attack, per canary)
    is filled by the audit and belongs in the private folder only."""

    canaries: list[Canary]
    secret: int = field(repr=False)
    generated_texts: list[str] = field(repr=False)
    held_back: int = 0
    topic: str | None = None
    repeats: int = 1
    scores: dict[str, np.ndarray] = field(default_factory=dict, repr=False)

    def private_json(self) -> dict:
        """Everything about the experiment, coins and secret included: for the private folder only."""
        rows = [{**c.to_json(), "scores": {k: float(v[i]) for k, v in self.scores.items()}}
                for i, c in enumerate(self.canaries)]
        return {"secret": self.secret, "count": len(self.canaries), "added": sum(c.added for c in self.canaries),
                "repeats": self.repeats, "topic": self.topic, "held_back": self.held_back,
                "generated": len(self.generated_texts), "canaries": rows}


def plant(texts: list[str], labels: list[str], canaries: list[Canary], repeats: int = 1) -> tuple[list[str], list[str]]:
    """The generator's input: the members, then the canaries whose coin came up 'added', each
    ``repeats`` times (rows from ``len(texts)`` on are canaries, which is how the provenance tells
    their children)."""
    added = [c for c in canaries if c.added for _ in range(repeats)]
    return list(texts) + [c.text for c in added], list(labels) + [c.label for c in added]


def canary_parented(parents, first_canary_row: int) -> np.ndarray:
    """Per output: does any of its parents (row numbers in the generator's input) lie at or beyond
    ``first_canary_row``, i.e. is it a canary's child?"""
    return np.array([any(int(p) >= first_canary_row for p in ps) for ps in parents], bool)


ECHO_OVERLAP = 0.5  # an output whose word 4-grams are at least this share a canary's carries that canary
# ... and one whose nearest input is a canary this close. On Rotten Tomatoes with 1,000 canaries, EDA's
# shuffled copies of canaries that kept no secret and few 4-grams lay at cosine 0.738 or more; SMOTExT's
# and DP generation's texts nearer a canary than a member mostly lay below 0.7 (LM-written texts near
# LM-written canary starts): without the floor they held back 182 and 235 of 600 texts, with it 7 and 14.
ECHO_COSINE = 0.7


def carries_canary(canaries: list[Canary], texts: list[str], canary_emb: np.ndarray | None = None,
                   text_emb: np.ndarray | None = None, member_emb: np.ndarray | None = None, n: int = 4) -> np.ndarray:
    """Per output of a generator whose provenance is unknown: does it carry a canary? Yes when it
    writes any canary's secret (the suffix or a fake PII value) again, or any made-up piece of one
    (``fragments``), when at least ``ECHO_OVERLAP`` of its word ``n``-grams are a canary's, or (given
    embeddings) when its nearest input record is a canary rather than a member and at cosine
    ``ECHO_COSINE`` or more. Such outputs are held back from
    a release: fake records and their secrets never go public. Outputs a never-seen canary happens
    to be nearest are held back too; that costs a few texts, never privacy."""
    lengths = {len(value_tokens(v)) for c in canaries for v in c.secrets}
    secrets = {value_tokens(v) for c in canaries for v in c.secrets} - {()}
    pieces = set().union(*map(fragments, canaries))
    index = ngram_index([c.text for c in canaries], n)
    out = np.array([bool(secrets & value_grams([t], lengths)) or not pieces.isdisjoint(_ALNUM.findall(t.lower()))
                    or ngram_containment(t, index, n) >= ECHO_OVERLAP for t in texts], bool)
    if canary_emb is not None and text_emb is not None and member_emb is not None and len(texts):
        to_canary = topk_cosine(np.asarray(text_emb), np.asarray(canary_emb), k=1)[0][:, 0]
        to_member = topk_cosine(np.asarray(text_emb), np.asarray(member_emb), k=1)[0][:, 0]
        out |= (to_canary > to_member) & (to_canary >= ECHO_COSINE)
    return out
