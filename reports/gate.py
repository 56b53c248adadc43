"""The release gate: audit results + policy -> RELEASE or BLOCK, rule by rule. Fails closed."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field

from smotext.errors import SmotextError
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
    status: str = "fail"  # pass | fail | missing
    reason: str = ""


@dataclass
class Decision:
    verdict: str
    deciding: list[str] = field(default_factory=list)  # rules / problems that blocked it
    warnings: list[str] = field(default_factory=list)
    outcomes: list[RuleOutcome] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)  # failed plug-ins and other fail-closed reasons

    @property
    def exit_code(self) -> int:
        return EXIT_RELEASE if self.verdict == RELEASE else EXIT_BLOCK

    def to_json(self) -> dict:
        out = asdict(self)
        out["exit_code"] = self.exit_code
        return out


def _metrics_and_failures(audit) -> tuple[dict, dict[str, str]]:
    """(metrics as in results.json, failed plug-ins -> error) from an AuditResult or a results.json dict."""
    data = audit.to_json() if hasattr(audit, "to_json") else audit
    if not isinstance(data, Mapping) or not isinstance(data.get("metrics"), Mapping):
        raise SmotextError("the gate decides on an audit result: an AuditResult or a results.json dict with 'metrics'")
    failed = {n: p.get("error", "") for n, p in (data.get("plugins") or {}).items() if p.get("status") == "failed"}
    return dict(data["metrics"]), failed


class Gate:
    """Checks each rule of a policy against an audit's metrics.

    A ``block`` rule that fails, a metric the policy needs that the audit lacks, or any audit plug-in
    that failed blocks the release; a failing ``warn`` rule is reported but lets it through.
    ``policy`` is a ``Policy`` or what ``load_policy`` takes (a shipped name or a path).
    """

    def __init__(self, policy: Policy | str | os.PathLike = "default"):
        self.policy = load_policy(policy)

    def decide(self, audit) -> Decision:
        """RELEASE or BLOCK for ``audit``: an ``AuditResult`` or a results.json dict."""
        metrics, failed_plugins = _metrics_and_failures(audit)
        d = Decision(verdict=RELEASE)
        for name, error in sorted(failed_plugins.items()):
            d.problems.append(f"audit plug-in {name} failed: {error}")
        for rule in self.policy.rules:
            o = RuleOutcome(rule.name, rule.metric, rule.comparison, rule.threshold, rule.severity, rule.bound, rule.rationale)
            m = metrics.get(rule.metric)
            if m is None:
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
            d.outcomes.append(o)
            if o.status == "missing" or (o.status == "fail" and rule.severity == "block"):
                d.deciding.append(rule.name)
            elif o.status == "fail":
                d.warnings.append(rule.name)
        if d.deciding or d.problems:
            d.verdict = BLOCK
        return d
