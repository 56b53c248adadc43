"""Audit plug-ins by name. Each has the same signature, ``run(ctx) -> PluginResult``, and declares
for every metric it produces whether a higher or a lower value is safer."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import ClassVar, Literal

from smotext.errors import SmotextError
from smotext.registry import Plugin as BasePlugin
from smotext.registry import Registry

Direction = Literal["higher", "lower"]


@dataclass
class Metric:
    """One number with its 95% interval (if any), which way is safer, and what it means."""

    value: float
    safer: Direction
    description: str
    ci: tuple[float, float] | None = None
    ideal: float | None = None  # e.g. 0.5 for an AUC or a DCR share: the value of "no leak"

    def to_json(self) -> dict:
        # ∞ (e.g. a decoder trained without DP) as the string "inf": strict JSON has no Infinity, float() reads it
        # NaN (a plug-in could not compute it) as null: the gate then treats the metric as missing
        value = "inf" if self.value == math.inf else (None if math.isnan(self.value) else self.value)
        out = {"value": value, "safer": self.safer, "description": self.description}
        if self.ci is not None:
            lo, hi = (float(x) for x in self.ci)
            if value is not None and value != "inf":  # a percentile bootstrap interval can miss its own estimate:
                lo, hi = min(lo, value), max(hi, value)  # widened to hold it (results.json requires lo <= value <= hi)
            out["ci"] = [lo, hi]
        if self.ideal is not None:
            out["ideal"] = self.ideal
        return out


@dataclass
class PluginResult:
    """Metrics (named ``plugin.metric``), details for the report, and arrays (scores) for plots."""

    metrics: dict[str, Metric] = field(default_factory=dict)
    details: dict = field(default_factory=dict)
    arrays: dict = field(default_factory=dict)


class Plugin(BasePlugin):
    """An attack or metric. Subclasses set ``name``, ``kind``, ``description``, ``params``, ``produces`` and ``run``."""

    kind_label = "audit plug-in"
    kind: ClassVar[str] = "metric"  # "attack", "metric", or "evidence" (details for the report, no metrics)
    needs_labels: ClassVar[bool] = False
    needs_generation: ClassVar[bool] = False  # reads the generation manifest (ctx.generation)
    needs_canaries: ClassVar[bool] = False  # reads the release's canary experiment (ctx.canaries)
    # Every metric the plug-in can produce: name -> (which way is safer, (lowest, highest) possible value).
    produces: ClassVar[dict[str, tuple[Direction, tuple[float, float]]]] = {}

    def run(self, ctx) -> PluginResult:
        raise NotImplementedError


class _AuditRegistry(Registry[Plugin]):
    def register(self, cls):
        bad = {m: spec for m, spec in getattr(cls, "produces", {}).items()
               if not (isinstance(spec, tuple) and len(spec) == 2 and spec[0] in ("higher", "lower"))}
        if bad:  # a policy could not tell which way is safer
            raise SmotextError(f"audit plug-in {getattr(cls, 'name', cls)!r}: metrics {sorted(bad)} must declare "
                               "(\"higher\" or \"lower\", (lowest, highest))")
        return super().register(cls)


# Importing the built-in modules registers their plug-ins; done on first use, not at package import.
PLUGINS: Registry[Plugin] = _AuditRegistry(
    "audit plug-in", Plugin, group="smotext.audit_plugins",
    builtin_modules=tuple(f"smotext.audit.plugins.{m}" for m in
                          ("canary", "classifier_mia", "data_mia", "decoder_privacy", "generation_privacy", "overview", "pii", "realism", "reconstruction", "utility")))
register = PLUGINS.register


def create_plugin(name: str, **params) -> Plugin:
    """A plug-in by registry name; an unknown name lists the valid ones."""
    return PLUGINS.create(name, **params)


def available() -> list[str]:
    return PLUGINS.names()


def metric_catalog() -> dict[str, tuple[Direction, tuple[float, float]]]:
    """Every metric any registered plug-in can produce, with its direction and range (for policies)."""
    return {name: spec for cls in PLUGINS.classes().values() for name, spec in cls.produces.items()}
