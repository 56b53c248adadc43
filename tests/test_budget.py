"""One privacy budget: the split between DP generation and the voice adapter, the parts it builds,
the one calibration and the composition the audit reads."""

import math

import pytest

from smotext.errors import SmotextError
from smotext.synth.budget import PrivacyBudget, compose
from smotext.synth.dp import DEFAULT_VOICE_EPSILON


def test_the_budget_splits_and_builds_both_parts_in_python():
    budget = PrivacyBudget(4.0, dp=True, adapt_voice=True, delta=1e-6, accountant="rdp")
    assert budget.split() == (2.0, 2.0)
    gen, voice = budget.generation_part(topic="clinic message", iterations=3), budget.voice_part(kind="prefix")
    assert (gen.target_epsilon, gen.delta, gen.accountant, gen.iterations, gen.topic) == (2.0, 1e-6, "rdp", 3, "clinic message")
    assert (voice.epsilon, voice.delta, voice.accountant, voice.kind) == (2.0, 1e-6, "rdp", "prefix")
    assert PrivacyBudget(4.0, dp=True, adapt_voice=True, voice_epsilon=1.0).split() == (3.0, 1.0)
    assert PrivacyBudget(3.0, adapt_voice=True).split() == (None, 3.0)  # no DP generation: all of it the adapter's
    assert PrivacyBudget().generation_part() is None
    # by default, without DP generation: an optional adapter at the default voice ε; never with DP generation
    auto = PrivacyBudget().voice_part(kind="prefix")
    assert (auto.epsilon, auto.optional, auto.kind) == (DEFAULT_VOICE_EPSILON, True, "prefix")
    assert PrivacyBudget(adapt_voice=False).voice_part() is None and PrivacyBudget(4.0, dp=True).voice_part() is None
    assert PrivacyBudget(3.0, adapt_voice=True).voice_part().optional is False  # asked for: a small corpus is refused


def test_the_default_adapter_says_whether_it_runs():
    auto = PrivacyBudget().voice_part()
    need = auto.plan(100).min_texts
    runs, line = auto.decide(100)
    assert not runs and "100 members are too few" in line and f"needs about {need:,}" in line
    runs, line = auto.decide(need + 200)
    assert runs and f"at ε = {DEFAULT_VOICE_EPSILON:g}" in line and "--no-adapt-voice" in line


@pytest.mark.parametrize("budget, message", [
    (PrivacyBudget(dp=True), "`dp` needs a budget"),
    (PrivacyBudget(4.0), "`target_epsilon` only applies with `dp`"),
    (PrivacyBudget(4.0, dp=True, adapt_voice=True, voice_epsilon=4.0), "between 0 and `target_epsilon`"),
    (PrivacyBudget(voice_epsilon=1.0), "`voice_epsilon` only applies with `adapt_voice`"),
    (PrivacyBudget(200.0, dp=True), "target_epsilon must be"),
])
def test_an_unclear_budget_is_refused_in_one_line(budget, message):
    with pytest.raises(SmotextError, match=message) as caught:
        budget.check()
    assert "\n" not in str(caught.value)


def test_settings_for_a_part_that_does_not_run_are_refused():
    with pytest.raises(SmotextError, match="`population` only applies with `dp`"):
        PrivacyBudget().generation_part(population=9)
    with pytest.raises(SmotextError, match="`adapter` only applies with `adapt_voice`"):
        PrivacyBudget(4.0, dp=True).voice_part(kind="bias")


def test_one_calibration_serves_dp_sgd_and_the_votes():
    from smotext.synth.dp import DPConfig, calibrate, noise_multiplier
    from smotext.synth.pe_privacy import VoteBudget, calibrate_votes

    sgd = calibrate(DPConfig(4.0, 1e-5), n=1000, batch_size=50, steps=20).noise_multiplier
    assert sgd == noise_multiplier(4.0, 1e-5, 50 / 1000, 20, "prv", "", "", ()) == \
        PrivacyBudget.calibrate(4.0, 1e-5, 50 / 1000, 20, "prv", "", "", ())
    votes = calibrate_votes(VoteBudget(4.0, iterations=2, delta=1e-5), records=1000, secret=1).sigma
    assert votes == noise_multiplier(4.0, 1e-5, 1.0, 3, "prv", "", "", ())  # 2 rounds + the class counts


def test_composition_adds_the_parts():
    bridge = {"training": {"data": {"sensitive": True}, "dp": {"used": True, "epsilon": 1.5}}, "dp": {"delta": 1e-6}}
    dp_run = compose({"mode": "dp", "epsilon": 2.0, "delta": 1e-5}, bridge)
    assert dp_run["epsilon"] == 3.5 and dp_run["delta"] == pytest.approx(1.1e-5)
    public_bridge = {"training": {"data": {"sensitive": False}}}
    assert compose(None, public_bridge)["epsilon"] == math.inf  # non-DP generation: no guarantee
    assert compose({"mode": "dp", "epsilon": 2.0, "delta": 1e-5}, public_bridge)["epsilon"] == 2.0
