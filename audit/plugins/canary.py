"""The worst case: canaries planted by a secret coin, scored by every data-only attack, turned into a
one-run lower bound on ε (Steinke, Nasr and Jagielski, NeurIPS 2023) and set beside the ε the
generator claims. Runs only when the release planted canaries (``release(..., canaries=M)``)."""

from __future__ import annotations

import math

from smotext.audit.canaries import canary_audit, canary_scores
from smotext.audit.canary_bound import max_provable
from smotext.audit.registry import Metric, Plugin, PluginResult, register
from smotext.params import Param, number_in

DEFAULT_DELTA = 1e-5  # the bound's δ when the release claims none (non-DP)


def _delta_or_none(v):
    return None if v is None else number_in(0, 1, low_open=True, high_open=True)(v)


def claim_sentence(bound: float, claimed: float | None, ceiling: float) -> str:
    """The sentence a reviewer reads: what the audit rules out, next to what the generator claims."""
    said = (f"no DP mechanism with ε < {bound:.2f} could produce what this audit saw" if bound > 0 else
            "the canary attacks rule out no ε: they guessed the coins no better than chance allows at this size")
    if claimed is None:
        return said + "; the generator's claim is unknown (no generation manifest)"
    if math.isinf(claimed):
        return said + "; the generator claims no formal guarantee (ε = ∞)"
    if bound > claimed:
        return said + f"; the generator claims ε = {claimed:.3g}: the bound is above the claim, so the DP code is wrong"
    reach = (f" (these canaries could rule out at most ε = {ceiling:.2f}, so a wrong claim above that would go unseen)"
             if ceiling <= claimed else "")
    return said + f"; the generator claims ε = {claimed:.3g}{reach}"


@register
class CanaryAudit(Plugin):
    name = "canary"
    kind = "attack"
    description = ("canaries added by a secret coin; every data-only attack guesses which were added, and the one-run "
                   "bound says which ε no DP mechanism could have with that many right guesses")
    needs_canaries = True
    params = {
        "level": Param(0.95, "confidence of the bound (the choice of k and of the attack counted in it)",
                       number_in(0.5, 1, high_open=True)),
        "delta": Param(None, "the bound's δ (None: the release's formal δ, or 1e-5 when it claims none)", _delta_or_none),
    }
    produces = {
        "canary.epsilon_lower_bound": ("lower", (0.0, math.inf)),
        "canary.secret_replay": ("lower", (0.0, math.inf)),
        "canary.bound_above_claim": ("lower", (0.0, 1.0)),
        "canary.max_provable_epsilon": ("higher", (0.0, math.inf)),
    }

    def run(self, ctx) -> PluginResult:
        from smotext.audit.plugins.generation_privacy import release_privacy

        run = ctx.canaries
        claim = release_privacy(ctx.generation) if ctx.generation else None
        claimed = None if claim is None else float(claim["epsilon"])
        delta = self.settings["delta"] or (claim or {}).get("delta") or DEFAULT_DELTA
        texts = [c.text for c in run.canaries]
        scores = canary_scores(run.canaries, run.generated_texts, ctx.test.texts,
                               ctx.cache.embed(texts), ctx.cache.embed(run.generated_texts, ctx.progress))
        run.scores = scores  # per canary: for the private folder, never results.json or scores.npz
        repeats = int(getattr(run, "repeats", 1))
        found = canary_audit(run.canaries, scores, float(delta), float(self.settings["level"]), seed=ctx.seed,
                             repeats=repeats)
        bound = found["epsilon_lower_bound"]
        above = claimed is not None and bound > claimed
        # what a perfect attack would show with these coins: the most this audit could ever rule out
        ceiling = max_provable([c.added for c in run.canaries], float(delta), float(self.settings["level"]),
                               tests=len(found["per_attack"]), seed=ctx.seed, group=repeats).epsilon
        details = {**found, "claimed_epsilon": "inf" if claimed is not None and math.isinf(claimed) else claimed,
                   "mode": (claim or {}).get("mode"), "generated": len(run.generated_texts), "held_back": run.held_back, "bound_above_claim": above,
                   "max_provable_epsilon": ceiling, "sentence": claim_sentence(bound, claimed, ceiling)}
        metrics = {
            "canary.epsilon_lower_bound": Metric(bound, "lower", "ε that no DP mechanism could have and produce what the "
                                                 "canary attacks saw (one-run bound, 95%)", ideal=0.0),
            "canary.secret_replay": Metric(float(found["secret_replay"]), "lower", "added canaries whose secret suffix or "
                                           "fake PII reappears verbatim in the generated texts", ideal=0.0),
            "canary.max_provable_epsilon": Metric(ceiling, "higher", "the bound a perfect attack would reach with these "
                                                  "canaries: the largest ε this audit could rule out (grows with M)"),
        }
        if claimed is not None:
            metrics["canary.bound_above_claim"] = Metric(float(above), "lower", "1 when the empirical bound exceeds the "
                                                         "generator's formal ε: its DP code is wrong", ideal=0.0)
        return PluginResult(metrics=metrics, details=details)
