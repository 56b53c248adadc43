"""The audit's 95% intervals: they hold the truth as often as they claim, and behave at the edges."""

import numpy as np
import pytest

from smotext.audit.stats import (attack_summary, auc, auc_interval, clopper_pearson, rate_difference_interval, tpr_at_fpr,
                                 tpr_interval, wilson)


def test_auc_interval_covers_the_null_at_a_small_audit():
    # The percentile bootstrap held AUC 0.5 in 91-93% of draws; DeLong on the logit scale must reach ~95%.
    rng = np.random.default_rng(0)
    hits = sum(lo <= 0.5 <= hi for lo, hi in (auc_interval(rng.normal(size=66), rng.normal(size=66)) for _ in range(400)))
    assert hits / 400 >= 0.925  # 95% less two standard errors at 400 draws


def test_tpr_interval_covers_the_true_tpr_where_the_bootstrap_did_not():
    # Scores N(1, 1) for members, N(0, 1) for holdout: the true TPR at 1% FPR is P(Z > z_0.99 - 1).
    from scipy.stats import norm

    truth = norm.sf(norm.isf(0.01) - 1)
    rng = np.random.default_rng(1)
    for n in (66, 400):
        hits = sum(lo <= truth <= hi for lo, hi in
                   (tpr_interval(rng.normal(1, size=n), rng.normal(size=n), 0.01) for _ in range(300)))
        assert hits / 300 >= 0.95, n  # exact and conservative: at least its level


def test_tpr_lower_end_needs_enough_holdout_to_place_a_1pct_threshold():
    members, holdout = np.ones(100), np.zeros(100)
    # 100 holdout records can't rule out that 1% of non-members score above every member
    assert tpr_interval(members, holdout, 0.01)[0] == 0.0
    lo, hi = tpr_interval(np.ones(1000), np.zeros(1000), 0.01)
    assert lo > 0.99 and hi == 1.0


def test_tpr_interval_handles_tied_scores_as_the_attack_does():
    # Most records share no phrase with the synthetic texts (score 0): the threshold sits above 0.
    rng = np.random.default_rng(2)
    members, holdout = np.r_[np.zeros(950), rng.random(50)], np.r_[np.zeros(990), rng.random(10)]
    lo, hi = tpr_interval(members, holdout, 0.01)
    assert lo <= tpr_at_fpr(members, holdout, 0.01) <= hi < 0.08
    assert tpr_interval(np.zeros(1000), np.zeros(1000), 0.01)[1] < 0.005  # no one flagged: no members found


def test_auc_interval_at_the_edges():
    lo, hi = auc_interval(np.zeros(100), np.zeros(100))  # all tied: DeLong says 0, Bamber's bound stands in
    assert lo < 0.45 and hi > 0.55
    lo, hi = auc_interval(np.ones(100), np.zeros(100))  # perfect separation
    assert 0.9 < lo < 1.0 and hi == 1.0
    m, h = np.random.default_rng(3).normal(0.3, size=(2, 500))
    lo, hi = auc_interval(m, h)
    assert lo < auc(m, h) < hi and hi - lo < 0.1


def test_attack_summary_is_deterministic_and_holds_its_point_values():
    rng = np.random.default_rng(4)
    m, h = rng.normal(0.5, size=300), rng.normal(size=300)
    a, b = attack_summary(m, h), attack_summary(m, h)
    assert a == b
    for s in a.values():
        assert s["ci"][0] <= s["value"] <= s["ci"][1]


def test_binomial_bounds_match_known_values():
    assert clopper_pearson(0, 100, 0.025)[1] == pytest.approx(0.0362, abs=1e-4)
    assert wilson(0, 200) == (0.0, pytest.approx(0.01884, abs=1e-4))
    lo, hi = rate_difference_interval(15, 0, 300)  # 5% copies of members, none of holdout, at 300 texts
    assert 0.02 < lo < 0.05 < hi
    lo, hi = rate_difference_interval(0, 0, 40)  # nothing seen in 40 texts decides little
    assert lo == -hi and hi > 0.08
