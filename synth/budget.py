"""The release's privacy budget, one object: the total ε, δ and accountant, how ε is split between
DP generation and a DP voice adapter, the one noise calibration (``dp.noise_multiplier``) and the
composition of the parts into the release's ε. The CLI builds it from flags; Python users build
it the same way and get the parts from it (``generation_part``, ``voice_part``); the manifest, the
audit's privacy plug-ins, the report and the gate read what ``compose`` makes of the parts."""

from __future__ import annotations

import argparse
import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from smotext.errors import SmotextError
from smotext.params import Param, check_declared, is_bool
from smotext.synth.dp import ACCOUNTANT, DEFAULT_VOICE_EPSILON, DELTA, EPSILON, decoder_epsilon, noise_multiplier
from smotext.synth.pe_privacy import DP_GENERATION_PARAMS, DPSGD_METHODS, DPGeneration
from smotext.synth.params import VOICE_PARAMS

BUDGET_PARAMS: dict[str, Param] = {
    "dp": Param(False, "generate with a formal (ε, δ) guarantee (Private Evolution: real records only vote on public "
                "candidates; needs --target-epsilon)", is_bool, flag="--dp"),
    "adapt_voice": Param(None, "adapt the bridge to the members' voice with DP-SGD before generating. Default (None): "
                         f"without --dp, adapt at ε = {DEFAULT_VOICE_EPSILON:g} when the members are enough for it, else "
                         "say how many it needs and go on; --no-adapt-voice never adapts; --adapt-voice always adapts, "
                         "with a budget (--target-epsilon E, split in half with --dp; a corpus too small for that ε is "
                         "refused with the size it needs)", lambda v: None if v is None else is_bool(v),
                         flag="--adapt-voice", cli={"action": argparse.BooleanOptionalAction, "metavar": None}),
    "target_epsilon": EPSILON,
    "voice_epsilon": Param(None, "with dp: the voice adapter's share of target_epsilon (None: half)",
                           EPSILON.check, flag="--voice-epsilon", cli={"type": float, "metavar": "E"}),
    "delta": DELTA,
    "accountant": ACCOUNTANT,
}
_B = BUDGET_PARAMS


@dataclass
class PrivacyBudget:
    """ε for the whole release (``target_epsilon``), spent by DP generation (``dp``), a DP voice adapter
    (``adapt_voice``) or both; with both, ``voice_epsilon`` is the adapter's share (None: half).
    δ (None: 1/(10·N)) and the accountant are shared by every part. ``adapt_voice`` None (the
    default) adapts without DP generation at ``DEFAULT_VOICE_EPSILON`` when the members are enough
    (an ``optional`` VoiceAdaptation), and never with DP generation, whose budget it would split."""

    target_epsilon: float | None = _B["target_epsilon"].default
    dp: bool = _B["dp"].default
    adapt_voice: bool | None = _B["adapt_voice"].default
    voice_epsilon: float | None = _B["voice_epsilon"].default
    delta: float | None = _B["delta"].default
    accountant: str = _B["accountant"].default

    # The one noise calibration, for every part (DP-SGD at a Poisson rate, DP generation's votes at rate 1).
    calibrate = staticmethod(noise_multiplier)

    def check(self) -> None:
        check_declared(self, BUDGET_PARAMS)
        self.split()

    def split(self) -> tuple[float | None, float | None]:
        """(DP generation's ε, the voice adapter's ε); None for a part that is not run."""
        if not self.adapt_voice and self.voice_epsilon is not None:
            raise SmotextError("`voice_epsilon` only applies with `adapt_voice`", params=("voice_epsilon", "adapt_voice"))
        if self.dp and self.target_epsilon is None:
            raise SmotextError("`dp` needs a budget: `target_epsilon` E (e.g. 4)", params=("dp", "target_epsilon"))
        if not self.adapt_voice:
            if self.target_epsilon is not None and not self.dp:
                raise SmotextError("`target_epsilon` only applies with `dp` (`dp` with `target_epsilon` E generates "
                                   "with differential privacy)", params=("target_epsilon", "dp"))
            return self.target_epsilon, None
        total, share = self.target_epsilon, self.voice_epsilon
        if not self.dp:  # generation is not DP: the whole budget is the adapter's
            if share is not None and total is not None:
                raise SmotextError("generation is not DP, so give the voice adapter's budget once: `target_epsilon` E or "
                                   "`voice_epsilon` E", params=("target_epsilon", "voice_epsilon"))
            if (share if share is not None else total) is None:
                raise SmotextError("`adapt_voice` needs a budget: `target_epsilon` E (e.g. 4)",
                                   params=("adapt_voice", "target_epsilon"))
            return None, share if share is not None else total
        if share is None:
            return total / 2, total / 2
        if not 0 < share < total:
            raise SmotextError(f"`voice_epsilon` must be between 0 and `target_epsilon` ({total:g}), got {share:g}",
                               params=("voice_epsilon", "target_epsilon"))
        return total - share, share

    def generation_part(self, **settings: Any) -> DPGeneration | None:
        """The DPGeneration that spends generation's share, with ``settings`` (``DP_GENERATION_PARAMS``);
        None without dp, when no settings may be given."""
        epsilon, _ = self.split()
        if not self.dp:
            if settings:
                names = ", ".join(f"`{name}`" for name in settings)
                raise SmotextError(f"{names} only appl{'y' if len(settings) > 1 else 'ies'} with `dp` (`dp` with "
                                   "`target_epsilon` E generates with differential privacy)",
                                   params=(*settings, "dp", "target_epsilon"))
            return None
        unknown = sorted(set(settings) - set(DP_GENERATION_PARAMS))
        if unknown:
            raise SmotextError(f"DP generation takes no {unknown}")
        if settings.get("method") in DPSGD_METHODS and self.adapt_voice:
            raise SmotextError("DP fine-tuning adapts the decoder to the members itself: leave `adapt_voice` out",
                               params=("adapt_voice", "method"))
        return DPGeneration(epsilon, **{"delta": self.delta, "accountant": self.accountant, **settings})

    def voice_part(self, **settings: Any):
        """The VoiceAdaptation that spends the adapter's share, with ``settings`` (``VOICE_PARAMS``); by
        default (``adapt_voice`` None, no ``dp``) an optional one at ``DEFAULT_VOICE_EPSILON``; None when
        no adapter is trained."""
        from smotext.synth.train import VoiceAdaptation

        _, epsilon = self.split()
        optional = epsilon is None and self.adapt_voice is None and not self.dp  # the default: adapt if the members allow
        if epsilon is None and not optional:
            if settings:  # named as TrainConfig and the command line name them
                names = ", ".join(f"`{ {'kind': 'adapter', 'size': 'adapter_size'}.get(k, k)}`" for k in settings)
                raise SmotextError(f"{names} only appl{'y' if len(settings) > 1 else 'ies'} with `adapt_voice`")
            return None
        unknown = sorted(set(settings) - set(VOICE_PARAMS))
        if unknown:
            raise SmotextError(f"a voice adapter takes no {unknown}")
        if optional:
            return VoiceAdaptation(DEFAULT_VOICE_EPSILON, **{"delta": self.delta, "accountant": self.accountant,
                                                             "optional": True, **settings})
        return VoiceAdaptation(epsilon, **{"delta": self.delta, "accountant": self.accountant, **settings})


def compose(privacy: Mapping | None, bridge: Mapping | None) -> dict:
    """The release's ε and δ about the corpus from its parts: DP generation's (``privacy``, the
    manifest's section; ∞ for a non-DP run) and the decoder's (``bridge``, the manifest's entry for a
    bridge adapted on sensitive texts: its card's ``training`` and ``dp``). They add up (basic
    composition: conservative, it assumes the bridge saw these very records); δs add the same way.
    ``bridge`` None: a generator with no smotext decoder, whose claim (``privacy``) covers all of it."""
    privacy = privacy or {"mode": "non-dp"}  # a manifest from before DP generation: non-DP
    decoder_eps = 0.0 if bridge is None else decoder_epsilon(dict(bridge["training"]))[0]
    mode = privacy.get("mode", "non-dp")
    gen_eps = float(privacy.get("epsilon", math.inf)) if mode != "non-dp" else math.inf
    delta = privacy.get("delta") if mode != "non-dp" else None
    if decoder_eps > 0 and math.isfinite(decoder_eps):
        dec_delta = (((bridge or {}).get("dp") or {}).get("delta")) or 0.0
        delta = None if delta is None else delta + dec_delta
    return {"epsilon": gen_eps + decoder_eps, "generation_epsilon": gen_eps, "decoder_epsilon": decoder_eps,
            "delta": delta, "mode": mode}
