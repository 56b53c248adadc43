"""Evidence for the report, no metrics: class balance, a 2-D map of the embeddings, sample texts."""

from __future__ import annotations

from collections import Counter

import numpy as np

from smotext.params import Param, int_at_least
from smotext.audit.registry import Plugin, PluginResult, register


@register
class Overview(Plugin):
    name = "overview"
    kind = "evidence"
    description = "class balance real vs synthetic, a PCA map of real and synthetic embeddings, sample synthetic texts"
    params = {"map_points": Param(400, "points per set on the 2-d map", int_at_least(0)),
              "samples_per_class": Param(5, "synthetic examples shown per class", int_at_least(0))}

    def run(self, ctx) -> PluginResult:
        rng = ctx.rng(self.name)
        n = int(self.settings["map_points"])
        pick = lambda m: np.sort(rng.permutation(m)[:n])
        mem_i, syn_i = pick(len(ctx.members)), pick(len(ctx.synthetic))
        x = np.vstack([ctx.members.embeddings[mem_i], ctx.synthetic.embeddings[syn_i]])
        centred = x - x.mean(axis=0)
        # PCA by SVD: two directions of largest variance of real and synthetic together
        _, _, vt = np.linalg.svd(centred, full_matrices=False)
        xy = np.round(centred @ vt[:2].T, 4)
        samples = {}
        for cls in sorted(set(ctx.synthetic.labels)):
            rows = [i for i, y in enumerate(ctx.synthetic.labels) if y == cls]
            chosen = sorted(rng.choice(rows, size=min(len(rows), self.settings["samples_per_class"]), replace=False))
            samples[cls] = [ctx.synthetic.texts[i] for i in chosen]
        return PluginResult(details={
            "class_counts": {"members": dict(Counter(ctx.all_members.labels)), "synthetic": dict(Counter(ctx.synthetic.labels))},
            "map": {"real": xy[: len(mem_i)].tolist(), "synthetic": xy[len(mem_i):].tolist()},
            "samples": samples,
        })
