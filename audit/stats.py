"""Attack scoring: ROC AUC, TPR at fixed FPR (the LiRA convention), and their 95% intervals.

The intervals were chosen by their coverage under the null (benchmarks/interval_coverage.py):
the percentile bootstrap held ROC AUC in 91-93% of 100 draws at 66-1000 records and TPR at 1% FPR
in only 87% at 66 (results as of commit 171e0f6), so AUC uses DeLong's variance on the logit
scale and TPR at low FPR an exact, distribution-free bound (order statistics of the holdout +
Clopper-Pearson on the members); both hold at least 94.5% of 2,000 draws now.
"""

from __future__ import annotations

import math

import numpy as np
from scipy import stats as st
from sklearn.metrics import roc_auc_score, roc_curve

FPR_POINTS = (0.01, 0.001)


def tpr_at_fpr(member_scores: np.ndarray, nonmember_scores: np.ndarray, fpr: float) -> float:
    """Highest TPR over thresholds whose FPR is at most ``fpr`` (higher score = 'member')."""
    y = np.r_[np.ones(len(member_scores)), np.zeros(len(nonmember_scores))]
    f, t, _ = roc_curve(y, np.r_[member_scores, nonmember_scores])
    ok = f <= fpr
    return float(t[ok].max()) if ok.any() else 0.0


def auc(member_scores: np.ndarray, nonmember_scores: np.ndarray) -> float:
    y = np.r_[np.ones(len(member_scores)), np.zeros(len(nonmember_scores))]
    return float(roc_auc_score(y, np.r_[member_scores, nonmember_scores]))


def dcr_share(member_nn: np.ndarray, nonmember_nn: np.ndarray) -> float:
    """Share of members whose nearest synthetic text is closer than the holdout's median nearest one.

    Inputs are each record's cosine to its nearest synthetic text; ties with the median count half.
    0.5 = no leak. Counted per real record, not per synthetic text: synthetic texts crowd into a few
    regions, so a per-synthetic count moves with which real records happen to sit there.
    """
    m, h = np.asarray(member_nn, float), np.asarray(nonmember_nn, float)
    med = np.median(h)
    return float(np.mean((m > med) + 0.5 * (m == med)))


def auc_interval(member_scores, nonmember_scores, level: float = 0.95) -> tuple[float, float]:
    """DeLong's variance of the Mann-Whitney AUC, interval formed on the logit scale (so it stays in
    (0, 1) and is not symmetric near the ends). Deterministic; ties count half.

    Where DeLong's variance is zero (perfect separation, or every score tied) it says nothing, so
    Bamber's upper bound on the variance, A(1 - A)/min(m, n), with A kept half a record from 0
    and 1, takes its place."""
    m, h = np.asarray(member_scores, float), np.asarray(nonmember_scores, float)
    # placement values: for each member the share of holdout it beats, and for each holdout record
    # the share of members it stays below
    ranks = st.rankdata(np.r_[m, h])
    v10 = (ranks[: len(m)] - st.rankdata(m)) / len(h)
    v01 = 1.0 - (ranks[len(m):] - st.rankdata(h)) / len(m)
    a = float(v10.mean())
    k = min(len(m), len(h))
    a_ = min(max(a, 0.5 / k), 1 - 0.5 / k)
    var = v10.var(ddof=1) / len(m) + v01.var(ddof=1) / len(h)
    if not var > 0 or a in (0.0, 1.0):
        var = a_ * (1 - a_) / k
    z = st.norm.ppf(0.5 + level / 2)
    se = math.sqrt(var) / (a_ * (1 - a_))  # delta method: d logit(A) = dA / (A(1 - A))
    lg = math.log(a_ / (1 - a_))
    lo, hi = (1 / (1 + math.exp(-(lg + d * z * se))) for d in (-1, 1))
    return float(min(lo, a)), float(max(hi, a))


def clopper_pearson(k: int, n: int, alpha: float) -> tuple[float, float]:
    """Exact binomial bounds for k successes in n, each one-sided at ``alpha``."""
    lo = 0.0 if k == 0 else float(st.beta.ppf(alpha, k, n - k + 1))
    hi = 1.0 if k == n else float(st.beta.ppf(1 - alpha, k + 1, n - k))
    return lo, hi


def tpr_interval(member_scores, nonmember_scores, fpr: float, level: float = 0.95) -> tuple[float, float]:
    """A distribution-free interval for the attack's true TPR at FPR ``fpr``, holding with
    probability >= ``level`` (conservative: it can cover more).

    With few holdout records the empirical threshold for a 1% FPR is a coin toss (at 66 records
    it must sit above all of them), so a bootstrap can't see how far off it is. Instead, with t*
    the true threshold (flag scores above it): at most Binomial(n, fpr) holdout scores lie above
    t*, so the j-th largest is at or below t* with probability >= 1 - a/2 for the j chosen here,
    and the members above it bound the TPR from above (Clopper-Pearson at a/2); the mirror image
    bounds it from below, and gives 0 when the holdout is too small to place any threshold surely
    above t*. Ties are handled: thresholds are strict, as the attack's are."""
    m, h = np.asarray(member_scores, float), np.sort(np.asarray(nonmember_scores, float))[::-1]
    a = (1 - level) / 2  # each side gets half the miss probability, split again between its two steps
    n = len(h)
    # upper: smallest j with P(Bin(n, fpr) <= j - 1) >= 1 - a/2
    j = int(st.binom.ppf(1 - a / 2, n, fpr)) + 1
    hi = 1.0 if j > n else clopper_pearson(int((m > h[j - 1]).sum()), len(m), a / 2)[1]
    # lower: largest j with P(Bin(n, fpr) <= j - 1) < a/2 (ppf is the smallest k with cdf(k) >= a/2)
    j = int(st.binom.ppf(a / 2, n, fpr))
    lo = 0.0 if j < 1 else clopper_pearson(int((m > h[j - 1]).sum()), len(m), a / 2)[0]
    return lo, hi


def wilson(k: int, n: int, level: float = 0.95) -> tuple[float, float]:
    """Wilson score interval for k successes in n."""
    z = st.norm.ppf(0.5 + level / 2)
    p = k / n
    mid, half = (p + z * z / (2 * n)), z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    d = 1 + z * z / n
    # at k = 0 (k = n) the end is exactly 0 (1); the formula leaves float dust there
    return (0.0 if k == 0 else float((mid - half) / d)), (1.0 if k == n else float((mid + half) / d))


def rate_difference_interval(k1: int, k2: int, n: int, level: float = 0.95) -> tuple[float, float]:
    """Newcombe's hybrid score interval for k1/n - k2/n (his method 10). It treats the two rates as
    independent; ours are counted on the same synthetic texts, which a positive correlation makes
    conservative. Rare events are where a bootstrap of a rate fails (a resample of 0 copies is
    always 0), and a 5% copy rate at a few hundred texts is exactly that."""
    p1, p2 = k1 / n, k2 / n
    (l1, u1), (l2, u2) = wilson(k1, n, level), wilson(k2, n, level)
    d = p1 - p2
    return d - math.hypot(p1 - l1, u2 - p2), d + math.hypot(u1 - p1, p2 - l2)


def bootstrap(stat, member_scores, nonmember_scores, rng: np.random.Generator, n_boot: int = 200):
    """``stat(members, nonmembers)`` (a number or a list) and its 95% percentile-bootstrap interval,
    members and non-members resampled apart."""
    m, h = np.asarray(member_scores, float), np.asarray(nonmember_scores, float)
    point = stat(m, h)
    boots = np.array([stat(m[rng.integers(len(m), size=len(m))], h[rng.integers(len(h), size=len(h))]) for _ in range(n_boot)])
    return point, np.percentile(boots, 2.5, axis=0), np.percentile(boots, 97.5, axis=0)


def attack_summary(member_scores, nonmember_scores) -> dict:
    """AUC (DeLong-logit interval) and TPR at each FPR point (exact order-statistic interval), 95%."""
    if len(member_scores) < 2 or len(nonmember_scores) < 2:
        raise ValueError(f"an attack needs at least 2 members and 2 non-members, got {len(member_scores)} and {len(nonmember_scores)}")
    m, h = np.asarray(member_scores, float), np.asarray(nonmember_scores, float)
    out = {"auc": {"value": auc(m, h), "ci": list(auc_interval(m, h))}}
    for f in FPR_POINTS:
        v = tpr_at_fpr(m, h, f)
        lo, hi = tpr_interval(m, h, f)
        out[f"tpr_at_fpr_{f:g}"] = {"value": v, "ci": [min(lo, v), max(hi, v)]}
    return out


def roc_for_plot(member_scores, nonmember_scores, points: int = 200) -> dict:
    """ROC curve thinned to at most ``points`` points, log-spaced in FPR, for plotting."""
    y = np.r_[np.ones(len(member_scores)), np.zeros(len(nonmember_scores))]
    f, t, _ = roc_curve(y, np.r_[member_scores, nonmember_scores])
    grid = np.unique(np.r_[0.0, np.logspace(-4, 0, points - 1)])
    tpr = [float(t[f <= g].max()) if (f <= g).any() else 0.0 for g in grid]
    return {"fpr": grid.tolist(), "tpr": tpr}
