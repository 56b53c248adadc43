"""Blocked nearest-neighbour search by cosine on unit vectors, in bounded memory (ground layer: the
sampler, the filters and the audit all search with it)."""

from __future__ import annotations

import numpy as np


GPU_BLOCK = 16384  # rows per block on a GPU: 16k x 16k float32 scores is 1 GiB


def topk_cosine(queries: np.ndarray, base: np.ndarray, k: int = 1, block: int = 2048,
                exclude_self: bool = False, device: str | None = None) -> tuple[np.ndarray, np.ndarray]:
    """For each query row, the ``k`` highest cosines to ``base`` rows and their indices, best first.

    Works through ``queries`` and ``base`` in blocks, so memory stays at about ``block * block`` floats
    whatever the sizes. ``exclude_self`` (queries is base) skips each row's match with itself.
    ``device``: a torch device for the blocks, or "numpy" (default: a CUDA GPU when one is present
    and the search is larger than one block, else NumPy).
    """
    if device is None:
        import torch

        large = len(queries) * len(base) > block * block
        device = "cuda" if large and torch.cuda.is_available() else "numpy"
    if device != "numpy":
        return _topk_torch(queries, base, k, GPU_BLOCK if device.startswith("cuda") else block, exclude_self, device)
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


def _topk_torch(queries, base, k, block, exclude_self, device) -> tuple[np.ndarray, np.ndarray]:
    """``topk_cosine`` with the blocks on a torch device; the same results (ties aside)."""
    import torch

    n, m = len(queries), len(base)
    k = min(k, m - (1 if exclude_self else 0))
    if k <= 0 or n == 0:
        return np.full((n, max(k, 0)), -np.inf, dtype=np.float32), np.zeros((n, max(k, 0)), dtype=np.int64)
    best_s, best_i = [], []
    with torch.no_grad():
        for qs in range(0, n, block):
            q = torch.as_tensor(np.ascontiguousarray(queries[qs : qs + block], dtype=np.float32), device=device)
            top_s = torch.full((len(q), k), -torch.inf, device=device)
            top_i = torch.zeros((len(q), k), dtype=torch.int64, device=device)
            for bs in range(0, m, block):
                b = torch.as_tensor(np.ascontiguousarray(base[bs : bs + block], dtype=np.float32), device=device)
                sims = q @ b.T
                if exclude_self:
                    rows = torch.arange(len(q), device=device)
                    cols = qs + rows - bs
                    ok = (cols >= 0) & (cols < sims.shape[1])
                    sims[rows[ok], cols[ok]] = -torch.inf
                kk = min(k, sims.shape[1])
                s, i = torch.topk(sims, kk, dim=1)
                cand_s, cand_i = torch.cat([top_s, s], 1), torch.cat([top_i, i + bs], 1)
                order = torch.argsort(-cand_s, dim=1, stable=True)[:, :k]
                top_s, top_i = torch.gather(cand_s, 1, order), torch.gather(cand_i, 1, order)
            best_s.append(top_s.cpu().numpy())
            best_i.append(top_i.cpu().numpy())
    return np.concatenate(best_s), np.concatenate(best_i)
