"""The jobs end to end, one function each: ``generate`` (the dataset, its provenance and manifest on
disk), ``audit_files`` (an audit of files on disk) and ``release`` (split, generate, audit, gate,
report). The CLI's sub-commands are thin adapters over these."""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from smotext.errors import SmotextError

if TYPE_CHECKING:  # the real imports are inside the functions: `import smotext` must not load torch
    from smotext.audit.auditor import AuditResult
    from smotext.reports.gate import Decision
    from smotext.reports.policy import Policy
    from smotext.synth.corpus import Corpus
    from smotext.synth.smotext import SMOTExT

PathLike = str | os.PathLike


def _corpus(corpus: Corpus | PathLike, text_col: str, label_col: str | None) -> Corpus:
    """A Corpus as given, or read from a file (``label_col=None``: 'label' if the file has one)."""
    from smotext.synth.corpus import Corpus, read_corpus

    if isinstance(corpus, Corpus):
        return corpus
    return read_corpus(corpus, text_col, label_col or "label", require_label=label_col is not None)


def _sampler(sampler: SMOTExT | None, seed: int) -> SMOTExT:
    from smotext.synth.smotext import SMOTExT

    if sampler is None:
        return SMOTExT(random_state=seed)
    if not isinstance(sampler, SMOTExT):
        raise SmotextError(f"sampler must be a SMOTExT, got {type(sampler).__name__}", params="sampler")
    return sampler


# ---------------------------------------------------------------- generate

@dataclass
class GenerationResult:
    """Where ``generate`` wrote the synthetic dataset, its private provenance and its manifest."""

    synthetic: Path
    provenance: Path
    manifest: Path
    sampler: SMOTExT = field(repr=False)
    info: dict = field(repr=False)  # the manifest's content

    @property
    def made(self) -> int:
        return len(self.sampler.synthetic_)


def generation_paths(out: PathLike, provenance: PathLike | None = None, manifest: PathLike | None = None,
                     format: str | None = None) -> tuple[Path, Path, Path]:
    """(dataset, provenance, manifest) paths for ``out``; checked before any model loads."""
    from smotext.synth.corpus import format_of

    out = Path(out)
    format_of(out, format)  # a bad extension fails here, not after generation
    prov = Path(provenance) if provenance else out.parent / f"{out.stem}.provenance.jsonl"
    man = Path(manifest) if manifest else out.parent / f"{out.stem}.manifest.json"
    if len({out.resolve(), prov.resolve(), man.resolve()}) < 3:
        raise SmotextError("out, provenance and manifest must be three different files", params=("out", "provenance", "manifest"))
    return out, prov, man


def write_generation(sampler: SMOTExT, corpus: Corpus, out: Path, provenance: Path, manifest: Path,
                     format: str | None = None, seconds: float | None = None) -> dict:
    """Write a fitted sampler's dataset, provenance and manifest; returns the manifest."""
    from smotext.synth.corpus import write_json, write_table
    from smotext.synth.manifest import generation_manifest

    synthetic = sampler.synthetic_ if corpus.labelled else sampler.synthetic_[["text"]]
    write_table(synthetic, out, format)
    write_table(sampler.provenance_, provenance, "jsonl")
    data = generation_manifest(sampler, corpus, {"synthetic": str(out), "provenance": str(provenance)}, seconds)
    write_json(data, manifest)
    return data


def generate(corpus: Corpus | PathLike, out: PathLike, *, sampler: SMOTExT | None = None,
             provenance: PathLike | None = None, manifest: PathLike | None = None, format: str | None = None,
             text_col: str = "text", label_col: str | None = None) -> GenerationResult:
    """Generate from ``corpus`` (a Corpus or a CSV/JSONL/Parquet path) with ``sampler`` (default:
    ``SMOTExT(random_state=0)``) and write three files: the dataset ``out``, its private provenance
    (default ``<out-stem>.provenance.jsonl``) and its manifest (default ``<out-stem>.manifest.json``)."""
    out, provenance, manifest = generation_paths(out, provenance, manifest, format)
    corpus = _corpus(corpus, text_col, label_col)
    sampler = _sampler(sampler, 0)
    t0 = time.perf_counter()
    sampler.fit_resample(corpus.texts, corpus.labels if corpus.labelled else None)
    info = write_generation(sampler, corpus, out, provenance, manifest, format, time.perf_counter() - t0)
    return GenerationResult(out, provenance, manifest, sampler, info)


# ---------------------------------------------------------------- audit

def audit_files(members: Corpus | PathLike, holdout: Corpus | PathLike, synthetic: Corpus | PathLike, *,
                test: Corpus | PathLike | None = None, provenance: PathLike | None = None,
                manifest: PathLike | None = None, out: PathLike | None = None, text_col: str = "text",
                label_col: str | None = None, **auditor_options: Any) -> AuditResult:
    """Audit a synthetic dataset on disk against members vs holdout (paths or Corpus objects).

    The generation manifest is ``manifest`` or the one beside the synthetic file; its encoder is
    used unless ``encoder`` is given. ``provenance`` also scores the members that were parents.
    ``auditor_options`` go to ``Auditor`` (plugins, plugin_params, encoder, seed, n_boot, ...).
    With ``out``, results.json and scores.npz are written there."""
    from smotext.audit.auditor import Auditor
    from smotext.synth.corpus import Corpus
    from smotext.synth.manifest import encoder_from_manifest, read_manifest, read_parent_rows

    read = lambda c: _corpus(c, text_col, label_col)
    members_c, holdout_c, synthetic_c = read(members), read(holdout), read(synthetic)
    test_c = read(test) if test is not None else None
    parents = read_parent_rows(provenance) if provenance else None
    # the manifest beside a synthetic file, or the one named; a Corpus in memory has none beside it
    info = read_manifest(synthetic, manifest) if manifest or not isinstance(synthetic, Corpus) else None
    if auditor_options.get("encoder") is None:
        auditor_options["encoder"] = encoder_from_manifest(info)
    result = Auditor(**auditor_options).run(members_c, holdout_c, synthetic_c, test=test_c, parent_rows=parents,
                                            generation=info)
    if out is not None:
        result.save(out)
    return result


# ---------------------------------------------------------------- release

@dataclass
class ReleaseResult:
    """What ``release`` decided and wrote: the verdict, the exit code a CI job should use, the
    folders and files, every number (``results``, as in results.json) and the gate's ``decision``."""

    verdict: str
    exit_code: int
    out: Path
    report: Path
    results: dict = field(repr=False)
    decision: Decision = field(repr=False)
    synthetic: Path
    manifest: Path
    private: Path
    release_dir: Path | None  # out/release/ on RELEASE, else None

    @property
    def released(self) -> bool:
        return self.verdict == "RELEASE"


def release(corpus: Corpus | PathLike, out: PathLike, *, policy: Policy | str | os.PathLike = "default",
            sampler: SMOTExT | None = None, seed: int = 0, holdout_fraction: float = 0.3, test_fraction: float = 0.2,
            text_col: str = "text", label_col: str | None = None, **audit_options: Any) -> ReleaseResult:
    """Split ``corpus`` into members / holdout / test (stratified, seeded), generate from the members
    with ``sampler`` (default ``SMOTExT(random_state=seed)``), audit against the holdout, gate with
    ``policy`` (a shipped name, a path or a Policy) and write the report into ``out``.

    ``out`` then holds report.html, results.json, scores.npz, synthetic.csv with its manifest,
    private/ (the splits and the provenance: never release it) and, on RELEASE only, release/.
    ``audit_options`` go to ``Auditor`` (n_boot, plugins, plugin_params, progress, ...); its seed is
    ``seed``. Bad input raises SmotextError before any model loads."""
    import pandas as pd

    from smotext.audit.auditor import Auditor
    from smotext.reports.policy import load_policy
    from smotext.reports.release import RELEASE_DIR, apply_gate, publish, split_corpus
    from smotext.synth.corpus import Corpus, file_sha256, write_table
    from smotext.synth.manifest import parent_rows, versions

    policy = load_policy(policy)  # a bad policy stops everything before work starts
    corpus = _corpus(corpus, text_col, label_col)
    members, holdout, test = split_corpus(corpus, holdout_fraction, test_fraction, seed)
    sampler = _sampler(sampler, seed)
    auditor = Auditor(**{"seed": seed, **audit_options})  # bad plug-in names fail before generation
    out = Path(out)
    private = out / "private"
    t0 = time.perf_counter()
    sampler.fit_resample(members.texts, members.labels if members.labelled else None)
    made = len(sampler.synthetic_)
    if made < 2:
        raise SmotextError(f"generation made {made} synthetic text(s), too few to audit: {sampler.report_.shortfall_message()}")
    for split in (members, holdout, test):  # the user's own data, kept for re-auditing; never released
        name = split.source.rsplit("#", 1)[1]
        write_table(pd.DataFrame({"text": split.texts, "label": split.labels}), private / f"{name}.csv")
    syn_path, manifest_path = out / "synthetic.csv", out / "synthetic.manifest.json"
    manifest = write_generation(sampler, members, syn_path, private / "synthetic.provenance.jsonl", manifest_path,
                                "csv", time.perf_counter() - t0)
    synthetic = Corpus(sampler.synthetic_["text"].tolist(), sampler.synthetic_["label"].tolist(), corpus.labelled,
                       str(syn_path), file_sha256(syn_path))
    if auditor.encoder is None:
        auditor.encoder = sampler.encoder_
    audit = auditor.run(members, holdout, synthetic, test=test, parent_rows=parent_rows(sampler), generation=manifest)
    audit.save_scores(out)
    results = {**audit.to_json(), "generation": manifest, "versions": versions()}
    decision = apply_gate(results, policy)
    report = publish(results, out, decision, [syn_path, manifest_path])
    return ReleaseResult(decision.verdict, decision.exit_code, out, report, results, decision, syn_path, manifest_path,
                         private, out / RELEASE_DIR if decision.verdict == "RELEASE" else None)
