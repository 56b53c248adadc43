"""Canaries on real components: the LM writes their prefixes, the encoder embeds them, and the one-run
bound separates a generator that copies its inputs from one that never saw the canaries."""

import json
import random
from pathlib import Path

import numpy as np
import pytest

from smotext.audit.canaries import canary_audit, canary_scores, make_canaries

from conftest import OUTSIDE_CANARIES as M  # the shared `prepared` fixture's canaries

DATA = Path(__file__).parent / "data" / "lm_texts.jsonl"


@pytest.fixture(scope="module")
def natural():
    rows = [json.loads(line) for line in DATA.read_text().splitlines()]
    random.Random(1).shuffle(rows)
    return [r["text"] for r in rows[:300]], [r["text"] for r in rows[300:600]]


@pytest.fixture(scope="module")
def canaries(prepared):
    """The 200 canaries ``prepare`` wrote with the LM for the demo corpus's classes (shared with
    test_outside: writing them takes over a minute)."""
    from smotext.audit.canaries import Canary

    return [Canary(**{k: c[k] for k in ("text", "label", "prefix", "secret", "added", "pii")})
            for c in json.loads((prepared / "private" / "canaries.json").read_text())["canaries"]]


def test_canaries_are_made_for_the_classes_with_secret_coins(canaries, prepared, lm):
    import pandas as pd

    classes = set(pd.read_csv(prepared / "private" / "members.csv")["label"])
    assert len(canaries) == M and {c.label for c in canaries} == classes
    assert 70 <= sum(c.added for c in canaries) <= 130  # fair coins (a 1-in-10^4 draw falls outside)
    assert len({c.secret for c in canaries}) == M  # every secret suffix is its own
    assert all(c.text.startswith(c.prefix) and c.secret in c.text for c in canaries)
    with_pii = [c for c in canaries if c.pii]
    assert 60 <= len(with_pii) <= 140 and all(c.pii["EMAIL_ADDRESS"] in c.text for c in with_pii)
    # the coins and suffixes come from the secret: the same secret makes the same canaries
    again = make_canaries(lm, ["review", "service"], 4, secret=7, topic="short customer text")
    other = make_canaries(lm, ["review", "service"], 4, secret=8, topic="short customer text")
    assert [c.secret for c in again] != [c.secret for c in other]


def test_canaries_start_in_the_voice_of_the_decoder_that_writes_the_release(lm, encoder, tiny):
    """With a voice adapter on the bridge, each canary's start is the LM's, rewritten by that decoder
    (embedded, then decoded as it decodes the release); a bridge without one leaves the LM's start."""
    import dataclasses

    from smotext.pipeline import _in_the_decoders_voice
    from smotext.synth.bridge import init_bridge
    from smotext.synth.smotext import SMOTExT

    bridge, card = tiny
    plain = SMOTExT(bridge=tiny, lm=lm, encoder=encoder, max_new_tokens=12).load_models()
    assert _in_the_decoders_voice(plain) is None
    voiced_config = dataclasses.replace(card.config, adapter="bias")
    voiced = init_bridge(voiced_config, seed=0)
    voiced.load_state_dict(bridge.state_dict(), strict=False)
    sampler = SMOTExT(bridge=(voiced, dataclasses.replace(card, config=voiced_config)), lm=lm, encoder=encoder,
                      max_new_tokens=12).load_models()
    rewrite = _in_the_decoders_voice(sampler)
    seen = []

    def voice(texts, seed):
        out = rewrite(texts, seed)
        seen.append((list(texts), out))
        return out

    made = make_canaries(lm, ["review", "service"], 4, secret=7, topic="short customer text", voice=voice)
    (asked, rewritten), = seen  # the LM's starts went to the decoder, once
    assert [c.prefix for c in made] == [r if len(r.split()) >= 4 else a for a, r in zip(asked, rewritten)]
    assert any(c.prefix != a for c, a in zip(made, asked))  # the decoder wrote some of them
    assert all(c.text.startswith(c.prefix) and c.secret in c.text for c in made)


def test_a_generator_that_copies_its_inputs_is_bounded_above_2(canaries, natural, encoder):
    members, population = natural
    added = [c.text for c in canaries if c.added]
    synthetic = members + added  # the worst generator: it releases its members
    scores = canary_scores(canaries, synthetic, population, encoder.embed([c.text for c in canaries]), encoder.embed(synthetic))
    audit = canary_audit(canaries, scores, delta=1e-5)
    # every attack sees it; the k that gives the best bound may reach past the added ones, so nearly every guess is right
    assert audit["epsilon_lower_bound"] >= 2
    assert all(b["correct"] >= b["guesses"] - 2 for b in audit["per_attack"].values())
    assert audit["secret_replay"] == len(added) and audit["secret_replay_not_added"] == 0


def test_fragments_find_a_rewritten_canary_by_one_made_up_word(canaries, natural, encoder):
    """A paraphraser keeps a made-up word of a canary's secret and drops the rest: no whole secret
    comes back, yet the fragments attack ranks exactly those canaries first, and holds their outputs back."""
    from smotext.audit.canaries import carries_canary, fragments

    members, population = natural
    added = [c for c in canaries if c.added]
    kept = added[: len(added) // 2]
    # one invented word of each, inside a sentence about something else
    rewrites = [f"A quiet film, and {sorted(w for w in fragments(c) if w.isalpha())[0].capitalize()} plays the lead." for c in kept]
    synthetic = members + rewrites
    scores = canary_scores(canaries, synthetic, population, encoder.embed([c.text for c in canaries]), encoder.embed(synthetic))
    assert scores["secret_replay"].sum() == 0
    top = set(np.argsort(-scores["fragments"])[: len(kept)])
    assert top == {canaries.index(c) for c in kept}
    not_added = [i for i, c in enumerate(canaries) if not c.added]
    assert scores["fragments"][not_added].max() < 1  # only the attribution tie-break, below one fragment
    assert carries_canary(canaries, rewrites).all()  # they share no 4-gram with a canary: the fragment holds them back
    audit = canary_audit(canaries, scores, delta=1e-5)
    frag = audit["per_attack"]["fragments"]
    assert frag["epsilon"] > audit["per_attack"]["lexical"]["epsilon"]
    assert frag["sides"] == "added" and frag["guesses"] == frag["k"]  # it guesses 'added' only
    assert (audit["fragment_echo"], audit["fragment_echo_not_added"], audit["secret_replay"]) == (len(kept), 0, 0)


def test_a_generator_that_never_saw_the_canaries_bounds_nothing(canaries, natural, encoder):
    members, population = natural
    scores = canary_scores(canaries, members, population, encoder.embed([c.text for c in canaries]), encoder.embed(members))
    audit = canary_audit(canaries, scores, delta=1e-5)
    # its outputs do not depend on the coins: each attack's guesses are coin flips
    assert audit["epsilon_lower_bound"] < 1 and audit["secret_replay"] == 0
    assert set(audit["per_attack"]) == {"embedding", "attribution", "lexical", "ngram", "fragments"}


# ---------------------------------------------------------------- the plug-in and the gate

def _manifest(mode: str, epsilon: float) -> dict:
    privacy = {"mode": "non-dp", "epsilon": "inf"} if mode == "non-dp" else \
        {"mode": "dp", "epsilon": epsilon, "delta": 1e-5, "iterations": 2, "sigma": 1.0}
    return {"smotext": "generate", "privacy": privacy, "models": {"bridge": {"training": {"data": {"sensitive": False}}}}}


def _audit_with(canaries, generated, natural, encoder, generation):
    from smotext.audit.auditor import Auditor
    from smotext.audit.canaries import CanaryRun
    from smotext.synth.corpus import Corpus

    members, population = natural
    run = CanaryRun(canaries, secret=7, generated_texts=generated)
    corpus = lambda texts, name: Corpus.from_texts(texts, None, source=name)
    result = Auditor(plugins=("generation_privacy", "canary"), encoder=encoder, cache=False).run(
        corpus(members[:150], "m"), corpus(population, "h"), corpus(members[150:], "s"), generation=generation,
        canaries=run)
    return result, run


def test_a_bound_above_the_claimed_epsilon_blocks_under_every_shipped_policy(canaries, natural, encoder):
    """A 'DP' generator claiming ε = 0.5 that copies its inputs: the canaries prove the claim false."""
    from smotext.reports.gate import Gate

    generated = natural[0] + [c.text for c in canaries if c.added]
    result, run = _audit_with(canaries, generated, natural, encoder, _manifest("dp", 0.5))
    m = result.metrics
    assert m["canary.epsilon_lower_bound"].value >= 2 and m["canary.bound_above_claim"].value == 1
    assert m["canary.secret_replay"].value == sum(c.added for c in canaries)
    details = result.plugins["canary"]["details"]
    assert "the DP code is wrong" in details["sentence"] and details["claimed_epsilon"] == 0.5
    # per-canary scores go to the private folder through the run, never into results or scores.npz
    assert set(run.scores) == {"embedding", "attribution", "lexical", "ngram", "fragments", "secret_replay"}
    assert "canary" not in result.arrays
    text = json.dumps(result.to_json())
    assert not any(c.secret in text or c.prefix in text for c in canaries)
    for policy in ("default", "research", "strict"):
        decision = Gate(policy).decide(result)
        assert decision.verdict == "BLOCK" and "dp-claim-survives-canaries" in decision.deciding, policy


def test_an_honest_claim_passes_and_a_release_without_canaries_skips_the_rule(canaries, natural, encoder):
    from smotext.reports.gate import Gate

    members = natural[0]
    result, _ = _audit_with(canaries, members, natural, encoder, _manifest("dp", 4.0))  # never saw the canaries
    assert result.metrics["canary.bound_above_claim"].value == 0
    outcome = {o.rule: o.status for o in Gate("default").decide(result).outcomes}
    assert outcome["dp-claim-survives-canaries"] == "pass"
    strict = {o.rule: o.status for o in Gate("strict").decide(result).outcomes}
    assert strict["canaries-planted-and-quiet"] == "pass" and strict["no-canary-secret-echoes"] == "pass"
    assert result.metrics["canary.max_provable_epsilon"].value >= 2 and strict["enough-canaries-to-see"] == "pass"

    from smotext.audit.auditor import Auditor
    from smotext.synth.corpus import Corpus

    corpus = lambda texts, name: Corpus.from_texts(texts, None, source=name)
    plain = Auditor(plugins=("generation_privacy", "canary"), encoder=encoder, cache=False).run(
        corpus(members[:150], "m"), corpus(natural[1], "h"), corpus(members[150:], "s"), generation=_manifest("non-dp", 0))
    assert plain.plugins["canary"]["status"] == "skipped" and "--canaries" in plain.plugins["canary"]["error"]
    default = Gate("default").decide(plain)
    assert {o.rule: o.status for o in default.outcomes}["dp-claim-survives-canaries"] == "skipped"
    assert "dp-claim-survives-canaries" not in default.deciding
    strict = Gate("strict").decide(plain)  # strict requires canaries: their absence blocks
    assert "canaries-planted-and-quiet" in strict.deciding and "no-canary-secret-echoes" not in strict.deciding


# ---------------------------------------------------------------- a release with canaries

@pytest.fixture(scope="module")
def canary_release(tmp_path_factory):
    import csv

    from smotext import SMOTExT, release
    from smotext.synth.demo_corpus import build

    tmp = tmp_path_factory.mktemp("canary_release")
    corpus = tmp / "small.csv"
    with open(corpus, "w", newline="", encoding="utf-8") as f:
        csv.writer(f).writerows([("text", "label"), *build(7)])
    runs = [release(corpus, tmp / f"run{i}", policy="strict", seed=0, canaries=24, canary_secret=982451653, n_boot=20,
                    sampler=SMOTExT(sampling_strategy=40, max_new_tokens=16, random_state=0)) for i in (0, 1)]
    return runs


def test_canaries_and_their_coins_stay_in_the_private_folder(canary_release):
    run = canary_release[0]
    private = json.loads((run.private / "canaries.json").read_text(encoding="utf-8"))
    assert private["secret"] == 982451653 and private["count"] == 24 and len(private["canaries"]) == 24
    assert {"added", "secret", "pii", "scores"} <= set(private["canaries"][0])
    assert private["added"] == sum(c["added"] for c in private["canaries"])
    values = [v for c in private["canaries"] for v in (c["text"], c["secret"], c["prefix"], *c["pii"].values())]
    shared = [p for p in run.out.rglob("*") if p.is_file() and "private" not in p.relative_to(run.out).parts]
    assert {p.name for p in shared} >= {"report.html", "results.json", "synthetic.csv", "synthetic.manifest.json"}
    for path in shared:
        if path.suffix == ".npz":  # numbers only: no canary's scores among them
            with np.load(path, allow_pickle=False) as z:
                assert not any(k.startswith("canary/") for k in z.files)
            continue
        text = path.read_text(encoding="utf-8")
        assert not [v for v in values if v in text], path
        assert str(private["secret"]) not in text, path


def test_no_output_with_a_canary_parent_is_released(canary_release):
    import pandas as pd

    run = canary_release[0]
    members = len(pd.read_csv(run.private / "members.csv"))
    released = [json.loads(line) for line in (run.private / "synthetic.provenance.jsonl").read_text().splitlines()]
    held = [json.loads(line) for line in (run.private / "held_back.jsonl").read_text().splitlines()]
    assert released and all(p < members for r in released for p in r["parents"])
    assert all(any(p >= members for p in r["parents"]) for r in held)
    manifest = json.loads(run.manifest.read_text(encoding="utf-8"))
    assert manifest["canaries"] == {"planted": 24, "outputs_held_back": len(held)}
    synthetic = pd.read_csv(run.synthetic)["text"].tolist()
    assert synthetic == [r["text"] for r in released] and not set(synthetic) & {r["text"] for r in held}
    details = run.results["plugins"]["canary"]["details"]
    assert details["generated"] == len(released) + len(held) and details["held_back"] == len(held)
    # 24 canaries could rule out little even with every guess right: strict wants more
    assert run.results["metrics"]["canary.max_provable_epsilon"]["value"] < 2
    assert "enough-canaries-to-see" in run.results["gate"]["deciding"]


def test_the_same_seed_and_secret_give_the_same_canary_audit(canary_release):
    a, b = canary_release
    assert a.results["plugins"]["canary"]["details"] == b.results["plugins"]["canary"]["details"]
    assert {k: v for k, v in a.results["metrics"].items() if k.startswith("canary.")} == \
        {k: v for k, v in b.results["metrics"].items() if k.startswith("canary.")}
    report = a.report.read_text(encoding="utf-8")
    assert "The worst case: canaries" in report and a.results["plugins"]["canary"]["details"]["sentence"][1:] in report
    d = a.results["plugins"]["canary"]["details"]
    assert f"a made-up word of the secret came back for {d['fragment_echo']} of the added " \
           f"({d['fragment_echo_not_added']} of the others)" in report
