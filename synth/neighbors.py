"""Blocked nearest-neighbour search by cosine on unit vectors, in bounded memory."""

from __future__ import annotations

import numpy as np


def topk_cosine(queries: np.ndarray, base: np.ndarray, k: int = 1, block: int = 2048,
                exclude_self: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """For each query row, the ``k`` highest cosines to ``base`` rows and their indices, best first.

    Works through ``queries`` and ``base`` in blocks, so memory stays at about ``block * block`` floats
    whatever the sizes. ``exclude_self`` (queries is base) skips each row's match with itself.
    """
    n, m = len(queries), len(base)
    k = min(k, m - (1 if exclude_self else 0))
    best = np.full((n, max(k, 0)), -np.inf, dtype=np.float32)
    arg = np.zeros((n, max(k, 0)), dtype=np.int64)
    if k <= 0 or n == 0:
        return best, arg
    for qs in range(0, n, block):
        q = queries[qs : qs + block]
        top_s, top_i = best[qs : qs + block], arg[qs : qs + block]
        for bs in range(0, m, block):
            sims = q @ base[bs : bs + block].T
            if exclude_self:
                rows = np.arange(len(q))
                cols = qs + rows - bs
                ok = (cols >= 0) & (cols < sims.shape[1])
                sims[rows[ok], cols[ok]] = -np.inf
            kk = min(k, sims.shape[1])
            part = np.argpartition(-sims, kk - 1, axis=1)[:, :kk]
            cand_s = np.concatenate([top_s, np.take_along_axis(sims, part, axis=1)], axis=1)
            cand_i = np.concatenate([top_i, part + bs], axis=1)
            order = np.argsort(-cand_s, axis=1, kind="stable")[:, :k]
            top_s = np.take_along_axis(cand_s, order, axis=1)
            top_i = np.take_along_axis(cand_i, order, axis=1)
        best[qs : qs + block], arg[qs : qs + block] = top_s, top_i
    return best, arg
