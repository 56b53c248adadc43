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
    from smotext.outputs import load_user_json

    data = load_user_json(text, source)
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
    _check_ranges(data["metrics"], source)
    _check_details(data["plugins"], source)
    return data


def _number(v) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


def _check_ranges(metrics: dict, source: str) -> None:
    """Each metric's value and interval inside the range its plug-in declares, and the value inside
    its own interval: a tampered 99 for an AUC, or a share outside its interval, is refused."""
    from smotext.audit.registry import metric_catalog

    catalog = metric_catalog()
    eps = 1e-9  # float rounding at a range's end is not tampering
    for name, m in metrics.items():
        if name not in catalog:
            raise SmotextError(f"{source}: metrics.{name}: no installed audit plug-in produces this metric")
        safer, (lo, hi) = catalog[name]
        if m["safer"] != safer:
            raise SmotextError(f"{source}: metrics.{name}.safer: is {m['safer']!r}; its plug-in declares {safer!r}")
        value = math.inf if m["value"] == "inf" else m["value"]
        where = f"{source}: metrics.{name}"
        if value is not None and not lo - eps <= value <= hi + eps:
            raise SmotextError(f"{where}.value: {value} is outside the metric's range [{lo:g}, {hi:g}]")
        ci = m.get("ci")
        if ci is not None:
            if not (lo - eps <= ci[0] and ci[1] <= hi + eps):
                raise SmotextError(f"{where}.ci: [{ci[0]}, {ci[1]}] is outside the metric's range [{lo:g}, {hi:g}]")
            if value is not None and not ci[0] - eps <= value <= ci[1] + eps:
                raise SmotextError(f"{where}: the value {value} lies outside its own interval [{ci[0]}, {ci[1]}]")


def _check_details(plugins: dict, source: str) -> None:
    """The plug-in details the report draws (curves, histograms, counts, maps, texts) have the
    shapes smotext writes; the report never meets a malformed one."""
    def fail(where: str, what: str):
        raise SmotextError(f"{source}: plugins.{where}: {what}")

    def numbers(where, v, lo=-math.inf, hi=math.inf):
        if not isinstance(v, list) or not all(_number(x) and lo <= x <= hi for x in v):
            fail(where, f"must be a list of numbers{'' if lo == -math.inf else f' in [{lo:g}, {hi:g}]'}")
        return v

    def texts(where, v):
        if not isinstance(v, list) or not all(isinstance(x, str) for x in v):
            fail(where, "must be a list of texts")

    def mapping(where, v):
        if not isinstance(v, dict):
            fail(where, "must be an object")
        return v

    for name, entry in plugins.items():
        if not isinstance(entry, dict):
            fail(name, "must be an object")
        for key in ("description", "error"):
            if entry.get(key) is not None and not isinstance(entry[key], str):
                fail(f"{name}.{key}", "must be text")
        if "details" not in entry:
            continue
        d = mapping(f"{name}.details", entry["details"])
        if "roc" in d:
            roc = mapping(f"{name}.details.roc", d["roc"])
            fpr = numbers(f"{name}.details.roc.fpr", roc.get("fpr"), 0, 1)
            tpr = numbers(f"{name}.details.roc.tpr", roc.get("tpr"), 0, 1)
            if len(fpr) != len(tpr) or len(fpr) < 2:
                fail(f"{name}.details.roc", "fpr and tpr must be lists of the same length, at least 2")
        hist = d.get("nearest_synthetic_cosine")
        if hist is not None:
            where = f"{name}.details.nearest_synthetic_cosine"
            mapping(where, hist)
            bins = numbers(f"{where}.bins", hist.get("bins"))
            if len(bins) < 2 or any(b > a for a, b in zip(bins[1:], bins)):
                fail(f"{where}.bins", "must be at least 2 increasing numbers")
            for part in ("members", "nonmembers"):
                counts = numbers(f"{where}.{part}", hist.get(part), 0)
                if len(counts) != len(bins) - 1:
                    fail(f"{where}.{part}", f"must hold one count per bin ({len(bins) - 1})")
        counts = d.get("class_counts")
        if counts is not None:
            for part, per in mapping(f"{name}.details.class_counts", counts).items():
                if not isinstance(per, dict) or not all(_number(n) and n >= 0 for n in per.values()):
                    fail(f"{name}.details.class_counts.{part}", "must map classes to counts >= 0")
        if d.get("map") is not None:
            for part, points in mapping(f"{name}.details.map", d["map"]).items():
                if not isinstance(points, list) or not all(isinstance(xy, list) and len(xy) == 2 and all(map(_number, xy))
                                                           for xy in points):
                    fail(f"{name}.details.map.{part}", "must be a list of [x, y] pairs of numbers")
        if d.get("samples") is not None:
            for cls, items in mapping(f"{name}.details.samples", d["samples"]).items():
                texts(f"{name}.details.samples.{cls}", items)
        for i, pair in enumerate(d.get("closest_pairs") or []):
            where = f"{name}.details.closest_pairs[{i}]"
            mapping(where, pair)
            for key in ("synthetic", "member_masked", "shared_span"):
                if key in pair and not isinstance(pair[key], str):
                    fail(f"{where}.{key}", "must be text")
            for key in ("cosine", "word_similarity"):
                if key in pair and not _number(pair[key]):
                    fail(f"{where}.{key}", "must be a number")
        if d.get("nonwords") is not None:
            top = mapping(f"{name}.details.nonwords", d["nonwords"]).get("synthetic_top", [])
            if not (isinstance(top, list) and all(isinstance(p, list) and len(p) == 2 and isinstance(p[0], str)
                                                  and _number(p[1]) for p in top)):
                fail(f"{name}.details.nonwords.synthetic_top", "must be a list of [word, count] pairs")
        side = d.get("side_by_side")
        if side is not None:
            for who, items in mapping(f"{name}.details.side_by_side", side).items():
                texts(f"{name}.details.side_by_side.{who}", items)
