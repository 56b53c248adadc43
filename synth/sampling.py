"""SMOTE-style planning in embedding space: how many per class, which parents, which weights.

Pure numpy on embeddings; no model is involved, so it is fast to test and reusable as the
embedding-level SMOTE baseline.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from smotext.errors import SmotextError
from smotext.neighbors import topk_cosine

from smotext.params import check_all
from smotext.synth.params import GENERATION_PARAMS, STRATEGIES


def resolve_counts(strategy, labels: Sequence[str]) -> dict[str, int]:
    """Synthetic texts wanted per class of ``labels`` (see ``counts_for_sizes``)."""
    return counts_for_sizes(strategy, Counter(labels))


def counts_for_sizes(strategy, sizes: Mapping[str, int]) -> dict[str, int]:
    """Synthetic texts wanted per class, given the class sizes (DP generation passes noisy ones):

    - 'auto' / 'not majority': bring every class up to the majority's count (the majority gets none);
    - 'minority': bring only the smallest class up to the majority's count;
    - 'all': one synthetic text per real text in every class (a synthetic twin of the corpus);
    - an int n: n in total, split in proportion to the real class sizes (largest remainder);
    - a dict {label: count}: exactly those counts (labels must exist).
    """
    counts = dict(sizes)
    classes = sorted(counts)
    if isinstance(strategy, bool):
        raise SmotextError("sampling_strategy can't be a bool")
    if isinstance(strategy, (int, np.integer)):
        n = int(strategy)
        if n < 1:
            raise SmotextError(f"the number of synthetic texts must be at least 1, got {n}")
        total = sum(counts.values())
        exact = {c: n * (counts[c] / total if total > 0 else 1 / len(classes)) for c in classes}
        out = {c: int(np.floor(v)) for c, v in exact.items()}
        # Largest remainder, ties broken by class name so the split is deterministic.
        for c in sorted(classes, key=lambda c: (-(exact[c] - out[c]), c))[: n - sum(out.values())]:
            out[c] += 1
        return out
    if isinstance(strategy, Mapping):
        unknown = [str(k) for k in strategy if str(k) not in counts]
        if unknown:
            raise SmotextError(f"sampling_strategy names unknown class(es) {unknown}; the corpus has {classes}")
        out = {c: 0 for c in classes}
        for k, v in strategy.items():
            if not isinstance(v, (int, np.integer)) or isinstance(v, bool) or v < 0:
                raise SmotextError(f"sampling_strategy[{k!r}] must be a non-negative int, got {v!r}")
            out[str(k)] = int(v)
        if sum(out.values()) == 0:
            raise SmotextError("sampling_strategy asks for no synthetic texts at all")
        return out
    if strategy not in STRATEGIES:
        raise SmotextError(f"unknown sampling_strategy {strategy!r}; use one of {STRATEGIES}, an int, or a dict")
    top = max(counts.values())
    if strategy == "all":
        return {c: counts[c] for c in classes}
    if strategy == "minority":
        smallest = min(classes, key=lambda c: (counts[c], c))
        return {c: (top - counts[c] if c == smallest else 0) for c in classes}
    out = {c: top - counts[c] for c in classes}
    if sum(out.values()) == 0:
        raise SmotextError(f"sampling_strategy {strategy!r}: the classes are already balanced; ask for a number or 'all'", params="sampling_strategy")
    return out


@dataclass
class MixPlan:
    """One row per synthetic text: its class, parents (row indices into the corpus) and weights."""

    labels: list[str]
    parents: np.ndarray  # (n, n_parents) int
    weights: np.ndarray  # (n, n_parents) float, each row sums to 1

    def __len__(self) -> int:
        return len(self.labels)

    def subset(self, keep: np.ndarray) -> "MixPlan":
        """The plan's rows where ``keep`` (a boolean mask) holds, in order."""
        idx = np.flatnonzero(keep)
        return MixPlan(labels=[self.labels[i] for i in idx], parents=self.parents[idx], weights=self.weights[idx])

    def mix(self, embeddings: np.ndarray) -> np.ndarray:
        """The target vectors: weighted sums of the parents' embeddings, renormalised to unit length."""
        z = np.einsum("np,npd->nd", self.weights, embeddings[self.parents])
        norms = np.linalg.norm(z, axis=1, keepdims=True)
        return (z / np.maximum(norms, 1e-12)).astype(np.float32)


def distinct_rows(vectors: np.ndarray, threshold: float, earlier: np.ndarray | None = None,
                  block: int = 1024) -> np.ndarray:
    """Which rows of ``vectors`` (unit length) to keep, in order: a row whose cosine to an earlier
    kept row, or to any row of ``earlier``, is above ``threshold`` is a near-copy and is dropped.
    Blockwise, so memory stays at ``block`` rows against those kept."""
    keep = np.zeros(len(vectors), bool)
    kept = [np.asarray(earlier, np.float32)] if earlier is not None and len(earlier) else []
    for start in range(0, len(vectors), block):
        chunk = vectors[start : start + block]
        near = np.zeros(len(chunk), bool)
        for prev in kept:
            near |= (chunk @ prev.T).max(axis=1) > threshold
        inside = chunk @ chunk.T
        for i in range(len(chunk)):
            if not near[i]:
                keep[start + i] = True
                near[i + 1 :] |= inside[i, i + 1 :] > threshold
        kept.append(chunk[keep[start : start + len(chunk)]])
    return keep


def _seed_weights(kind: str, members: np.ndarray, embeddings: np.ndarray, labels: np.ndarray, m: int) -> np.ndarray:
    """How likely each member of a class is to seed a synthetic text, by the SMOTE variant."""
    uniform = np.full(len(members), 1.0 / len(members))
    if kind == "regular" or len(np.unique(labels)) < 2:
        return uniform
    m = min(m, len(embeddings) - 1)
    sims = embeddings[members] @ embeddings.T
    sims[np.arange(len(members)), members] = -np.inf
    nn = np.argpartition(-sims, m - 1, axis=1)[:, :m]
    foreign = (labels[nn] != labels[members][:, None]).mean(axis=1)
    if kind == "adasyn":
        w = foreign
    else:  # borderline-SMOTE-1: "danger" members have at least half, but not all, neighbours foreign
        w = ((foreign >= 0.5) & (foreign < 1.0)).astype(float)
    if w.sum() == 0:  # no member qualifies: fall back to regular SMOTE rather than produce nothing
        return uniform
    return w / w.sum()


def plan_mixes(
    embeddings: np.ndarray,
    labels: Sequence[str],
    counts: Mapping[str, int],
    rng: np.random.Generator,
    *,
    k_neighbors: int = 5,
    kind: str = "regular",
    n_parents: int = 2,
    lambda_range: tuple[float, float] = (0.2, 0.8),
    lambda_distribution: str = "uniform",
    beta: float = 2.0,
    dirichlet_alpha: float = 1.0,
    m_neighbors: int = 10,
    seed_weights: np.ndarray | None = None,
) -> MixPlan:
    """Choose parents (always of the same class) and mixing weights for ``counts[c]`` texts per class.

    Each synthetic text has a seed parent (drawn per ``kind``) and ``n_parents - 1`` others among the
    seed's ``k_neighbors`` nearest same-class neighbours. Two parents mix with λ from ``lambda_range``
    (the seed gets λ); more parents mix with Dirichlet(``dirichlet_alpha``) weights.

    ``seed_weights`` (one per row, >= 0) replaces ``kind``: seeds are drawn in proportion to them, and
    a class with fewer than ``k_neighbors + 1`` rows draws neighbours among all its other rows (DP
    generation mixes among the few candidates the votes kept).
    """
    labels_arr = np.asarray(labels, dtype=object)
    all_labels, all_parents, all_weights = [], [], []
    for cls in sorted(counts):
        n = int(counts[cls])
        if n == 0:
            continue
        members = np.flatnonzero(labels_arr == cls)
        k = k_neighbors if seed_weights is None else max(n_parents - 1, min(k_neighbors, len(members) - 1))
        if len(members) < k + 1:
            raise SmotextError(
                f"class {cls!r} has {len(members)} text(s) but k_neighbors={k_neighbors} needs at least "
                f"{k_neighbors + 1}: lower k_neighbors, add texts to that class, or leave it out", params="k_neighbors"
            )
        neigh = members[topk_cosine(embeddings[members], embeddings[members], k, exclude_self=True)[1]]  # corpus indices, (len(members), k)
        if seed_weights is None:
            p_seed = _seed_weights(kind, members, embeddings, labels_arr, m_neighbors)
        else:
            w = np.asarray(seed_weights, float)[members]
            p_seed = w / w.sum() if w.sum() > 0 else np.full(len(members), 1.0 / len(members))
        seed_pos = rng.choice(len(members), size=n, p=p_seed)
        # n_parents-1 distinct neighbours per text: the first columns of a random permutation of k.
        others = np.argsort(rng.random((n, k)), axis=1)[:, : n_parents - 1]
        parents = np.concatenate([members[seed_pos][:, None], neigh[seed_pos[:, None], others]], axis=1)
        if n_parents == 2:
            lo, hi = lambda_range
            u = rng.uniform(size=n) if lambda_distribution == "uniform" else rng.beta(beta, beta, size=n)
            lam = lo + (hi - lo) * u
            weights = np.stack([lam, 1.0 - lam], axis=1)
        else:
            weights = rng.dirichlet(np.full(n_parents, dirichlet_alpha), size=n)
        all_labels += [cls] * n
        all_parents.append(parents)
        all_weights.append(weights)
    if not all_parents:
        raise SmotextError("nothing to generate: every class was asked for 0 texts")
    return MixPlan(labels=all_labels, parents=np.concatenate(all_parents), weights=np.concatenate(all_weights))


def validate_params(
    *, k_neighbors, kind, n_parents, lambda_range, lambda_distribution, beta, dirichlet_alpha
) -> None:
    """Check the planning parameters against their declarations, naming the bad one and what is allowed."""
    check_all(GENERATION_PARAMS, dict(k_neighbors=k_neighbors, kind=kind, n_parents=n_parents, lambda_range=lambda_range,
                                      lambda_distribution=lambda_distribution, beta=beta, dirichlet_alpha=dirichlet_alpha))
    if n_parents - 1 > k_neighbors:
        raise SmotextError(f"n_parents={n_parents} needs k_neighbors >= {n_parents - 1}, got {k_neighbors}",
                           params=("n_parents", "k_neighbors"))
