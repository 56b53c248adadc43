"""Attack scoring: ROC AUC, TPR at fixed FPR (the LiRA convention), bootstrap intervals."""

from __future__ import annotations

import numpy as np
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


def bootstrap(stat, member_scores, nonmember_scores, rng: np.random.Generator, n_boot: int = 200):
    """``stat(members, nonmembers)`` (a number or a list) and its 95% percentile-bootstrap interval,
    members and non-members resampled apart."""
    m, h = np.asarray(member_scores, float), np.asarray(nonmember_scores, float)
    point = stat(m, h)
    boots = np.array([stat(m[rng.integers(len(m), size=len(m))], h[rng.integers(len(h), size=len(h))]) for _ in range(n_boot)])
    return point, np.percentile(boots, 2.5, axis=0), np.percentile(boots, 97.5, axis=0)


def attack_summary(member_scores, nonmember_scores, rng: np.random.Generator, n_boot: int = 200) -> dict:
    """AUC and TPR@FPR with 95% percentile-bootstrap intervals (members and non-members resampled apart)."""
    if len(member_scores) < 2 or len(nonmember_scores) < 2:
        raise ValueError(f"an attack needs at least 2 members and 2 non-members, got {len(member_scores)} and {len(nonmember_scores)}")

    def stats(a, b):
        return [auc(a, b)] + [tpr_at_fpr(a, b, f) for f in FPR_POINTS]

    point, lo, hi = bootstrap(stats, member_scores, nonmember_scores, rng, n_boot)
    names = ["auc"] + [f"tpr_at_fpr_{f:g}" for f in FPR_POINTS]
    return {n: {"value": p, "ci": [float(a), float(b)]} for n, p, a, b in zip(names, point, lo, hi)}


def roc_for_plot(member_scores, nonmember_scores, points: int = 200) -> dict:
    """ROC curve thinned to at most ``points`` points, log-spaced in FPR, for plotting."""
    y = np.r_[np.ones(len(member_scores)), np.zeros(len(nonmember_scores))]
    f, t, _ = roc_curve(y, np.r_[member_scores, nonmember_scores])
    grid = np.unique(np.r_[0.0, np.logspace(-4, 0, points - 1)])
    tpr = [float(t[f <= g].max()) if (f <= g).any() else 0.0 for g in grid]
    return {"fpr": grid.tolist(), "tpr": tpr}
