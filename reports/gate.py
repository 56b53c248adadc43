"""The release gate: audit results + policy -> RELEASE or BLOCK, rule by rule. Fails closed."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

from reports.policy import COMPARISONS, Policy

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


class Gate:
    """Checks each rule of a policy against audit metrics.

    A ``block`` rule that fails, a metric the policy needs that the audit lacks, or any audit plug-in
    that failed blocks the release; a failing ``warn`` rule is reported but lets it through.
    """

    def __init__(self, policy: Policy):
        self.policy = policy

    def decide(self, metrics: dict[str, dict], failed_plugins: dict[str, str] | None = None) -> Decision:
        """``metrics`` as in results.json: name -> {"value", "ci"?, ...}."""
        d = Decision(verdict=RELEASE)
        for name, error in sorted((failed_plugins or {}).items()):
            d.problems.append(f"audit plug-in {name} failed: {error}")
        for rule in self.policy.rules:
            o = RuleOutcome(rule.name, rule.metric, rule.comparison, rule.threshold, rule.severity, rule.bound, rule.rationale)
            m = metrics.get(rule.metric)
            if m is None:
                o.status, o.reason = "missing", f"the audit has no {rule.metric} (its plug-in was skipped or failed)"
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
