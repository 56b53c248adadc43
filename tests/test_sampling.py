from collections import Counter

import numpy as np
import pytest

from smotext.errors import SmotextError
from smotext.synth.sampling import plan_mixes, resolve_counts, validate_params

from conftest import unit_rows

LABELS = ["a"] * 30 + ["b"] * 12 + ["c"] * 8


def test_counts_auto_balances_up_to_the_majority():
    assert resolve_counts("auto", LABELS) == {"a": 0, "b": 18, "c": 22}


def test_counts_minority_all_int_and_dict():
    assert resolve_counts("minority", LABELS) == {"a": 0, "b": 0, "c": 22}
    assert resolve_counts("all", LABELS) == {"a": 30, "b": 12, "c": 8}
    n = resolve_counts(25, LABELS)
    assert sum(n.values()) == 25 and n == {"a": 15, "b": 6, "c": 4}
    assert resolve_counts({"b": 3}, LABELS) == {"a": 0, "b": 3, "c": 0}


@pytest.mark.parametrize("bad", [0, -3, {"zzz": 4}, {"a": -1}, {"a": 0}, "most", True])
def test_bad_strategies_are_refused(bad):
    with pytest.raises(SmotextError):
        resolve_counts(bad, LABELS)


def test_balanced_corpus_with_auto_says_what_to_do():
    with pytest.raises(SmotextError, match="already balanced"):
        resolve_counts("auto", ["a", "b"] * 5)


def _plan(seed=0, **kw):
    emb = unit_rows(len(LABELS), 16, seed=1)
    counts = kw.pop("counts", {"a": 20, "b": 15, "c": 10})
    return emb, plan_mixes(emb, LABELS, counts, np.random.default_rng(seed), **kw)


@pytest.mark.parametrize("kind", ["regular", "borderline", "adasyn"])
def test_parents_always_share_the_class_and_counts_are_met(kind):
    _, plan = _plan(kind=kind, k_neighbors=4)
    labels = np.asarray(LABELS)
    assert Counter(plan.labels) == {"a": 20, "b": 15, "c": 10}
    for cls, parents in zip(plan.labels, plan.parents):
        assert set(labels[parents]) == {cls}
        assert parents[0] != parents[1]


def test_lambda_stays_in_range_and_weights_sum_to_one():
    _, plan = _plan(lambda_range=(0.3, 0.6))
    lam = plan.weights[:, 0]
    assert lam.min() >= 0.3 and lam.max() <= 0.6
    assert np.allclose(plan.weights.sum(axis=1), 1.0)
    _, beta_plan = _plan(lambda_range=(0.3, 0.6), lambda_distribution="beta", beta=5.0)
    assert beta_plan.weights[:, 0].min() >= 0.3 and beta_plan.weights[:, 0].max() <= 0.6


def test_dirichlet_mixing_over_three_parents():
    _, plan = _plan(n_parents=3, k_neighbors=4, dirichlet_alpha=0.5)
    assert plan.parents.shape[1] == 3 and plan.weights.shape[1] == 3
    assert np.allclose(plan.weights.sum(axis=1), 1.0) and (plan.weights >= 0).all()
    assert all(len(set(p)) == 3 for p in plan.parents)


def test_neighbours_are_the_seeds_nearest():
    emb, plan = _plan(k_neighbors=2)
    labels = np.asarray(LABELS)
    for cls, (seed, other) in zip(plan.labels, plan.parents):
        same = np.flatnonzero(labels == cls)
        sims = emb[same] @ emb[seed]
        ranked = same[np.argsort(-sims)]
        assert other in ranked[1:3]  # ranked[0] is the seed itself


def test_mix_gives_unit_vectors_between_parents():
    emb, plan = _plan()
    z = plan.mix(emb)
    assert np.allclose(np.linalg.norm(z, axis=1), 1.0, atol=1e-5)
    p0, p1 = emb[plan.parents[:, 0]], emb[plan.parents[:, 1]]
    # the mix is at least as close to each parent as the parents are to each other
    assert np.all((z * p0).sum(1) >= (p0 * p1).sum(1) - 1e-5)


def test_same_seed_same_plan_and_different_seed_differs():
    _, a = _plan(seed=3)
    _, b = _plan(seed=3)
    _, c = _plan(seed=4)
    assert np.array_equal(a.parents, b.parents) and np.array_equal(a.weights, b.weights)
    assert not np.array_equal(a.parents, c.parents)


@pytest.mark.parametrize("kind, least_share", [("borderline", 1.0), ("adasyn", 0.7)])
def test_borderline_and_adasyn_seed_near_other_classes(kind, least_share):
    # class "b": 10 members inside class "a"'s cloud, 5 far away on their own
    rng = np.random.default_rng(0)
    a = rng.normal(0, 0.1, size=(20, 8)) + np.eye(8)[0]
    b_near = rng.normal(0, 0.1, size=(10, 8)) + np.eye(8)[0]
    b_far = rng.normal(0, 0.1, size=(5, 8)) + np.eye(8)[1]
    emb = np.vstack([a, b_near, b_far]).astype(np.float32)
    emb /= np.linalg.norm(emb, axis=1, keepdims=True)
    labels = ["a"] * 20 + ["b"] * 15
    plan = plan_mixes(emb, labels, {"b": 300}, np.random.default_rng(1), k_neighbors=3, kind=kind, m_neighbors=5)
    near_share = np.mean(plan.parents[:, 0] < 30)
    assert near_share >= least_share
    regular = plan_mixes(emb, labels, {"b": 300}, np.random.default_rng(1), k_neighbors=3, kind="regular")
    assert np.mean(regular.parents[:, 0] < 30) < 0.8  # regular seeds follow class membership (10 of 15)


def test_small_class_error_names_class_and_fix():
    with pytest.raises(SmotextError, match=r"class 'c' has 8 text\(s\) but k_neighbors=8 needs at least 9.*lower k_neighbors") as e:
        _plan(k_neighbors=8)
    assert e.value.params == ("k_neighbors",)  # the library names its parameter; the CLI maps it to --k-neighbors


@pytest.mark.parametrize(
    "kw",
    [
        {"k_neighbors": 0},
        {"kind": "smote"},
        {"n_parents": 1},
        {"n_parents": 7, "k_neighbors": 5},
        {"lambda_range": (0.8, 0.2)},
        {"lambda_range": (0.0, 1.5)},
        {"lambda_distribution": "gauss"},
        {"beta": 0.0},
    ],
)
def test_bad_parameters_are_refused(kw):
    params = dict(k_neighbors=5, kind="regular", n_parents=2, lambda_range=(0.2, 0.8), lambda_distribution="uniform",
                  beta=2.0, dirichlet_alpha=1.0)
    params.update(kw)
    with pytest.raises(SmotextError):
        validate_params(**params)


@pytest.mark.parametrize("device", ["numpy", "cpu"])  # "cpu": the torch blocks a GPU runs, here on the CPU
@pytest.mark.parametrize("block", [3, 7, 1000])
def test_blocked_topk_matches_brute_force(block, device):
    from smotext.neighbors import topk_cosine

    a, b = unit_rows(23, 8, seed=2), unit_rows(31, 8, seed=3)
    sims, idx = topk_cosine(a, b, k=4, block=block, device=device)
    full = a @ b.T
    np.testing.assert_array_equal(idx, np.argsort(-full, axis=1)[:, :4])
    np.testing.assert_allclose(sims, np.sort(full, axis=1)[:, ::-1][:, :4], rtol=1e-6)
    s_self, i_self = topk_cosine(b, b, k=2, block=block, exclude_self=True, device=device)
    assert not (i_self == np.arange(31)[:, None]).any()
    np.testing.assert_allclose(s_self[:, 0], np.sort((b @ b.T) - 3 * np.eye(31), axis=1)[:, -1], rtol=1e-6)


def test_near_copy_rows_are_dropped_in_order_blockwise_and_against_earlier_ones():
    from smotext.synth.sampling import distinct_rows

    rng = np.random.default_rng(0)
    base = rng.normal(size=(4, 16))
    rows = np.stack([base[0], base[0] + 0.01 * rng.normal(size=16), base[1], base[0] + 0.01 * rng.normal(size=16),
                     base[2], base[1], base[3]])
    rows = (rows / np.linalg.norm(rows, axis=1, keepdims=True)).astype(np.float32)
    want = [True, False, True, False, True, False, True]
    assert distinct_rows(rows, 0.99).tolist() == want
    assert distinct_rows(rows, 0.99, block=2).tolist() == want  # blocks of 2: the same choice
    assert distinct_rows(rows, 0.99, earlier=rows[4:5]).tolist() == [True, False, True, False, False, False, True]
    assert distinct_rows(rows, 1.0).all()  # threshold 1: every row is decoded
