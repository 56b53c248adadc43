"""DP generation's privacy core: votes have sensitivity 1, the accountant's ε is Opacus' own and the
exact Gaussian composition's, the noise comes from the secret alone, and impossible budgets are refused."""

import math

import numpy as np
import pytest

from smotext.errors import SmotextError
from smotext.synth.dp import epsilon_spent
from smotext.synth.pe_privacy import (DPGeneration, VoteBudget, assign_classes, calibrate_votes,
                                      gaussian_composition_epsilon, noise, noisy_centroids, noisy_class_counts, noisy_votes,
                                      vote_histogram)


def unit(x):
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def test_plan_spends_what_a_fresh_opacus_computation_says():
    plan = calibrate_votes(VoteBudget(target_epsilon=4, iterations=5), records=1000)
    assert plan.mechanisms == 6 and plan.delta == pytest.approx(1e-4)  # 5 rounds + the class counts; δ = 1/(10 N)
    from opacus.accountants import PRVAccountant

    acc = PRVAccountant()
    acc.history = [(plan.sigma, 1.0, 6)]
    assert plan.epsilon() == pytest.approx(acc.get_epsilon(delta=plan.delta), rel=1e-9)
    assert plan.epsilon() <= 4 + 1e-6
    facts = plan.facts()
    assert facts["epsilon"] == plan.epsilon() and facts["sigma"] == plan.sigma and "secret" not in facts
    assert facts["epsilon_per_part"]["iterations"] < facts["epsilon"]  # the counts cost something too
    public = calibrate_votes(VoteBudget(target_epsilon=4, iterations=5, public_class_counts=True), records=1000)
    assert public.mechanisms == 5 and public.sigma < plan.sigma and public.facts()["epsilon_per_part"]["class_counts"] == 0


def test_sample_rate_one_is_plain_gaussian_composition():
    # Why Opacus with sample rate 1 is the right accountant: with no subsampling its mechanism is the
    # Gaussian mechanism, and T of them compose exactly to one with μ = √T/σ. PRV must agree with
    # that exact ε (and may only err upward); RDP is a valid but looser bound.
    for sigma, t in ((2.0, 5), (6.0, 20), (1.0, 1)):
        exact = gaussian_composition_epsilon(sigma, t, 1e-5)
        prv = epsilon_spent("prv", sigma, 1.0, t, 1e-5)
        rdp = epsilon_spent("rdp", sigma, 1.0, t, 1e-5)
        assert exact <= prv <= exact * 1.01 + 1e-3, (sigma, t, exact, prv)
        assert rdp >= prv


def test_one_record_moves_the_histogram_by_at_most_one():
    rng = np.random.default_rng(0)
    cands, cand_cls = unit(rng.normal(size=(40, 16))), np.repeat(["a", "b"], 20)
    real, cls = unit(rng.normal(size=(300, 16))), rng.choice(["a", "b"], 300)
    base = vote_histogram(real, cls, cands, cand_cls)
    assert base.sum() == 300 and base[:20].sum() == (cls == "a").sum()  # every record votes, in its own class
    for i in rng.choice(300, 25, replace=False):
        keep = np.arange(300) != i
        removed = vote_histogram(real[keep], cls[keep], cands, cand_cls)
        assert np.linalg.norm(base - removed) == 1.0  # add/remove: exactly one vote
        other = real.copy()
        other[i] = unit(rng.normal(size=(1, 16)))[0]
        replaced = vote_histogram(other, cls, cands, cand_cls)
        assert np.linalg.norm(base - replaced) in (0.0, math.sqrt(2))  # replace: one vote moves
    contrast = vote_histogram(real, cls, cands, cand_cls, votes="contrast")
    assert np.abs(contrast).sum() <= 300 and contrast.sum() < 300  # records nearest a foreign candidate count -1
    for i in rng.choice(300, 25, replace=False):
        keep = np.arange(300) != i
        assert np.linalg.norm(contrast - vote_histogram(real[keep], cls[keep], cands, cand_cls, votes="contrast")) == 1.0


def test_a_class_without_candidates_casts_no_votes():
    hist = vote_histogram(unit(np.eye(3)), ["a", "b", "c"], unit(np.eye(3)[:2]), ["a", "b"])
    assert hist.tolist() == [1, 1]


def test_noise_comes_from_the_secret_alone():
    budget = VoteBudget(target_epsilon=2, iterations=3)
    p1, p2, p3 = (calibrate_votes(budget, 500, secret=s) for s in (7, 7, 8))
    hist = np.arange(10)
    assert np.array_equal(noisy_votes(p1, hist, 0), noisy_votes(p2, hist, 0))
    assert not np.array_equal(noisy_votes(p1, hist, 0), noisy_votes(p3, hist, 0))
    assert not np.array_equal(noisy_votes(p1, hist, 0), noisy_votes(p1, hist, 1))  # fresh noise each round
    draws = np.array([noisy_votes(calibrate_votes(budget, 500), np.zeros(2000), 0) for _ in range(2)])
    assert not np.array_equal(draws[0], draws[1])  # no secret given: a new one each run
    assert np.std(draws) == pytest.approx(p1.sigma, rel=0.05)
    with pytest.raises(ValueError, match="budget covers no more rounds"):
        noisy_votes(p1, hist, 3)
    counts = noisy_class_counts(p1, {"a": 300, "b": 200})
    assert set(counts) == {"a", "b"} and counts != {"a": 300.0, "b": 200.0} and min(counts.values()) >= 0


def test_the_label_model_is_one_more_release_of_sensitivity_one():
    """The centroids are the per-class sums of the records' embeddings, each scaled to norm <= 1, plus
    noise from the secret: adding any one record moves the noiseless sums by at most 1, and the
    budget counts the release."""
    plain = calibrate_votes(VoteBudget(target_epsilon=4, iterations=2), records=1000, secret=5)
    plan = calibrate_votes(DPGeneration(target_epsilon=4, iterations=2).budget(classes=2), records=1000, secret=5)
    assert plan.label_model and plan.mechanisms == plain.mechanisms + 1 == 4 and plan.sigma > plain.sigma
    assert plan.epsilon() == pytest.approx(epsilon_spent("prv", plan.sigma, 1.0, 4, plan.delta), rel=1e-9)
    assert plan.epsilon() <= 4 + 1e-6
    assert plan.facts()["label_model"] == "class centroids" and plain.facts()["label_model"] is None
    # one class, blind evolution or labels='evolved': no label model, nothing spent on it
    for dp, classes in ((DPGeneration(target_epsilon=4), 1), (DPGeneration(target_epsilon=4, ablation="no_votes"), 2),
                        (DPGeneration(target_epsilon=4, labels="evolved"), 2)):
        assert not dp.budget(classes).label_model
    with pytest.raises(ValueError, match="does not cover the label model"):
        noisy_centroids(plain, np.eye(3), ["a", "b", "a"], ["a", "b"])

    rng = np.random.default_rng(0)
    real, classes = unit(rng.normal(size=(50, 8))), np.array(["a", "b"] * 25)
    exact = lambda r, c: np.stack([r[c == k].sum(0) for k in ("a", "b")])  # the sums without noise, as released
    one = 30 * unit(rng.normal(size=(1, 8)))  # an outsized embedding: clipped to norm 1
    wider = np.concatenate([real, one]) / np.maximum(1, np.linalg.norm(np.concatenate([real, one]), axis=1))[:, None]
    moved = exact(wider, np.append(classes, "b")) - exact(real, classes)
    assert np.linalg.norm(moved) == pytest.approx(1.0)
    # released = normalised (sums + the secret's noise for the release after the class counts)
    expected = exact(real, classes) + noise(plan, 16, plan.iterations + 1).reshape(2, 8)
    got = noisy_centroids(plan, real, classes, ["a", "b"])
    assert np.allclose(got, unit(expected))
    again = calibrate_votes(DPGeneration(target_epsilon=4, iterations=2).budget(2), records=1000, secret=6)
    assert not np.allclose(noisy_centroids(again, real, classes, ["a", "b"]), got)


def test_outputs_take_the_class_their_centroid_sets_apart_as_many_as_each_class_asked_for():
    centroids = unit(np.array([[1.0, 0.2, 0.0], [0.2, 1.0, 0.0]]))
    emb = unit(np.array([[1, 0, 0.5], [0.9, 0.1, 0], [0, 1, 0], [0.6, 0.5, 3], [0.1, 0.9, 0]], float))
    assert assign_classes(emb, centroids, [2, 3]).tolist() == [0, 0, 1, 1, 1]
    assert assign_classes(emb, centroids, [3, 2]).tolist() == [0, 0, 1, 0, 1]  # the least clear row fills class 0
    assert assign_classes(emb, centroids, [1, 1]).tolist() == [0, 0, 1, 0, 1]  # more rows than asked: the nearest


def test_impossible_budgets_are_refused_with_the_fix():
    with pytest.raises(SmotextError, match="usefully.*Raise target_epsilon") as e:
        calibrate_votes(VoteBudget(target_epsilon=0.01, iterations=10), records=20)
    assert "target_epsilon" in e.value.params
    for bad in (dict(target_epsilon=0), dict(target_epsilon=1, iterations=0, public_class_counts=True),
                dict(target_epsilon=1, iterations=-1), dict(target_epsilon=1, delta=1.5),
                dict(target_epsilon=1, accountant="gdp")):
        with pytest.raises(SmotextError):
            calibrate_votes(VoteBudget(**bad), records=100)
