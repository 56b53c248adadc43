"""The schema of results.json, checked when it is written and when it is read back: a results
file with malformed metrics (null, a string, a bare number, a one-ended interval) or plug-ins
(a list) is refused with one line naming the place, never gated."""

from __future__ import annotations

import json
import math
from typing import Literal

from pydantic import BaseModel, ConfigDict, ValidationError, field_validator

from smotext.errors import SmotextError

FORMAT = "smotext-audit/1"


class MetricEntry(BaseModel):
    # strict: a metric written as "0.1" or true is not a number
    model_config = ConfigDict(extra="forbid", strict=True)

    value: float | Literal["inf"] | None  # None: the plug-in could not compute it (NaN); "inf": ∞
    safer: Literal["higher", "lower"]
    description: str
    ci: list[float] | None = None
    ideal: float | None = None

    @field_validator("value", "ideal")
    @classmethod
    def _finite(cls, v):
        if isinstance(v, float) and not math.isfinite(v):
            raise ValueError("must be a finite number, \"inf\" or null")
        return v

    @field_validator("ci")
    @classmethod
    def _interval(cls, v):
        if v is not None and (len(v) != 2 or not all(math.isfinite(x) for x in v) or v[0] > v[1]):
            raise ValueError("must be two finite numbers [low, high] with low <= high")
        return v


class PluginEntry(BaseModel):
    model_config = ConfigDict(extra="allow", strict=True)

    status: Literal["ok", "failed", "skipped"]
    error: str | None = None


class Results(BaseModel):
    model_config = ConfigDict(extra="allow", strict=True)

    format: Literal["smotext-audit/1"]
    inputs: dict
    run: dict
    metrics: dict[str, MetricEntry]
    plugins: dict[str, PluginEntry]


def _problem(e: ValidationError) -> str:
    first = e.errors()[0]
    where = ".".join(str(p) for p in first["loc"]) or "results"
    extra = f" (and {e.error_count() - 1} more problem(s))" if e.error_count() > 1 else ""
    return f"{where}: {first['msg'].removeprefix('Value error, ')}{extra}"


def parse_results(text: str, source: str) -> dict:
    """results.json text -> dict, validated; anything else raises SmotextError naming ``source``."""
    try:
        data = json.loads(text, parse_constant=lambda c: (_ for _ in ()).throw(ValueError(f"{c} is not JSON")))
    except ValueError as e:
        raise SmotextError(f"{source}: not valid JSON: {e}") from None
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise SmotextError(f"{source}: not a smotext results.json (no \"format\": \"{FORMAT}\")")
    check_results(data, source)
    return data


def check_results(data: dict, source: str = "results") -> dict:
    """Validate a results dict (as written to results.json) against the schema; returns it."""
    try:
        Results.model_validate_json(json.dumps(data, allow_nan=False, default=str))
    except ValidationError as e:
        raise SmotextError(f"{source}: {_problem(e)}") from None
    except ValueError as e:  # NaN or infinity left in the dict
        raise SmotextError(f"{source}: {e}") from None
    return data
