"""The release's formal privacy: the (ε, δ) its synthetic texts carry about each real record."""

from __future__ import annotations

import math

from smotext.audit.registry import Metric, Plugin, PluginResult, register
from smotext.outputs import json_safe
from smotext.synth.budget import compose
from smotext.synth.manifest import outside_generator


def release_privacy(generation: dict) -> dict:
    """The release's total ε about the corpus, from a generation manifest: DP generation's ε (∞ for
    a non-DP run) plus the decoder's (a bridge adapted on sensitive texts), added up (basic
    composition: conservative, it assumes the bridge saw these very records). δs add the same way."""
    privacy = generation.get("privacy") or {"mode": "non-dp"}  # a manifest from before DP generation: non-DP
    bridge = (generation.get("models") or {}).get("bridge") or {}
    foreign = outside_generator(generation)
    if foreign is None and "training" not in bridge:
        raise ValueError("the generation manifest does not describe the bridge's training (made by an older smotext?)")
    parts = compose(privacy, None if foreign is not None else bridge)
    mode, gen_eps, decoder_eps, delta, total = (parts[k] for k in ("mode", "generation_epsilon", "decoder_epsilon",
                                                                  "delta", "epsilon"))
    if foreign is not None:
        summary = (f"{foreign}: no formal guarantee claimed (ε = ∞); only the attacks below bound what its texts reveal"
                   if mode != "dp" else f"{foreign} claims ε = {_eps(total)} at δ = {delta:.2g}; smotext did not check "
                   "its code: the canaries below test the claim")
    elif mode == "non-dp":
        summary = ("no formal guarantee: the synthetic texts were decoded from mixes of real records' embeddings "
                   "(ε = ∞); only the attacks below bound what they reveal")
    elif mode != "dp":
        summary = f"a benchmark ablation ({mode}), not a private release: ε = {_eps(gen_eps)}"
    elif privacy.get("method") == "finetune":
        summary = (f"DP fine-tuning: ε = {_eps(total)} at δ = {delta:.2g} about any one real record (DP-SGD on the "
                   f"decoder: ε = {_eps(decoder_eps)}; the class sizes and the label model: ε = {_eps(gen_eps)}, "
                   f"σ = {privacy.get('sigma') or 0:.3g}; adjacency: add or remove one record)")
    elif privacy.get("method") == "adapted-evolution":
        parts = [f"{privacy['iterations']} noisy voting round(s)", *([] if privacy.get("public_class_counts") else
                                                                      ["the class sizes"]),
                 *(["the label model"] if privacy.get("label_model") else [])]
        summary = (f"DP generation from a DP-adapted decoder: ε = {_eps(total)} at δ = {delta:.2g} about any one real "
                   f"record (DP-SGD on the decoder: ε = {_eps(decoder_eps)}; {', '.join(parts)}: ε = {_eps(gen_eps)}, "
                   f"σ = {privacy['sigma']:.3g}; adjacency: add or remove one record)")
    else:
        summary = (f"DP generation: ε = {_eps(total)} at δ = {delta:.2g} about any one real record "
                   f"({privacy['iterations']} noisy voting round(s){'' if privacy.get('public_class_counts') else ' + the class sizes'}, "
                   f"σ = {privacy['sigma']:.3g}; adjacency: add or remove one record)")
        if decoder_eps > 0:
            summary += f"; of which the decoder's adaptation on sensitive texts: ε = {_eps(decoder_eps)}"
    return {"epsilon": total, "generation_epsilon": gen_eps, "decoder_epsilon": decoder_eps, "delta": delta,
            "mode": mode, "summary": summary}


def _eps(v: float) -> str:
    return "∞" if math.isinf(v) else f"{v:.3g}"


@register
class GenerationPrivacy(Plugin):
    name = "generation_privacy"
    kind = "metric"
    description = ("The release's formal (ε, δ) about each real record, from the generation manifest: DP generation's "
                   "ε composed with the decoder's; ∞ for a non-DP release.")
    needs_generation = True
    produces = {"generation_privacy.epsilon": ("lower", (0.0, math.inf))}

    def run(self, ctx) -> PluginResult:
        facts = release_privacy(ctx.generation)
        privacy = ctx.generation.get("privacy") or {}
        details = {**json_safe(facts), "manifest": {k: privacy.get(k) for k in ("sigma", "iterations", "mechanisms", "accountant",
                                                             "public_class_counts", "adjacency", "epsilon_per_part",
                                                             "settings", "records", "method", "dp_sgd") if k in privacy}}
        return PluginResult(
            metrics={"generation_privacy.epsilon": Metric(facts["epsilon"], "lower", "the release's total ε about any one "
                                                          "real record (DP generation + decoder; ∞: no guarantee)", ideal=0.0)},
            details=details)
