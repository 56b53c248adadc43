"""report.html from a results.json: one self-contained file (inline CSS and SVG, no script, no fetch)."""

from __future__ import annotations

import math
import os
import re
from pathlib import Path

from jinja2 import Environment, PackageLoader
from markupsafe import Markup, escape

from smotext.errors import SmotextError
from smotext.reports import svg

ATTACK_ORDER = ("mia_synthetic_embedding", "mia_synthetic_lexical", "mia_synthetic_ngram", "mia_classifier_loss",
                "mia_classifier_confidence", "mia_classifier_reference")


def highlight(text: str, span: str, min_words: int = 3) -> Markup:
    """``text`` escaped, with the words of ``span`` (lower-cased words) wrapped in <mark>.

    Runs shorter than ``min_words`` are left unmarked: "the" in common is not evidence of anything.
    """
    words = span.split()
    if len(words) < min_words:
        return escape(text)
    pattern = re.compile(r"\b" + r"\W+".join(map(re.escape, words)) + r"\b", re.IGNORECASE)
    m = pattern.search(text)
    if not m:
        return escape(text)
    return escape(text[: m.start()]) + Markup("<mark>") + escape(m.group(0)) + Markup("</mark>") + escape(text[m.end():])


def _fmt(v, digits: int = 3) -> str:
    if v is None:
        return "–"
    if v == "inf" or (isinstance(v, float) and math.isinf(v)):
        return "∞"
    if isinstance(v, float) and 0 < abs(v) < 0.001:
        return f"{v:.2g}"
    if isinstance(v, float) and v.is_integer() and abs(v) >= 1:
        return f"{int(v)}"
    return f"{v:.{digits}f}" if isinstance(v, float) else str(v)


def _pct(v) -> str:
    """A share as a percentage with one decimal ("–" when not a number)."""
    return f"{100 * v:.1f}%" if isinstance(v, (int, float)) and not isinstance(v, bool) else "–"


def view(results: dict) -> dict:
    """Everything the template shows, derived from results.json (which stays the single source)."""
    plugins = results.get("plugins", {})
    ok = lambda name: plugins.get(name, {}).get("status") == "ok"
    details = lambda name: plugins.get(name, {}).get("details", {}) if ok(name) else {}

    curves = {n: details(n)["roc"] for n in ATTACK_ORDER if ok(n) and "roc" in details(n)}
    recon, overview = details("reconstruction"), details("overview")
    realism = details("realism")
    side = realism.get("side_by_side", {})
    real = side.get("real", [])
    plots = {"roc": svg.roc_loglog(curves) if curves else None}
    hist = recon.get("nearest_synthetic_cosine")
    if hist:
        plots["distances"] = svg.histograms(hist["bins"], {"members": hist["members"], "holdout": hist["nonmembers"]},
                                            "cosine to the nearest synthetic text")
    counts = overview.get("class_counts")
    if counts:
        classes = sorted(set(counts["members"]) | set(counts["synthetic"]))
        share = lambda c: [c.get(k, 0) / max(1, sum(c.values())) for k in classes]
        plots["balance"] = svg.grouped_bars(classes, {"real (members)": share(counts["members"]),
                                                      "synthetic": share(counts["synthetic"])}, "share of texts")
    if overview.get("map"):
        plots["map"] = svg.scatter({"real (members)": overview["map"]["real"], "synthetic": overview["map"]["synthetic"]})

    # a real text is shown only in an internal report (the audit was asked for real examples)
    pairs = [{**p, "synthetic_html": highlight(p["synthetic"], p.get("shared_span", "")),
              "member_html": highlight(p.get("member_masked", "(not shown)"), p.get("shared_span", ""))}
             for p in recon.get("closest_pairs", [])]
    attacks = []
    for n in ATTACK_ORDER:
        if n in plugins:
            m = results.get("metrics", {})
            attacks.append({"name": n, "status": plugins[n]["status"], "description": plugins[n].get("description", ""),
                            **{k: m.get(f"{n}.{k}") for k in ("auc", "tpr_at_fpr_0.01", "tpr_at_fpr_0.001")}})
    return {
        "r": results, "gate": results.get("gate"), "policy": results.get("policy"), "generation": results.get("generation"),
        "plots": plots, "pairs": pairs, "attacks": attacks, "utility": details("utility"), "pii": details("pii"),
        "recon": recon, "decoder": details("decoder_privacy"), "formal": details("generation_privacy"), "realism": realism,
        "canary": details("canary"), "generator": _generator(results.get("generation")),
        "rotation": _rotation((results.get("run") or {}).get("rotation")),
        "realism_pairs": [(real[i] if i < len(real) else None, t) for i, t in enumerate(side.get("synthetic", []))],
        "internal": (results.get("run") or {}).get("real_examples") is True, "samples": overview.get("samples", {}),
        "plugins": plugins, "fmt": _fmt, "pct": _pct,
    }


def _generator(generation) -> str | None:
    """The report's name for a generator smotext did not run itself (None for SMOTExT's own run)."""
    from smotext.synth.manifest import outside_generator

    return outside_generator(generation) if isinstance(generation, dict) else None


def _rotation(rotation) -> dict | None:
    """A rotated release's pooling (``audit.rotation.pool``), if results.json says so in a shape we read."""
    if not isinstance(rotation, dict) or not isinstance(rotation.get("rotations"), int):
        return None
    pooled = rotation.get("pooled_metrics")
    return {**rotation, "pooled_metrics": [m for m in pooled if isinstance(m, str)] if isinstance(pooled, list) else []}


REPORT_MARK = "<!DOCTYPE html>\n<!-- smotext report -->"  # how every report starts; only such a file is replaced


def report_html(results: dict) -> str:
    """report.html's text for ``results`` (the dict saved as results.json). A results dict whose
    details the template can't show raises SmotextError: nothing is written from it."""
    from jinja2 import TemplateError

    env = Environment(loader=PackageLoader("smotext.reports", "templates"), autoescape=True, trim_blocks=True, lstrip_blocks=True)
    try:
        html = env.get_template("report.html.j2").render(**view(results))
    except (TemplateError, TypeError, ValueError, KeyError, AttributeError, IndexError) as e:
        # check_results refuses the shapes we know of; this catches the rest, still with one line
        first = (str(e).splitlines() or [type(e).__name__])[0][:200]
        raise SmotextError(f"results: a plug-in's details have a shape smotext does not write, so the report can't "
                           f"show them ({type(e).__name__}: {first})") from None
    if not html.startswith(REPORT_MARK):
        raise AssertionError("the report template must start with REPORT_MARK")
    return html


def check_report_target(path: str | os.PathLike) -> None:
    """A report may replace only a report smotext wrote (or a missing file), never a link."""
    p = Path(path)
    if p.is_symlink():
        raise SmotextError(f"out {p} is a symbolic link; smotext does not write through links", params="out")
    if p.exists():
        if not p.is_file():
            raise SmotextError(f"out {p} is not a regular file", params="out")
        with open(p, "rb") as f:
            head = f.read(len(REPORT_MARK))
        if head != REPORT_MARK.encode():
            raise SmotextError(f"out {p} is a file smotext did not write; choose another name for the report",
                               params="out")


def render_report(results: dict, out: str | os.PathLike) -> Path:
    """Write report.html (atomically, never through a link) for ``results``."""
    from smotext.outputs import write_text_atomic

    return write_text_atomic(out, report_html(results))
