"""Rotating the holdout (`release --rotations K`): every record outside the test split is a
non-member once, the attacks' per-record scores are pooled over the runs, and the gate decides the
pooled metrics on the pooled holdout."""

import json
import re

import numpy as np
import pandas as pd
import pytest

from smotext.audit.auditor import AuditResult
from smotext.audit.registry import Metric
from smotext.audit.rotation import pool
from smotext.audit.stats import attack_summary, rate_difference_interval
from smotext.errors import SmotextError
from smotext.reports.gate import Gate
from smotext.reports.policy import load_policy
from smotext.reports.release import rotation_splits, split_corpus
from smotext.synth.corpus import Corpus


def test_rotation_folds_hold_out_every_record_once_and_the_first_run_is_the_default_split():
    texts = [f"text {i}" for i in range(200)] + ["Text 7 ", "text 9"]  # copies of a text stay together
    labels = ["a"] * 120 + ["b"] * 80 + ["a", "a"]
    c = Corpus(texts, labels, True, "c.csv", "x")
    runs, test = rotation_splits(c, 4, 0.2, seed=3)
    held = [h.texts for _, h in runs]
    assert sum(map(len, held)) + len(test) == len(c)
    assert len({t for h in held for t in h} | set(test.texts)) == len(set(texts))  # each record in one fold
    for members, holdout in runs:
        assert not set(members.texts) & set(holdout.texts) and not set(members.texts) & set(test.texts)
        assert len(members) + len(holdout) + len(test) == len(c)
        assert abs(holdout.labels.count("a") / len(holdout) - 122 / 202) < 0.05  # stratified
    m, h, t = split_corpus(c, 0.8 / 4, 0.2, seed=3)
    assert (runs[0][0].texts, runs[0][1].texts, test.texts) == (m.texts, h.texts, t.texts)
    assert [x.texts for x, _ in rotation_splits(c, 4, 0.2, seed=3)[0]] == [x.texts for x, _ in runs]  # seeded
    with pytest.raises(SmotextError, match="at least 2 rotations"):
        rotation_splits(c, 1, 0.2)


def _run(rng, shift=0.0, n=60):
    """One rotation's audit result: attack scores, nearest-synthetic cosines and near-copy counts."""
    m, h = rng.normal(shift, 1, n), rng.normal(0, 1, n)
    s = attack_summary(m, h)
    metric = lambda key: Metric(s[key]["value"], "lower", "d", ci=tuple(s[key]["ci"]))
    return AuditResult(
        metrics={f"mia_synthetic_embedding.{k}": metric(k) for k in s}
        | {"reconstruction.dcr_share": Metric(0.5, "lower", "d", ci=(0.4, 0.6)),
           "reconstruction.near_verbatim.excess_rate": Metric(0.0, "lower", "d", ci=(-0.1, 0.1)),
           "reconstruction.longest_span.max": Metric(5.0, "lower", "d")},
        plugins={"mia_synthetic_embedding": {"status": "ok"}, "reconstruction": {"status": "ok"}},
        arrays={"mia_synthetic_embedding": {"member_scores": m, "nonmember_scores": h},
                "reconstruction": {"member_nn": m, "nonmember_nn": h, "near_verbatim_counts": np.array([3.0, 1.0, 50.0])}},
        inputs={"evaluated": {"members": n, "nonmembers": n}})


def test_pooling_scores_the_attacks_over_every_run_and_keeps_the_released_runs_own_values():
    rng = np.random.default_rng(0)
    runs = [_run(rng, 0.4) for _ in range(3)]
    first_auc = runs[0].metrics["mia_synthetic_embedding.auc"].value
    expected = attack_summary(np.concatenate([r.arrays["mia_synthetic_embedding"]["member_scores"] for r in runs]),
                              np.concatenate([r.arrays["mia_synthetic_embedding"]["nonmember_scores"] for r in runs]))
    info = pool(runs[0], runs[1:], rng, 50)
    got = runs[0].metrics["mia_synthetic_embedding.auc"]
    assert got.value == pytest.approx(expected["auc"]["value"]) and got.ci == pytest.approx(tuple(expected["auc"]["ci"]))
    assert "pooled over 3 rotations" in got.description
    # the pooled interval is narrower than one run's: three times the records
    assert got.ci[1] - got.ci[0] < 0.75 * (np.diff(runs[1].metrics["mia_synthetic_embedding.auc"].ci)[0])
    assert runs[0].metrics["reconstruction.near_verbatim.excess_rate"].value == pytest.approx(6 / 150)
    assert runs[0].metrics["reconstruction.near_verbatim.excess_rate"].ci == pytest.approx(rate_difference_interval(9, 3, 150))
    assert runs[0].metrics["reconstruction.longest_span.max"].value == 5.0  # not a pooled metric: the first run's
    assert info["rotations"] == 3 and info["nonmembers"] == 180 and info["members"] == 180
    assert info["released_run"]["mia_synthetic_embedding.auc"]["value"] == first_auc
    assert "reconstruction.longest_span.max" not in info["pooled_metrics"]
    assert {"mia_synthetic_embedding.tpr_at_fpr_0.01", "reconstruction.dcr_share"} <= set(info["pooled_metrics"])


def test_an_attack_missing_from_a_rotation_fails_rather_than_resting_on_fewer_runs():
    rng = np.random.default_rng(1)
    runs = [_run(rng) for _ in range(3)]
    del runs[2].arrays["mia_synthetic_embedding"]
    runs[2].plugins["mia_synthetic_embedding"] = {"status": "failed", "error": "boom"}
    info = pool(runs[0], runs[1:], rng, 20)
    entry = runs[0].plugins["mia_synthetic_embedding"]
    assert entry["status"] == "failed" and "rotation(s) [3]" in entry["error"] and "boom" in entry["error"]
    assert not [k for k in runs[0].metrics if k.startswith("mia_synthetic_embedding.")]
    assert "reconstruction.dcr_share" in info["pooled_metrics"]
    assert Gate("default").decide(runs[0]).verdict == "BLOCK"  # a failed plug-in blocks


RULE = """  - name: r1
    metric: mia_synthetic_embedding.tpr_at_fpr_0.01
    comparison: "<="
    threshold: 0.05
    severity: block
    bound: ci_upper
    rationale: test
"""


def test_the_gate_counts_the_pooled_holdout_and_an_undecided_single_run_names_rotations(tmp_path):
    (tmp_path / "p.yaml").write_text("name: x\nrules:\n" + RULE)
    policy = load_policy(tmp_path / "p.yaml")
    results = {"metrics": {"mia_synthetic_embedding.tpr_at_fpr_0.01": {"value": 0.03, "ci": [0.01, 0.07]}},
               "plugins": {}, "inputs": {"evaluated": {"members": 300, "nonmembers": 300}}}
    single = Gate(policy).decide(results).outcomes[0]
    assert single.status == "undecided" and "(now 300;" in single.reason and "--rotations k" in single.reason
    results["run"] = {"rotation": {"rotations": 5, "nonmembers": 1500,
                                   "pooled_metrics": ["mia_synthetic_embedding.tpr_at_fpr_0.01"]}}
    pooled = Gate(policy).decide(results).outcomes[0]
    assert pooled.status == "undecided" and "(now 1500;" in pooled.reason and "pooled over 5 rotations" in pooled.reason
    assert pooled.holdout_needed == 5 * single.holdout_needed
    # results.json is untrusted: a rotation entry of the wrong shape is ignored, never trusted or crashed on
    results["run"] = {"rotation": {"rotations": "5", "nonmembers": -3, "pooled_metrics": [7, None]}}
    assert "(now 300;" in Gate(policy).decide(results).outcomes[0].reason


@pytest.fixture(scope="module")
def small_corpus(tmp_path_factory):
    from smotext.synth.demo_corpus import demo_corpus_path

    path = tmp_path_factory.mktemp("rotation") / "corpus.csv"
    pd.read_csv(demo_corpus_path()).sample(300, random_state=5).to_csv(path, index=False)
    return path


def test_a_rotated_release_pools_every_fold_and_says_so_in_the_report(small_corpus, tmp_path):
    """`copy` through three rotations: each of the 240 records outside the test split is scored as a
    non-member once, the copying is measured on the pooled scores, and the report says what was pooled."""
    from smotext.cli import main
    from smotext.pipeline import release

    lines = []
    run = release(small_corpus, tmp_path / "run", generator="copy", rotations=3, say=lines.append,
                  plugins=["mia_synthetic_embedding", "reconstruction"])
    said = [re.fullmatch(r"rotation ([23]) of 3: generating from (\d+) members, (\d+) held out", line) for line in lines]
    assert run.verdict == "BLOCK" and len(said) == 2 and all(said) and [m[1] for m in said] == ["2", "3"]
    assert all(int(m[2]) + int(m[3]) == 240 for m in said)  # 300 texts less 60 for the test split
    first = len(pd.read_csv(run.private / "holdout.csv"))  # the release is the first run's
    assert first + sum(int(m[3]) for m in said) == 240 and 70 <= first <= 90
    rotation = run.results["run"]["rotation"]
    assert rotation["rotations"] == 3 and rotation["nonmembers"] == 240
    assert {"mia_synthetic_embedding.auc", "reconstruction.dcr_share"} <= set(rotation["pooled_metrics"])
    assert run.results["plugins"]["mia_synthetic_embedding"]["details"]["pooled"]["nonmembers"] == 240
    auc = run.results["metrics"]["mia_synthetic_embedding.auc"]
    assert auc["value"] > 0.95 and "pooled over 3 rotations" in auc["description"]
    outcome = next(o for o in run.decision.outcomes if o.metric == "mia_synthetic_embedding.auc")
    assert outcome.status == "fail" and "measured" in outcome.reason
    html = run.report.read_text()
    assert "Rotated holdout: 3 generations" in html and "240 records were non-members once" in html
    saved = json.loads((tmp_path / "run" / "results.json").read_text())
    assert saved["run"]["rotation"]["pooled_metrics"] == rotation["pooled_metrics"]
    with pytest.raises(SmotextError, match="rotations"):
        release(small_corpus, tmp_path / "r2", generator="copy", rotations=21)
    assert main(["release", "--corpus", str(small_corpus), "--out", str(tmp_path / "r3"), "--generator", "copy",
                 "--rotations", "0", "--quiet"]) == 2
    assert not (tmp_path / "r2").exists() and not (tmp_path / "r3").exists()
