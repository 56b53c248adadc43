"""The jobs end to end, one function each: ``generate`` (the dataset, its provenance and manifest on
disk), ``prepare`` (a split and canaries for a generator smotext does not run), ``audit_files`` (an
audit of files on disk) and ``release`` (split, generate with any generator, audit, gate, report).
The CLI's sub-commands are thin adapters over these."""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from smotext.errors import SmotextError
from smotext.params import Param, check_all, int_at_least, number_in

if TYPE_CHECKING:  # the real imports are inside the functions: `import smotext` must not load torch
    import pandas as pd

    from smotext.audit.auditor import AuditResult
    from smotext.reports.gate import Decision
    from smotext.reports.policy import Policy
    from smotext.synth.corpus import Corpus
    from smotext.synth.smotext import SMOTExT

PathLike = str | os.PathLike


def _fraction(v) -> str | None:
    return number_in(0, 1, low_open=True, high_open=True)(v) and "a number between 0 and 1"


MAX_ROTATIONS = 20  # each rotation is a whole generation

# A release's own parameters, declared once (``release`` and the release/demo flags).
RELEASE_PARAMS: dict[str, Param] = {
    "policy": Param("default", "a shipped policy's name (default, strict, research; see `smotext policies`) or a policy "
                    "YAML file", None, flag="--policy"),
    "holdout_fraction": Param(0.3, "share of the corpus kept from generation as non-members", _fraction,
                              flag="--holdout-fraction"),
    "test_fraction": Param(0.2, "share of the corpus kept as the utility test split", _fraction, flag="--test-fraction"),
    "canaries": Param(0, "plant M fake records (200 or more for a useful bound), each added to the members by a secret "
                      "coin; outputs with a canary parent are held back; 0: none",
                      lambda v: None if v == 0 else int_at_least(2)(v) and "0 or an int >= 2", flag="--canaries",
                      cli={"metavar": "M"}),
    "canary_secret": Param(None, "seed of the canaries and their coins (None: a fresh secret, kept in "
                           "private/canaries.json)", int_at_least(0, none_ok=True), flag="--canary-secret",
                           cli={"type": int, "metavar": "S"}),
    "canary_repeats": Param(1, "add each added canary R times (easier to echo; the bound counts it as a group of R "
                            "records and stays one about a single record)", int_at_least(1), flag="--canary-repeats",
                            cli={"metavar": "R"}),
    "canary_topic": Param(None, "what the corpus's texts are, for writing canary starts (None: the DP topic, else "
                          "generic)", None, flag="--canary-topic", cli={"metavar": "TEXT"}),
    "rotations": Param(1, "for a small corpus: generate k times, each run holding out another 1/k of what the test "
                       "split leaves (holdout_fraction is then unused), and pool the attacks' scores over the runs, so "
                       "every record is a non-member once; the release is the first run's texts; k times the "
                       "generation time; 1: one run",
                       lambda v: int_at_least(1)(v) or (None if v <= MAX_ROTATIONS else f"at most {MAX_ROTATIONS}"),
                       flag="--rotations", cli={"metavar": "K"}),
}
_R = RELEASE_PARAMS
_REQUIRED = {"required": True}


def _claimed(v) -> str | None:
    return None if v is None else number_in(0, low_open=True)(v)


# Auditing a generator smotext did not run (``prepare``, then ``audit``/``release`` with ``prepared``).
OUTSIDE_PARAMS: dict[str, Param] = {
    "prepared": Param(None, "a folder `smotext prepare` wrote: audit what an outside generator made from its train.csv "
                      "(with --synthetic; the splits and canaries come from the folder)", None, flag="--prepared",
                      cli={"metavar": "DIR"}),
    "claimed_epsilon": Param(None, "the formal ε the outside generator claims (None: none), checked against the "
                             "canaries by the policy's dp-claim rule", _claimed, flag="--claimed-epsilon",
                             cli={"type": float, "metavar": "E"}),
    "claimed_delta": Param(1e-5, "the δ that goes with --claimed-epsilon", number_in(0, 1, low_open=True, high_open=True),
                           flag="--claimed-delta"),
}
GENERATOR_PARAMS: dict[str, Param] = {
    "generator": Param("smotext", "which generator a release runs: smotext, smotext-dp, eda, paraphrase, copy (a "
                       "self-test that must block) or one a package registers (entry-point group smotext.generators)",
                       None, flag="--generator", cli={"metavar": "NAME"}),
}
# prepare: the release's split and canaries, for a generator that runs elsewhere
PREPARE_PARAMS: dict[str, Param] = {
    "out": Param(None, "folder for train.csv (what the outside generator may see) and private/ (never share it)", None,
                 flag="--out", cli=_REQUIRED),
    "seed": Param(0, "seed of the split (the canaries come from their own secret)", int_at_least(0), flag="--seed"),
    "holdout_fraction": _R["holdout_fraction"], "test_fraction": _R["test_fraction"],
    "canaries": Param(200, _R["canaries"].help.replace("; outputs with a canary parent are held back", ""),
                      _R["canaries"].check, flag="--canaries", cli={"metavar": "M"}),
    "canary_secret": _R["canary_secret"], "canary_topic": _R["canary_topic"], "canary_repeats": _R["canary_repeats"],
}

# The file jobs' own inputs and outputs, declared once for the commands that run them.
GENERATE_PARAMS: dict[str, Param] = {
    "out": Param(None, "synthetic dataset to write (.csv, .jsonl or .parquet)", None, flag="--out", cli=_REQUIRED),
    "format": Param(None, "output format (None: from out's extension)", None, flag="--format",
                    cli={"choices": ("csv", "jsonl", "parquet")}),
    "provenance": Param(None, "private provenance file (None: OUT-stem.provenance.jsonl); never release it", None,
                        flag="--provenance"),
    "manifest": Param(None, "run manifest (None: OUT-stem.manifest.json)", None, flag="--manifest"),
}
AUDIT_FILES_PARAMS: dict[str, Param] = {
    "members": Param(None, "the real records generation drew from (not with --prepared)", None, flag="--members"),
    "holdout": Param(None, "real records from the same source that generation never saw (not with --prepared)", None,
                     flag="--holdout"),
    "synthetic": Param(None, "the synthetic dataset", None, flag="--synthetic", cli=_REQUIRED),
    "test": Param(None, "real test texts for utility (None: holdout_test_fraction of the holdout)", None, flag="--test"),
    "provenance": Param(None, "generation provenance file: also scores members that served as parents", None,
                        flag="--provenance"),
    "manifest": Param(None, "generation manifest (None: SYNTHETIC-stem.manifest.json beside it, if any); without one, "
                      "plug-ins about the generator (decoder_privacy) are skipped", None, flag="--manifest"),
    "out": Param(None, "folder for results.json and scores.npz", None, flag="--out", cli=_REQUIRED),
}
GATE_PARAMS: dict[str, Param] = {
    "results": Param(None, "results.json (or its folder) from smotext audit", None, flag="--results", cli=_REQUIRED),
    "out": Param(None, "folder for results.json, report.html and release/ (None: the results' folder)", None,
                 flag="--out"),
    "release_files": Param((), "file to copy to release/ on RELEASE (repeatable)", None, flag="--release-file",
                           cli={"action": "append", "metavar": "FILE"}),
}
FIT_DECODER_PARAMS: dict[str, Param] = {
    "out": Param(None, "folder for bridge.safetensors, bridge.json and the checkpoint", None, flag="--out",
                 cli=_REQUIRED),
    "dp": Param(False, "train with DP-SGD: Poisson batches, per-text clipping, noise (needs --target-epsilon)", None,
                flag="--dp"),
    "init": Param(None, "adapt this bridge (a folder, or 'default' for the shipped one) instead of training from "
                  "scratch", None, flag="--init", cli={"metavar": "BRIDGE"}),
    "instruction": Param(None, "prompt text before the soft tokens", None, flag="--instruction"),
    "description": Param("", "what the training texts are, for the model card", None, flag="--description"),
    "public": Param(False, "the training texts are public or self-generated (default: treated as sensitive)", None,
                    flag="--public"),
}


def _corpus(corpus: Corpus | PathLike | pd.DataFrame, text_col: str, label_col: str | None) -> Corpus:
    """A Corpus as given, from a pandas DataFrame, or read from a file (``label_col=None``: 'label'
    if there is one)."""
    import pandas as pd

    from smotext.synth.corpus import Corpus, corpus_from_frame, read_corpus

    if isinstance(corpus, pd.DataFrame):
        corpus = corpus_from_frame(corpus, text_col, label_col or "label", require_label=label_col is not None)
    elif not isinstance(corpus, Corpus):
        corpus = read_corpus(corpus, text_col, label_col or "label", require_label=label_col is not None)
    check_distinct(corpus)
    return corpus


MIN_DISTINCT_SHARE = 0.1  # a corpus with fewer distinct texts than this share of its rows is refused


def check_distinct(corpus: Corpus) -> None:
    """Refuse a corpus whose texts are nearly all copies of each other (case and spacing ignored):
    nothing can be learned or audited from it, and splitting it would take a long time to say so."""
    from smotext.text import same_text_key

    if len(corpus) < 20:
        return
    distinct = len({same_text_key(t) for t in corpus.texts})
    if distinct < MIN_DISTINCT_SHARE * len(corpus):
        raise SmotextError(f"{corpus.source}: only {distinct:,} distinct text(s) among {len(corpus):,} rows; the rest are "
                           f"copies. smotext needs at least {MIN_DISTINCT_SHARE:.0%} distinct texts: remove the copies")


def _is_corpus(obj) -> bool:
    """Whether ``obj`` is data in memory (a Corpus or a DataFrame) rather than a path."""
    import pandas as pd

    from smotext.synth.corpus import Corpus

    return isinstance(obj, (Corpus, pd.DataFrame))


def _sampler(sampler: SMOTExT | None, seed: int, strategy: str = "auto") -> SMOTExT:
    from smotext.synth.smotext import SMOTExT

    if sampler is None:
        return SMOTExT(random_state=seed, sampling_strategy=strategy)
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


def _model_inputs(sampler: SMOTExT | None) -> dict[str, PathLike | None]:
    """The sampler's model paths, as inputs an output must never replace."""
    if sampler is None:
        return {}
    return {k: v for k in ("encoder", "lm", "bridge") if isinstance(v := getattr(sampler, k), (str, os.PathLike))}


def generation_paths(out: PathLike, provenance: PathLike | None = None, manifest: PathLike | None = None,
                     format: str | None = None, inputs: dict[str, PathLike | None] | None = None) -> tuple[Path, Path, Path]:
    """(dataset, provenance, manifest) paths for ``out``, checked before any model loads: a known
    format, three different files, none of them an input, all writable."""
    from smotext.outputs import check_outputs
    from smotext.synth.corpus import format_of

    out = Path(out)
    format_of(out, format)  # a bad extension fails here, not after generation
    prov = Path(provenance) if provenance else out.parent / f"{out.stem}.provenance.jsonl"
    man = Path(manifest) if manifest else out.parent / f"{out.stem}.manifest.json"
    check_outputs({"out": (out, "file"), "provenance": (prov, "file"), "manifest": (man, "file"),
                   "out (its resume folder)": (shard_folder(out), "folder")}, inputs or {})
    _check_regenerable(out, prov, man)
    return out, prov, man


def _check_regenerable(out: Path, prov: Path, man: Path) -> None:
    """Existing output files are replaced only when they are an earlier run's: the manifest there is
    smotext's and names the same dataset and provenance. No file of someone else's is overwritten,
    and no output is written through a link."""
    from smotext.outputs import load_user_json, read_user_text

    for name, path in (("out", out), ("provenance", prov), ("manifest", man), ("out", shard_folder(out))):
        if path.is_symlink():
            raise SmotextError(f"{name} {path} is a symbolic link; smotext does not write through links", params=name)
    existing = [p for p in (out, prov, man) if p.exists()]
    if not existing:
        return
    try:
        data = load_user_json(read_user_text(man, "manifest", 1 << 20), str(man)) if man.is_file() else None
    except SmotextError:
        data = None
    written = data.get("outputs") if isinstance(data, dict) and data.get("smotext") == "generate" else None
    ours = isinstance(written, dict) and [Path(str(written.get(k))).name for k in ("synthetic", "provenance")] == [out.name, prov.name]
    if not ours:
        raise SmotextError(f"{existing[0]} exists and is not the output of an earlier smotext generate into the same "
                           "paths (its manifest would say so); choose new output names", params="out")


def write_generation(sampler: SMOTExT, corpus: Corpus, out: Path, provenance: Path, manifest: Path,
                     format: str | None = None, seconds: float | None = None,
                     final: Callable[[Path], Path] | None = None, extra: dict | None = None) -> dict:
    """Write a fitted sampler's dataset, provenance and manifest, all three or none; returns the
    manifest. ``final`` maps a path written to where it will end up (for a folder built elsewhere first);
    ``extra`` adds top-level manifest entries."""
    from smotext.outputs import atomic_files
    from smotext.synth.corpus import write_json, write_table
    from smotext.synth.manifest import generation_manifest

    final = final or (lambda p: p)
    synthetic = sampler.synthetic_ if corpus.labelled else sampler.synthetic_[["text"]]
    data = generation_manifest(sampler, corpus, {"synthetic": str(final(out)), "provenance": str(final(provenance))},
                               seconds)
    data.update(extra or {})
    with atomic_files(out, provenance, manifest) as (tmp_out, tmp_prov, tmp_man):
        write_table(synthetic, tmp_out, format)
        write_table(sampler.provenance_, tmp_prov, "jsonl")
        write_json(data, tmp_man)
    return data


def _require_output(sampler: SMOTExT, least: int) -> None:
    made = len(sampler.synthetic_)
    if made < least:
        why = sampler.report_.shortfall_message() or "nothing was asked for"
        raise SmotextError(f"generation made {made} synthetic text(s), too few{' to audit' if least > 1 else ''}: {why}")


def generate(corpus: Corpus | PathLike | pd.DataFrame, out: PathLike, *, sampler: SMOTExT | None = None,
             provenance: PathLike | None = None, manifest: PathLike | None = None, format: str | None = None,
             text_col: str = "text", label_col: str | None = None) -> GenerationResult:
    """Generate from ``corpus`` (a CSV/JSONL/Parquet path, a pandas DataFrame or a Corpus) with ``sampler`` (default:
    ``SMOTExT(random_state=0)``) and write three files: the dataset ``out``, its private provenance
    (default ``<out-stem>.provenance.jsonl``) and its manifest (default ``<out-stem>.manifest.json``).

    Finished shards are kept in ``.<out-stem>.shards/`` beside ``out`` while the run lasts: the same
    call after an interruption picks up from them. The folder is removed once the files are written."""
    sampler = _sampler(sampler, 0)
    out, provenance, manifest = generation_paths(out, provenance, manifest, format,
                                                 {"corpus": None if _is_corpus(corpus) else corpus, **_model_inputs(sampler)})
    corpus = _corpus(corpus, text_col, label_col)
    shards = shard_folder(out)
    t0 = time.perf_counter()
    try:
        sampler.fit_resample(corpus.texts, corpus.labels if corpus.labelled else None, checkpoint=shards)
        _require_output(sampler, 1)  # an empty dataset is a failed run, not a result
        info = write_generation(sampler, corpus, out, provenance, manifest, format, time.perf_counter() - t0)
    except SmotextError:  # a run that failed leaves nothing; one interrupted keeps its shards to resume from
        shutil.rmtree(shards, ignore_errors=True)
        raise
    shutil.rmtree(shards, ignore_errors=True)
    return GenerationResult(out, provenance, manifest, sampler, info)


def shard_folder(out: PathLike) -> Path:
    """Where ``generate`` keeps the finished shards of a run writing ``out`` until it completes."""
    out = Path(out)
    return out.parent / f".{out.stem}.shards"


# ---------------------------------------------------------------- prepare (for a generator smotext does not run)

@dataclass
class PreparedResult:
    """What ``prepare`` wrote: the folder, train.csv (all the outside generator may see) and counts."""

    out: Path
    train: Path
    rows: int
    canaries: int
    added: int


def _canary_lm(lm):
    from smotext.synth.models import load_lm

    return lm if hasattr(lm, "model") else load_lm(lm)


def _write_canaries(lm, members: Corpus, m: int, secret: int | None, topic: str | None, progress: bool, voice=None):
    """``m`` canaries for the members' classes, written by ``lm`` from the class names and ``topic``
    only (``voice``: rewritten in a decoder's voice, see ``make_canaries``), and the secret they
    came from (None: a fresh one)."""
    import secrets as secrets_module

    from smotext.audit.canaries import make_canaries

    secret = secrets_module.randbits(63) if secret is None else secret
    try:
        return make_canaries(lm, sorted(set(members.labels)), m, secret, topic, progress=progress, voice=voice), secret
    except ValueError as e:
        raise SmotextError(f"can't plant {m} canaries: {e}", params="canaries") from None


def prepare(corpus: Corpus | PathLike | pd.DataFrame, out: PathLike, *, canaries: int = PREPARE_PARAMS["canaries"].default,
            canary_secret: int | None = None, canary_topic: str | None = None, canary_repeats: int = 1, seed: int = 0,
            holdout_fraction: float = _R["holdout_fraction"].default, test_fraction: float = _R["test_fraction"].default,
            text_col: str = "text", label_col: str | None = None, lm=None, progress: bool = False) -> PreparedResult:
    """Split ``corpus`` as ``release`` does (members / holdout / test, stratified, seeded), plant
    ``canaries`` = M fake records into the members by secret coins and write ``out``:
    ``out/train.csv`` (the members and the added canaries, shuffled, nothing marking a canary: all an
    outside generator may train on; each added canary ``canary_repeats`` times), ``out/prepared.json``
    (what the folder is) and ``out/private/``
    (the splits, the canaries with coins and secret; never share it). Then audit what the generator
    wrote with ``audit_files(prepared=out, synthetic=...)`` or ``release(prepared=out, synthetic=...)``.
    ``lm``: the LM that writes the canary starts (None: the shipped one; it never saw the corpus)."""
    from smotext.outputs import atomic_folder, check_outputs, check_owned_folder
    from smotext.prepared import MARKER_KIND, write_prepared
    from smotext.reports.release import split_corpus

    check_all(PREPARE_PARAMS, {"canaries": canaries, "canary_secret": canary_secret, "canary_topic": canary_topic,
                               "canary_repeats": canary_repeats,
                               "seed": seed, "holdout_fraction": holdout_fraction, "test_fraction": test_fraction})
    check_outputs({"out": (out, "folder")}, {"corpus": None if _is_corpus(corpus) else corpus})
    check_owned_folder("out", out)
    corpus = _corpus(corpus, text_col, label_col)
    members, holdout, test = split_corpus(corpus, holdout_fraction, test_fraction, seed)
    made, secret = _write_canaries(_canary_lm(lm), members, canaries, canary_secret, canary_topic, progress) \
        if canaries else ([], None)
    settings = {"seed": seed, "holdout_fraction": holdout_fraction, "test_fraction": test_fraction,
                "corpus": {"path": corpus.source, "sha256": corpus.sha256, "texts": len(corpus)}}
    with atomic_folder(out, MARKER_KIND) as work:
        public = write_prepared(work, members, holdout, test, made, secret, settings, canary_topic, canary_repeats)
    out = Path(out)
    return PreparedResult(out, out / "train.csv", public["train"]["rows"], len(made), sum(c.added for c in made))


@dataclass
class _Outside:
    """A generator's output, split into what may be released and what is held back for carrying a
    canary, with the manifest and the canary experiment the audit scores."""

    synthetic: Corpus
    held: list[int]
    manifest: dict
    run: object  # CanaryRun | None


def _outside_outputs(texts: list[str], labels: list[str], members: Corpus, canaries: list | None, secret: int | None,
                     parents: list | None, generator: dict, claim: dict, seed: int | None, seconds: float | None,
                     encoder, source: str, sha256: str | None, labelled: bool, repeats: int = 1) -> _Outside:
    """Hold back the outputs that carry a canary (a canary parent where the generator says its
    parents, else an echo of one: ``carries_canary``) and describe the rest."""
    import numpy as np

    from smotext.audit.canaries import CanaryRun, canary_parented, carries_canary
    from smotext.prepared import outside_manifest
    from smotext.synth.corpus import Corpus

    held = np.zeros(len(texts), bool)
    run = None
    if canaries:
        if parents is not None:
            held = canary_parented(parents, len(members))
        else:
            held = carries_canary(canaries, texts, encoder.embed([c.text for c in canaries]), encoder.embed(texts),
                                  encoder.embed(members.texts))
        run = CanaryRun(canaries, secret, list(texts), held_back=int(held.sum()), repeats=repeats)
    held_rows = np.flatnonzero(held).tolist()
    if not held_rows and sha256 is not None:  # the file as given: its sha256 is what a gate may release
        synthetic = Corpus(list(texts), list(labels), labelled, source, sha256)
    else:
        keep = np.flatnonzero(~held)
        synthetic = Corpus.from_texts([texts[i] for i in keep], [labels[i] for i in keep] if labelled else None,
                                      source=f"{source} less {len(held_rows)} held back" if held_rows else source)
    manifest = outside_manifest(generator, claim, members, synthetic.labels, len(held_rows), seconds, seed, encoder)
    return _Outside(synthetic, held_rows, manifest, run)


def _from_prepared(prepared: PathLike, synthetic: PathLike, text_col: str, label_col: str | None, claim: dict, encoder):
    """(the prepared folder, the outside generator's output checked against it) for an audit."""
    from smotext.prepared import read_prepared
    from smotext.synth.corpus import file_sha256

    state = read_prepared(prepared)
    made = _corpus(synthetic, text_col, label_col)
    if not made.labelled and state.members.labelled:
        raise SmotextError(f"synthetic {synthetic}: no label column; the prepared corpus has classes, so the generator's "
                           "texts need theirs", params="synthetic")
    generator = {"name": "outside", "outside": True, "file": Path(synthetic).name, "sha256": file_sha256(synthetic)}
    outside = _outside_outputs(made.texts, made.labels, state.members, state.canaries, state.secret, None, generator,
                               claim, None, None, encoder, made.source, made.sha256, made.labelled, state.repeats)
    return state, outside


# ---------------------------------------------------------------- audit

def audit_files(members: Corpus | PathLike | None = None, holdout: Corpus | PathLike | None = None,
                synthetic: Corpus | PathLike | None = None, *, test: Corpus | PathLike | None = None,
                provenance: PathLike | None = None, manifest: PathLike | None = None, out: PathLike | None = None,
                prepared: PathLike | None = None, claimed_epsilon: float | None = None,
                claimed_delta: float = OUTSIDE_PARAMS["claimed_delta"].default, text_col: str = "text",
                label_col: str | None = None, **auditor_options: Any) -> AuditResult:
    """Audit a synthetic dataset on disk against members vs holdout (paths or Corpus objects).

    The generation manifest is ``manifest`` or the one beside the synthetic file; its encoder is
    used unless ``encoder`` is given. ``provenance`` also scores the members that were parents.
    ``auditor_options`` go to ``Auditor`` (plugins, plugin_params, encoder, seed, n_boot, ...).
    With ``out``, results.json and scores.npz are written there.

    With ``prepared`` (a folder ``prepare`` wrote) the members, holdout, test and canaries come from
    it and ``synthetic`` is what an outside generator made from its train.csv: every canary is scored
    against all of it (the one-run bound), and the natural-record attacks run on the texts that carry
    no canary (those are held back: results.json says how many). ``claimed_epsilon`` (and
    ``claimed_delta``) state the formal ε the generator claims, which the canaries then test."""
    from smotext.audit.auditor import RESULTS_FILE, SCORES_FILE, Auditor
    from smotext.outputs import check_outputs, check_owned_folder, refuse_links
    from smotext.synth.corpus import file_sha256
    from smotext.synth.manifest import encoder_from_manifest, manifest_path_for, read_manifest, read_parent_rows

    check_all(OUTSIDE_PARAMS, {"claimed_epsilon": claimed_epsilon, "claimed_delta": claimed_delta})
    if prepared is not None:
        return _audit_prepared(prepared, synthetic, out, claimed_epsilon, claimed_delta, text_col, label_col,
                               {"members": members, "holdout": holdout, "test": test, "provenance": provenance,
                                "manifest": manifest}, auditor_options)
    if claimed_epsilon is not None:
        raise SmotextError("`claimed_epsilon` applies to an outside generator's texts audited with `prepared`; a "
                           "smotext run's manifest states its own ε", params="claimed_epsilon")
    if members is None or holdout is None or synthetic is None:
        missing = [n for n, v in (("members", members), ("holdout", holdout), ("synthetic", synthetic)) if v is None]
        raise SmotextError(f"the audit needs {', '.join(f'`{n}`' for n in missing)} (or `prepared` with `synthetic`)",
                           params=tuple(missing))
    if out is not None:  # the audit writes two files into out, a folder of its own; neither may be an input
        given = {"members": members, "holdout": holdout, "synthetic": synthetic, "test": test,
                 "provenance": provenance, "manifest": manifest}
        check_outputs({f"out ({RESULTS_FILE})": (Path(out) / RESULTS_FILE, "file"),
                       f"out ({SCORES_FILE})": (Path(out) / SCORES_FILE, "file")},
                      {k: v for k, v in given.items() if v is not None and not _is_corpus(v)})
        check_owned_folder("out", out)
        refuse_links("out", out, (RESULTS_FILE, SCORES_FILE, "report.html", "release"))
    read = lambda c: _corpus(c, text_col, label_col)
    members_c, holdout_c, synthetic_c = read(members), read(holdout), read(synthetic)
    test_c = read(test) if test is not None else None
    parents = read_parent_rows(provenance) if provenance else None
    # the manifest beside a synthetic file, or the one named; a Corpus in memory has none beside it
    info = read_manifest(synthetic, manifest) if manifest or not _is_corpus(synthetic) else None
    if auditor_options.get("encoder") is None:
        auditor_options["encoder"] = encoder_from_manifest(info)
    result = Auditor(**auditor_options).run(members_c, holdout_c, synthetic_c, test=test_c, parent_rows=parents,
                                            generation=info)
    manifest_file = Path(manifest) if manifest else None if _is_corpus(synthetic) else manifest_path_for(synthetic)
    if info is not None and manifest_file is not None and manifest_file.is_file():  # a release may publish it beside the data
        result.inputs["manifest"] = {"path": str(manifest_file), "sha256": file_sha256(manifest_file)}
    if out is not None:
        result.save(out)  # claims the folder (its marker) first
    return result


def _audit_prepared(prepared, synthetic, out, claimed_epsilon, claimed_delta, text_col, label_col, others: dict,
                    auditor_options: dict) -> AuditResult:
    from smotext.audit.auditor import RESULTS_FILE, SCORES_FILE, Auditor
    from smotext.outputs import check_outputs, check_owned_folder, refuse_links
    from smotext.synth.encoder import Encoder
    from smotext.synth.generators import claim_for

    extra = [n for n, v in others.items() if v is not None]
    if extra:
        raise SmotextError(f"`{extra[0]}` comes from the prepared folder; leave it out with `prepared`", params=extra[0])
    if synthetic is None:
        raise SmotextError("`prepared` needs `synthetic`: the texts the outside generator wrote", params="synthetic")
    if _is_corpus(synthetic):
        raise SmotextError("with `prepared`, `synthetic` is the generator's file (its sha256 names the generator)",
                           params="synthetic")
    from smotext.prepared import check_prepared_folder

    check_prepared_folder(prepared)  # the first thing wrong with such a call, before where its output goes
    if out is not None:
        check_outputs({f"out ({RESULTS_FILE})": (Path(out) / RESULTS_FILE, "file"),
                       f"out ({SCORES_FILE})": (Path(out) / SCORES_FILE, "file")}, {"synthetic": synthetic})
        check_outputs({"out": (Path(out), "folder")}, {"prepared": prepared})
        if Path(prepared).resolve() in Path(out).resolve().parents:
            raise SmotextError(f"out {out} is inside the prepared folder {prepared}; keep the audit apart from it",
                               params="out")
        check_owned_folder("out", out)
        refuse_links("out", out, (RESULTS_FILE, SCORES_FILE, "report.html", "release"))
    auditor = Auditor(**auditor_options)  # bad options fail before any model loads
    encoder = auditor.encoder if isinstance(auditor.encoder, Encoder) else Encoder(auditor.encoder)
    state, outside = _from_prepared(prepared, synthetic, text_col, label_col, claim_for(claimed_epsilon, claimed_delta),
                                    encoder)
    result = auditor.run(state.members, state.holdout, outside.synthetic, test=state.test, generation=outside.manifest,
                         canaries=outside.run, models=(encoder, None))
    result.inputs["prepared"] = {"train_sha256": state.train_sha256, "held_back": len(outside.held)}
    result.generation = outside.manifest  # so that the gate's report names the generator
    if out is not None:
        result.save(out)
    return result


# ---------------------------------------------------------------- release

@dataclass
class GateResult:
    """What ``gate_files`` decided and where it wrote: the verdict, the exit code, the report."""

    verdict: str
    exit_code: int
    out: Path
    report: Path
    results: dict = field(repr=False)
    decision: Decision = field(repr=False)

    def summary(self) -> str:
        """What the command line prints: the verdict, the release's formal ε, the canaries' bound, the
        rules that decided it, the report and, on RELEASE, the released files."""
        from smotext.reports.release import details, privacy_line

        d, decision = details(self.results, "canary"), self.decision
        lines = [f"verdict: {self.verdict}", f"  privacy: {privacy_line(self.results)}"]
        if d is not None:
            bound = d.get("epsilon_lower_bound")
            strongest = f", strongest attack: {d.get('strongest_attack')}" if isinstance(bound, (int, float)) and bound > 0 else ""
            lines.append(f"  canaries: {d.get('sentence', '')} ({d.get('canaries', '?')} canaries{strongest}, "
                         f"{d.get('secret_replay', '?')} secret(s) echoed)")
        reasons = {o.rule: o.reason for o in decision.outcomes}
        lines += [f"  blocked by rule: {name}" + (f" ({reasons[name]})" if name in decision.undecided else "")
                  for name in decision.deciding]
        lines += [f"  blocked: {problem}" for problem in decision.problems]
        lines += [f"  warning: rule {name} failed (severity warn)" for name in decision.warnings]
        lines.append(f"report: {self.report}")
        if self.verdict == "RELEASE":
            lines.append(f"released files: {self.out / 'release'}")
        return "\n".join(lines)

    def _repr_html_(self) -> str:
        """A notebook's view of the summary (escaped)."""
        from html import escape

        head, *rest = self.summary().splitlines()
        colour = "#1a7f37" if self.verdict == "RELEASE" else "#b42318"
        return (f"<div><b style='color:{colour}'>{escape(head)}</b><ul>"
                + "".join(f"<li>{escape(line.strip())}</li>" for line in rest) + "</ul></div>")


@dataclass
class ReleaseResult(GateResult):
    """What ``release`` decided and wrote: the verdict, the exit code a CI job should use, the
    folders and files, every number (``results``, as in results.json) and the gate's ``decision``."""

    synthetic: Path
    manifest: Path
    private: Path
    release_dir: Path | None  # out/release/ on RELEASE, else None

    @property
    def released(self) -> bool:
        return self.verdict == "RELEASE"


def _with_policy_pii(audit_options: dict, policy) -> dict:
    """``audit_options`` with the policy's PII excuses (ignored types, allowlist) given to the pii
    plug-in, unless the caller set those parameters itself (the gate then checks they are no looser)."""
    from smotext.audit.auditor import DEFAULT_PLUGINS

    excuses = policy.pii.audit_params()
    if "pii" not in audit_options.get("plugins", DEFAULT_PLUGINS) or not any(excuses.values()):
        return audit_options
    params = {k: dict(v) for k, v in (audit_options.get("plugin_params") or {}).items()}
    params["pii"] = {**excuses, **params.get("pii", {})}
    return {**audit_options, "plugin_params": params}


def _resolve_voice(voice, sampler: SMOTExT, members: int, say: Callable[[str], None]):
    """The VoiceAdaptation a release trains, or None. "auto" is the default budget's (an optional
    adapter at ``DEFAULT_VOICE_EPSILON``); an optional adapter runs only on the shipped bridge without
    DP generation and when the members are enough for its ε, and ``say`` gets one line either way.
    A corpus too small for an adapter that is not optional is refused by its ``train_config``."""
    from smotext.synth.budget import PrivacyBudget
    from smotext.synth.train import VoiceAdaptation

    if isinstance(voice, str) and voice == "auto":
        voice = PrivacyBudget().voice_part()
    if voice is None:
        return None
    if not isinstance(voice, VoiceAdaptation):
        raise SmotextError(f"voice must be a VoiceAdaptation, 'auto' or None, got {voice!r:.60}", params="voice")
    voice.check()
    if voice.epsilon is None:
        raise SmotextError("a release adapts the voice only with DP: the members are sensitive; give the "
                           "VoiceAdaptation an epsilon", params="voice")
    if voice.optional:
        if sampler.dp is not None or sampler.bridge is not None:  # a budget to split, or a bridge the user chose
            return None
        adapt, line = voice.decide(members)
        say(line)
        if not adapt:
            return None
    elif sampler.dp is not None and sampler.dp.trains_decoder:
        raise SmotextError("DP fine-tuning adapts the decoder to the members itself: give no voice adaptation",
                           params="voice")
    return voice


def _adapt_voice(sampler: SMOTExT, texts: list[str], config, folder: Path, secret: int | None) -> str:
    """Train the voice adapter on ``texts`` (the members) on top of the sampler's
    bridge into ``folder``; returns the folder. Its checkpoint, which holds the DP secret, is removed."""
    from smotext.synth.corpus import Corpus
    from smotext.synth.train import CHECKPOINT_DIR, decoder_trainer

    sampler.load_models()
    trainer = decoder_trainer(Corpus.from_texts(texts, source="members"), config=config,
                              init=sampler.bridge or "default", description="the release's members",
                              encoder=sampler.encoder_, lm=sampler.lm_, progress=sampler.progress, dp_secret=secret)
    trainer.train(folder, progress=sampler.progress)
    shutil.rmtree(folder / CHECKPOINT_DIR)
    return str(folder)


def _in_the_decoders_voice(sampler: SMOTExT) -> Callable[[list[str], int], list[str]] | None:
    """Rewrite texts in the voice of the sampler's bridge when it carries a voice adapter: embed each
    and decode it (sampled, as the adapter's texts are) with ``seed``; None for a bridge without one."""
    if not sampler.decoder_.card.config.adapter:
        return None

    def rewrite(texts: list[str], seed: int) -> list[str]:
        return [c[0] for c in sampler.decoder_.decode(sampler.encoder_.embed(texts), seed=seed)]

    return rewrite


def _plant_canaries(sampler: SMOTExT, members: Corpus, m: int, secret: int | None, topic: str | None,
                    repeats: int = 1):
    """Make ``m`` canaries for the members' classes with the sampler's LM (loaded here, before
    generation), in the voice of its bridge's adapter if it has one, and return (CanaryRun, generator
    input texts, labels)."""
    from smotext.audit.canaries import CanaryRun, plant

    if topic is None and sampler.dp is not None:
        topic = sampler.dp.topic
    sampler.load_models()
    made, secret = _write_canaries(sampler.lm_, members, m, secret, topic, sampler.progress,
                                   _in_the_decoders_voice(sampler))
    texts, labels = plant(members.texts, members.labels, made, repeats)
    return CanaryRun(made, secret, [], topic=topic, repeats=repeats), texts, labels


def _hold_back_canary_children(sampler: SMOTExT, run, first_canary_row: int):
    """Keep every generated text in ``run`` (the audit's bound is about all of them), then hold back
    the outputs with a canary parent: they are never released. Returns their provenance (private)."""
    run.generated_texts = sampler.synthetic_["text"].tolist()
    held = sampler.hold_back(range(first_canary_row, first_canary_row + run.repeats * len(run.canaries)))
    run.held_back = len(held)
    return held


def _split(corpus: Corpus, rotations: int, holdout_fraction: float, test_fraction: float, seed: int):
    """(the rotations' (members, holdout) pairs or None, members, holdout, test): the first run's split."""
    from smotext.reports.release import rotation_splits, split_corpus

    if rotations == 1:
        return (None, *split_corpus(corpus, holdout_fraction, test_fraction, seed))
    runs, test = rotation_splits(corpus, rotations, test_fraction, seed)
    return runs, *runs[0], test


def _check_rotations(auditor, rotations: int) -> None:
    """Before any work: rotations pool the attacks' and reconstruction's scores, so the audit needs one."""
    if rotations > 1 and not any(p.kind == "attack" or p.name == "reconstruction" for p in auditor.plugins):
        raise SmotextError("rotations pool the attacks' scores over the runs, and this audit runs no attack",
                           params="rotations")


def _rotate(audit, runs: list, test: Corpus, generate: Callable, auditor, say: Callable[[str], None]) -> None:
    """Runs 2..k of a rotated release: ``generate(members)`` -> (synthetic Corpus, (encoder, LM)) from
    each rotation's members, the attacks and reconstruction scored against its holdout, and their
    scores pooled with the first run's into ``audit`` (``audit.rotation.pool``)."""
    import numpy as np

    from smotext.audit.auditor import Auditor
    from smotext.audit.rotation import pool, pooled_plugins

    names = pooled_plugins(audit)  # those that ran: a failed one stays failed
    if not names:  # each one failed in the first run, which blocks the release already
        return
    scorer = Auditor(plugins=names, plugin_params={p.name: dict(p.settings) for p in auditor.plugins if p.name in names},
                     encoder=auditor.encoder, seed=auditor.seed, n_boot=auditor.n_boot, progress=auditor.progress,
                     cache=auditor.cache, allow_overlap=auditor.allow_overlap, precision=auditor.precision)
    others = []
    for r, (members, holdout) in enumerate(runs[1:], start=2):
        say(f"rotation {r} of {len(runs)}: generating from {len(members):,} members, {len(holdout):,} held out")
        synthetic, models = generate(members)
        if len(synthetic) < 2:
            raise SmotextError(f"rotation {r} generated {len(synthetic)} text(s); nothing to score")
        others.append(scorer.run(members, holdout, synthetic, test=test, models=models))
    audit.run["rotation"] = pool(audit, others, np.random.default_rng([auditor.seed, len(runs)]), auditor.n_boot)


def release(corpus: Corpus | PathLike | pd.DataFrame | None = None, out: PathLike | None = None, *,
            generator=None, prepared: PathLike | None = None, synthetic: PathLike | None = None,
            claimed_epsilon: float | None = None, claimed_delta: float = OUTSIDE_PARAMS["claimed_delta"].default,
            policy: Policy | str | os.PathLike = _R["policy"].default, sampler: SMOTExT | None = None, seed: int = 0,
            holdout_fraction: float = _R["holdout_fraction"].default, test_fraction: float = _R["test_fraction"].default,
            text_col: str = "text", label_col: str | None = None, canaries: int = _R["canaries"].default,
            canary_secret: int | None = _R["canary_secret"].default, canary_topic: str | None = _R["canary_topic"].default,
            canary_repeats: int = _R["canary_repeats"].default, rotations: int = _R["rotations"].default,
            voice="auto", voice_secret: int | None = None, say: Callable[[str], None] = lambda line: None,
            **audit_options: Any) -> ReleaseResult:
    """Split ``corpus`` (a CSV/JSONL/Parquet path, a pandas DataFrame with ``text_col`` and ``label_col``,
    or a Corpus) into members / holdout / test (stratified, seeded), generate from the members
    with ``sampler`` (default ``SMOTExT(random_state=seed)``), audit against the holdout, gate with
    ``policy`` (a shipped name, a path or a Policy) and write the report into ``out``.

    ``out`` then holds report.html, results.json, scores.npz, synthetic.csv with its manifest,
    private/ (the splits and the provenance: never release it) and, on RELEASE only, release/.
    ``audit_options`` go to ``Auditor`` (n_boot, plugins, plugin_params, progress, ...); its seed is
    ``seed``. Bad input raises SmotextError before any model loads.

    ``canaries`` = M >= 2 plants M fake records (an LM-written prefix for a class, from its name and
    ``canary_topic`` only, then a random suffix; half carry fake PII), each added to the members by a
    coin drawn from ``canary_secret`` (None: a fresh secret). The audit scores them all and reports
    the one-run lower bound on ε; outputs with a canary parent are held back from the release; the
    canaries, coins and secret stay in private/canaries.json.

    ``voice`` (a ``synth.train.VoiceAdaptation`` with an ε) first adapts the sampler's bridge to the
    members' voice with DP-SGD (on the members only; holdout and test never touch it; canaries are
    then written in the adapted voice and planted for generation), then generates with the adapted
    bridge, which the run keeps in ``bridge/`` (its card records the ε, which the audit adds to the
    release's). The default, "auto", does so at
    ``synth.dp.DEFAULT_VOICE_EPSILON`` when the members are enough for it, the bridge is the shipped
    one and generation is not DP; ``say`` gets one line saying whether it adapts (and, if not, how
    many members it would need). None never adapts. ``voice_secret`` seeds its sampling and noise
    (None: a fresh secret).

    ``generator`` runs another generator in SMOTExT's place (a registered name such as "eda",
    "paraphrase" or "copy", a ``synth.generators.Generator``, an object with ``fit_resample(texts,
    labels)`` or such a callable): the same split, canaries (written by the base LM), audit and gate;
    outputs with a canary parent (or, where the generator does not say its parents, that carry a
    canary) are held back. ``prepared`` with ``synthetic`` releases what an outside generator made
    from a ``prepare`` folder's train.csv instead (``corpus`` is then left out; ``claimed_epsilon``
    and ``claimed_delta`` state its claim).

    ``rotations`` = k >= 2 is for a corpus too small for one holdout to decide: what the test split
    leaves is cut into k folds, run r generates from all folds but r (with the same canaries, and a
    voice adapter of its own), and the attacks' per-record scores are pooled over the k runs, so
    every record is a non-member once (``audit.rotation``). The release is the first run's; the
    gate decides the pooled metrics on the pooled holdout; the others are the first run's."""

    from smotext.synth.generators import _SMOTExTBase, as_generator

    from smotext.audit.auditor import Auditor
    from smotext.audit.canaries import plant
    from smotext.outputs import atomic_folder, check_outputs, check_owned_folder
    from smotext.reports.policy import load_policy, policy_file
    from smotext.prepared import write_private_splits
    from smotext.reports.release import RELEASE_DIR, apply_gate, publish
    from smotext.synth.corpus import Corpus, file_sha256, write_json, write_table
    from smotext.synth.manifest import parent_rows, versions

    if out is None:
        raise SmotextError("release needs `out`: the folder for the report, results and release", params="out")
    if (corpus is None) == (prepared is None):
        raise SmotextError("give release either a `corpus` or a `prepared` folder with `synthetic`",
                           params=("corpus", "prepared"))
    check_all(OUTSIDE_PARAMS, {"claimed_epsilon": claimed_epsilon, "claimed_delta": claimed_delta})
    if (synthetic is not None or claimed_epsilon is not None) and prepared is None:
        raise SmotextError("`synthetic` and `claimed_epsilon` go with `prepared`", params=("synthetic", "prepared"))
    gen = None if generator is None else as_generator(generator, **({"random_state": seed} if generator in (
        "eda", "paraphrase", "smotext", "smotext-dp") else {}))
    if prepared is not None or (gen is not None and not isinstance(gen, _SMOTExTBase)):
        if sampler is not None:
            raise SmotextError("`sampler` is SMOTExT's; this release runs another generator", params="sampler")
        return _release_other(corpus, out, gen, prepared, synthetic, claimed_epsilon, claimed_delta, policy, seed,
                              holdout_fraction, test_fraction, text_col, label_col, canaries, canary_secret,
                              canary_topic, canary_repeats, rotations, audit_options, say)
    if gen is not None and sampler is None:
        sampler = gen.sampler()
    out = Path(out)
    sampler = _sampler(sampler, seed, "all")  # a release is a replacement dataset: one text per member by default
    check_all(RELEASE_PARAMS, {"holdout_fraction": holdout_fraction, "test_fraction": test_fraction, "canaries": canaries,
                               "canary_secret": canary_secret, "canary_topic": canary_topic,
                               "canary_repeats": canary_repeats, "rotations": rotations})
    policy_path = policy_file(policy)
    policy = load_policy(policy)  # a bad policy stops everything before work starts
    inputs = {"corpus": None if _is_corpus(corpus) else corpus, "policy": policy_path,
              "policy's allowlist": policy.pii.allowlist_path, **_model_inputs(sampler)}
    check_outputs({"out": (out, "folder")}, inputs)
    check_owned_folder("out", out)  # an earlier run (its marker) is replaced whole; someone else's folder never
    corpus = _corpus(corpus, text_col, label_col)
    rotated, members, holdout, test = _split(corpus, rotations, holdout_fraction, test_fraction, seed)
    if audit_options.get("engine") is None and sampler.engine is not None:  # one pool of workers for the whole job
        audit_options = {**audit_options, "engine": sampler.engine}
    auditor = Auditor(**{"seed": seed, **_with_policy_pii(audit_options, policy)})  # bad plug-ins fail before generation
    auditor.check_disjoint(members, holdout, test)
    _check_rotations(auditor, rotations)
    if canaries and "canary" not in [p.name for p in auditor.plugins]:
        raise SmotextError("canaries would be planted but the audit leaves out the canary plug-in that scores them; "
                           "select it, or plant none", params="canaries")
    voice = _resolve_voice(voice, sampler, len(members), say)
    voice_config = None if voice is None else voice.train_config(len(members))[0]
    t0 = time.perf_counter()
    with atomic_folder(out) as work, auditor.engine.session():  # complete or absent; one pool of workers
        # The adapter learns the members' voice first; canaries are then written in that voice, by the
        # decoder that writes the release, and planted for generation (the adapter's ε is DP-SGD's).
        adapted = None if voice_config is None else \
            _adapt_voice(sampler, members.texts, voice_config, work / "bridge", voice_secret)
        with sampler.using_bridge(adapted, recorded_as=out / "bridge") if adapted else contextlib.nullcontext():
            run, texts, labels = (None, members.texts, members.labels) if not canaries else \
                _plant_canaries(sampler, members, canaries, canary_secret, canary_topic, canary_repeats)
            sampler.fit_resample(texts, labels if members.labelled or run else None)
        held = None if run is None else _hold_back_canary_children(sampler, run, len(members))
        _require_output(sampler, 2)
        private = write_private_splits(work, members, holdout, test)  # + provenance and canary secrets below
        syn_path, manifest_path = work / "synthetic.csv", work / "synthetic.manifest.json"
        manifest = write_generation(sampler, members, syn_path, private / "synthetic.provenance.jsonl", manifest_path,
                                    "csv", time.perf_counter() - t0, final=lambda p: out / p.relative_to(work),
                                    extra=None if run is None else {"canaries": {"planted": len(run.canaries),
                                                                                 "outputs_held_back": run.held_back}})
        synthetic = Corpus(sampler.synthetic_["text"].tolist(), sampler.synthetic_["label"].tolist(), corpus.labelled,
                           str(out / syn_path.name), file_sha256(syn_path))
        audit = auditor.run(members, holdout, synthetic, test=test, parent_rows=parent_rows(sampler), generation=manifest,
                            canaries=run, models=(sampler.encoder_, sampler.lm_))
        audit.save_scores(work)
        if rotated:
            def again(members_r: Corpus):
                """Another rotation: the same generation (its own voice adapter, the same canaries) from members_r."""
                with tempfile.TemporaryDirectory() as tmp:
                    bridge = None if voice_config is None else \
                        _adapt_voice(sampler, members_r.texts, voice_config, Path(tmp) / "bridge", voice_secret)
                    with sampler.using_bridge(bridge) if bridge else contextlib.nullcontext():
                        texts, labels = (members_r.texts, members_r.labels) if run is None else \
                            plant(members_r.texts, members_r.labels, run.canaries, run.repeats)
                        sampler.fit_resample(texts, labels if members.labelled or run else None)
                if run is not None:
                    sampler.hold_back(range(len(members_r), len(members_r) + run.repeats * len(run.canaries)))
                frame = sampler.synthetic_
                return Corpus.from_texts(frame["text"].tolist(), frame["label"].tolist() if members.labelled else None,
                                         source="<rotation>"), (sampler.encoder_, sampler.lm_)

            # the caller's sampler keeps the released run's fit, not the last rotation's
            fitted = {k: v for k, v in vars(sampler).items() if k.endswith("_") and not k.startswith("_")}
            try:
                _rotate(audit, rotated, test, again, auditor, say)
            finally:
                vars(sampler).update(fitted)
        if run is not None:  # the coins and the secret: whoever reads them can tell which canaries were added
            write_json(run.private_json(), private / "canaries.json")
            write_table(held, private / "held_back.jsonl", "jsonl")
        audit.inputs["manifest"] = {"path": str(out / manifest_path.name), "sha256": file_sha256(manifest_path)}
        results = {**audit.to_json(), "generation": manifest, "versions": versions()}
        decision = apply_gate(results, policy)
        publish(results, work, decision, [syn_path, manifest_path])
    return ReleaseResult(decision.verdict, decision.exit_code, out, out / "report.html", results, decision,
                         out / "synthetic.csv", out / "synthetic.manifest.json", out / "private",
                         out / RELEASE_DIR if decision.verdict == "RELEASE" else None)


def _release_other(corpus, out, gen, prepared, synthetic, claimed_epsilon, claimed_delta, policy, seed,
                   holdout_fraction, test_fraction, text_col, label_col, canaries, canary_secret, canary_topic,
                   canary_repeats, rotations, audit_options, say) -> ReleaseResult:
    """``release`` for a generator that is not SMOTExT: a plug-in run here, or an outside generator's
    file made from a ``prepare`` folder."""
    import pandas as pd

    from smotext.audit.auditor import Auditor
    from smotext.outputs import atomic_folder, check_outputs, check_owned_folder
    from smotext.prepared import write_private_splits
    from smotext.reports.policy import load_policy, policy_file
    from smotext.reports.release import RELEASE_DIR, apply_gate, publish
    from smotext.synth.corpus import file_sha256, write_json, write_table
    from smotext.synth.encoder import Encoder
    from smotext.synth.generators import claim_for
    from smotext.synth.manifest import versions

    out = Path(out)
    check_all(RELEASE_PARAMS, {"holdout_fraction": holdout_fraction, "test_fraction": test_fraction, "canaries": canaries,
                               "canary_secret": canary_secret, "canary_topic": canary_topic,
                               "canary_repeats": canary_repeats, "rotations": rotations})
    if prepared is not None and rotations != 1:
        raise SmotextError("a prepared folder holds one split; rotations need the corpus: run `release --generator` "
                           "with it", params="rotations")
    if prepared is not None and (canaries or canary_secret is not None or canary_topic is not None or canary_repeats != 1):
        raise SmotextError("the canaries of a prepared folder were planted by `smotext prepare`; leave `canaries` out "
                           "here", params="canaries")
    if prepared is not None and synthetic is None:
        raise SmotextError("`prepared` needs `synthetic`: the texts the outside generator wrote", params="synthetic")
    policy_path = policy_file(policy)
    policy = load_policy(policy)
    if prepared is not None:
        from smotext.prepared import check_prepared_folder

        if check_prepared_folder(prepared).resolve() in out.resolve().parents:
            raise SmotextError(f"out {out} is inside the prepared folder {prepared}; keep the run apart from it",
                               params="out")
    check_outputs({"out": (out, "folder")}, {"corpus": None if _is_corpus(corpus) else corpus, "prepared": prepared,
                                             "synthetic": synthetic, "policy": policy_path,
                                             "policy's allowlist": policy.pii.allowlist_path})
    check_owned_folder("out", out)
    auditor = Auditor(**{"seed": seed, **_with_policy_pii(audit_options, policy)})
    encoder = auditor.encoder if isinstance(auditor.encoder, Encoder) else Encoder(auditor.encoder)
    _check_rotations(auditor, rotations)
    if canaries and "canary" not in [p.name for p in auditor.plugins]:
        raise SmotextError("canaries would be planted but the audit leaves out the canary plug-in that scores them; "
                           "select it, or plant none", params="canaries")
    lm = None
    if prepared is not None:
        state, outside = _from_prepared(prepared, synthetic, text_col, label_col,
                                        claim_for(claimed_epsilon, claimed_delta), encoder)
        members, holdout, test, secret = state.members, state.holdout, state.test, state.secret
        rotated = None
    else:
        corpus = _corpus(corpus, text_col, label_col)
        rotated, members, holdout, test = _split(corpus, rotations, holdout_fraction, test_fraction, seed)
        auditor.check_disjoint(members, holdout, test)
        made, secret = [], None
        if canaries:
            lm = _canary_lm(None)
            made, secret = _write_canaries(lm, members, canaries, canary_secret, canary_topic, auditor.progress)
        from smotext.audit.canaries import plant


        def generate(members_r: Corpus):
            """``gen`` on members_r with the canaries planted; its outputs, those carrying a canary held back."""
            texts, labels = plant(members_r.texts, members_r.labels, made, canary_repeats)
            t0 = time.perf_counter()
            out_texts, out_labels = gen.fit_resample(texts, labels)
            seconds = time.perf_counter() - t0
            if len(out_texts) < 2:
                raise SmotextError(f"generator {gen.describe()['name']} wrote {len(out_texts)} text(s); nothing to audit")
            return _outside_outputs([str(t) for t in out_texts], [str(v) for v in out_labels], members_r, made or None,
                                    secret, gen.parents_, gen.describe(), gen.claim(), seed, seconds, encoder,
                                    "synthetic.csv", None, members_r.labelled, canary_repeats)

        outside = generate(members)
    with atomic_folder(out) as work, auditor.engine.session():
        private = write_private_splits(work, members, holdout, test)
        syn_path, manifest_path = work / "synthetic.csv", work / "synthetic.manifest.json"
        write_table(pd.DataFrame({"text": outside.synthetic.texts, "label": outside.synthetic.labels}), syn_path)
        write_json(outside.manifest, manifest_path)
        synthetic_c = type(outside.synthetic)(outside.synthetic.texts, outside.synthetic.labels, outside.synthetic.labelled,
                                              str(out / syn_path.name), file_sha256(syn_path))
        audit = auditor.run(members, holdout, synthetic_c, test=test, generation=outside.manifest, canaries=outside.run,
                            models=(encoder, lm))
        audit.save_scores(work)
        if prepared is None and rotated:
            _rotate(audit, rotated, test, lambda m: (generate(m).synthetic, (encoder, lm)), auditor, say)
        if outside.run is not None:  # the coins and the secret, and the outputs that carried a canary
            write_json(outside.run.private_json(), private / "canaries.json")
            write_table(pd.DataFrame({"row": outside.held, "text": [outside.run.generated_texts[i] for i in outside.held]}),
                        private / "held_back.jsonl", "jsonl")
        audit.inputs["manifest"] = {"path": str(out / manifest_path.name), "sha256": file_sha256(manifest_path)}
        if prepared is not None:
            audit.inputs["prepared"] = {"train_sha256": state.train_sha256, "held_back": len(outside.held)}
        results = {**audit.to_json(), "generation": outside.manifest, "versions": versions()}
        decision = apply_gate(results, policy)
        publish(results, work, decision, [syn_path, manifest_path])
    return ReleaseResult(decision.verdict, decision.exit_code, out, out / "report.html", results, decision,
                         out / "synthetic.csv", out / "synthetic.manifest.json", out / "private",
                         out / RELEASE_DIR if decision.verdict == "RELEASE" else None)


# ---------------------------------------------------------------- gate and report from files


def gate_files(results: PathLike, policy: Policy | str | os.PathLike = "default", *, out: PathLike | None = None,
               release_files: list[PathLike] = ()) -> GateResult:
    """Gate an audit's results.json (or its folder) with ``policy`` and write results.json (with the
    decision), report.html and, on RELEASE only, release/ with ``release_files`` into ``out``
    (default: the results' folder).

    Fails closed: the results must pass the schema (every value in its declared range), each release
    file must be what the audit read (its sha256), ``out`` must be new, empty or a folder smotext
    made, and no output may replace an input (the policy, its allowlist, a release file). The
    results file itself is updated in place only inside a folder smotext made."""
    from smotext.outputs import check_outputs
    from smotext.reports.policy import load_policy, policy_file
    from smotext.reports.release import RELEASE_DIR, apply_gate, publish, read_results

    policy_path = policy_file(policy)
    policy = load_policy(policy)
    data, path = read_results(results)
    out = Path(out) if out is not None else path.parent
    files = [Path(f) for f in release_files]
    inputs = {"policy": policy_path, "policy's allowlist": policy.pii.allowlist_path,
              **{f"release file {f}": f for f in files}}
    # results.json may be updated in place (publish writes only into a folder smotext made); the report
    # and release/ must leave every input alone, the results included
    check_outputs({"out (results.json)": (out / "results.json", "file")}, inputs)
    check_outputs({"out (report.html)": (out / "report.html", "file"), f"out ({RELEASE_DIR}/)": (out / RELEASE_DIR, "folder")},
                  {**inputs, "results": path})
    decision = apply_gate(data, policy)
    report = publish(data, out, decision, files)  # checks the release files and the folder's owner before writing
    return GateResult(decision.verdict, decision.exit_code, out, report, data, decision)


def report_file(results: PathLike, out: PathLike | None = None) -> Path:
    """Render report.html from a results.json (or its folder) to ``out`` (default: report.html
    beside the results). Only a report smotext wrote is replaced."""
    from smotext.outputs import check_outputs
    from smotext.reports.release import read_results
    from smotext.reports.render import check_report_target, render_report

    data, path = read_results(results)
    target = Path(out) if out is not None else path.parent / "report.html"
    check_outputs({"out": (target, "file")}, {"results": path})
    check_report_target(target)
    return render_report(data, target)


# ---------------------------------------------------------------- bridge training


def train_bridge(corpus: Corpus | PathLike | pd.DataFrame, out: PathLike, *, train: dict | None = None,
                 adapter: str | None = None, voice: dict | None = None, dp: bool = False, dpsgd: dict | None = None,
                 init: PathLike | None = None, instruction: str | None = None, public: bool = False,
                 description: str = "", encoder=None, lm=None, text_col: str = "text", progress: bool = False,
                 say: Callable[[str], None] = lambda line: None):
    """Train a bridge on ``corpus`` into ``out`` (resuming from its checkpoint there) and return its
    model card: a whole bridge (``train``: ``TRAIN_PARAMS`` values), or with ``adapter`` a voice
    adapter on top of the frozen bridge ``init`` (default: the shipped one; ``voice``: ``VOICE_PARAMS``
    values). ``dp`` trains with DP-SGD under ``dpsgd`` (``DPSGD_PARAMS``: target_epsilon, delta,
    max_grad_norm, accountant). Settings that don't apply are refused before any model loads; ``say``
    hears the DP plan and, on an interruption, where the checkpoint is."""
    from smotext.outputs import check_outputs
    from smotext.synth.dp import DPConfig
    from smotext.synth.params import VOICE_PARAMS
    from smotext.synth.train import TrainConfig, VoiceAdaptation, check_bridge_folder, decoder_trainer, voice_trainer

    train, voice, dpsgd = dict(train or {}), dict(voice or {}), dict(dpsgd or {})
    if dp != (dpsgd.get("target_epsilon") is not None):
        raise SmotextError("`dp` and `target_epsilon` go together: `dp` with `target_epsilon` E trains with DP-SGD",
                           params=("dp", "target_epsilon"))
    if not dp and {"delta", "max_grad_norm"} & set(dpsgd):
        raise SmotextError("`delta` and `max_grad_norm` only apply with `dp`")
    if adapter is None and voice.get("size"):
        raise SmotextError("`adapter_size` only applies with `adapter` KIND")
    init_folder = None if init in (None, "default") else init
    check_outputs({"out": (out, "folder")}, {"corpus": None if _is_corpus(corpus) else corpus, "init": init_folder})
    check_bridge_folder(out)
    options = dict(public=public, description=description, encoder=encoder, lm=lm, text_col=text_col, progress=progress)
    corpus = _corpus(corpus, text_col, None) if not isinstance(corpus, (str, os.PathLike)) else corpus
    if adapter is not None:  # a voice adapter on top of a frozen bridge (the shipped one by default)
        extra = [k for k in train if k not in VOICE_PARAMS] + ["instruction"] * (instruction is not None) + \
            ["max_grad_norm"] * ("max_grad_norm" in dpsgd)
        if extra:
            raise SmotextError(f"`{extra[0]}` does not apply with `adapter`: the adapted bridge keeps its shape and prompt")
        settings = {**{k: v for k, v in train.items() if k in VOICE_PARAMS}, **voice, "kind": adapter}
        config = VoiceAdaptation(dpsgd.get("target_epsilon"), **settings,
                                 **{k: dpsgd[k] for k in ("delta", "accountant") if k in dpsgd})
        trainer, plan = voice_trainer(corpus, config, init=init or "default", **options)
        if plan is not None:
            say(f"voice adapter: {plan.sentence()}")
    else:
        cfg = TrainConfig(**train, dp=DPConfig(**dpsgd) if dp else None)
        trainer = decoder_trainer(corpus, config=cfg, init=init, instruction=instruction, **options)
    if trainer.dp_plan is not None:
        p = trainer.dp_plan
        say(f"DP-SGD: ε ≤ {p.target_epsilon:g} at δ = {p.delta:.3g} ({p.accountant} accountant): noise multiplier "
            f"{p.noise_multiplier:.4g}, clipping norm {p.max_grad_norm:g}, Poisson sample rate {p.sample_rate:.4g}, "
            f"{p.planned_steps} steps")
    try:
        return trainer.train(out, progress=progress)
    except KeyboardInterrupt:
        say(f"interrupted at step {trainer.step}; checkpoint saved in {out}; run the same command again to resume")
        raise
