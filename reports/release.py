"""The release job: split a corpus, generate from the members, audit against the holdout, gate, report."""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

import numpy as np

from smotext.reports.gate import Decision, Gate
from smotext.reports.policy import Policy
from smotext.synth.corpus import Corpus, json_text
from smotext.text import same_text_key
from smotext.audit.schema import check_results, parse_results
from smotext.errors import SmotextError

RELEASE_DIR = "release"


def _parts(corpus: Corpus, fractions: list[tuple[str, float]], rest: str, seed: int) -> dict[str, list[int]]:
    """Row numbers per part, stratified by label (seeded): each class's rows are permuted and the parts
    in ``fractions`` filled in order up to their share of the class; what is left goes to ``rest``.
    Copies of one text (same words after normalising case and whitespace) go to the same part."""
    rng = np.random.default_rng(seed)
    labels = np.asarray(corpus.labels, dtype=object)
    parts: dict[str, list[int]] = {name: [] for name, _ in fractions} | {rest: []}
    for cls in sorted(set(corpus.labels)):
        rows = rng.permutation(np.flatnonzero(labels == cls))
        groups: dict[str, list[int]] = {}  # copies of a text, in the order the permutation meets them
        for i in rows.tolist():
            groups.setdefault(same_text_key(corpus.texts[i]), []).append(i)
        want = [(name, int(round(f * len(rows)))) for name, f in fractions]
        got: dict[str, list[int]] = {name: [] for name, _ in fractions}
        for group in groups.values():
            into = next((name for name, n in want if len(got[name]) < n), None)
            (got[into] if into else parts[rest]).extend(group)
        for name in got:
            parts[name] += got[name]
    return parts


def _subset(corpus: Corpus, rows: list[int], name: str) -> Corpus:
    rows = sorted(rows)
    if len(rows) < 2:
        raise SmotextError(f"the corpus is too small: the {name} split would hold {len(rows)} text(s)")
    return Corpus([corpus.texts[i] for i in rows], [corpus.labels[i] for i in rows], corpus.labelled,
                  f"{corpus.source}#{name}", corpus.sha256)


def split_corpus(corpus: Corpus, holdout_fraction: float = 0.3, test_fraction: float = 0.2,
                 seed: int = 0) -> tuple[Corpus, Corpus, Corpus]:
    """Members / holdout / test, stratified by label (seeded). Members are what generation may see.

    Copies of one text (same words after normalising case and whitespace) go to the same split,
    so a record can't be a member and a non-member at once."""
    if not (0 < holdout_fraction < 1 and 0 < test_fraction < 1 and holdout_fraction + test_fraction < 1):
        raise SmotextError("holdout_fraction and test_fraction must be in (0, 1) and leave room for members",
                           params=("holdout_fraction", "test_fraction"))
    parts = _parts(corpus, [("holdout", holdout_fraction), ("test", test_fraction)], "members", seed)
    return tuple(_subset(corpus, parts[name], name) for name in ("members", "holdout", "test"))


def rotation_splits(corpus: Corpus, rotations: int, test_fraction: float = 0.2,
                    seed: int = 0) -> tuple[list[tuple[Corpus, Corpus]], Corpus]:
    """(members, holdout) for each of ``rotations`` runs, and the test split: what the test split leaves
    is cut into ``rotations`` folds (stratified, seeded) and run r holds out fold r, so every record
    outside the test split is a non-member once. The first run is ``split_corpus`` with a holdout
    fraction of (1 - test_fraction) / rotations."""
    if not (0 < test_fraction < 1 and rotations >= 2):
        raise SmotextError("rotation needs a test fraction in (0, 1) and at least 2 rotations",
                           params=("test_fraction", "rotations"))
    share = (1 - test_fraction) / rotations
    fractions = [("fold 1", share), ("test", test_fraction)] + [(f"fold {r}", share) for r in range(2, rotations)]
    parts = _parts(corpus, fractions, f"fold {rotations}", seed)
    folds = [parts[f"fold {r}"] for r in range(1, rotations + 1)]
    runs = [(_subset(corpus, [i for j, f in enumerate(folds) if j != r for i in f], "members"),
             _subset(corpus, folds[r], "holdout")) for r in range(rotations)]
    return runs, _subset(corpus, parts["test"], "test")


def apply_gate(results: dict, policy: Policy) -> Decision:
    """Decide on ``results`` (a results.json dict) and record the decision and the policy in it."""
    decision = Gate(policy).decide(results)
    results["gate"] = decision.to_json()
    results["policy"] = {"name": policy.name, "path": policy.source, "sha256": policy.sha256,
                         "rules": [r.model_dump() for r in policy.rules]}
    return decision


def read_results(path: str | os.PathLike) -> tuple[dict, Path]:
    """(results.json as a dict, its path) from a results file or its folder: a regular file under
    the size cap, nested at most a few levels, every value in its declared range; anything else is
    an error naming the field."""
    from smotext.outputs import read_user_text

    p = Path(path)
    p = p / "results.json" if p.is_dir() else p
    return parse_results(read_user_text(p, "results"), str(p)), p


def audited_sha256(results: dict) -> dict[str, str]:
    """What the audit read and a release may publish: file role -> sha256 (the synthetic set, and
    its generation manifest where the audit recorded one)."""
    inputs = results.get("inputs") if isinstance(results.get("inputs"), dict) else {}
    out = {}
    for role in ("synthetic", "manifest"):
        entry = inputs.get(role)
        sha = entry.get("sha256") if isinstance(entry, dict) else None
        if isinstance(sha, str) and len(sha) == 64:
            out[role] = sha
    return out


def check_release_files(release_files: list[Path], results: dict | None = None) -> None:
    """Every file a RELEASE would publish must exist now (found missing later, the decision on disk
    and the exit code would disagree), be a regular file, and, given ``results``, be what the audit
    read: its sha256 must be the audited synthetic set's (or its manifest's). The gate never
    releases a file it did not audit."""
    from smotext.synth.corpus import file_sha256

    audited = audited_sha256(results) if results is not None else None
    names: dict[str, Path] = {}
    for f in release_files:
        f = Path(f)
        if not f.exists():
            raise SmotextError(f"release file {f}: no such file", params="release_files")
        if f.is_symlink() or not f.is_file():
            raise SmotextError(f"release file {f}: not a regular file (a link, folder or device)", params="release_files")
        if f.name in names:
            raise SmotextError(f"release files {names[f.name]} and {f} have the same name", params="release_files")
        names[f.name] = f
        if audited is not None:
            if "synthetic" not in audited:
                raise SmotextError("the results record no sha256 of the audited synthetic set, so no file can be "
                                   "released from them", params="release_files")
            if file_sha256(f) not in audited.values():
                raise SmotextError(f"release file {f} is not what the audit read (its sha256 is not the audited "
                                   "synthetic set's); only audited files are released", params="release_files")


def publish(results: dict, out: Path, decision: Decision, release_files: list[Path]) -> Path:
    """Write results.json and report.html into ``out``; copy ``release_files`` to out/release/ only
    on RELEASE (else any old release/ goes). ``out`` must be new, empty or a folder smotext made;
    it is claimed (its marker) before the first write.

    Everything is staged first (the results checked, the report rendered, the release copied),
    so a problem leaves the old state untouched; then the files are swapped in. A symbolic link
    at any of the three places is refused before anything is written."""
    from smotext.outputs import claim_folder, refuse_links, temp_beside, usual_mode
    from smotext.reports.render import check_report_target, report_html

    check_release_files(release_files, results)
    check_results(results)
    out = Path(out)
    refuse_links("out", out, ("results.json", "report.html", RELEASE_DIR))
    check_report_target(out / "report.html")
    html = report_html(results)  # a results dict the report can't show stops here, before any write
    text = json_text(results)
    claim_folder(out, "gate")
    target = out / RELEASE_DIR
    temps: list[Path] = []
    staged = old = None
    try:
        if decision.verdict == "RELEASE":
            staged = Path(tempfile.mkdtemp(prefix=".smotext-release-", dir=out))
            os.chmod(staged, usual_mode(0o777))  # release/ is what gets shared: a plain folder's mode
            for f in release_files:
                shutil.copyfile(f, staged / Path(f).name)
        temps = [temp_beside(out / "results.json", ".json"), temp_beside(out / "report.html", ".html")]
        temps[0].write_text(text, encoding="utf-8")
        temps[1].write_text(html, encoding="utf-8")
        if target.exists():  # moved aside, not deleted, until the new state is in place
            old = Path(tempfile.mkdtemp(prefix=".smotext-old-", dir=out))
            os.replace(target, old / RELEASE_DIR)
        os.replace(temps[0], out / "results.json")
        os.replace(temps[1], out / "report.html")
        if staged is not None:
            os.replace(staged, target)
    finally:
        for t in temps:
            t.unlink(missing_ok=True)
        for folder in (staged, old):
            if folder is not None and folder.exists():
                shutil.rmtree(folder, ignore_errors=True)
    return out / "report.html"


def details(results: dict, plugin: str) -> dict | None:
    """A plug-in's details when it ran and they are an object (results.json may come from anyone)."""
    entry = (results.get("plugins") or {}).get(plugin)
    if not isinstance(entry, dict) or entry.get("status") != "ok" or not isinstance(entry.get("details"), dict):
        return None
    return entry["details"]


def _num(v) -> str:
    if v == "inf":
        return "∞"
    return f"{v:.3g}" if isinstance(v, (int, float)) and not isinstance(v, bool) else "?"


def privacy_line(results: dict) -> str:
    """One line on the release's formal guarantee, from the generation_privacy plug-in's result."""
    d = details(results, "generation_privacy")
    if d is None:
        entry = (results.get("plugins") or {}).get("generation_privacy")
        error = entry.get("error") if isinstance(entry, dict) else None
        return f"formal guarantee not assessed ({error or 'plug-in not run'})"
    eps, mode = _num(d.get("epsilon")), d.get("mode")
    from smotext.synth.manifest import outside_generator

    foreign = outside_generator(results["generation"]) if isinstance(results.get("generation"), dict) else None
    if foreign is not None:
        return f"ε = {eps} claimed by the {foreign}" + (f" at δ = {_num(d.get('delta'))}; the canaries test the claim"
                                                       if mode == "dp" else " (none: the attacks are the evidence)")
    if mode == "dp":
        return f"ε = {eps} at δ = {_num(d.get('delta'))} (DP generation; add/remove one record)"
    if mode == "non-dp":
        return f"ε = {eps}: no formal guarantee (non-DP generation; the audit's attacks are the evidence)"
    return f"ε = {eps} ({mode}: not a private release)"
