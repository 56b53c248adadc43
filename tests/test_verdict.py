"""The default policy's verdict on evidence, end to end with the real encoder and Presidio: a generator
that learned only the distribution is released, planted leaks are blocked by a rule that measured them
(not by "cannot tell").

The corpus is made here so that a clean generator exists: every text is a fresh random run of words
(class words mixed with common ones, a fifth of them with an email address), so new draws from the
same process are as close to members as to holdout records and copy no one. (The demo corpus can't
serve: its templates are so few that any fresh draw nearly copies some member.)
"""

import random

import pytest

from smotext import Auditor, Gate, load_policy, split_corpus
from smotext.synth.corpus import Corpus
from test_audit import default_bridge_manifest

N_REAL, N_SYNTHETIC = 4400, 400
COMMON = ("the a my our to of and for with on at this that is was will please need about from new next "
          "week today call send check ask help form note team plan time date place change").split()
CLASSES = {
    "billing": "invoice charge refund payment balance statement copay insurance claim receipt fee account".split(),
    "symptom": "nurse cough fever rash pain symptom tired dizzy swelling breath sleep headache".split(),
    "prescription": "refill pharmacy tablet prescription generic supply label nausea pills dose inhaler renew".split(),
    "appointment": "appointment reschedule cancel slot morning afternoon booking checkup reminder clinic visit doctor".split(),
}
WORDS = [w for ws in CLASSES.values() for w in ws]


def draw(n: int, seed: int) -> list[tuple[str, str]]:
    rng = random.Random(seed)
    rows = []
    for i in range(n):
        label = rng.choice(sorted(CLASSES))
        words = [rng.choice(CLASSES[label]) if rng.random() < 0.4 else rng.choice(COMMON + WORDS)
                 for _ in range(rng.randint(12, 18))]
        text = " ".join(words)
        if rng.random() < 0.2:
            text += f", write to pat{seed}x{i}@example.com"
        rows.append((text, label))
    return rows


@pytest.fixture(scope="module")
def splits():
    real = draw(N_REAL, seed=1)
    corpus = Corpus([t for t, _ in real], [y for _, y in real], True, "random-words", "random-words")
    members, holdout, test = split_corpus(corpus, 0.3, 0.2, seed=0)
    return members, holdout, test, draw(N_SYNTHETIC, seed=2)


@pytest.fixture(scope="module")
def audit(encoder, splits):
    members, holdout, test, _ = splits
    # no public reference: the planted values are unique addresses no LM writes, so it could excuse none
    auditor = Auditor(encoder=encoder, seed=0, plugin_params={"pii": {"reference_texts": 0}})

    def run(rows, name):
        synthetic = Corpus([t for t, _ in rows], [y for _, y in rows], True, name, name)
        return auditor.run(members, holdout, synthetic, test=test, generation=default_bridge_manifest())

    return run


def with_copies(splits, share, seed):
    """The clean rows with ``share`` of them replaced by verbatim copies of members that carry an
    email address (so copying and PII replay are both planted)."""
    members, _, _, fresh = splits
    rng = random.Random(seed)
    pii = [i for i, t in enumerate(members.texts) if "@" in t]
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
    assert "no-excess-near-copies" in heavy.deciding and "no-excess-near-copies" not in heavy.undecided
