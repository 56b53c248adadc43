"""The release job: split a corpus, generate from the members, audit against the holdout, gate, report."""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

import numpy as np

from smotext.reports.gate import Decision, Gate
from smotext.reports.policy import Policy
from smotext.reports.render import render_report
from smotext.synth.corpus import Corpus, normalise_text, write_json
from smotext.audit.schema import check_results, parse_results
from smotext.errors import SmotextError

RELEASE_DIR = "release"


def split_corpus(corpus: Corpus, holdout_fraction: float = 0.3, test_fraction: float = 0.2,
                 seed: int = 0) -> tuple[Corpus, Corpus, Corpus]:
    """Members / holdout / test, stratified by label (seeded). Members are what generation may see.

    Copies of one text (same words after normalising case and whitespace) go to the same split,
    so a record can't be a member and a non-member at once."""
    if not (0 < holdout_fraction < 1 and 0 < test_fraction < 1 and holdout_fraction + test_fraction < 1):
        raise SmotextError("holdout_fraction and test_fraction must be in (0, 1) and leave room for members",
                           params=("holdout_fraction", "test_fraction"))
    rng = np.random.default_rng(seed)
    labels = np.asarray(corpus.labels, dtype=object)
    parts: dict[str, list[int]] = {"members": [], "holdout": [], "test": []}
    for cls in sorted(set(corpus.labels)):
        rows = rng.permutation(np.flatnonzero(labels == cls))
        n_hold, n_test = int(round(holdout_fraction * len(rows))), int(round(test_fraction * len(rows)))
        groups: dict[str, list[int]] = {}  # copies of a text, in the order the permutation meets them
        for i in rows.tolist():
            groups.setdefault(normalise_text(corpus.texts[i]), []).append(i)
        hold: list[int] = []
        test: list[int] = []
        for group in groups.values():
            if len(hold) < n_hold:
                hold += group
            elif len(test) < n_test:
                test += group
            else:
                parts["members"] += group
        parts["holdout"] += hold
        parts["test"] += test
    out = []
    for name in ("members", "holdout", "test"):
        rows = sorted(parts[name])
        if len(rows) < 2:
            raise SmotextError(f"the corpus is too small: the {name} split would hold {len(rows)} text(s)")
        out.append(Corpus([corpus.texts[i] for i in rows], [corpus.labels[i] for i in rows], corpus.labelled,
                          f"{corpus.source}#{name}", corpus.sha256))
    return tuple(out)


def apply_gate(results: dict, policy: Policy) -> Decision:
    """Decide on ``results`` (a results.json dict) and record the decision and the policy in it."""
    decision = Gate(policy).decide(results)
    results["gate"] = decision.to_json()
    results["policy"] = {"name": policy.name, "path": policy.source, "sha256": policy.sha256,
                         "rules": [r.model_dump() for r in policy.rules]}
    return decision


def read_results(path: str | os.PathLike) -> tuple[dict, Path]:
    """(results.json as a dict, its path) from a results file or its folder; anything else is an error."""
    p = Path(path)
    p = p / "results.json" if p.is_dir() else p
    try:
        text = p.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as e:
        raise SmotextError(f"{p}: can't read results: {e}") from None
    return parse_results(text, str(p)), p


def check_release_files(release_files: list[Path]) -> None:
    """Every file a RELEASE would publish must exist now: found missing later, the decision on disk
    and the exit code would disagree."""
    for f in release_files:
        if not Path(f).is_file():
            raise SmotextError(f"release file {f}: no such file", params="release_files")


def publish(results: dict, out: Path, decision: Decision, release_files: list[Path]) -> Path:
    """Write results.json and report.html; copy ``release_files`` to out/release/ only on RELEASE.

    The release folder is staged before anything is written, so a failure leaves the old state;
    a previous run's release/ never stays beside a new decision."""
    check_release_files(release_files)
    check_results(results)
    out.mkdir(parents=True, exist_ok=True)
    target = out / RELEASE_DIR
    staged = None
    try:
        if decision.verdict == "RELEASE":
            staged = Path(tempfile.mkdtemp(prefix=f".{RELEASE_DIR}.part-", dir=out))
            for f in release_files:
                shutil.copy2(f, staged / Path(f).name)
        write_json(results, out / "results.json")
        report = render_report(results, out / "report.html")
        if target.exists():
            shutil.rmtree(target)
        if staged is not None:
            os.replace(staged, target)
    finally:
        if staged is not None and staged.exists():
            shutil.rmtree(staged, ignore_errors=True)
    return report
