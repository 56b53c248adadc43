"""The audit's front door: run the registered plug-ins on members vs holdout vs synthetic."""

from __future__ import annotations

import os
import time
import traceback
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from smotext.audit.context import AuditContext
from smotext.audit.schema import check_results, parse_results
from smotext.audit.registry import Metric, available, create_plugin
from smotext.synth.corpus import Corpus, overlap_counts, write_json
from smotext.engine import engine_check
from smotext.errors import SmotextError
from smotext.params import Param, check_all, int_at_least, is_bool, number_in, one_of
from smotext.synth.models import PRECISIONS

DEFAULT_PLUGINS = (
    "utility", "mia_classifier_loss", "mia_classifier_confidence", "mia_classifier_reference",
    "mia_synthetic_embedding", "mia_synthetic_lexical", "mia_synthetic_ngram", "reconstruction", "pii", "generation_privacy", "decoder_privacy",
    "realism", "canary", "overview",
)
RESULTS_FILE, SCORES_FILE = "results.json", "scores.npz"

# The auditor's own settings, checked up front (a bad one would otherwise fail plug-ins one by one).
AUDITOR_PARAMS = {
    "seed": Param(0, "seed for the member/non-member samples, bootstrap and attacks", int_at_least(0), flag="--seed"),
    "n_boot": Param(200, "bootstrap resamples for the DCR share's 95% interval (the other intervals are analytic)",
                    int_at_least(1), flag="--bootstrap"),
    "holdout_test_fraction": Param(0.3, "share of the holdout used as the utility test split when no test set is given",
                                   number_in(0, 1, low_open=True, high_open=True), flag="--holdout-test-fraction"),
    "progress": Param(False, "show progress bars", is_bool),
    "cache": Param(True, "keep embeddings in this process's memory for later audits of the same texts (never on disk)", is_bool),
    "allow_overlap": Param(False, "go on even when members, holdout and test share texts (copies of one text in "
                                  "different splits; their counts are recorded either way); default: an error", is_bool,
                           flag="--allow-overlap"),
    "engine": Param(None, "where embedding and the PII scan run: None or 'local' in this process, 'ray' on a Ray "
                          "cluster, or an Engine", engine_check),
    "real_examples": Param(False, "show real texts in the report's examples, masked (names, rare words and numbers "
                                  "hidden); the report is then marked internal: never release it (default: no real "
                                  "text in any output)", is_bool, flag="--real-examples"),
    "precision": Param("auto", "the encoder's arithmetic for the audit's embeddings: 'float32', 'bfloat16', or 'auto' "
                               "(bfloat16 where the hardware computes it, else float32)", one_of(*PRECISIONS),
                       flag="--precision", cli={"choices": PRECISIONS}),
}


@dataclass
class AuditResult:
    """Every number of an audit (``metrics``), per-plug-in status and details, and score arrays."""

    metrics: dict[str, Metric] = field(default_factory=dict)
    plugins: dict[str, dict] = field(default_factory=dict)
    arrays: dict[str, dict] = field(default_factory=dict)
    inputs: dict = field(default_factory=dict)
    run: dict = field(default_factory=dict)
    generation: dict | None = None  # the manifest of a generator smotext did not run (audit --prepared)

    @property
    def failed(self) -> dict[str, str]:
        return {n: p["error"] for n, p in self.plugins.items() if p["status"] == "failed"}

    def to_json(self) -> dict:
        out = {"format": "smotext-audit/1", "inputs": self.inputs, "run": self.run,
               "metrics": {k: m.to_json() for k, m in sorted(self.metrics.items())}, "plugins": self.plugins}
        return out if self.generation is None else {**out, "generation": self.generation}

    def save_scores(self, folder: str | os.PathLike, name: str = SCORES_FILE) -> Path:
        """Write scores.npz (the numeric per-record arrays, no pickle) into ``folder``."""
        out = Path(folder)
        out.mkdir(parents=True, exist_ok=True)
        flat = {f"{p}/{k}": np.asarray(v, dtype=float) for p, arrs in self.arrays.items() for k, v in arrs.items()
                if isinstance(v, np.ndarray)}
        from smotext.outputs import atomic_files

        with atomic_files(out / name) as (tmp,):
            with open(tmp, "wb") as f:  # a file object: numpy adds no suffix of its own
                np.savez_compressed(f, **flat)
        return out / name

    def summary(self) -> str:
        """One line per metric: value, 95% interval and which way is safer."""
        width = max(map(len, self.metrics), default=10)
        lines = []
        for name, m in sorted(self.metrics.items()):
            ci = f"  [{m.ci[0]:.3f}, {m.ci[1]:.3f}]" if m.ci else ""
            lines.append(f"{name:<{width}}  {m.value:8.3f}{ci}  ({m.safer} is safer)")
        return "\n".join(lines)

    def _repr_html_(self) -> str:
        """A notebook's view: the formal ε, the metrics and any plug-in that did not run (escaped)."""
        from html import escape

        privacy = (self.plugins.get("generation_privacy") or {}).get("details") or {}
        rows = "".join(f"<tr><td>{escape(n)}</td><td>{m.value:.3f}</td><td>"
                       f"{escape(f'[{m.ci[0]:.3f}, {m.ci[1]:.3f}]') if m.ci else ''}</td><td>{escape(m.safer)}</td></tr>"
                       for n, m in sorted(self.metrics.items()))
        failed = "".join(f"<li>{escape(n)}: {escape(str(e.get('status')))} ({escape(str(e.get('error')))})</li>"
                         for n, e in self.plugins.items() if e.get("status") != "ok")
        return (f"<div><b>smotext audit</b>: {len(self.metrics)} metrics; ε = {escape(str(privacy.get('epsilon', '?')))}"
                f"{'<ul>' + failed + '</ul>' if failed else ''}<table><tr><th>metric</th><th>value</th><th>95% interval"
                f"</th><th>safer</th></tr>{rows}</table></div>")

    def save(self, folder: str | os.PathLike) -> Path:
        """Write results.json and scores.npz into ``folder``, both or neither. The folder must be new,
        empty or one smotext made (its marker); it is claimed first."""
        from smotext.outputs import atomic_files, claim_folder

        data = check_results(self.to_json())
        claim_folder(folder, "audit")
        with atomic_files(Path(folder) / RESULTS_FILE, Path(folder) / SCORES_FILE) as (results, scores):
            self.save_scores(folder, scores.name)
            write_json(data, results)
        return Path(folder) / RESULTS_FILE

    @classmethod
    def load(cls, folder: str | os.PathLike) -> "AuditResult":
        p = Path(folder)
        path = p / RESULTS_FILE if p.is_dir() else p
        try:
            data = parse_results(path.read_text(encoding="utf-8"), str(path))
        except (OSError, UnicodeDecodeError) as e:
            raise SmotextError(f"{path}: can't read audit results: {e}") from None
        metrics = {k: Metric(float("nan") if v["value"] is None else float(v["value"]), v["safer"], v["description"], tuple(v["ci"]) if "ci" in v else None, v.get("ideal"))
                   for k, v in data["metrics"].items()}
        arrays: dict[str, dict] = {}
        scores = path.parent / SCORES_FILE
        if scores.exists():
            with np.load(scores, allow_pickle=False) as z:
                for key in z.files:
                    plugin, name = key.split("/", 1)
                    arrays.setdefault(plugin, {})[name] = z[key]
        generation = data.get("generation") if isinstance(data.get("generation"), dict) else None
        return cls(metrics, data["plugins"], arrays, data.get("inputs", {}), data.get("run", {}), generation)


def _describe(c: Corpus) -> dict:
    return {"path": c.source, "sha256": c.sha256, "texts": len(c), "labelled": c.labelled}


_A = AUDITOR_PARAMS


class Auditor:
    """Runs audit plug-ins by name; a plug-in that raises is recorded as failed, never dropped silently.

    ``plugins`` lists registry names (default: all built-ins); ``plugin_params`` maps a name to its
    parameters. ``encoder`` is a path/name or a loaded ``synth.encoder.Encoder`` (the one generation used);
    ``lm`` a loaded LM for plug-ins that write public texts (default: the manifest's, loaded when needed).
    """

    def __init__(self, plugins: Sequence[str] = DEFAULT_PLUGINS, plugin_params: Mapping[str, Mapping] | None = None,
                 encoder=None, seed: int = _A["seed"].default, n_boot: int = _A["n_boot"].default,
                 holdout_test_fraction: float = _A["holdout_test_fraction"].default,
                 progress: bool = _A["progress"].default, cache: bool = _A["cache"].default,
                 allow_overlap: bool = _A["allow_overlap"].default, lm=None, engine=_A["engine"].default,
                 precision: str = _A["precision"].default, real_examples: bool = _A["real_examples"].default):
        from smotext.engine import as_engine

        check_all(AUDITOR_PARAMS, {"seed": seed, "n_boot": n_boot, "holdout_test_fraction": holdout_test_fraction,
                                   "progress": progress, "cache": cache, "allow_overlap": allow_overlap, "engine": engine,
                                   "precision": precision, "real_examples": real_examples})
        self.precision, self.real_examples = precision, real_examples
        self.engine = as_engine(engine)  # Ray missing for 'ray': one clear error before any work
        self.allow_overlap = allow_overlap
        params = dict(plugin_params or {})
        for name in params:
            if name not in plugins:
                raise SmotextError(f"parameters given for audit plug-in {name!r}, which is not selected")
        self.plugins = [create_plugin(n, **params.get(n, {})) for n in plugins]  # validates names first
        self.encoder, self.seed, self.n_boot = encoder, seed, n_boot
        self.holdout_test_fraction, self.progress, self.cache = holdout_test_fraction, progress, cache
        self.lm = lm  # a loaded LM for plug-ins that write public texts (else the manifest's, loaded when needed)

    def check_disjoint(self, members: Corpus, holdout: Corpus, test: Corpus | None = None) -> dict[str, int]:
        """Counts of shared texts (case and whitespace ignored) between members, holdout and test, the
        test split also being the reference attack's population. Any overlap makes membership metrics
        meaningless (a record can't be a member and a non-member), so it is an error unless
        ``allow_overlap``."""
        sets = {"members": members.texts, "holdout": holdout.texts}
        if test is not None:
            sets["test"] = test.texts
        counts = overlap_counts(sets)
        shared = {pair: n for pair, n in counts.items() if n}
        if shared and not self.allow_overlap:
            said = ", ".join(f"{n} {a} text(s) also in {b}" for pair, n in shared.items() for a, b in [pair.split("/")])
            raise SmotextError(f"members, holdout and test must be different records: {said}; remove the copies, or "
                               "pass allow_overlap to audit anyway", params="allow_overlap")
        return counts

    def run(self, members: Corpus, holdout: Corpus, synthetic, test: Corpus | None = None,
            parent_rows: set[int] | None = None, generation: dict | None = None, canaries=None, *,
            models: tuple | None = None) -> AuditResult:
        """Audit ``synthetic`` against ``members`` vs ``holdout``.

        ``synthetic`` is a ``Corpus`` or a fitted ``SMOTExT`` (fitted on ``members``): from a sampler the
        audit takes its texts, the parent rows, the generation manifest and (unless ``encoder`` was
        given) its encoder. With a Corpus, ``generation`` is the generation manifest, needed by
        plug-ins about the generator itself (skipped without it), and ``parent_rows`` the member rows
        that served as parents. ``canaries`` (an ``audit.canaries.CanaryRun``, made by ``release``)
        turns on the canary plug-in; its per-canary scores are filled in, never saved with the results.
        ``models`` = (encoder, LM) already loaded by the generator, used where the auditor was given none."""
        from smotext.synth.encoder import Encoder

        t0 = time.perf_counter()
        encoder, lm = self.encoder, self.lm
        if models is not None:
            encoder, lm = (mine if mine is not None else theirs for mine, theirs in zip((encoder, lm), models))
        if hasattr(synthetic, "synthetic_") and hasattr(synthetic, "provenance_"):  # a fitted sampler
            from smotext.synth.manifest import generation_manifest
            from smotext.synth.manifest import parent_rows as sampler_parents

            sampler = synthetic
            frame = sampler.synthetic_
            synthetic = Corpus.from_texts(frame["text"].tolist(), frame["label"].tolist() if members.labelled else None,
                                          source="<SMOTExT.synthetic_>")
            parent_rows = sampler_parents(sampler) if parent_rows is None else parent_rows
            generation = generation_manifest(sampler, members) if generation is None else generation
            encoder = sampler.encoder_ if encoder is None else encoder
            lm = sampler.lm_ if lm is None else lm
        elif not isinstance(synthetic, Corpus):
            raise SmotextError("synthetic must be a Corpus or a fitted SMOTExT sampler", params="synthetic")
        overlap = self.check_disjoint(members, holdout, test)
        encoder = encoder if isinstance(encoder, Encoder) else Encoder(encoder)
        with self.engine.session():  # embedding and the PII scan spread over the job's workers under 'ray'
            return self._run(members, holdout, synthetic, test, encoder, lm, parent_rows, generation, canaries, overlap,
                             self.engine.pool(), t0)

    def _run(self, members, holdout, synthetic, test, encoder, lm, parent_rows, generation, canaries, overlap, pool,
             t0) -> AuditResult:
        from smotext.synth.models import resolve_precision

        precision = resolve_precision(self.precision, getattr(encoder, "device", "cpu"))
        ctx = AuditContext(members, holdout, synthetic, encoder, test=test, test_fraction=self.holdout_test_fraction,
                           seed=self.seed, n_boot=self.n_boot, progress=self.progress, cache=self.cache,
                           parent_rows=parent_rows, generation=generation, lm=lm, canaries=canaries, pool=pool,
                           precision=precision, real_examples=self.real_examples)
        result = AuditResult(
            inputs={"members": _describe(members), "holdout": _describe(holdout), "synthetic": _describe(synthetic),
                    "test": _describe(test) if test else None, "overlap": overlap,
                    "evaluated": {"members": len(ctx.members), "nonmembers": len(ctx.nonmembers), "test": len(ctx.test)}},
            run={"seed": self.seed, "bootstrap": self.n_boot, "encoder": {"name": encoder.name, "sha256": encoder.fingerprint,
                                                                     "precision": precision},
                 "real_examples": self.real_examples, "plugins_available": available(), "seconds": {"embed": round(time.perf_counter() - t0, 2)}},
        )
        for plugin in self.plugins:
            t = time.perf_counter()
            entry = {"kind": plugin.kind, "description": plugin.description, "params": plugin.public_settings()}
            if plugin.needs_labels and not ctx.labelled:
                entry.update(status="skipped", error="needs labels in members, holdout and synthetic sets")
            elif plugin.needs_generation and not ctx.generation:
                entry.update(status="skipped", error="needs the generation manifest (synthetic.manifest.json)")
            elif plugin.needs_canaries and ctx.canaries is None:
                entry.update(status="skipped", error="no canaries were planted (release with canaries=M, `--canaries M`)")
            else:
                try:
                    out = plugin.run(ctx)
                except Exception as e:  # one broken plug-in must not hide the others' results
                    entry.update(status="failed", error=f"{type(e).__name__}: {e}", traceback=traceback.format_exc(limit=3))
                else:
                    undeclared = sorted(k for k, m in out.metrics.items() if plugin.produces.get(k, (None,))[0] != m.safer)
                    if undeclared:  # a policy could not name these, and their direction is unchecked
                        entry.update(status="failed", error=f"metrics not declared in `produces`: {undeclared}")
                        entry["seconds"] = round(time.perf_counter() - t, 2)
                        result.plugins[plugin.name] = entry
                        continue
                    entry.update(status="ok", details=out.details, metrics=sorted(out.metrics))
                    result.metrics.update(out.metrics)
                    if out.arrays:
                        result.arrays[plugin.name] = out.arrays
            entry["seconds"] = round(time.perf_counter() - t, 2)
            result.plugins[plugin.name] = entry
        result.run["seconds"]["total"] = round(time.perf_counter() - t0, 2)
        return result
