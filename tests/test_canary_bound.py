"""The one-run ε lower bound (Steinke, Nasr and Jagielski 2023), checked against values computed here
independently of the module: the binomial tail solved with brentq, and the paper's bound formula."""

import math

import numpy as np
import pytest
from scipy import optimize, stats

from smotext.audit.canary_bound import audit_bound, epsilon_lower_bound, guesses, p_value


def pure_bound(r: int, v: int, beta: float) -> float:
    """δ = 0: the ε at which P[Binomial(r, e^ε/(1+e^ε)) >= v] reaches β, solved directly."""
    f = lambda e: stats.binom.sf(v - 1, r, 1 / (1 + math.exp(-e))) - beta
    return 0.0 if f(0.0) >= 0 else optimize.brentq(f, 0.0, 50.0, xtol=1e-10)


@pytest.mark.parametrize("r,v", [(20, 20), (100, 70), (200, 150), (400, 230), (1000, 540)])
def test_bound_without_delta_solves_the_binomial_tail(r, v):
    assert epsilon_lower_bound(r, r, v, 0.0, 0.05) == pytest.approx(pure_bound(r, v, 0.05), abs=1e-6)


def test_all_correct_guesses_give_the_closed_form():
    # v = r: the tail is q^r, so the bound is logit(β^(1/r)); 100 of 100 right rules out ε < 3.49
    r = 100
    q = 0.05 ** (1 / r)
    assert epsilon_lower_bound(r, r, r, 0.0, 0.05) == pytest.approx(math.log(q / (1 - q)), abs=1e-6)
    assert epsilon_lower_bound(r, r, r, 0.0, 0.05) == pytest.approx(3.49, abs=0.01)


def test_delta_only_weakens_the_bound_and_matches_the_paper_formula():
    m, r, v, eps, delta = 500, 200, 150, 1.0, 1e-3
    q = 1 / (1 + math.exp(-eps))
    # the paper's δ term: 2mδ · max_i P[v - i <= B < v] / i, computed here by a plain loop
    alpha = max(sum(stats.binom.pmf(v - j, r, q) for j in range(1, i + 1)) / i for i in range(1, v + 1))
    assert p_value(m, r, v, eps, delta) == pytest.approx(stats.binom.sf(v - 1, r, q) + 2 * m * delta * alpha, rel=1e-9)
    assert epsilon_lower_bound(m, r, v, delta) < epsilon_lower_bound(m, r, v, 0.0)


def test_bound_grows_with_correct_guesses():
    bounds = [epsilon_lower_bound(200, 200, v, 1e-5) for v in (100, 120, 140, 160, 180, 200)]
    assert bounds[0] == 0.0 and all(a < b for a, b in zip(bounds[1:], bounds[2:]))


def test_coin_flip_guesses_rarely_bound_anything():
    # an attack that knows nothing: its scores are independent of the coins; at 95% confidence the
    # bound may exceed 0 in at most ~5% of runs (Bonferroni over k makes it rarer still)
    rng = np.random.default_rng(0)
    for sides in ("both", "added"):
        positive = [audit_bound(rng.random(200), rng.random(200) < 0.5, delta=1e-5, seed=i, sides=sides).epsilon > 0
                    for i in range(200)]
        assert np.mean(positive) <= 0.05, sides


def test_a_perfect_attack_on_200_canaries_bounds_epsilon_above_2():
    rng = np.random.default_rng(1)
    added = rng.random(200) < 0.5
    b = audit_bound(added.astype(float) + 0.01 * rng.random(200), added, delta=1e-5)
    assert b.epsilon >= 2 and b.correct == b.guesses
    # testing more bounds at once (several attacks) costs confidence: a smaller bound
    assert audit_bound(added.astype(float), added, delta=1e-5, tests=4).epsilon < b.epsilon


def test_guesses_count_both_ends_and_break_ties_by_seed_not_order():
    added = np.array([True, True, False, False, True, False])
    r, v = guesses(np.array([0.9, 0.8, 0.1, 0.2, 0.3, 0.7]), added, 2)
    assert (r, v) == (4, 4)
    tied = np.zeros(6)
    assert guesses(tied, added, 3, seed=5) == guesses(tied, added, 3, seed=5)
    with pytest.raises(ValueError):
        guesses(tied, added, 4)


def test_an_attack_with_evidence_for_added_only_bounds_more_guessing_one_way():
    """Evidence for a tenth of the added canaries (a word found again) and nothing about the rest:
    guessing 'not added' from the lowest scores is a coin flip, so guessing 'added' only, abstaining
    on the rest, counts the same right guesses without the noise and bounds more."""
    rng = np.random.default_rng(3)
    added = rng.random(1000) < 0.5
    scores = rng.random(1000)
    scores[np.flatnonzero(added)[:50]] += 1  # 50 of ~500 added found
    assert guesses(scores, added, 50, sides="added") == (50, 50)
    r, v = guesses(scores, added, 50)
    assert r == 100 and v < 85  # the 50 lowest are about half added
    one, both = (audit_bound(scores, added, delta=1e-5, sides=s) for s in ("added", "both"))
    assert one.sides == "added" and one.guesses == one.k and one.epsilon >= 1 > both.epsilon
    with pytest.raises(ValueError):
        guesses(scores, added, 50, sides="not added")


def test_what_a_perfect_attack_could_show_grows_with_the_canaries():
    """max_provable: every guess right as far as the coins allow, checked against the binomial tail
    solved here for each k it tried (each tested at 5% / (number of k · 4 attacks))."""
    from smotext.audit.canary_bound import max_provable

    rng = np.random.default_rng(2)
    found = {}
    for m in (50, 200, 1000):
        coins = rng.random(m) < 0.5
        b = found[m] = max_provable(coins, delta=0.0, tests=4)
        beta = 0.05 / (len(b.ks_tried) * 4)
        # the k highest are the added ones and the k lowest the others, as far as there are that many
        right = lambda k: min(k, coins.sum()) + min(k, m - coins.sum())
        assert b.epsilon == pytest.approx(max(pure_bound(2 * k, right(k), beta) for k in b.ks_tried), abs=1e-6)
    assert found[50].epsilon < found[200].epsilon < found[1000].epsilon


def test_repeated_canaries_are_counted_as_groups_so_the_bound_stays_one_about_a_record():
    """A canary added R times is a group of R records: (ε, δ)-DP about one record is (Rε, R·e^((R-1)ε)·δ)-DP
    about the group. Without δ the bound about one record is the group's divided by R exactly; with δ
    it is lower still (the group's δ grows)."""
    from smotext.audit.canary_bound import max_provable

    m, r, v = 1000, 600, 560
    plain = epsilon_lower_bound(m, r, v, 0.0)
    assert plain > 1
    for group in (2, 4):
        assert epsilon_lower_bound(m, r, v, 0.0, group=group) == pytest.approx(plain / group, rel=1e-6)
        assert epsilon_lower_bound(m, r, v, 1e-5, group=group) <= epsilon_lower_bound(m, r, v, 0.0, group=group)
    coins = np.random.default_rng(0).random(m) < 0.5
    assert max_provable(coins, 1e-5, group=3).epsilon < max_provable(coins, 1e-5).epsilon / 2.9
    with pytest.raises(ValueError, match="group must be >= 1"):
        epsilon_lower_bound(m, r, v, 0.0, group=0)
