"""What no input, stale file or tampered results file may make smotext do: write through a link,
replace a file it did not write, release a file it did not audit, leave a half-made output, keep
private splits in a stale folder, or put a private value in a public file."""

import hashlib
import json
import os
import subprocess
import sys
import warnings
from pathlib import Path

import pandas as pd
import pytest

from smotext.cli import main
from smotext.errors import SmotextError, SmotextWarning
from smotext.outputs import RUN_MARKER, atomic_folder, read_marker, write_marker
from smotext.synth.demo_corpus import build

from test_policy_gate import RULE, hostile_results


def sha(path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


@pytest.fixture
def gated_run(tmp_path):
    """A folder smotext made holding an audit whose synthetic set is synthetic.csv, and a policy it passes."""
    run = tmp_path / "run"
    run.mkdir()
    write_marker(run, "audit")
    (run / "synthetic.csv").write_text("text,label\nhello there,a\n")
    results = hostile_results()
    results["plugins"].pop("pii")  # the failed plug-in would block every verdict
    results["inputs"]["synthetic"]["sha256"] = sha(run / "synthetic.csv")
    (run / "results.json").write_text(json.dumps(results))
    policy = tmp_path / "p.yaml"
    policy.write_text("name: x\nrules:\n" + RULE)
    return run, policy


def test_gate_in_place_releases_only_on_release_and_never_writes_through_planted_links(gated_run, tmp_path):
    run, policy = gated_run
    victim = tmp_path / "victim.txt"
    victim.write_text("precious")
    for name in (".report.html.part", ".results.json.part", f".results.part-{os.getpid()}.json", ".release.part-x"):
        os.symlink(victim, run / name)  # stale names an attacker could guess
    assert main(["gate", "--results", str(run), "--policy", str(policy), "--release-file", str(run / "synthetic.csv")]) == 0
    assert victim.read_text() == "precious"
    assert (run / "release" / "synthetic.csv").read_bytes() == (run / "synthetic.csv").read_bytes()
    assert json.loads((run / "results.json").read_text())["gate"]["verdict"] == "RELEASE"
    assert (run / "report.html").read_text().startswith("<!DOCTYPE html>\n<!-- smotext report -->")
    # a stricter policy: BLOCK, and the old release/ goes with the old verdict
    strict = tmp_path / "strict.yaml"
    strict.write_text("name: s\nrules:\n" + RULE.replace("threshold: 0.6", "threshold: 0.1"))
    assert main(["gate", "--results", str(run), "--policy", str(strict), "--release-file", str(run / "synthetic.csv")]) == 1
    assert not (run / "release").exists()
    assert not [p for p in run.iterdir() if p.name.startswith(".smotext-") and p.name != RUN_MARKER]  # no temporary left


def test_a_report_that_cannot_be_rendered_changes_nothing(gated_run, monkeypatch, capsys):
    run, policy = gated_run
    (run / "release").mkdir()
    (run / "release" / "synthetic.csv").write_text("the earlier release")
    before = {p: p.read_bytes() for p in run.rglob("*") if p.is_file()}

    def broken(results):
        raise SmotextError("results: a plug-in's details have a shape smotext does not write")

    monkeypatch.setattr("smotext.reports.render.report_html", broken)
    assert main(["gate", "--results", str(run), "--policy", str(policy)]) == 2
    assert "shape smotext does not write" in capsys.readouterr().err
    assert {p: p.read_bytes() for p in run.rglob("*") if p.is_file()} == before  # results.json not rewritten as BLOCK


def test_a_killed_runs_unfinished_folder_is_removed_by_the_next_run(tmp_path):
    target = tmp_path / "run"
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    stale = tmp_path / ".run.part-abc123"
    stale.mkdir()
    (stale / RUN_MARKER).write_text(json.dumps({"smotext": "run-folder", "pid": int(dead.stdout), "target": "run"}))
    (stale / "private").mkdir()
    (stale / "private" / "members.csv").write_text("text\na private record\n")
    foreign = tmp_path / ".run.part-notours"
    foreign.mkdir()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        with atomic_folder(target) as work:
            assert oct(work.stat().st_mode & 0o777) == "0o700"  # private while it is built
            assert read_marker(work)["target"] == "run"  # the marker is written first
            (work / "x").write_text("done")
    said = [str(w.message) for w in caught if issubclass(w.category, SmotextWarning)]
    assert not stale.exists() and any("removed" in s and ".run.part-abc123" in s for s in said)
    assert foreign.exists() and any(".run.part-notours" in s and "no smotext marker" in s for s in said)
    assert (target / "x").read_text() == "done" and read_marker(target) is not None


def test_a_name_at_the_file_systems_limit_still_gets_its_temporary_names(tmp_path):
    target = tmp_path / ("r" * 250)
    with atomic_folder(target) as work:
        (work / "results.json").write_text("{}")
    with atomic_folder(target) as work:  # replaced whole: the side folder's name is short too
        (work / "results.json").write_text("[]")
    assert (target / "results.json").read_text() == "[]"


def test_jsonl_labels_are_kept_as_written(tmp_path):
    from smotext.synth.corpus import read_corpus

    path = tmp_path / "c.jsonl"
    path.write_text("".join(json.dumps({"text": f"text number {i}", "label": 1 + i % 2}) + "\n" for i in range(6)))
    assert sorted(set(read_corpus(path).labels)) == ["1", "2"]
    path.write_text(path.read_text() + json.dumps({"text": "another", "label": 2.0}) + "\n")
    with pytest.raises(SmotextError, match="name the same class written two ways"):
        read_corpus(path)


PLANTED = ["Ottoline Vandersnoot", "zanthoprax", "Wrenfield Crescent", "o.vandersnoot@wrenmail.org"]


def test_default_release_makes_one_text_per_member_and_no_private_value_leaves(tmp_path):
    """`smotext release --corpus c.csv --out run` on a balanced corpus (the first command a new user
    types) decides, with a report; names, a code word, a street and an email planted in the corpus
    (and asked to be shown, masked, in an internal report) reach no public file; the private folder
    is owner-only and no embedding of a real text is written outside it."""
    from smotext.synth.models import cache_root

    rows = [(t, label) for t, label in build(7) if label in ("billing", "symptom")]
    rows = [r for r in rows if r[1] == "billing"][:20] + [r for r in rows if r[1] == "symptom"][:20]
    notes = [f"Ask for {PLANTED[0]}.", f"The code is {PLANTED[1]}.", f"I live on {PLANTED[2]}.", f"Mail {PLANTED[3]}."]
    rows = [(f"{t} {notes[i % 4]}", label) if i % 5 == 0 else (t, label) for i, (t, label) in enumerate(rows)]
    pd.DataFrame(rows, columns=["text", "label"]).to_csv(tmp_path / "c.csv", index=False)
    cache = cache_root() / "embeddings"
    cached = set(cache.iterdir()) if cache.is_dir() else set()
    run = tmp_path / "run"
    code = main(["release", "--corpus", str(tmp_path / "c.csv"), "--out", str(run), "--max-new-tokens", "12",
                 "--bootstrap", "20", "--quiet", "--real-examples"])
    assert code in (0, 1) and (run / "report.html").is_file()
    members = pd.read_csv(run / "private" / "members.csv")
    synthetic = pd.read_csv(run / "synthetic.csv")
    assert len(synthetic) == len(members)  # one per member...
    assert synthetic["label"].value_counts().to_dict() == members["label"].value_counts().to_dict()  # ...in their mix
    assert oct((run / "private").stat().st_mode & 0o777) == "0o700"
    assert "INTERNAL" in (run / "report.html").read_text()
    words = {w.lower() for value in PLANTED for w in value.replace("@", " ").replace(".", " ").split() if len(w) > 3}
    synthetic_text = " ".join(synthetic["text"]).lower()
    for public in [run / "report.html", run / "results.json", run / "synthetic.manifest.json",
                   *(run / "release").glob("*")]:
        text = public.read_text(encoding="utf-8").lower()
        for w in words:
            # a planted word the generator itself wrote into a synthetic text is the audit's finding
            # (PII replay); no other way may carry it into a public file
            assert w not in text or w in synthetic_text, (public.name, w)
    assert (set(cache.iterdir()) if cache.is_dir() else set()) <= cached
    assert not list(tmp_path.glob(".run.*"))


def test_tampered_plugin_details_are_refused_or_printed_without_a_traceback(gated_run, capsys, monkeypatch):
    run, policy = gated_run
    results = json.loads((run / "results.json").read_text())
    results["plugins"]["canary"] = {"status": "ok", "details": {"sentence": 5, "epsilon_lower_bound": "big"}}
    results["plugins"]["generation_privacy"] = {"status": "ok", "details": {"mode": "dp", "epsilon": [1]}}
    (run / "results.json").write_text(json.dumps(results))
    before = {p: p.read_bytes() for p in run.rglob("*") if p.is_file()}
    # the report can't show these details: one line, exit 2, nothing written
    assert main(["gate", "--results", str(run), "--policy", str(policy)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "can't show them" in err and "Traceback" not in err
    assert {p: p.read_bytes() for p in run.rglob("*") if p.is_file()} == before
    # and the verdict's summary on the terminal reads them defensively too
    from smotext.reports.render import REPORT_MARK

    monkeypatch.setattr("smotext.reports.render.report_html", lambda results: REPORT_MARK)
    assert main(["gate", "--results", str(run), "--policy", str(policy)]) in (0, 1)
    out, err = capsys.readouterr()
    assert "Traceback" not in err and "privacy: ε = ? at δ = ?" in out


def test_public_outputs_get_a_plain_files_mode(gated_run):
    run, policy = gated_run
    assert main(["gate", "--results", str(run), "--policy", str(policy), "--release-file", str(run / "synthetic.csv")]) == 0
    mask = os.umask(0)
    os.umask(mask)
    for path, base in ((run / "report.html", 0o666), (run / "results.json", 0o666), (run / "release", 0o777),
                       (run / "release" / "synthetic.csv", 0o666)):
        assert path.stat().st_mode & 0o777 == base & ~mask, path


def test_a_report_shows_real_texts_only_when_the_audit_was_asked_for_them(tmp_path):
    from smotext.reports.render import render_report

    results = hostile_results()
    results["plugins"]["reconstruction"]["details"]["closest_pairs"][0]["member_masked"] = "Ottoline wrote this"
    results["run"]["real_examples"] = False  # an older or tampered results.json that carries real text anyway
    html = render_report(results, tmp_path / "public.html").read_text()
    assert "Ottoline" not in html and "INTERNAL" not in html
    results["run"]["real_examples"] = True
    html = render_report(results, tmp_path / "internal.html").read_text()
    assert "Ottoline wrote this" in html and "INTERNAL" in html


def test_a_bridge_whose_weights_are_not_its_cards_is_refused(tmp_path):
    """The bridge's two files are renamed one after the other; the card names its weights' sha256, so
    new weights beside an old card (a crash between the renames) are refused, not decoded with."""
    from smotext.synth.bridge import BridgeConfig, ModelCard, init_bridge, load_bridge, save_bridge

    cfg = BridgeConfig(in_dim=8, out_dim=16, n_tokens=2, hidden=8)
    save_bridge(init_bridge(cfg, 0), ModelCard(cfg), tmp_path / "a")
    save_bridge(init_bridge(cfg, 1), ModelCard(cfg), tmp_path / "b")
    load_bridge(tmp_path / "a")
    (tmp_path / "a" / "bridge.safetensors").write_bytes((tmp_path / "b" / "bridge.safetensors").read_bytes())
    with pytest.raises(SmotextError, match="not the file its card describes"):
        load_bridge(tmp_path / "a")


def test_one_job_holds_one_pool_of_workers(monkeypatch):
    """Engine.session: the pool a release's generation starts is the one its audit uses, closed once."""
    import smotext.engine as engine_module

    made = []

    class Pool:
        def __init__(self, engine):
            made.append(self)
            self.closed = 0

        def close(self):
            self.closed += 1

    monkeypatch.setattr(engine_module, "RayPool", Pool)
    engine = engine_module.Engine("ray", workers=1)
    with engine.session():
        with engine.session():  # generation
            first = engine.pool()
        with engine.session():  # the audit
            assert engine.pool() is first
        assert first.closed == 0
    assert len(made) == 1 and first.closed == 1
    assert engine_module.Engine("local").pool() is None
