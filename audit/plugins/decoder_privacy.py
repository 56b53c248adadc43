"""What the decoder itself may have memorised: the ε its bridge carries about sensitive texts."""

from __future__ import annotations

import math

from smotext.audit.registry import Metric, Plugin, PluginResult, register
from smotext.synth.dp import decoder_epsilon


@register
class DecoderPrivacy(Plugin):
    name = "decoder_privacy"
    kind = "metric"
    description = ("Differential privacy of the bridge that decoded the synthetic texts, from its model card: "
                   "ε = 0 if it never saw sensitive texts, its DP-SGD ε if it was trained on them with DP, ∞ without.")
    needs_generation = True
    produces = {"decoder_privacy.epsilon": ("lower", (0.0, math.inf))}

    def run(self, ctx) -> PluginResult:
        from smotext.synth.manifest import outside_generator

        foreign = outside_generator(ctx.generation)
        if foreign is not None and "bridge" not in (ctx.generation.get("models") or {}):
            # no smotext decoder took part: whatever the generator learned is covered by the ε it claims
            return PluginResult(
                metrics={"decoder_privacy.epsilon": Metric(0.0, "lower", "ε of the decoder w.r.t. sensitive training "
                                                           "texts (0: none seen; inf: seen without DP)", ideal=0.0)},
                details={"summary": f"no smotext decoder took part ({foreign}); what the generator itself learned is "
                                    "covered by the ε it claims (the formal guarantee above) and measured by the attacks",
                         "epsilon": 0.0, "stages": [], "bridge": None})
        bridge = ctx.generation["models"]["bridge"]
        if "training" not in bridge:
            raise ValueError("the generation manifest does not describe the bridge's training (made by an older smotext?)")
        eps, stages = decoder_epsilon(bridge["training"])
        for st in stages:
            st["epsilon"] = st["epsilon"] if math.isfinite(st["epsilon"]) else "inf"
        if eps == 0:
            summary = "the bridge was trained only on texts marked public: it carries nothing about sensitive records"
        elif math.isinf(eps):
            summary = "the bridge was trained on sensitive texts without differential privacy: no bound on what it memorised"
        else:
            summary = f"the bridge was trained on sensitive texts with DP-SGD: ε = {eps:.3g}"
        return PluginResult(
            metrics={"decoder_privacy.epsilon": Metric(eps, "lower", "ε of the decoder w.r.t. sensitive training texts "
                                                       "(0: none seen; inf: seen without DP)", ideal=0.0)},
            details={"summary": summary, "epsilon": eps if math.isfinite(eps) else None, "stages": stages,
                     "bridge": {"path": bridge.get("path"), "sha256": bridge.get("sha256")}},
        )
