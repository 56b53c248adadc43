"""Policies load strictly, the gate fails closed, and the report escapes what it shows."""

import json
import re
from pathlib import Path

import pytest

from smotext.reports.gate import Gate
from smotext.reports.policy import load_policy
from smotext.reports.release import split_corpus
from smotext.reports.render import highlight, render_report
from smotext.cli import main
from smotext.synth.corpus import Corpus
from smotext.errors import SmotextError

POLICIES = sorted(Path(__file__).parent.parent.joinpath("policies").glob("*.yaml"))
RULE = """  - name: r1
    metric: mia_synthetic_embedding.auc
    comparison: "<="
    threshold: 0.6
    severity: block
    rationale: because
"""


def write(tmp_path, text, name="p.yaml"):
    p = tmp_path / name
    p.write_text(text, encoding="utf-8")
    return p


def test_every_shipped_policy_loads():
    assert {p.stem for p in POLICIES} >= {"default", "strict", "research"}
    for p in POLICIES:
        policy = load_policy(p)
        assert policy.rules and len(policy.sha256) == 64
        assert load_policy(p.stem).sha256 == policy.sha256  # the same file, shipped as package data
        assert any(r.metric == "pii.replay.values" and r.severity == "block" for r in policy.rules), p


@pytest.mark.parametrize(
    "text, message",
    [
        ("", "the file is empty"),
        ("name: x\nrules: [\n", "not valid YAML"),
        ("- just\n- a list\n", "expected a mapping"),
        ("name: x\nrules:\n" + RULE.replace("    rationale", "    colour: red\n    rationale"), "unknown key 'colour'"),
        ("name: x\nextra: 1\nrules:\n" + RULE, "unknown key 'extra'"),
        ("name: x\nrules:\n" + RULE.replace("mia_synthetic_embedding.auc", "mia.magic"), "unknown metric 'mia.magic'; valid metrics: "),
        ("name: x\nrules:\n" + RULE.replace("0.6", "1.7"), "out of range for mia_synthetic_embedding.auc"),
        ("name: x\nrules:\n" + RULE.replace("0.6", ".nan"), "finite"),
        ("name: x\nrules:\n" + RULE.replace('"<="', '"=="'), "comparison"),
        ("name: x\nrules:\n" + RULE.replace("block", "maybe"), "severity"),
        ("name: x\nrules:\n" + RULE + RULE, "unique"),
        ("name: x\nrules:\n" + RULE.replace("    rationale", "    if_missing: ignore\n    rationale"), "if_missing"),
        ("name: x\nrules: []\n", "rules"),
    ],
)
def test_malformed_policies_are_refused_with_a_clear_message(tmp_path, text, message):
    with pytest.raises(SmotextError, match=re.escape(message)):
        load_policy(write(tmp_path, text))


def test_malformed_policy_exits_2_from_the_cli(tmp_path, capsys):
    p = write(tmp_path, "name: x\nrules:\n" + RULE.replace("threshold", "treshold"))
    code = main(["release", "--corpus", str(tmp_path / "any.csv"), "--policy", str(p), "--out", str(tmp_path / "o")])
    err = capsys.readouterr().err
    assert code == 2 and "unknown key 'treshold'" in err and err.count("\n") == 1
    assert not (tmp_path / "o").exists()


def _metrics(failed=None, n=100, **values):
    """A results.json-shaped audit result with these metric values (and failed plug-ins) on n holdout records."""
    plugins = {name: {"status": "failed", "error": error} for name, error in (failed or {}).items()}
    return {"metrics": {k: {"value": v, "ci": [v - 0.02, v + 0.03]} for k, v in values.items()}, "plugins": plugins,
            "inputs": {"evaluated": {"members": n, "nonmembers": n, "test": n // 2}}}


def test_gate_blocks_on_a_failing_block_rule_and_names_it(tmp_path):
    policy = load_policy(write(tmp_path, "name: x\nrules:\n" + RULE))
    d = Gate(policy).decide(_metrics(**{"mia_synthetic_embedding.auc": 0.71}))
    assert d.verdict == "BLOCK" and d.deciding == ["r1"] and d.exit_code == 1
    assert d.outcomes[0].status == "fail" and d.outcomes[0].compared == pytest.approx(0.71)
    assert Gate(policy).decide(_metrics(**{"mia_synthetic_embedding.auc": 0.52})).verdict == "RELEASE"


def test_gate_warn_rules_let_the_release_through(tmp_path):
    policy = load_policy(write(tmp_path, "name: x\nrules:\n" + RULE.replace("block", "warn")))
    d = Gate(policy).decide(_metrics(**{"mia_synthetic_embedding.auc": 0.71}))
    assert d.verdict == "RELEASE" and d.warnings == ["r1"] and d.exit_code == 0


def test_gate_compares_the_interval_end_when_asked(tmp_path):
    policy = load_policy(write(tmp_path, "name: x\nrules:\n" + RULE.replace("rationale", "bound: ci_upper\n    rationale")))
    d = Gate(policy).decide(_metrics(**{"mia_synthetic_embedding.auc": 0.58}))  # interval up to 0.61
    assert d.verdict == "BLOCK" and d.outcomes[0].compared == pytest.approx(0.61)


INTERVAL_RULE = RULE.replace("rationale", "bound: ci_upper\n    rationale")


def test_an_interval_across_the_threshold_cannot_tell_and_says_how_many_records_would(tmp_path):
    policy = load_policy(write(tmp_path, "name: x\nrules:\n" + INTERVAL_RULE))
    d = Gate(policy).decide(_metrics(**{"mia_synthetic_embedding.auc": 0.58}))  # [0.56, 0.61] around 0.6
    o = d.outcomes[0]
    assert d.verdict == "BLOCK" and d.exit_code == 1 and d.deciding == ["r1"] and d.undecided == ["r1"]
    # the value sits 0.02 below the threshold, the upper end 0.03 above it: n' = 100·(0.03/0.02)² = 225
    assert o.status == "undecided" and o.holdout_needed == 230  # two significant figures
    assert o.reason.startswith("cannot tell at this size") and "about 230 holdout records would decide it" in o.reason
    # above the threshold but not clearly: the lower end must rise past it, 100·(0.02/0.01)²
    up = Gate(policy).decide(_metrics(**{"mia_synthetic_embedding.auc": 0.61}))  # [0.59, 0.64]
    assert up.outcomes[0].status == "undecided" and up.outcomes[0].holdout_needed == 400


def test_a_rate_over_synthetic_texts_asks_for_more_synthetic_texts(tmp_path):
    rule = INTERVAL_RULE.replace("mia_synthetic_embedding.auc", "reconstruction.near_verbatim.excess_rate").replace("0.6", "0.02")
    results = _metrics(**{"reconstruction.near_verbatim.excess_rate": 0.01})  # [-0.01, 0.04] around 0.02
    results["inputs"]["synthetic"] = {"texts": 200}
    o = Gate(load_policy(write(tmp_path, "name: x\nrules:\n" + rule))).decide(results).outcomes[0]
    # its interval is over the synthetic texts: 200·(0.03/0.01)² = 1,800 of those, not of holdout records
    assert o.status == "undecided" and o.synthetic_needed == 1800 and o.holdout_needed is None
    assert "about 1,800 synthetic texts would decide it (now 200" in o.reason


def test_a_clear_leak_is_measured_and_a_clean_interval_passes(tmp_path):
    policy = load_policy(write(tmp_path, "name: x\nrules:\n" + INTERVAL_RULE))
    leak = Gate(policy).decide(_metrics(**{"mia_synthetic_embedding.auc": 0.71}))  # [0.69, 0.74]: all above 0.6
    assert leak.verdict == "BLOCK" and leak.undecided == [] and leak.outcomes[0].status == "fail"
    assert "measured" in leak.outcomes[0].reason and leak.outcomes[0].holdout_needed is None
    clean = Gate(policy).decide(_metrics(n=2000, **{"mia_synthetic_embedding.auc": 0.52}))  # [0.50, 0.55]
    assert clean.verdict == "RELEASE" and clean.outcomes[0].status == "pass"
    warn = load_policy(write(tmp_path, "name: x\nrules:\n" + INTERVAL_RULE.replace("block", "warn"), "w.yaml"))
    soft = Gate(warn).decide(_metrics(**{"mia_synthetic_embedding.auc": 0.58}))
    assert soft.verdict == "RELEASE" and soft.warnings == ["r1"] and soft.outcomes[0].status == "undecided"


def test_cannot_tell_reaches_the_cli_and_the_report(tmp_path, capsys):
    results = hostile_results()
    results["metrics"]["mia_synthetic_embedding.auc"] = {"value": 0.58, "ci": [0.56, 0.61], "safer": "lower",
                                                         "description": "AUC"}
    (tmp_path / "run").mkdir()
    (tmp_path / "run" / "results.json").write_text(json.dumps(results))
    policy = write(tmp_path, "name: x\nrules:\n" + INTERVAL_RULE)
    assert main(["gate", "--results", str(tmp_path / "run"), "--policy", str(policy), "--out", str(tmp_path / "gated")]) == 1
    out = capsys.readouterr().out
    assert "blocked by rule: r1 (cannot tell at this size" in out and "holdout records would decide it" in out
    html = (tmp_path / "gated" / "report.html").read_text()
    assert "cannot tell" in html and "no evidence blocks" in html
    gated = json.loads((tmp_path / "gated" / "results.json").read_text())["gate"]
    assert gated["undecided"] == ["r1"] and gated["outcomes"][0]["status"] == "undecided"


def test_gate_fails_closed_on_missing_metrics_and_failed_plugins(tmp_path):
    policy = load_policy(write(tmp_path, "name: x\nrules:\n" + RULE.replace("block", "warn")))
    missing = Gate(policy).decide(_metrics())
    assert missing.verdict == "BLOCK" and missing.outcomes[0].status == "missing" and missing.deciding == ["r1"]
    failed = Gate(policy).decide(_metrics({"pii": "OSError: boom"}, **{"mia_synthetic_embedding.auc": 0.5}))
    assert failed.verdict == "BLOCK" and "pii failed" in failed.problems[0]


def test_a_rule_that_applies_only_when_measured_is_skipped_not_passed(tmp_path):
    policy = load_policy(write(tmp_path, "name: x\nrules:\n" + RULE.replace("    rationale", "    if_missing: skip\n    rationale")))
    absent = Gate(policy).decide(_metrics())
    assert absent.verdict == "RELEASE" and absent.outcomes[0].status == "skipped" and not absent.deciding
    measured = Gate(policy).decide(_metrics(**{"mia_synthetic_embedding.auc": 0.9}))  # measured: it decides as usual
    assert measured.verdict == "BLOCK" and measured.deciding == ["r1"]
    # its plug-in failed: that is no absence to skip over
    failed = Gate(policy).decide(_metrics({"mia_synthetic_embedding": "boom"}))
    assert failed.verdict == "BLOCK" and failed.outcomes[0].status == "missing"


def test_policy_pii_excuses_load_relative_to_the_policy_and_fail_closed(tmp_path):
    (tmp_path / "public.txt").write_text("# public figures\nTom Hanks\n\nmeryl streep\n", encoding="utf-8")
    pii = "pii:\n  ignore_types: [DATE_TIME]\n  allowlist: public.txt\n"
    policy = load_policy(write(tmp_path, "name: x\n" + pii + "rules:\n" + RULE))
    assert policy.pii.values == ("Tom Hanks", "meryl streep")
    assert policy.pii.audit_params() == {"ignore_types": ["DATE_TIME"], "allowlist": ["Tom Hanks", "meryl streep"]}
    with pytest.raises(SmotextError, match=r"pii.*allowlist .*missing.txt: no such file"):
        load_policy(write(tmp_path, "name: x\npii:\n  allowlist: missing.txt\nrules:\n" + RULE))
    with pytest.raises(SmotextError, match=r"pii.ignore_types.*unknown entity type.*'NAME'"):
        load_policy(write(tmp_path, "name: x\npii:\n  ignore_types: [NAME]\nrules:\n" + RULE))


def test_gate_blocks_an_audit_that_excused_pii_its_policy_does_not(tmp_path):
    (tmp_path / "public.txt").write_text("Tom Hanks\n", encoding="utf-8")
    strict = load_policy(write(tmp_path, "name: x\nrules:\n" + RULE))
    lenient = load_policy(write(tmp_path, "name: y\npii:\n  ignore_types: [DATE_TIME]\n  allowlist: public.txt\nrules:\n" + RULE, "y.yaml"))
    audit = _metrics(**{"mia_synthetic_embedding.auc": 0.5})
    audit["plugins"]["pii"] = {"status": "ok", "params": {"ignore_types": ["DATE_TIME"], "allowlist": ["tom  HANKS"]}}
    d = Gate(strict).decide(audit)
    assert d.verdict == "BLOCK" and "entity types ['DATE_TIME']; an allowlist that is not this policy's" in d.problems[0]
    assert Gate(lenient).decide(audit).verdict == "RELEASE"  # the same excuses, written differently, are allowed


def test_split_is_stratified_disjoint_and_seeded():
    texts = [f"text {i}" for i in range(100)]
    labels = ["a"] * 60 + ["b"] * 40
    c = Corpus(texts, labels, True, "c.csv", "x")
    m, h, t = split_corpus(c, 0.3, 0.2, seed=1)
    assert len(m) + len(h) + len(t) == 100 and not set(m.texts) & set(h.texts) and not set(h.texts) & set(t.texts)
    assert h.labels.count("a") == 18 and h.labels.count("b") == 12
    assert split_corpus(c, 0.3, 0.2, seed=1)[1].texts == h.texts
    with pytest.raises(SmotextError):
        split_corpus(c, 0.6, 0.5, seed=1)


HOSTILE = ('<script>document.title="pwned"</script><img src="http://leak.example/beacon.png" '
           'onerror="document.title=\'pwned\'"> & "quotes"')


def hostile_results():
    """A results.json whose every text field carries markup, as a hostile corpus would."""
    roc = {"fpr": [0.0, 0.001, 0.01, 0.1, 1.0], "tpr": [0.0, 0.002, 0.02, 0.2, 1.0]}
    metric = lambda v: {"value": v, "ci": [max(0.0, v - 0.05), min(1.0, v + 0.05)], "safer": "lower", "description": HOSTILE}
    return {
        "format": "smotext-audit/1",
        "inputs": {k: {"path": HOSTILE, "texts": 10, "sha256": "0" * 64, "labelled": True} for k in ("members", "holdout", "synthetic")}
        | {"evaluated": {"members": 10, "nonmembers": 10, "test": 5}},
        "run": {"seed": 0, "bootstrap": 10, "encoder": {"name": HOSTILE, "sha256": "1" * 64}, "seconds": {"total": 1.0},
                "real_examples": True},  # an internal report: the masked member text is shown (and escaped)
        "metrics": {"mia_synthetic_embedding.auc": metric(0.5), "mia_synthetic_embedding.tpr_at_fpr_0.01": metric(0.01)},
        "plugins": {
            "mia_synthetic_embedding": {"status": "ok", "seconds": 0.1, "description": HOSTILE, "details": {"roc": roc}},
            "reconstruction": {"status": "ok", "seconds": 0.1, "details": {
                "dcr_share": 0.5, "near_verbatim": {"members": 0, "nonmembers": 0, "synthetic": 10},
                "longest_span": {"members_max": 3, "nonmembers_max": 3},
                "nearest_synthetic_cosine": {"bins": [0.0, 0.5, 1.0], "members": [3, 7], "nonmembers": [4, 6]},
                "closest_pairs": [{"synthetic": HOSTILE + " shared words here", "member_masked": "<PERSON> said shared words here",
                                   "shared_span": "shared words here", "cosine": 0.8, "word_similarity": 0.5, "member_row": 1}]}},
            "overview": {"status": "ok", "seconds": 0.1, "details": {
                "class_counts": {"members": {HOSTILE: 5, "b": 5}, "synthetic": {HOSTILE: 4, "b": 6}},
                "map": {"real": [[0, 0], [1, 1]], "synthetic": [[0.5, 0.5]]}, "samples": {HOSTILE: [HOSTILE]}}},
            "pii": {"status": "failed", "seconds": 0.1, "error": HOSTILE},
        },
    }


def test_report_escapes_everything_and_references_nothing_outside(tmp_path):
    path = render_report(hostile_results(), tmp_path / "report.html")
    html = path.read_text()
    assert "<script" not in html.lower() and "<img" not in html.lower() and "onerror=\"" not in html
    assert "&lt;script&gt;" in html and "&lt;PERSON&gt;" in html
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:|//)""", html, re.I)
    assert "<link" not in html and "@import" not in html and "url(" not in html
    assert "<mark>shared words here</mark>" in html and html.count("<svg") >= 3


def test_highlight_marks_the_shared_span_and_escapes():
    out = str(highlight("A <b>bold</b> claim: Shared, words here!", "shared words here"))
    assert out == "A &lt;b&gt;bold&lt;/b&gt; claim: <mark>Shared, words here</mark>!"


def test_report_command_rerenders_from_results(tmp_path, capsys):
    (tmp_path / "results.json").write_text(json.dumps(hostile_results()))
    assert main(["report", "--results", str(tmp_path)]) == 0
    assert (tmp_path / "report.html").exists()
    (tmp_path / "bad.json").write_text("{}")
    assert main(["report", "--results", str(tmp_path / "bad.json")]) == 2


def test_gate_command_applies_a_policy_to_results(tmp_path, capsys):
    import hashlib

    release_file = write(tmp_path, "text\nhello\n", "synthetic.csv")
    results = hostile_results()
    results["inputs"]["synthetic"]["sha256"] = hashlib.sha256(release_file.read_bytes()).hexdigest()  # what was audited
    (tmp_path / "aud").mkdir()
    (tmp_path / "aud" / "results.json").write_text(json.dumps(results))
    p = write(tmp_path, "name: x\nrules:\n" + RULE)
    # a folder smotext did not make (no marker) is not written into: the gate needs --out
    assert main(["gate", "--results", str(tmp_path / "aud"), "--policy", str(p)]) == 2
    assert "holds files smotext did not write (results.json)" in capsys.readouterr().err
    out_dir = tmp_path / "gated"
    code = main(["gate", "--results", str(tmp_path / "aud"), "--policy", str(p), "--release-file", str(release_file),
                 "--out", str(out_dir)])
    out = capsys.readouterr().out
    # the AUC passes but the failed pii plug-in blocks: fail closed, nothing released
    assert code == 1 and "blocked: audit plug-in pii failed" in out
    assert not (out_dir / "release").exists()
    data = json.loads((out_dir / "results.json").read_text())
    assert data["gate"]["verdict"] == "BLOCK" and data["policy"]["sha256"]
