"""What a generation run did (the manifest, public) and how outputs link to real rows (the
provenance, private): building, reading and checking them. Torch-free."""

from __future__ import annotations

import dataclasses
import sys
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

from smotext.errors import SmotextError
from smotext.synth.corpus import json_safe
from smotext.synth.params import GENERATION_PARAMS, MODEL_PARAMS


def versions() -> dict:
    """Python and the versions of the packages that shape the results."""
    out = {"python": sys.version.split()[0]}
    for pkg in ("smotext", "torch", "transformers", "sentence-transformers", "numpy", "scikit-learn"):
        try:
            out[pkg] = version(pkg)
        except PackageNotFoundError:
            out[pkg] = None
    return out


def describe_corpus(corpus) -> dict:
    return {"path": corpus.source, "sha256": corpus.sha256, "texts": len(corpus), "labelled": corpus.labelled,
            "per_class": {c: corpus.labels.count(c) for c in sorted(set(corpus.labels))}}


def generation_manifest(sampler, corpus, outputs: dict | None = None, seconds: float | None = None) -> dict:
    """The manifest of a fitted ``SMOTExT`` run on ``corpus`` (the records it drew from): seed,
    parameters, models and their sha256, counts, filters, timings, versions."""
    if not hasattr(sampler, "report_"):
        raise SmotextError("the sampler has not generated anything yet: call fit_resample first")
    report, card = sampler.report_, sampler.decoder_.card
    total = seconds if seconds is not None else sum(report.seconds.values())
    parameters = {k: getattr(sampler, k) for k in GENERATION_PARAMS if k not in MODEL_PARAMS and k not in ("dp", "engine")}
    if getattr(sampler, "dp", None) is not None:  # DP generation runs its own chain (no filter that reads real records)
        parameters["filters"] = [f["name"] for f in report.filters]
    return {
        "smotext": "generate",
        "seed": sampler.random_state,
        "mode": "dp" if getattr(sampler, "dp", None) is not None else "non-dp",
        "privacy": json_safe(sampler.privacy_),  # ∞ (no guarantee) as "inf": the manifest is strict JSON
        "parameters": parameters,
        "decoding": sampler.decoding_,  # as run: a None temperature depends on the bridge
        "engine": dataclasses.asdict(sampler.engine_) if hasattr(sampler, "engine_") else None,
        "corpus": describe_corpus(corpus),
        "models": {
            "encoder": {"name": sampler.encoder_.name, "path": str(sampler.encoder_.path), "sha256": sampler.encoder_.fingerprint},
            "lm": {"name": sampler.lm_.name, "path": sampler.lm_.path, "sha256": sampler.lm_.fingerprint},
            "bridge": {"path": sampler.bridge_path_, "sha256": sampler.bridge_sha256_, "steps": card.training.get("steps"),
                       "n_tokens": card.config.n_tokens, "dp": card.training.get("dp", {"used": False}),
                       # what the decoder_privacy audit needs: which texts the bridge saw, and how
                       "training": {k: card.training.get(k) for k in ("data", "dp", "init") if k in card.training}},
        },
        "requested": report.requested, "made": report.made, "shortfall": report.shortfall,
        "rounds": report.rounds, "candidates_decoded": report.candidates_decoded,
        "keep_rate": round(report.keep_rate, 4), "near_copies_skipped": report.near_copies_skipped,
        "filters": report.filters, "vectors_lost_by_filter": report.dropped_by,
        "outputs": outputs or {},
        "seconds": {**{k: round(v, 2) for k, v in report.seconds.items()}, "total": round(total, 2)},
        "versions": versions(),
    }


def outside_generator(generation: dict) -> str | None:
    """How the report names a generator smotext did not run itself (None for SMOTExT's own manifest):
    a plug-in's name, or "outside: FILE (sha256 …)" for a file audited through ``--prepared``."""
    g = generation.get("generator")
    if not isinstance(g, dict):
        return None
    if g.get("outside"):
        return f"outside generator (file {g.get('file')}, sha256 {str(g.get('sha256'))[:12]}…)"
    return f"generator {g.get('name')!s}"


def parent_rows(sampler) -> set[int]:
    """Corpus rows that served as parents in a fitted sampler's run."""
    return {int(i) for ps in sampler.provenance_["parents"] for i in ps}


def read_parent_rows(path) -> set[int]:
    """Corpus rows that served as parents, from a generation provenance file."""
    from smotext.outputs import load_user_json, read_user_text

    p = Path(path)
    if not p.exists():
        raise SmotextError(f"{p}: no such provenance file")
    rows: set[int] = set()
    for n, line in enumerate(read_user_text(p, "provenance", 2**30).splitlines(), 1):
        try:
            rows.update(int(i) for i in load_user_json(line, f"{p}: line {n}")["parents"])
        except (SmotextError, KeyError, TypeError, ValueError):
            raise SmotextError(f"{p}: line {n} is not a provenance record with 'parents'") from None
    return rows


def manifest_path_for(synthetic: str | Path) -> Path:
    """Where generation puts the manifest of a synthetic file: ``<stem>.manifest.json`` beside it."""
    p = Path(synthetic)
    return p.parent / f"{p.stem}.manifest.json"


def read_manifest(synthetic: str | Path, manifest: str | Path | None = None) -> dict | None:
    """The generation manifest: ``manifest`` if given (must be readable), else the one beside the
    synthetic file (None if there is none)."""
    from smotext.outputs import load_user_json, read_user_text

    path = Path(manifest) if manifest else manifest_path_for(synthetic)
    if not path.exists() and not path.is_symlink():
        if manifest:
            raise SmotextError(f"{path}: no such manifest")
        return None
    data = load_user_json(read_user_text(path, "generation manifest"), f"generation manifest {path}")
    if not isinstance(data, dict) or data.get("smotext") != "generate":
        raise SmotextError(f"{path}: not a smotext generation manifest")
    return data


def encoder_from_manifest(manifest: dict | None) -> str | None:
    """The encoder generation used, if the manifest names a folder that exists here."""
    try:
        path = manifest["models"]["encoder"]["path"]
    except (KeyError, TypeError):
        return None
    return path if Path(path).is_dir() else None
