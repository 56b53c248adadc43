"""Small inline-SVG plots for the report: no script, no external resource, every label escaped."""

from __future__ import annotations

import math

from markupsafe import Markup, escape

PALETTE = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b", "#e377c2", "#17becf"]
W, H, L, R, T, B = 420, 300, 52, 12, 14, 40  # size and margins


def _frame(title: str, x_label: str, y_label: str, body: list[str], legend: list[tuple[str, str]]) -> Markup:
    items = "".join(
        f'<rect x="{L + 8}" y="{T + 6 + 16 * i}" width="10" height="10" fill="{c}"/>'
        f'<text x="{L + 22}" y="{T + 15 + 16 * i}" font-size="11">{escape(n)}</text>'
        for i, (n, c) in enumerate(legend)
    )
    return Markup(
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {W} {H}" width="{W}" height="{H}" role="img" '
        f'aria-label="{escape(title)}"><title>{escape(title)}</title>'
        f'<rect x="{L}" y="{T}" width="{W - L - R}" height="{H - T - B}" fill="#fff" stroke="#999"/>'
        + "".join(body) + items
        + f'<text x="{(L + W - R) / 2}" y="{H - 6}" font-size="12" text-anchor="middle">{escape(x_label)}</text>'
        f'<text x="14" y="{(T + H - B) / 2}" font-size="12" text-anchor="middle" '
        f'transform="rotate(-90 14 {(T + H - B) / 2})">{escape(y_label)}</text></svg>'
    )


def _scale(lo: float, hi: float, a: float, b: float, log: bool = False):
    if log:
        lo, hi = math.log10(lo), math.log10(hi)
    span = (hi - lo) or 1.0

    def f(v: float) -> float:
        v = math.log10(v) if log else v
        return a + (b - a) * (v - lo) / span

    return f


def roc_loglog(curves: dict[str, dict], floor: float = 1e-3) -> Markup:
    """ROC curves on log-log axes (FPR and TPR from ``floor`` to 1), with the chance diagonal."""
    sx, sy = _scale(floor, 1, L, W - R, log=True), _scale(floor, 1, H - B, T, log=True)
    body = []
    for d in (1e-3, 1e-2, 1e-1, 1):
        if d >= floor:
            body.append(f'<line x1="{sx(d):.1f}" y1="{T}" x2="{sx(d):.1f}" y2="{H - B}" stroke="#eee"/>'
                        f'<text x="{sx(d):.1f}" y="{H - B + 13}" font-size="10" text-anchor="middle">{d:g}</text>'
                        f'<line x1="{L}" y1="{sy(d):.1f}" x2="{W - R}" y2="{sy(d):.1f}" stroke="#eee"/>'
                        f'<text x="{L - 4}" y="{sy(d) + 3:.1f}" font-size="10" text-anchor="end">{d:g}</text>')
    body.append(f'<line x1="{sx(floor):.1f}" y1="{sy(floor):.1f}" x2="{sx(1):.1f}" y2="{sy(1):.1f}" '
                f'stroke="#888" stroke-dasharray="4 3"/>')
    legend = []
    for i, (name, c) in enumerate(curves.items()):
        color = PALETTE[i % len(PALETTE)]
        pts = [(max(f, floor), max(t, floor)) for f, t in zip(c["fpr"], c["tpr"]) if f >= floor]
        path = " ".join(f"{sx(f):.1f},{sy(t):.1f}" for f, t in pts)
        body.append(f'<polyline points="{path}" fill="none" stroke="{color}" stroke-width="1.6"/>')
        legend.append((name, color))
    return _frame("ROC curves, log-log", "false positive rate", "true positive rate", body, legend)


def histograms(bins: list[float], series: dict[str, list[int]], x_label: str) -> Markup:
    """Overlaid step histograms, normalised to shares, sharing ``bins``."""
    shares = {n: [c / max(1, sum(cs)) for c in cs] for n, cs in series.items()}
    top = max((max(v) for v in shares.values() if v), default=1) or 1
    sx, sy = _scale(bins[0], bins[-1], L, W - R), _scale(0, top * 1.1, H - B, T)
    body = [f'<text x="{sx(v):.1f}" y="{H - B + 13}" font-size="10" text-anchor="middle">{v:.1f}</text>'
            for v in bins[:: max(1, len(bins) // 6)]]
    legend = []
    for i, (name, vals) in enumerate(shares.items()):
        color = PALETTE[i % len(PALETTE)]
        pts = []
        for a, b, v in zip(bins[:-1], bins[1:], vals):
            pts += [f"{sx(a):.1f},{sy(v):.1f}", f"{sx(b):.1f},{sy(v):.1f}"]
        body.append(f'<polyline points="{" ".join(pts)}" fill="none" stroke="{color}" stroke-width="1.6"/>')
        legend.append((name, color))
    return _frame("distance histograms", x_label, "share of records", body, legend)


def grouped_bars(categories: list[str], series: dict[str, list[float]], y_label: str) -> Markup:
    """Bars per category, one colour per series (e.g. class shares, real vs synthetic)."""
    top = max((max(v) for v in series.values() if v), default=1) or 1
    sy = _scale(0, top * 1.1, H - B, T)
    slot = (W - L - R) / max(1, len(categories))
    width = slot * 0.8 / max(1, len(series))
    body, legend = [], []
    for j, (name, vals) in enumerate(series.items()):
        color = PALETTE[j % len(PALETTE)]
        legend.append((name, color))
        for i, v in enumerate(vals):
            x = L + i * slot + slot * 0.1 + j * width
            body.append(f'<rect x="{x:.1f}" y="{sy(v):.1f}" width="{width:.1f}" height="{H - B - sy(v):.1f}" fill="{color}">'
                        f"<title>{escape(categories[i])}: {v:.3g}</title></rect>")
    for i, c in enumerate(categories):
        label = c if len(c) <= 14 else c[:13] + "…"
        body.append(f'<text x="{L + (i + 0.5) * slot:.1f}" y="{H - B + 13}" font-size="10" text-anchor="middle">{escape(label)}</text>')
    return _frame("class balance", "", y_label, body, legend)


def scatter(points: dict[str, list[list[float]]]) -> Markup:
    """2-D points per series (e.g. real vs synthetic embeddings after PCA)."""
    allp = [p for ps in points.values() for p in ps] or [[0, 0], [1, 1]]
    xs, ys = [p[0] for p in allp], [p[1] for p in allp]
    sx, sy = _scale(min(xs), max(xs), L + 6, W - R - 6), _scale(min(ys), max(ys), H - B - 6, T + 6)
    body, legend = [], []
    for i, (name, ps) in enumerate(points.items()):
        color = PALETTE[i % len(PALETTE)]
        legend.append((name, color))
        body += [f'<circle cx="{sx(x):.1f}" cy="{sy(y):.1f}" r="2.2" fill="{color}" fill-opacity="0.55"/>' for x, y in ps]
    return _frame("embedding map (PCA)", "component 1", "component 2", body, legend)
