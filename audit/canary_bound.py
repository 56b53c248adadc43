"""The one-run lower bound on ε from canary scores (Steinke, Nasr and Jagielski, "Privacy Auditing
with One (1) Training Run", NeurIPS 2023).

M canaries are each added to the members by a fair secret coin. An attack scores every canary;
the auditor guesses 'added' for the k highest scores and 'not added' for the k lowest and counts
its correct guesses v out of r = 2k. Under (ε, δ)-DP the count is dominated by Binomial(r, e^ε/(1+e^ε))
plus a δ term (their Theorem 5.2), so a count that is too high at level β rules ε out: the bound
is the largest ε that cannot have produced v. Trying several k is a choice made after seeing
the scores, so each k is tested at β divided by the number tried (Bonferroni), and so is each
attack when the maximum over attacks is reported. An attack may also guess one way only ('added'
for its k highest, abstaining on the rest): the theorem counts the guesses made, whatever their
number, so an attack whose evidence only ever points to 'added' (a made-up word found again) is
not forced into k guesses of 'not added' it has no grounds for.

A canary added R times (``group`` = R) is a group of R records: a mechanism that is (ε, δ)-DP about
one record is (Rε, R·e^((R-1)ε)·δ)-DP about the group (group privacy), so a count is tested against
that and the bound stays one about a single record. Repeats make a canary easier to echo; the
bound they give is divided by about R for it.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import numpy as np
from scipy import stats as st

K_SHARES = (0.05, 0.1, 0.2, 0.3, 0.5)  # k as a share of M: few confident guesses to one guess per canary


def p_value(m: int, r: int, v: int, eps: float, delta: float) -> float:
    """P[at least ``v`` of ``r`` guesses correct] under (ε, δ)-DP with ``m`` canaries, each added
    by a fair coin: Binomial(r, q) tail at q = 1/(1+e^-ε), plus 2·m·δ times the largest average
    probability mass just below v (Steinke et al., Theorem 5.2 and their Algorithm in Appendix D)."""
    if not 0 <= v <= r <= m:
        raise ValueError(f"need 0 <= v <= r <= m, got v={v}, r={r}, m={m}")
    if eps < 0 or not 0 <= delta <= 1:
        raise ValueError(f"need eps >= 0 and 0 <= delta <= 1, got eps={eps}, delta={delta}")
    q = 1.0 / (1.0 + math.exp(-eps))
    tail = float(st.binom.sf(v - 1, r, q))
    if delta == 0 or v == 0:
        return min(tail, 1.0)
    below = np.cumsum(st.binom.pmf(np.arange(v - 1, -1, -1), r, q))  # P[v-i <= B < v] for i = 1..v
    alpha = float(np.max(below / np.arange(1, v + 1)))
    return min(tail + alpha * delta * 2 * m, 1.0)


def group_p_value(m: int, r: int, v: int, eps: float, delta: float, group: int = 1) -> float:
    """``p_value`` for canaries each added ``group`` times, under (ε, δ)-DP about one record: the
    group is (group·ε, group·e^((group-1)ε)·δ)-DP."""
    if group < 1:
        raise ValueError(f"group must be >= 1, got {group}")
    if group == 1:
        return p_value(m, r, v, eps, delta)
    group_delta = min(1.0, group * math.exp(min((group - 1) * eps, 700.0)) * delta)
    return p_value(m, r, v, group * eps, group_delta)


def epsilon_lower_bound(m: int, r: int, v: int, delta: float, beta: float = 0.05, group: int = 1) -> float:
    """The largest ε for which v correct guesses of r would have probability below ``beta`` under
    (ε, δ)-DP about one record, with each canary added ``group`` times: no such mechanism produces
    this count at confidence 1 - β. 0 when even ε = 0 does."""
    if not 0 < beta < 1:
        raise ValueError(f"beta must be in (0, 1), got {beta}")
    p = lambda eps: group_p_value(m, r, v, eps, delta, group)
    if p(0.0) >= beta:
        return 0.0
    lo, hi = 0.0, 1.0
    while p(hi) < beta:  # p grows with ε; find a bracket, then bisect
        lo, hi = hi, hi * 2
        if hi > 1e3:
            return math.inf
    for _ in range(60):
        mid = (lo + hi) / 2
        lo, hi = (mid, hi) if p(mid) < beta else (lo, mid)
    return lo


SIDES = ("both", "added")  # guess both ways (k each), or 'added' only (k, abstaining on the rest)


def guesses(scores: np.ndarray, added: np.ndarray, k: int, seed: int = 0, sides: str = "both") -> tuple[int, int]:
    """(r, v): 'added' for the k highest scores and, with ``sides`` 'both', 'not added' for the k
    lowest; ties are broken by a seeded shuffle so the canaries' order cannot leak into the count."""
    if sides not in SIDES:
        raise ValueError(f"sides must be one of {SIDES}, got {sides!r}")
    scores, added = np.asarray(scores, float), np.asarray(added, bool)
    if len(scores) != len(added):
        raise ValueError(f"{len(scores)} scores for {len(added)} coins")
    if not 1 <= k <= len(scores) // 2:
        raise ValueError(f"k must be between 1 and M/2 = {len(scores) // 2}, got {k}")
    perm = np.random.default_rng(seed).permutation(len(scores))
    order = perm[np.argsort(scores[perm], kind="stable")]
    if sides == "added":
        return k, int(added[order[-k:]].sum())
    v = int(added[order[-k:]].sum() + (~added[order[:k]]).sum())
    return 2 * k, v


@dataclass(frozen=True)
class CanaryBound:
    """One attack's bound: ε ruled out at ``level``, the k it came from, and the counts behind it."""

    epsilon: float
    canaries: int
    k: int
    guesses: int
    correct: int
    level: float
    ks_tried: tuple[int, ...]
    delta: float
    group: int = 1
    sides: str = "both"

    def to_json(self) -> dict:
        return asdict(self)


def audit_bound(scores, added, delta: float, level: float = 0.95, tests: int = 1, seed: int = 0,
                k_shares: tuple[float, ...] = K_SHARES, group: int = 1, sides: str = "both") -> CanaryBound:
    """The best one-run bound over k = share·M for each share in ``k_shares``, every k tested at
    (1 - level) / (len(ks) · tests): ``tests`` counts the other bounds the caller will take a
    maximum with (several attacks), so the reported maximum holds at ``level`` as a whole.
    ``group``: how many times each added canary was added (the bound is about one record).
    ``sides``: see ``guesses``."""
    added = np.asarray(added, bool)
    m = len(added)
    ks = tuple(sorted({min(m // 2, max(1, round(s * m))) for s in k_shares})) if m >= 2 else ()
    if not ks:
        raise ValueError(f"the one-run bound needs at least 2 canaries, got {m}")
    beta = (1 - level) / (len(ks) * max(1, tests))
    best = None
    for k in ks:
        r, v = guesses(scores, added, k, seed, sides)
        eps = epsilon_lower_bound(m, r, v, delta, beta, group)
        if best is None or eps > best.epsilon:
            best = CanaryBound(eps, m, k, r, v, level, ks, delta, group, sides)
    return best


def max_provable(added, delta: float, level: float = 0.95, tests: int = 1, seed: int = 0, group: int = 1) -> CanaryBound:
    """The bound a perfect attack would reach with these coins (every guess right), tested as
    ``audit_bound`` tests: the largest ε an audit with these canaries could ever rule out."""
    added = np.asarray(added, bool)
    return audit_bound(added.astype(float), added, delta, level, tests=tests, seed=seed, group=group)
