"""Bad input through the CLI, table-driven: every case exits 2 with one `smotext: error:` line and no
traceback, loads no model, and leaves the test's folder exactly as it was (no file created,
changed or removed; inputs intact)."""

import copy
import hashlib
import json
import os
from pathlib import Path

import pandas as pd
import pytest

from smotext.cli import main
from smotext.outputs import write_marker
from smotext.synth.demo_corpus import build

from test_policy_gate import RULE, hostile_results


class ModelLoaded(AssertionError):
    """Bad input must be refused before any model loads."""


@pytest.fixture(autouse=True)
def no_models(monkeypatch):
    def refuse(*args, **kwargs):
        raise ModelLoaded("a model was loaded for bad input")

    import smotext.synth.smotext  # noqa: F401  imported first: it must not bind the refusing loader for later tests

    monkeypatch.setattr("smotext.synth.encoder.load_sentence_transformer", refuse)
    monkeypatch.setattr("smotext.synth.models.load_lm", refuse)
    monkeypatch.setattr("smotext.synth.smotext.load_lm", refuse)


def snapshot(root: Path) -> dict[str, str]:
    """Every path under ``root`` with its content hash ("dir" for folders)."""
    out = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for d in dirnames:
            out[os.path.relpath(os.path.join(dirpath, d), root)] = "dir"
        for f in filenames:
            p = os.path.join(dirpath, f)
            out[os.path.relpath(p, root)] = hashlib.sha256(Path(p).read_bytes()).hexdigest()
    return out


def sha256_of(path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def results_with(**changes) -> dict:
    data = hostile_results()
    for path, value in changes.items():
        node = data
        keys = path.split("/")
        for k in keys[:-1]:
            node = node[k]
        node[keys[-1]] = value
    return data


@pytest.fixture
def ws(tmp_path, monkeypatch):
    """A folder of good and bad inputs; the command runs inside it."""
    monkeypatch.chdir(tmp_path)
    rows = [(t, label) for t, label in build(seed=1) if label in ("billing", "symptom")][:40]
    pd.DataFrame(rows, columns=["text", "label"]).to_csv("corpus.csv", index=False)
    pd.DataFrame(rows[:20], columns=["text", "label"]).to_csv("members.csv", index=False)
    pd.DataFrame(rows[20:], columns=["text", "label"]).to_csv("holdout.csv", index=False)
    pd.DataFrame([(f"a synthetic {label} note number {i}", label) for i, (_, label) in enumerate(rows[:10])],
                 columns=["text", "label"]).to_csv("synthetic.csv", index=False)
    # the same texts under both labels: whatever the split, members and holdout share records
    dup = [(t, lab) for t, _ in rows[:12] for lab in ("billing", "symptom")]
    pd.DataFrame(dup, columns=["text", "label"]).to_csv("dup_corpus.csv", index=False)
    Path("mixed_labels.jsonl").write_text('{"text": "one two three", "label": 1}\n{"text": "four five six", "label": "1"}\n')
    Path("null_text.jsonl").write_text('{"text": "one two three", "label": "a"}\n{"text": null, "label": "a"}\n')
    Path("stuff").mkdir()
    Path("stuff/notes.txt").write_text("not a smotext run")
    Path("trainset").mkdir()
    pd.DataFrame(rows, columns=["text", "label"]).to_csv("trainset/texts.csv", index=False)

    good = "name: x\nrules:\n" + RULE
    policies = {
        "good.yaml": good,
        "dup_rules.yaml": good + "rules:\n" + RULE.replace("0.6", "0.99"),
        "dup_threshold.yaml": good.replace("threshold: 0.6", "threshold: 0.01\n    threshold: 0.99"),
        "bool_threshold.yaml": good.replace("0.6", "true"),
        "str_threshold.yaml": good.replace("0.6", '"0.1"'),
        "tag.yaml": good.replace("0.6", "!!float 0.6"),
        "alias.yaml": good.replace("rationale: because", "rationale: &why because"),
        "nan_threshold.yaml": good.replace("0.6", ".nan"),
    }
    for name, text in policies.items():
        Path(name).write_text(text)

    Path("run1").mkdir()
    Path("run1/results.json").write_text(json.dumps(hostile_results()))
    Path("run1/synthetic.csv").write_text(Path("synthetic.csv").read_text())
    metric = "metrics/mia_synthetic_embedding.auc"
    bad_results = {
        "null_metric": results_with(**{metric: None}),
        "string_metric": results_with(**{f"{metric}/value": "0.1"}),
        "bool_metric": results_with(**{f"{metric}/value": True}),
        "bare_metric": results_with(**{metric: 0.5}),
        "short_ci": results_with(**{f"{metric}/ci": [0.4]}),
        "plugins_list": results_with(plugins=["pii"]),
        "bad_direction": results_with(**{f"{metric}/safer": "sideways"}),
    }
    for name, data in bad_results.items():
        Path(name).mkdir()
        Path(name, "results.json").write_text(json.dumps(data))
    Path("nan_metric").mkdir()
    Path("nan_metric/results.json").write_text(json.dumps(hostile_results()).replace('"value": 0.5', '"value": NaN', 1))
    Path("not_json").mkdir()
    Path("not_json/results.json").write_text("{'format': ")

    # an earlier run smotext made (its marker), whose release/ holds a file and a policy
    Path("run1m/release").mkdir(parents=True)
    write_marker("run1m", "release")
    Path("run1m/release/synthetic.csv").write_text(Path("synthetic.csv").read_text())
    Path("run1m/release/good.yaml").write_text(good)
    Path("run1m/results.json").write_text(json.dumps(results_with(**{"inputs/synthetic/sha256": sha256_of("synthetic.csv")})))
    Path("link_run").mkdir()
    write_marker("link_run", "release")
    Path("link_run/results.json").write_text(Path("run1m/results.json").read_text())
    Path("elsewhere").mkdir()
    os.symlink(Path("elsewhere").resolve(), "link_run/release")
    Path("proj").mkdir()
    Path("proj/results.json").write_text("{}")
    Path("proj/thesis.tex").write_text("chapter one")
    Path("notes.txt").write_text("my notes")
    out_of_range = {
        "auc_minus_5": results_with(**{f"{metric}/value": -5, f"{metric}/ci": [-6, -4]}),
        "auc_99": results_with(**{f"{metric}/value": 99, f"{metric}/ci": [0.4, 0.6]}),
        "outside_own_ci": results_with(**{f"{metric}/value": 0.9, f"{metric}/ci": [0.4, 0.6]}),
        "hist_wrong_shape": results_with(**{"plugins/reconstruction/details/nearest_synthetic_cosine/members": [1, 2, 3]}),
        "hist_strings": results_with(**{"plugins/reconstruction/details/nearest_synthetic_cosine/members": "abc"}),
        "roc_ragged": results_with(**{"plugins/mia_synthetic_embedding/details/roc": {"fpr": [0, 1], "tpr": [0]}}),
        "details_a_list": results_with(**{"plugins/overview/details": [1, 2]}),
        "samples_numbers": results_with(**{"plugins/overview/details/samples": {"a": [1, 2]}}),
        "nonwords_bad": results_with(**{"plugins/overview/details/nonwords": {"synthetic_top": [["zq", "x"]]}}),
        "unknown_metric": results_with(**{"metrics/made_up.metric": {"value": 0.5, "safer": "lower", "description": "x"}}),
    }
    for name, data in out_of_range.items():
        Path(name).mkdir()
        Path(name, "results.json").write_text(json.dumps(data))
    Path("deep_json").mkdir()
    Path("deep_json/results.json").write_text("[" * 100_000 + "]" * 100_000)
    Path("deep.yaml").write_text("name: x\nrules: " + "[" * 100_000 + "]" * 100_000 + "\n")
    Path("zero_allowlist.yaml").write_text("name: x\npii:\n  allowlist: /dev/zero\nrules:\n" + RULE)
    pd.DataFrame({"text": ["word"] * 300, "label": ["a", "b"] * 150}).to_csv("copies.csv", index=False)
    Path("float_labels.jsonl").write_text('{"text": "one two three", "label": 1}\n{"text": "four five six", "label": 1.0}\n')

    Path("bridge_run/checkpoint").mkdir(parents=True)
    Path("bridge_run/checkpoint/state.json").write_text('{"step": 3, "bridge_config": ')
    Path("bridge_run/checkpoint/state.safetensors").write_bytes(b"\x00" * 16)
    return tmp_path


GEN = ["generate", "corpus.csv", "--out", "syn.csv"]
REL = ["release", "--corpus", "corpus.csv", "--out", "run2"]
AUD = ["audit", "--members", "members.csv", "--holdout", "holdout.csv", "--synthetic", "synthetic.csv", "--out", "aud"]
FIT = ["fit-decoder", "trainset/texts.csv", "--out", "bridge2", "--steps", "2"]

CASES = {
    # outputs over inputs
    "generate out is the corpus": (["generate", "corpus.csv", "--out", "corpus.csv"], "is the input corpus"),
    "generate provenance is the corpus": (GEN + ["--provenance", "corpus.csv"], "is the input corpus"),
    "generate manifest is the corpus": (GEN + ["--manifest", "corpus.csv"], "is the input corpus"),
    "generate out and manifest the same": (GEN + ["--manifest", "syn.csv"], "are the same path"),
    "generate out under a file": (["generate", "corpus.csv", "--out", "corpus.csv/x/syn.csv"], "is a file, so nothing"),
    "generate out is a folder": (["generate", "corpus.csv", "--out", "stuff"], "can't tell the format"),
    "generate provenance is a folder": (GEN + ["--provenance", "stuff"], "is a folder; it must be a file"),
    "release corpus inside its own out": (["release", "--corpus", "run1/synthetic.csv", "--out", "run1"],
                                          "contains the input corpus"),
    "release out is a file": (["release", "--corpus", "corpus.csv", "--out", "corpus.csv"], "is the input corpus"),
    "release out is someone's folder": (["release", "--corpus", "corpus.csv", "--out", "stuff"], "holds files smotext did not write (notes.txt)"),
    "release out under a file": (["release", "--corpus", "corpus.csv", "--out", "synthetic.csv/run"], "is a file, so nothing"),
    "release policy inside out": (["release", "--corpus", "corpus.csv", "--out", ".", "--policy", "good.yaml"],
                                  "contains the input"),
    "report over its results": (["report", "--results", "run1/results.json", "--out", "run1/results.json"],
                                "is the input results"),
    "fit-decoder out is a file": (["fit-decoder", "trainset/texts.csv", "--out", "corpus.csv"], "is a file; it must be a folder"),
    "fit-decoder out holds the corpus": (["fit-decoder", "trainset/texts.csv", "--out", "trainset"], "contains the input corpus"),
    "audit out under a file": (AUD[:-1] + ["corpus.csv"], "is a file, so nothing"),
    # policies that must not load
    "gate policy with rules twice": (["gate", "--results", "run1", "--policy", "dup_rules.yaml"], "key 'rules' appears twice"),
    "gate rule with threshold twice": (["gate", "--results", "run1", "--policy", "dup_threshold.yaml"], "key 'threshold' appears twice"),
    "gate threshold true": (["gate", "--results", "run1", "--policy", "bool_threshold.yaml"], "threshold: Input should be a valid number"),
    "gate threshold a string": (["gate", "--results", "run1", "--policy", "str_threshold.yaml"], "threshold: Input should be a valid number"),
    "gate threshold NaN": (["gate", "--results", "run1", "--policy", "nan_threshold.yaml"], "threshold must be a finite number"),
    "gate policy with a tag": (["gate", "--results", "run1", "--policy", "tag.yaml"], "YAML tags are not allowed"),
    "gate policy with an anchor": (["gate", "--results", "run1", "--policy", "alias.yaml"], "YAML anchors are not allowed"),
    "gate unknown policy name": (["gate", "--results", "run1", "--policy", "lenient"], "no shipped policy has that name"),
    "release policy with rules twice": (REL + ["--policy", "dup_rules.yaml"], "appears twice"),
    # results.json that must not be gated
    "gate null metric": (["gate", "--results", "null_metric"], "metrics.mia_synthetic_embedding.auc"),
    "gate string metric value": (["gate", "--results", "string_metric"], "mia_synthetic_embedding.auc.value"),
    "gate boolean metric value": (["gate", "--results", "bool_metric"], "mia_synthetic_embedding.auc.value"),
    "gate bare-number metric": (["gate", "--results", "bare_metric"], "metrics.mia_synthetic_embedding.auc"),
    "gate one-ended interval": (["gate", "--results", "short_ci"], "two finite numbers"),
    "gate plugins a list": (["gate", "--results", "plugins_list"], "plugins"),
    "gate unknown direction": (["gate", "--results", "bad_direction"], "safer"),
    "gate NaN in the JSON": (["gate", "--results", "nan_metric"], "NaN is not JSON"),
    "gate results not JSON": (["gate", "--results", "not_json"], "not valid JSON"),
    "report results not JSON": (["report", "--results", "not_json"], "not valid JSON"),
    "gate release file missing": (["gate", "--results", "run1", "--release-file", "missing.csv"], "release file missing.csv: no such file"),
    # numbers: finite and in range, checked up front
    "beta NaN": (GEN + ["--beta", "nan"], "--beta must be a finite number > 0"),
    "beta infinite": (GEN + ["--beta", "inf"], "--beta must be a finite number > 0"),
    "dirichlet alpha NaN": (GEN + ["--dirichlet-alpha", "nan"], "--dirichlet-alpha must be a finite number"),
    "lambda range reversed": (GEN + ["--lambda-range", "0.8", "0.2"], "--lambda-range must be two numbers"),
    "lambda range NaN": (GEN + ["--lambda-range", "nan", "0.5"], "--lambda-range must be two numbers"),
    "min fidelity NaN": (GEN + ["--min-fidelity", "nan"], "--min-fidelity must be a finite number"),
    "max real cosine above 1": (GEN + ["--max-real-cosine", "2"], "--max-real-cosine must be a finite number"),
    "k neighbors 0": (GEN + ["--k-neighbors", "0"], "--k-neighbors must be an int >= 1"),
    "num candidates 0": (GEN + ["--num-candidates", "0"], "--num-candidates must be an int >= 1"),
    "max rounds 0": (GEN + ["--max-rounds", "0"], "--max-rounds must be an int >= 1"),
    "n 0": (GEN + ["--n", "0"], "an int >= 1"),
    "n beyond memory": (GEN + ["--n", str(10**13)], "planning them needs about"),
    "counts not an object": (GEN + ["--counts", "[1]"], "JSON object"),
    "counts unknown class": (GEN + ["--counts", '{"nope": 3}'], "unknown class"),
    "ngram 0": (GEN + ["--ngram", "0"], "ngram must be an int >= 1"),
    "holdout fraction NaN": (REL + ["--holdout-fraction", "nan"], "--holdout-fraction must be a number between 0 and 1"),
    "fractions leave no members": (REL + ["--holdout-fraction", "0.7", "--test-fraction", "0.4"], "leave room for members"),
    "release bootstrap 0": (REL + ["--bootstrap", "0"], "--bootstrap must be an int >= 1"),
    "one canary": (REL + ["--canaries", "1"], "--canaries must be 0 or an int >= 2, got 1"),
    "negative canary secret": (REL + ["--canaries", "20", "--canary-secret", "-3"], "--canary-secret must be an int >= 0"),
    "audit bootstrap 0": (AUD + ["--bootstrap", "0"], "--bootstrap must be an int >= 1"),
    "audit test fraction NaN": (AUD + ["--holdout-test-fraction", "nan"], "--holdout-test-fraction must be a finite number"),
    "fit-decoder lr infinite": (FIT + ["--lr", "inf"], "lr must be a finite number > 0"),
    "fit-decoder lr NaN": (FIT + ["--lr", "nan"], "lr must be a finite number > 0"),
    "fit-decoder noise negative": (FIT + ["--noise-std", "-1"], "--noise-std must be a finite number >= 0"),
    "fit-decoder epsilon NaN": (FIT + ["--dp", "--target-epsilon", "nan"], "--target-epsilon must be a finite number > 0"),
    "fit-decoder max grad norm infinite": (FIT + ["--dp", "--target-epsilon", "3", "--max-grad-norm", "inf"],
                                           "--max-grad-norm must be a finite number > 0"),
    # records
    "audit members are the holdout": (["audit", "--members", "members.csv", "--holdout", "members.csv", "--synthetic",
                                       "synthetic.csv", "--out", "aud"], "20 members text(s) also in holdout"),
    "release corpus with copies across classes": (["release", "--corpus", "dup_corpus.csv", "--out", "run2", "--k-neighbors", "2"],
                                                  "must be different records"),
    "labels 1 and \"1\"": (["generate", "mixed_labels.jsonl", "--out", "syn.csv"], "name the same class written two ways"),
    "null text": (["generate", "null_text.jsonl", "--out", "syn.csv"], "is empty (null), not text"),
    "audit unknown plug-in": (AUD + ["--attacks", "nope"], "unknown audit plug-in 'nope'"),
    "export a damaged checkpoint": (["export-bridge", "bridge_run"], "the checkpoint is damaged"),
    # ownership: only folders and files smotext made are replaced, and no output replaces an input
    "release over a folder with a results.json": (["release", "--corpus", "corpus.csv", "--out", "proj"],
                                                  "holds files smotext did not write (results.json, thesis.tex)"),
    "gate release file inside its own release/": (["gate", "--results", "run1m", "--release-file",
                                                   "run1m/release/synthetic.csv"], "contains the input release file"),
    "gate policy inside the release/ it replaces": (["gate", "--results", "run1m", "--policy", "run1m/release/good.yaml"],
                                                    "contains the input policy"),
    "gate out is someone's folder": (["gate", "--results", "run1m", "--out", "stuff"], "holds files smotext did not write"),
    "gate in place in a folder without a marker": (["gate", "--results", "run1"], "holds files smotext did not write"),
    "gate release/ is a link": (["gate", "--results", "link_run"], "is a symbolic link"),
    "report over a file smotext did not write": (["report", "--results", "run1m", "--out", "notes.txt"],
                                                 "is a file smotext did not write"),
    "generate over a file it did not write": (["generate", "corpus.csv", "--out", "synthetic.csv"],
                                              "is not the output of an earlier smotext generate"),
    "fit-decoder into someone's folder": (FIT[:3] + ["stuff"] + FIT[4:], "holds files smotext did not write (notes.txt)"),
    "release out name too long": (["release", "--corpus", "corpus.csv", "--out", "r" * 300], "this file system allows"),
    "generate out stem too long": (["generate", "corpus.csv", "--out", "s" * 250 + ".csv"], "this file system allows"),
    # fail closed: the gate releases only what was audited, and only results in range
    "gate releases a file it never audited": (["gate", "--results", "run1m", "--out", "g", "--release-file", "members.csv"],
                                              "is not what the audit read"),
    "gate AUC of -5": (["gate", "--results", "auc_minus_5"], "is outside the metric's range [0, 1]"),
    "gate AUC of 99": (["gate", "--results", "auc_99"], "99 is outside the metric's range [0, 1]"),
    "gate value outside its own interval": (["gate", "--results", "outside_own_ci"], "outside its own interval"),
    "gate unknown metric": (["gate", "--results", "unknown_metric"], "no installed audit plug-in produces"),
    "gate histogram of the wrong length": (["gate", "--results", "hist_wrong_shape"], "one count per bin"),
    "gate histogram of text": (["gate", "--results", "hist_strings"], "nearest_synthetic_cosine.members"),
    "gate ragged ROC": (["gate", "--results", "roc_ragged"], "fpr and tpr must be lists of the same length"),
    "gate details a list": (["gate", "--results", "details_a_list"], "overview.details: must be an object"),
    "report samples of numbers": (["report", "--results", "samples_numbers"], "must be a list of texts"),
    "report non-words without counts": (["report", "--results", "nonwords_bad"], "must be a list of [word, count] pairs"),
    # bounded: devices, depth, budgets, clusters, copies
    "gate results from /dev/zero": (["gate", "--results", "/dev/zero"], "not a regular file"),
    "gate policy from /dev/zero": (["gate", "--results", "run1m", "--policy", "/dev/zero"], "not a regular file"),
    "gate allowlist from /dev/zero": (["gate", "--results", "run1m", "--policy", "zero_allowlist.yaml"], "not a regular file"),
    "gate results nested 100,000 deep": (["gate", "--results", "deep_json"], "nested more than 64 levels"),
    "gate policy nested 100,000 deep": (["gate", "--results", "run1m", "--policy", "deep.yaml"], "nested more than 64 levels"),
    "dp epsilon 1e9": (GEN + ["--dp", "--target-epsilon", "1e9"], "<= 100"),
    "fit-decoder epsilon 1e9": (FIT + ["--dp", "--target-epsilon", "1e9"], "<= 100"),
    "ray address that does not answer": (GEN + ["--engine", "ray", "--ray-address", "127.0.0.1:1"], "no Ray cluster answers"),
    "more ray workers than cores": (GEN + ["--engine", "ray", "--workers", "1000"], "--workers must be at most"),
    "a corpus of copies": (["release", "--corpus", "copies.csv", "--out", "run3"], "only 1 distinct text(s) among 300 rows"),
    "labels 1 and 1.0": (["generate", "float_labels.jsonl", "--out", "syn.csv"], "name the same class written two ways"),
}


@pytest.mark.parametrize("name", list(CASES))
def test_bad_input_exits_2_with_one_line_and_touches_nothing(ws, capsys, name):
    args, message = CASES[name]
    before = snapshot(ws)
    code = main(copy.copy(args))
    out, err = capsys.readouterr()
    lines = [line for line in err.splitlines() if line.strip()]
    assert code == 2, (code, out, err)
    assert len(lines) == 1 and lines[0].startswith("smotext: error: ") and "Traceback" not in err, err
    assert message in lines[0], lines[0]
    assert snapshot(ws) == before  # nothing created, changed or removed: inputs intact


def test_there_are_at_least_40_cases():
    assert len(CASES) >= 40
