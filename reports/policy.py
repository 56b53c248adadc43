"""Release policies: YAML files of named rules, validated strictly (unknown keys, unknown metrics and
out-of-range thresholds are errors). Loading never falls back to defaults: a bad policy is an error."""

from __future__ import annotations

import hashlib
import math
import os
from importlib import resources
from pathlib import Path
from typing import Literal

from pydantic import (BaseModel, ConfigDict, Field, PrivateAttr, ValidationError, ValidationInfo, field_validator,
                      model_validator)

from smotext.errors import SmotextError
from smotext.audit.pii import read_allowlist
from smotext.strict_yaml import load_yaml

COMPARISONS = {"<": lambda v, t: v < t, "<=": lambda v, t: v <= t, ">": lambda v, t: v > t, ">=": lambda v, t: v >= t}


class Rule(BaseModel):
    """One check: ``metric comparison threshold``; failing a ``block`` rule blocks the release."""

    # strict: `threshold: true` or `threshold: "0.1"` is an error, not 1.0 or 0.1
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)

    name: str = Field(min_length=1, pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
    metric: str
    comparison: Literal["<", "<=", ">", ">="]
    threshold: float
    severity: Literal["block", "warn"] = "block"
    # Which number to compare: the point value, or the conservative end of its 95% interval.
    bound: Literal["value", "ci_upper", "ci_lower"] = "value"
    # A metric the audit lacks blocks (fail closed) unless the rule applies only when it was measured,
    # e.g. a check on canaries for releases that planted some.
    if_missing: Literal["block", "skip"] = "block"
    rationale: str = Field(min_length=1)

    @field_validator("threshold")
    @classmethod
    def _finite(cls, v: float) -> float:
        if not math.isfinite(v):
            raise ValueError("threshold must be a finite number")
        return v

    @model_validator(mode="after")
    def _known_metric_in_range(self):
        from smotext.audit.registry import metric_catalog

        catalog = metric_catalog()
        if self.metric not in catalog:
            raise ValueError(f"unknown metric {self.metric!r}; valid metrics: {', '.join(sorted(catalog))}")
        lo, hi = catalog[self.metric][1]
        if not lo <= self.threshold <= hi:
            raise ValueError(f"threshold {self.threshold} is out of range for {self.metric} ([{lo}, {hi}])")
        return self


class PiiExcuses(BaseModel):
    """PII values the policy does not count as replayed: entity types (e.g. DATE_TIME in a corpus of
    appointment notes) and an allowlist file of values (public figures; one per line, # comments),
    its path relative to the policy file. Planted or private member PII still counts."""

    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)

    ignore_types: list[str] = Field(default_factory=list)
    allowlist: str | None = None
    _values: tuple[str, ...] = PrivateAttr(default=())
    _path: Path | None = PrivateAttr(default=None)

    @field_validator("ignore_types")
    @classmethod
    def _known_types(cls, v: list[str]) -> list[str]:
        from smotext.audit.plugins.pii import REPLAY_TYPES

        unknown = sorted(set(v) - REPLAY_TYPES)
        if unknown:
            raise ValueError(f"unknown entity type(s) {unknown}; replay counts {', '.join(sorted(REPLAY_TYPES))}")
        return v

    @model_validator(mode="after")
    def _read_allowlist(self, info: ValidationInfo):
        if self.allowlist is not None:  # relative to the policy file (load_policy says where), else the working folder
            self._path = Path((info.context or {}).get("base", ".")) / self.allowlist
            self._values = read_allowlist(self._path)
        return self

    @property
    def allowlist_path(self) -> Path | None:
        """The allowlist file read (an input no output may replace), or None."""
        return self._path

    @property
    def values(self) -> tuple[str, ...]:
        """The allowlist's values (read when the policy was loaded)."""
        return self._values

    def audit_params(self) -> dict:
        """The pii plug-in's parameters that apply these excuses."""
        return {"ignore_types": list(self.ignore_types), "allowlist": list(self._values)}


class Policy(BaseModel):
    """A named set of rules. ``source`` and ``sha256`` say which file it was read from (set by
    ``load_policy``; a policy built in Python has source "<python>" and the sha256 of its JSON)."""

    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)

    name: str = Field(min_length=1)
    description: str = ""
    rules: list[Rule] = Field(min_length=1)
    pii: PiiExcuses = Field(default_factory=PiiExcuses)
    _source: str = PrivateAttr(default="<python>")
    _sha256: str = PrivateAttr(default="")

    @property
    def source(self) -> str:
        return self._source

    @property
    def sha256(self) -> str:
        return self._sha256 or hashlib.sha256(self.model_dump_json().encode()).hexdigest()

    @model_validator(mode="after")
    def _unique_names(self):
        names = [r.name for r in self.rules]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise ValueError(f"rule names must be unique; repeated: {dupes}")
        return self

    @property
    def metrics(self) -> set[str]:
        return {r.metric for r in self.rules}


def _where(loc: tuple, data) -> str:
    """'rules[2] (no-copies).threshold' for a pydantic error location."""
    parts = []
    for p in loc:
        if isinstance(p, int):
            name = ""
            try:
                name = f" ({data['rules'][p]['name']})"
            except (KeyError, IndexError, TypeError):
                pass
            parts[-1] = f"{parts[-1]}[{p}]{name}"
        else:
            parts.append(str(p))
    return ".".join(parts) or "policy"


SHIPPED_PACKAGE = "smotext.policies"


def shipped_policies() -> dict[str, Path]:
    """The policies shipped with the package: name -> file."""
    folder = resources.files(SHIPPED_PACKAGE)
    return {Path(f.name).stem: Path(str(f)) for f in sorted(folder.iterdir(), key=lambda f: f.name) if f.name.endswith(".yaml")}


def resolve_policy(policy: str | os.PathLike) -> tuple[Path, str]:
    """(file, how to name it): a shipped policy's name ("default") or a path to a YAML file."""
    text = os.fspath(policy)
    shipped = shipped_policies()
    looks_like_name = not any(sep in text for sep in ("/", os.sep)) and not text.lower().endswith((".yaml", ".yml"))
    if looks_like_name:
        if text in shipped:
            return shipped[text], text
        if not Path(text).is_file():
            raise SmotextError(f"policy {text!r}: no shipped policy has that name and no such file exists; "
                               f"shipped: {', '.join(shipped)}", params="policy")
    return Path(text), text


def policy_file(policy) -> Path | None:
    """The file a policy argument names (a shipped policy's or a path), or None for a Policy
    object or an argument that names nothing (``load_policy`` then says what is wrong)."""
    if isinstance(policy, Policy):
        return None
    try:
        return resolve_policy(policy)[0]
    except SmotextError:
        return None


def load_policy(policy: str | os.PathLike | Policy = "default") -> Policy:
    """A policy by shipped name (``default``, ``strict``, ``research``) or from a YAML file.

    Any problem raises SmotextError naming the file, the place and the fix; nothing falls back
    to a default. The result's ``sha256`` is the file's."""
    if isinstance(policy, Policy):
        return policy
    from smotext.outputs import read_user_text

    p, label = resolve_policy(policy)
    text = read_user_text(p, "policy")
    raw = text.encode("utf-8")
    data = load_yaml(text, f"policy {p}")
    if data is None:
        raise SmotextError(f"policy {p}: the file is empty")
    if not isinstance(data, dict):
        raise SmotextError(f"policy {p}: expected a mapping with 'name' and 'rules', got {type(data).__name__}")
    try:
        policy = Policy.model_validate(data, context={"base": p.parent})
    except ValidationError as e:
        # An unknown key usually explains the "missing" one next to it (a typo), so report it first.
        first = sorted(e.errors(), key=lambda err: err["type"] != "extra_forbidden")[0]
        msg = first["msg"].removeprefix("Value error, ")
        if first["type"] == "extra_forbidden":
            msg = f"unknown key {first['loc'][-1]!r}"
        extra = f" (and {e.error_count() - 1} more problem(s))" if e.error_count() > 1 else ""
        raise SmotextError(f"policy {p}: {_where(first['loc'], data)}: {msg}{extra}") from None
    policy._source, policy._sha256 = label, hashlib.sha256(raw).hexdigest()
    return policy
