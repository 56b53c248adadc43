"""Nearest-neighbour reconstruction: how close synthetic texts come to particular real records."""

from __future__ import annotations

import numpy as np

from smotext.params import Param, int_at_least, number_in
from smotext.audit.registry import Metric, Plugin, PluginResult, register
from smotext.audit.stats import bootstrap, dcr_share, rate_difference_interval
from smotext.audit.text_overlap import longest_common_span, similarity
from smotext.text import words
from smotext.neighbors import topk_cosine


def histogram(values: np.ndarray, bins: np.ndarray) -> list[int]:
    return np.histogram(np.clip(values, bins[0], bins[-1]), bins=bins)[0].tolist()


@register
class Reconstruction(Plugin):
    name = "reconstruction"
    kind = "metric"
    description = "distance to closest record (DCR) share, longest shared word span, near-verbatim copies"
    params = {"near_verbatim_similarity": Param(0.8, "character similarity that makes a near-verbatim copy", number_in(0, 1)),
              "near_verbatim_cosine": Param(0.97, "or embedding cosine that does", number_in(-1, 1)),
              "candidates": Param(3, "nearest synthetic texts compared per record", int_at_least(1)),
              "examples": Param(10, "closest pairs shown in the report", int_at_least(0))}
    produces = {
        "reconstruction.dcr_share": ("lower", (0.0, 1.0)),
        "reconstruction.near_verbatim.count": ("lower", (0.0, float("inf"))),
        "reconstruction.near_verbatim.rate": ("lower", (0.0, 1.0)),
        "reconstruction.near_verbatim.excess_rate": ("lower", (-1.0, 1.0)),
        "reconstruction.longest_span.max": ("lower", (0.0, float("inf"))),
        "reconstruction.longest_span.excess_p95": ("lower", (-float("inf"), float("inf"))),
    }

    def run(self, ctx) -> PluginResult:
        s = self.settings
        syn = ctx.synthetic
        to_mem_s, to_mem_i = topk_cosine(syn.embeddings, ctx.members.embeddings, k=s["candidates"])
        to_non_s, to_non_i = topk_cosine(syn.embeddings, ctx.nonmembers.embeddings, k=s["candidates"])
        m_nn, n_nn = ctx.nearest_synthetic("members")[0][:, 0], ctx.nearest_synthetic("nonmembers")[0][:, 0]
        dcr, dcr_lo, dcr_hi = bootstrap(dcr_share, m_nn, n_nn, ctx.rng(self.name), ctx.n_boot)

        syn_words = [words(t) for t in syn.texts]

        def copies(split, sims, idx):
            """Per synthetic text: best word similarity / longest span to its nearest candidates in split."""
            split_words = [words(t) for t in split.texts]
            best_sim, span, partner = np.zeros(len(syn)), np.zeros(len(syn), int), idx[:, 0].copy()
            for i, w in enumerate(syn_words):
                for j in idx[i]:
                    sim = similarity(w, split_words[j])
                    if sim > best_sim[i]:
                        best_sim[i], partner[i] = sim, j
                    span[i] = max(span[i], longest_common_span(split_words[j], w)[0])
            near = (best_sim >= s["near_verbatim_similarity"]) | (sims[:, 0] >= s["near_verbatim_cosine"])
            return best_sim, span, partner, near

        mem_sim, mem_span, mem_partner, mem_near = copies(ctx.members, to_mem_s, to_mem_i)
        non_sim, non_span, _, non_near = copies(ctx.nonmembers, to_non_s, to_non_i)

        bins = np.linspace(-0.2, 1.0, 25)
        order = np.argsort(-(mem_sim + to_mem_s[:, 0]))[: s["examples"]]
        examples = []
        for i in order:
            j = mem_partner[i]
            member_words = words(ctx.members.texts[j])
            size, at = longest_common_span(member_words, syn_words[i])
            shown = ctx.show_real(ctx.members.texts[j])  # None unless real examples were asked for
            examples.append({
                "synthetic": syn.texts[i], "member_row": int(ctx.members.rows[j]),
                **({"member_masked": shown} if shown is not None else {}),
                "cosine": float(syn.embeddings[i] @ ctx.members.embeddings[j]), "word_similarity": float(mem_sim[i]),
                "shared_span": " ".join(member_words[at : at + size]),  # also in the synthetic text: nothing new
            })
        res = PluginResult(arrays={  # per record, for pooling over rotations (audit.rotation)
            "member_nn": m_nn, "nonmember_nn": n_nn,
            "near_verbatim_counts": np.array([mem_near.sum(), non_near.sum(), len(syn)], float)}, details={
            "dcr_share": dcr,
            "nearest_synthetic_cosine": {"bins": bins.tolist(), "members": histogram(m_nn, bins), "nonmembers": histogram(n_nn, bins),
                                         "members_mean": float(m_nn.mean()), "nonmembers_mean": float(n_nn.mean())},
            "longest_span": {"members_max": int(mem_span.max()), "members_p95": float(np.percentile(mem_span, 95)),
                             "nonmembers_max": int(non_span.max()), "nonmembers_p95": float(np.percentile(non_span, 95))},
            "near_verbatim": {"members": int(mem_near.sum()), "nonmembers": int(non_near.sum()), "synthetic": len(syn)},
            "closest_pairs": examples,
        })
        m = res.metrics
        m["reconstruction.dcr_share"] = Metric(
            dcr, "lower", "share of members whose nearest synthetic text is closer than the holdout's median",
            ci=(float(dcr_lo), float(dcr_hi)), ideal=0.5)
        m["reconstruction.near_verbatim.count"] = Metric(float(mem_near.sum()), "lower", "synthetic texts that nearly copy a member", ideal=0.0)
        m["reconstruction.near_verbatim.rate"] = Metric(float(mem_near.mean()), "lower", "share of synthetic texts that nearly copy a member", ideal=0.0)
        m["reconstruction.near_verbatim.excess_rate"] = Metric(
            float(mem_near.mean() - non_near.mean()), "lower", "near-copy rate of members minus that of holdout texts",
            ci=rate_difference_interval(int(mem_near.sum()), int(non_near.sum()), len(syn)), ideal=0.0)
        m["reconstruction.longest_span.max"] = Metric(float(mem_span.max()), "lower", "longest run of words a synthetic text shares with a member")
        m["reconstruction.longest_span.excess_p95"] = Metric(
            float(np.percentile(mem_span, 95) - np.percentile(non_span, 95)), "lower",
            "95th percentile of the longest shared run, members minus holdout", ideal=0.0)
        return res
