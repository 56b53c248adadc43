"""The `smotext` command: bad input gives one line, exit 2 and no files; a real run is reproducible."""

import json

import pandas as pd
import pytest
from conftest import write_corpus

from smotext.cli import main
from smotext.synth.demo_corpus import build
from smotext.synth.smotext import default_bridge_path


@pytest.fixture
def good_corpus(tmp_path):
    rows = [(t, label) for t, label in build(seed=1) if label in ("billing", "symptom")]
    return write_corpus(tmp_path / "corpus.csv", rows)


def run_cli(args, capsys):
    code = main([str(a) for a in args])
    out, err = capsys.readouterr()
    return code, out, err


def _error_case(tmp_path, name):
    """(args, expected message) for each bad input; every case writes into tmp_path/out only."""
    out = tmp_path / "out" / "syn.csv"
    corpus = tmp_path / "corpus.csv"
    rows = [(f"billing question number {i} about my invoice", "billing") for i in range(10)] + [
        (f"symptom report {i}: a cough and fever", "symptom") for i in range(3)
    ]
    if name == "missing file":
        return ["generate", tmp_path / "nope.csv", "--out", out], "no such file"
    if name == "missing text column":
        write_corpus(corpus, rows, cols=("body", "label"))
        return ["generate", corpus, "--out", out], "no text column 'text'"
    if name == "missing label column":
        write_corpus(corpus, rows)
        return ["generate", corpus, "--out", out, "--label-col", "topic"], "no label column 'topic'"
    if name == "empty corpus":
        corpus.write_text("text,label\n")
        return ["generate", corpus, "--out", out], "no rows"
    if name == "small class":
        write_corpus(corpus, rows)
        return ["generate", corpus, "--out", out, "--k-neighbors", "3"], "class 'symptom' has 3 text(s) but k_neighbors=3 needs at least 4: lower --k-neighbors"
    if name == "non-text":
        (tmp_path / "c.jsonl").write_text('{"text": "fine", "label": "a"}\n{"text": null, "label": "a"}\n')
        return ["generate", tmp_path / "c.jsonl", "--out", out], "row 2"
    if name == "bad encoding":
        corpus.write_bytes("text,label\nna\xefve,a\n".encode("latin-1"))
        return ["generate", corpus, "--out", out], "not valid UTF-8"
    if name == "encoder not a model":
        write_corpus(corpus, rows)
        (tmp_path / "empty_dir").mkdir()
        return ["generate", corpus, "--out", out, "--n", "2", "--k-neighbors", "2", "--encoder", tmp_path / "empty_dir"], \
            "not a sentence-transformers model"
    if name == "lm not a model":
        write_corpus(corpus, rows)
        (tmp_path / "lm_dir").mkdir()
        (tmp_path / "lm_dir" / "config.json").write_text("{}")
        return ["generate", corpus, "--out", out, "--n", "2", "--k-neighbors", "2", "--lm", tmp_path / "lm_dir"], \
            "can't load it as a causal LM"
    if name == "bridge not a bridge":
        write_corpus(corpus, rows)
        return ["generate", corpus, "--out", out, "--n", "2", "--k-neighbors", "2", "--bridge", tmp_path], \
            "expected bridge.json and bridge.safetensors"
    if name == "bad output extension":
        write_corpus(corpus, rows)
        return ["generate", corpus, "--out", tmp_path / "out" / "syn.xlsx"], "extension"
    if name == "two strategies":
        write_corpus(corpus, rows)
        return ["generate", corpus, "--out", out, "--n", "5", "--strategy", "all", "--k-neighbors", "2"], "only one of"
    if name == "unknown filter":
        write_corpus(corpus, rows)
        return ["generate", corpus, "--out", out, "--n", "2", "--k-neighbors", "2", "--filters", "dedupe,spellcheck"], "unknown filter"
    if name == "prepare: one canary":
        write_corpus(corpus, rows)
        return ["prepare", "--corpus", corpus, "--out", tmp_path / "out" / "p", "--canaries", "1"], "--canaries must be 0 or"
    if name == "audit: prepared is not a prepared folder":
        write_corpus(corpus, rows)
        return ["audit", "--prepared", tmp_path, "--synthetic", corpus, "--out", tmp_path / "out" / "a"], \
            "not a folder `smotext prepare` made"
    if name == "release: unknown generator":
        write_corpus(corpus, rows)
        return ["release", "--corpus", corpus, "--out", tmp_path / "out" / "r", "--generator", "nope"], \
            "unknown generator 'nope'"
    if name == "release: a claim without a prepared folder":
        write_corpus(corpus, rows)
        return ["release", "--corpus", corpus, "--out", tmp_path / "out" / "r", "--generator", "eda",
                "--claimed-epsilon", "2"], "--synthetic and --claimed-epsilon go with --prepared"
    raise AssertionError(name)


CASES = ["missing file", "missing text column", "missing label column", "empty corpus", "small class", "non-text",
         "bad encoding", "encoder not a model", "lm not a model", "bridge not a bridge", "bad output extension",
         "two strategies", "unknown filter", "prepare: one canary", "audit: prepared is not a prepared folder",
         "release: unknown generator", "release: a claim without a prepared folder"]


@pytest.mark.parametrize("name", CASES)
def test_bad_input_is_one_line_exit_2_and_writes_nothing(tmp_path, capsys, name):
    args, message = _error_case(tmp_path, name)
    code, out, err = run_cli(args, capsys)
    assert code == 2
    lines = [line for line in err.splitlines() if line.startswith("smotext:")]
    assert len(lines) == 1 and message in lines[0], err
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())


def test_argument_errors_exit_2(capsys):
    with pytest.raises(SystemExit) as e:
        main(["generate"])
    assert e.value.code == 2
    assert "smotext: error:" in capsys.readouterr().err


def test_fit_decoder_bad_settings_exit_2(tmp_path, capsys, good_corpus):
    code, _, err = run_cli(["fit-decoder", good_corpus, "--out", tmp_path / "b", "--steps", "0"], capsys)
    assert code == 2 and "steps must be an int >= 1" in err
    assert not (tmp_path / "b").exists()


needs_default_bridge = pytest.mark.skipif(
    not (default_bridge_path() / "bridge.json").exists(), reason="no default bridge installed"
)


@needs_default_bridge
def test_generate_20_from_200_texts_is_reproducible(tmp_path, capsys, good_corpus):
    """The issue's check: a 200-text 2-class corpus, 20 outputs, CPU; the same seed gives the same file."""
    rows = [(t, label) for seed in (1, 3, 5) for t, label in build(seed) if label in ("billing", "symptom")]
    corpus = pd.DataFrame(rows, columns=["text", "label"]).drop_duplicates("text").head(200)
    assert len(corpus) == 200 and corpus.label.nunique() == 2
    corpus.to_csv(good_corpus, index=False)
    outs = []
    for run in ("a", "b"):
        out = tmp_path / run / "syn.jsonl"
        code, stdout, err = run_cli(["generate", good_corpus, "--out", out, "--n", "20", "--seed", "3",
                                     "--max-new-tokens", "24", "--quiet"], capsys)
        assert code == 0, err
        outs.append(out)
    first = outs[0].read_text()
    assert first == outs[1].read_text()
    rows = [json.loads(line) for line in first.splitlines()]
    manifest = json.loads((tmp_path / "a" / "syn.manifest.json").read_text())
    assert len(rows) == sum(manifest["made"].values())
    assert set(r["label"] for r in rows) <= {"billing", "symptom"}
    per_class = corpus.label.value_counts()
    assert manifest["requested"] == {c: round(20 * per_class[c] / 200) for c in ("billing", "symptom")}
    assert manifest["seed"] == 3 and manifest["models"]["lm"]["sha256"]
    real = set(corpus.text)
    assert not real & {r["text"] for r in rows}  # the privacy filter keeps verbatim copies out
    prov = [json.loads(line) for line in (tmp_path / "a" / "syn.provenance.jsonl").read_text().splitlines()]
    assert len(prov) == len(rows)
    for p, r in zip(prov, rows):
        assert p["text"] == r["text"] and len(p["parents"]) == 2
        assert {corpus.label.iloc[i] for i in p["parents"]} == {r["label"]}
        assert 0.2 <= p["weights"][0] <= 0.8
    assert "text" in rows[0] and "parents" not in rows[0]  # provenance stays out of the release


def test_demo_fills_in_its_budget_topic_and_size_and_leaves_the_rest_to_release(monkeypatch):
    import smotext.pipeline as pipeline
    from smotext.cli import main
    from smotext.synth.demo_corpus import DEMO_EPSILON, DEMO_SYNTHETIC, DEMO_TOPIC, demo_corpus_path

    seen = {}

    def fake_release(corpus, out, **options):
        seen.update(options, corpus=corpus, out=out)
        raise KeyboardInterrupt  # stop before any work

    monkeypatch.setattr(pipeline, "release", fake_release)
    assert main(["demo", "--out", "d", "--dp", "--canaries", "200"]) == 130
    dp, sampler = seen["sampler"].dp, seen["sampler"]
    assert seen["corpus"] == str(demo_corpus_path()) and sampler.sampling_strategy == DEMO_SYNTHETIC
    assert (dp.target_epsilon, dp.topic, seen["canary_topic"], seen["canaries"]) == (DEMO_EPSILON, DEMO_TOPIC, DEMO_TOPIC, 200)
    assert main(["demo", "--out", "d", "--adapt-voice", "--n", "30"]) == 130
    assert seen["voice"].epsilon == DEMO_EPSILON and seen["sampler"].sampling_strategy == 30 and seen["sampler"].dp is None
