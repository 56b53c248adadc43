"""Audit plug-ins by name. Each has the same signature, ``run(ctx) -> PluginResult``, and declares
for every metric it produces whether a higher or a lower value is safer."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import ClassVar, Literal

from synth.errors import SmotextError

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
        value = "inf" if self.value == math.inf else self.value
        out = {"value": value, "safer": self.safer, "description": self.description}
        if self.ci is not None:
            out["ci"] = list(self.ci)
        if self.ideal is not None:
            out["ideal"] = self.ideal
        return out


@dataclass
class PluginResult:
    """Metrics (named ``plugin.metric``), details for the report, and arrays (scores) for plots."""

    metrics: dict[str, Metric] = field(default_factory=dict)
    details: dict = field(default_factory=dict)
    arrays: dict = field(default_factory=dict)


class Plugin:
    """An attack or metric. Subclasses set ``name``, ``kind``, ``description``, ``params`` and ``run``."""

    name: ClassVar[str] = ""
    kind: ClassVar[str] = "metric"  # "attack", "metric", or "evidence" (details for the report, no metrics)
    description: ClassVar[str] = ""
    params: ClassVar[dict] = {}
    needs_labels: ClassVar[bool] = False
    needs_generation: ClassVar[bool] = False  # reads the generation manifest (ctx.generation)
    # Every metric the plug-in can produce: name -> (which way is safer, (lowest, highest) possible value).
    produces: ClassVar[dict[str, tuple[Direction, tuple[float, float]]]] = {}

    def __init__(self, **overrides):
        unknown = sorted(set(overrides) - set(self.params))
        if unknown:
            raise SmotextError(f"audit plug-in {self.name!r}: unknown parameter(s) {unknown}; it takes {sorted(self.params)}")
        self.settings = {**self.params, **overrides}

    def run(self, ctx) -> PluginResult:
        raise NotImplementedError


PLUGINS: dict[str, type[Plugin]] = {}


def register(cls: type[Plugin]) -> type[Plugin]:
    if cls.name in PLUGINS:
        raise ValueError(f"audit plug-in {cls.name!r} registered twice")
    PLUGINS[cls.name] = cls
    return cls


def create_plugin(name: str, **params) -> Plugin:
    """A plug-in by registry name; an unknown name lists the valid ones."""
    _load_builtin()
    if name not in PLUGINS:
        raise SmotextError(f"unknown audit plug-in {name!r}; valid: {', '.join(sorted(PLUGINS))}")
    return PLUGINS[name](**params)


def available() -> list[str]:
    _load_builtin()
    return list(PLUGINS)


def metric_catalog() -> dict[str, tuple[Direction, tuple[float, float]]]:
    """Every metric any registered plug-in can produce, with its direction and range (for policies)."""
    _load_builtin()
    return {name: spec for cls in PLUGINS.values() for name, spec in cls.produces.items()}


def _load_builtin() -> None:
    # Importing the modules registers their plug-ins; done on first use, not at package import.
    from audit.plugins import classifier_mia, data_mia, decoder_privacy, overview, pii, reconstruction, utility  # noqa: F401
