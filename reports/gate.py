"""The release gate: audit results + policy -> RELEASE or BLOCK, rule by rule. Fails closed."""

from __future__ import annotations

import math
import os
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field

from smotext.errors import SmotextError
from smotext.outputs import json_safe
from smotext.reports.policy import COMPARISONS, Policy, load_policy

RELEASE, BLOCK = "RELEASE", "BLOCK"
EXIT_RELEASE, EXIT_BLOCK, EXIT_ERROR = 0, 1, 2


@dataclass
class RuleOutcome:
    rule: str
    metric: str
    comparison: str
    threshold: float
    severity: str
    bound: str
    rationale: str
    value: float | None = None
    compared: float | None = None  # the number actually compared (value or an interval end)
    ci: list[float] | None = None
    status: str = "fail"  # pass | fail | undecided | missing | skipped (missing, and the rule allows it)
    reason: str = ""
    holdout_needed: int | None = None  # undecided: about how many holdout records would decide it
    synthetic_needed: int | None = None  # or, for a rate over the synthetic texts, how many of those


@dataclass
class Decision:
    verdict: str
    deciding: list[str] = field(default_factory=list)  # rules / problems that blocked it
    warnings: list[str] = field(default_factory=list)
    outcomes: list[RuleOutcome] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)  # failed plug-ins and other fail-closed reasons
    undecided: list[str] = field(default_factory=list)  # deciding rules whose interval straddles the threshold

    @property
    def exit_code(self) -> int:
        return EXIT_RELEASE if self.verdict == RELEASE else EXIT_BLOCK

    def to_json(self) -> dict:
        out = json_safe(asdict(self))  # a value of ∞ (no DP guarantee) as "inf": results.json is strict JSON
        out["exit_code"] = self.exit_code
        return out


# Metrics whose interval is over the synthetic texts (a rate per synthetic text), not over the
# holdout: more synthetic texts, not more holdout records, would narrow them.
PER_SYNTHETIC_TEXT = {"reconstruction.near_verbatim.excess_rate"}


def _metrics_and_failures(audit) -> tuple[dict, dict[str, str], dict]:
    """(metrics as in results.json, failed plug-ins -> error, sample sizes: holdout records
    evaluated and synthetic texts, and for a rotated release the pooled metrics and their holdout)
    from an AuditResult or a results.json dict."""
    data = audit.to_json() if hasattr(audit, "to_json") else audit
    if not isinstance(data, Mapping) or not isinstance(data.get("metrics"), Mapping):
        raise SmotextError("the gate decides on an audit result: an AuditResult or a results.json dict with 'metrics'")
    failed = {n: p.get("error", "") for n, p in (data.get("plugins") or {}).items() if p.get("status") == "failed"}
    inputs = data.get("inputs") or {}
    sizes = {"holdout": (inputs.get("evaluated") or {}).get("nonmembers"), "synthetic": (inputs.get("synthetic") or {}).get("texts")}
    sizes = {k: n if isinstance(n, int) and n > 0 else None for k, n in sizes.items()}
    rotation = (data.get("run") or {}).get("rotation")
    if isinstance(rotation, Mapping) and isinstance(rotation.get("pooled_metrics"), list):
        # the metrics pooled over rotations: their holdout is every rotation's (results.json is untrusted)
        n, k = rotation.get("nonmembers"), rotation.get("rotations")
        sizes["pooled"] = {m for m in rotation["pooled_metrics"] if isinstance(m, str)}
        sizes["pooled_holdout"] = n if isinstance(n, int) and n > 0 else None
        sizes["rotations"] = k if isinstance(k, int) and k > 1 else None
    return dict(data["metrics"]), failed, sizes


def records_needed(value: float, across: float, threshold: float, n: int | None) -> int | None:
    """About how many records (holdout, or synthetic texts for a per-text rate) would put an interval
    wholly on one side of ``threshold``.

    ``across`` is the interval end on the other side of the threshold from ``value``. An
    interval's half-width shrinks about as 1/√n, so the distance from the value to that end, h,
    must shrink to the distance from the value to the threshold, d: n' ≈ n·(h/d)². None when the
    value sits on the threshold (no size decides it) or n is unknown."""
    d, h = abs(value - threshold), abs(across - value)
    if n is None or d == 0:
        return None
    need = round(n * (h / d) ** 2, 6)  # rounded first, so float noise can't push a ceiling up a step
    digits = max(0, len(str(int(need))) - 2)  # two significant figures: it is an estimate
    return int(math.ceil(need / 10**digits) * 10**digits)


class Gate:
    """Checks each rule of a policy against an audit's metrics.

    A ``block`` rule that fails, a metric the policy needs that the audit lacks (unless the rule says
    ``if_missing: skip``), or any audit plug-in that failed blocks the release; a failing ``warn`` rule is reported but lets it through.
    ``policy`` is a ``Policy`` or what ``load_policy`` takes (a shipped name or a path).
    """

    def __init__(self, policy: Policy | str | os.PathLike = "default"):
        self.policy = load_policy(policy)

    def decide(self, audit) -> Decision:
        """RELEASE or BLOCK for ``audit``: an ``AuditResult`` or a results.json dict."""
        metrics, failed_plugins, sizes = _metrics_and_failures(audit)
        d = Decision(verdict=RELEASE)
        for name, error in sorted(failed_plugins.items()):
            d.problems.append(f"audit plug-in {name} failed: {error}")
        loose = self._pii_excuses_beyond_policy(audit)
        if loose:
            d.problems.append(f"the audit did not count PII it was told to excuse ({loose}) and this policy excuses none "
                              "of that: audit again with the policy's pii settings")
        for rule in self.policy.rules:
            o = RuleOutcome(rule.name, rule.metric, rule.comparison, rule.threshold, rule.severity, rule.bound, rule.rationale)
            m = metrics.get(rule.metric)
            if m is None and rule.if_missing == "skip" and rule.metric.split(".", 1)[0] not in failed_plugins:
                o.status, o.reason = "skipped", f"not measured (no {rule.metric}); this rule applies only when it is"
            elif m is None:
                o.status, o.reason = "missing", f"the audit has no {rule.metric} (its plug-in was skipped or failed)"
            elif m.get("value") is None:
                o.status, o.reason = "missing", f"the audit could not compute {rule.metric} (no value)"
            else:
                o.value, o.ci = float(m["value"]), m.get("ci")
                if rule.bound != "value" and not o.ci:
                    o.status, o.reason = "missing", f"the rule compares the interval's {rule.bound} but {rule.metric} has no interval"
                else:
                    o.compared = o.value if rule.bound == "value" else float(o.ci[1] if rule.bound == "ci_upper" else o.ci[0])
                    ok = COMPARISONS[rule.comparison](o.compared, rule.threshold)
                    o.status = "pass" if ok else "fail"
                    o.reason = f"{rule.metric} {'=' if rule.bound == 'value' else rule.bound + ' ='} {o.compared:.4g}, " \
                               f"{'meets' if ok else 'fails'} {rule.comparison} {rule.threshold:g}"
                    if not ok and rule.bound != "value":
                        self._measured_or_undecided(o, rule, sizes)
            d.outcomes.append(o)
            if o.status in ("pass", "skipped"):
                continue
            if o.status == "missing" or rule.severity == "block":  # a missing metric blocks whatever the severity
                d.deciding.append(rule.name)
                if o.status == "undecided":
                    d.undecided.append(rule.name)
            else:
                d.warnings.append(rule.name)
        if d.deciding or d.problems:
            d.verdict = BLOCK
        return d

    def _pii_excuses_beyond_policy(self, audit) -> str:
        """What the audit's pii plug-in excused from replay (ignored types, an allowlist) that the
        policy does not: a replay count made under looser settings than the policy's must not pass.
        results.json holds the allowlist as a count and a digest; it must be empty or the policy's own."""
        from smotext.audit.pii import allowlist_digest

        data = audit.to_json() if hasattr(audit, "to_json") else audit
        params = ((data.get("plugins") or {}).get("pii") or {}).get("params") or {}
        if not isinstance(params, dict):
            return "unreadable pii settings"
        types = params.get("ignore_types") or ()
        if not isinstance(types, (list, tuple)) or not all(isinstance(t, str) for t in types):
            return "unreadable ignore_types"
        types = sorted(set(types) - set(self.policy.pii.ignore_types))
        allow = params.get("allowlist") or {}
        if isinstance(allow, (list, tuple)):  # results.json of an earlier version: the values themselves
            allow = {"values": len(allow), "sha256": allowlist_digest(allow) if allow else None}
        if not isinstance(allow, dict):
            return "unreadable allowlist"
        loose_list = bool(allow.get("values")) and allow.get("sha256") != allowlist_digest(self.policy.pii.values)
        said = ([f"entity types {types}"] if types else []) + (["an allowlist that is not this policy's"] if loose_list else [])
        return "; ".join(said)

    @staticmethod
    def _measured_or_undecided(o: RuleOutcome, rule, sizes: dict) -> None:
        """A failing interval rule: a measured breach when the whole interval is on the unsafe side,
        else the audit can't tell at this size (it blocks all the same: no evidence, no release)."""
        safe_end = float(o.ci[0] if rule.bound == "ci_upper" else o.ci[1])
        if not COMPARISONS[rule.comparison](safe_end, rule.threshold):
            o.reason += "; the whole interval is on the unsafe side: measured"
            return
        value_ok = COMPARISONS[rule.comparison](o.value, rule.threshold)
        o.status = "undecided"
        sample, unit = ("synthetic", "synthetic texts") if rule.metric in PER_SYNTHETIC_TEXT else ("holdout", "holdout records")
        n = sizes.get(sample)
        pooled = rule.metric in sizes.get("pooled", ()) and sample == "holdout"
        if pooled:
            n, unit = sizes.get("pooled_holdout"), "holdout records pooled over the rotations"
        needed = records_needed(o.value, o.compared if value_ok else safe_end, rule.threshold, n)
        setattr(o, f"{sample}_needed", needed)
        lo, hi = sorted((float(o.ci[0]), float(o.ci[1])))
        decide = (f"about {needed:,} {unit} would decide it" if needed else
                  "the value sits on the threshold, so no size would decide it" if o.value == rule.threshold else
                  f"more {unit} would decide it")
        o.reason = (f"cannot tell at this size: {rule.metric} = {o.value:.4g} with interval [{lo:.4g}, {hi:.4g}] "
                    f"straddles {rule.comparison} {rule.threshold:g}; {decide}"
                    + (f" (now {n}; an interval narrows about as 1/√n)" if n else "")
                    + (f"; pooled over {sizes.get('rotations')} rotations" if pooled else
                       "; `--rotations k` generates k times so every record outside the test split is a non-member once"
                       if sample == "holdout" else ""))
