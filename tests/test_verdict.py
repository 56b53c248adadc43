"""The default policy's verdict on evidence, end to end on the shipped demo corpus with the real encoder
and Presidio: a generator that learned only the distribution is released, planted leaks are blocked by
a rule that measured them (not by "cannot tell").

The "clean generator" is the demo corpus's own template process drawn with another seed: texts from
the same distribution that no member produced.
"""

import random

import pytest

from smotext import Auditor, Gate, load_policy, read_corpus, split_corpus
from smotext.synth.corpus import Corpus
from smotext.synth.demo_corpus import build, demo_corpus_path
from test_audit import default_bridge_manifest

N_SYNTHETIC = 400


@pytest.fixture(scope="module")
def splits():
    corpus = read_corpus(demo_corpus_path())
    members, holdout, test = split_corpus(corpus, 0.3, 0.2, seed=0)
    seen = set(corpus.texts)
    fresh = [(t, y) for t, y in build(seed=99, size=2 * N_SYNTHETIC) if t not in seen][:N_SYNTHETIC]
    return members, holdout, test, fresh


@pytest.fixture(scope="module")
def audit(encoder, splits):
    members, holdout, test, _ = splits
    auditor = Auditor(encoder=encoder, seed=0)

    def run(rows, name):
        synthetic = Corpus([t for t, _ in rows], [y for _, y in rows], True, name, name)
        return auditor.run(members, holdout, synthetic, test=test, generation=default_bridge_manifest())

    return run


def with_copies(splits, share, seed):
    """The clean rows with ``share`` of them replaced by verbatim copies of members that carry a
    phone number or an email (so copying and PII replay are both planted)."""
    members, _, _, fresh = splits
    rng = random.Random(seed)
    pii = [i for i, t in enumerate(members.texts) if "@" in t or "555-" in t]
    k = int(share * len(fresh))
    return [(members.texts[i], members.labels[i]) for i in rng.sample(pii, k)] + fresh[k:]


def test_a_clean_large_draw_is_released_on_evidence(audit, splits):
    result = audit(splits[3], "clean")
    decision = Gate("default").decide(result)
    assert result.to_json()["inputs"]["evaluated"]["nonmembers"] == 1320
    assert decision.verdict == "RELEASE", [(o.rule, o.reason) for o in decision.outcomes if o.status != "pass"]
    interval_rules = [r for r in load_policy("default").rules if r.bound == "ci_upper"]
    assert len(interval_rules) == 6
    for o in decision.outcomes:
        if o.bound == "ci_upper":  # the upper end of the interval, not the point value, was compared
            assert o.status == "pass" and o.compared == o.ci[1] >= o.value


def test_a_planted_leak_is_blocked_by_the_rule_that_measured_it(audit, splits):
    leak = Gate("default").decide(audit(with_copies(splits, 0.05, seed=1), "leak"))
    assert leak.verdict == "BLOCK" and leak.exit_code == 1
    measured = [r for r in leak.deciding if r not in leak.undecided]
    assert "no-replayed-pii" in measured
    heavy = Gate("default").decide(audit(with_copies(splits, 0.3, seed=2), "heavy"))
    o = next(o for o in heavy.outcomes if o.rule == "no-excess-near-copies")
    # 120 of 400 texts copy a member: the whole interval of the excess rate is above 2 points
    assert o.status == "fail" and "measured" in o.reason and o.ci[0] > 0.02
