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


def attack_summary(member_scores, nonmember_scores, rng: np.random.Generator, n_boot: int = 200) -> dict:
    """AUC and TPR@FPR with 95% percentile-bootstrap intervals (members and non-members resampled apart)."""
    m, h = np.asarray(member_scores, float), np.asarray(nonmember_scores, float)
    if len(m) < 2 or len(h) < 2:
        raise ValueError(f"an attack needs at least 2 members and 2 non-members, got {len(m)} and {len(h)}")

    def stats(a, b):
        return [auc(a, b)] + [tpr_at_fpr(a, b, f) for f in FPR_POINTS]

    point = stats(m, h)
    boots = np.array([stats(m[rng.integers(len(m), size=len(m))], h[rng.integers(len(h), size=len(h))]) for _ in range(n_boot)])
    lo, hi = np.percentile(boots, 2.5, axis=0), np.percentile(boots, 97.5, axis=0)
    names = ["auc"] + [f"tpr_at_fpr_{f:g}" for f in FPR_POINTS]
    return {n: {"value": p, "ci": [float(a), float(b)]} for n, p, a, b in zip(names, point, lo, hi)}


def roc_for_plot(member_scores, nonmember_scores, points: int = 200) -> dict:
    """ROC curve thinned to at most ``points`` points, log-spaced in FPR, for plotting."""
    y = np.r_[np.ones(len(member_scores)), np.zeros(len(nonmember_scores))]
    f, t, _ = roc_curve(y, np.r_[member_scores, nonmember_scores])
    grid = np.unique(np.r_[0.0, np.logspace(-4, 0, points - 1)])
    tpr = [float(t[f <= g].max()) if (f <= g).any() else 0.0 for g in grid]
    return {"fpr": grid.tolist(), "tpr": tpr}
