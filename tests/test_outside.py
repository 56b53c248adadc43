"""Auditing a generator smotext did not write: `prepare` plants canaries into the training file an
outside generator receives, `audit --prepared` / `release --prepared` score what it wrote, and
`release(generator=...)` runs the whole job for any generator plug-in. A generator that copies its
training file must be caught (bound >= 2 with 200 canaries, BLOCK); one that never saw it must not
be (bound < 1); no canary text, secret or coin may reach a public file."""

import json
import re
import shutil

import pandas as pd
import pytest

from smotext.errors import SmotextError

from conftest import OUTSIDE_SECRET as SECRET  # the `prepared` fixture's


def canaries_of(folder):
    data = json.loads((folder / "private" / "canaries.json").read_text())
    return data["canaries"], data["secret"]


def secrets_in(folder, exclude=("private",)):
    """Every public file under ``folder`` (private/ left out) as text."""
    texts = {}
    for f in folder.rglob("*"):
        if f.is_file() and not any(part in exclude for part in f.relative_to(folder).parts):
            texts[str(f.relative_to(folder))] = f.read_bytes().decode("utf-8", errors="replace")
    return texts


def assert_no_canary_leaks(folder, canaries, secret, exclude=("private",)):
    for name, text in secrets_in(folder, exclude).items():
        assert str(secret) not in text, (name, "the canary secret")
        assert not re.search(r'"added"\s*:\s*(true|false)', text), (name, "a canary's coin")
        for c in canaries:
            for value in (c["text"], c["secret"], *c["pii"].values()):
                assert value not in text, (name, value)


def test_prepare_writes_a_training_file_that_hides_which_rows_are_canaries(prepared, corpus):
    canaries, secret = canaries_of(prepared)
    train = pd.read_csv(prepared / "train.csv")
    members = pd.read_csv(prepared / "private" / "members.csv")
    added = [c for c in canaries if c["added"]]
    assert list(train.columns) == ["text", "label"] and len(train) == len(members) + len(added)
    assert sorted(train["text"]) == sorted(members["text"].tolist() + [c["text"] for c in added])
    first_canary = min(train["text"].tolist().index(c["text"]) for c in added)
    assert first_canary < len(members), "canaries must be shuffled in, not appended"
    assert not ({c["text"] for c in canaries if not c["added"]} & set(train["text"]))
    for split in ("holdout", "test"):  # what the generator never sees
        assert not set(pd.read_csv(prepared / "private" / f"{split}.csv")["text"]) & set(train["text"])
    assert_no_canary_leaks(prepared, canaries, secret, exclude=("private", "train.csv"))  # train.csv: the generator's
    assert (prepared / "private").stat().st_mode & 0o077 == 0, "private/ is owner-only"


def test_a_generator_that_copies_its_training_file_is_caught_and_blocked(prepared, tmp_path):
    from smotext.pipeline import release

    copy = tmp_path / "copy.csv"
    shutil.copy(prepared / "train.csv", copy)
    run = release(prepared=prepared, synthetic=copy, out=tmp_path / "run", claimed_epsilon=1.0)
    canary = run.results["plugins"]["canary"]["details"]
    assert canary["epsilon_lower_bound"] >= 2, canary
    assert run.verdict == "BLOCK" and run.exit_code == 1
    # blocked on measured evidence (copies, membership, the refuted claim), not on a missing metric
    assert {"dcr-share-near-half", "dp-claim-survives-canaries"} <= set(run.decision.deciding)
    assert not run.decision.problems
    held = run.results["generation"]["outputs_held_back"]
    assert held >= sum(c["added"] for c in canaries_of(prepared)[0])  # every copied canary kept out of synthetic.csv
    assert "outside generator (file copy.csv" in (run.out / "report.html").read_text()
    assert_no_canary_leaks(run.out, *canaries_of(prepared))


def test_a_generator_that_never_saw_the_training_file_bounds_nothing(prepared, tmp_path):
    """Real records it never saw (the test split) as its 'synthetic' texts: no canary can echo."""
    from smotext.pipeline import audit_files

    never = tmp_path / "never.csv"
    shutil.copy(prepared / "private" / "test.csv", never)
    result = audit_files(prepared=prepared, synthetic=never, out=tmp_path / "audit",
                         plugins=("generation_privacy", "decoder_privacy", "canary"))
    canary = result.plugins["canary"]["details"]
    assert canary["epsilon_lower_bound"] < 1 and canary["secret_replay"] == 0
    assert canary["max_provable_epsilon"] >= 2  # the same canaries could have shown a leak
    assert result.plugins["generation_privacy"]["details"]["mode"] == "non-dp"
    from smotext.synth.corpus import file_sha256

    assert result.to_json()["generation"]["generator"] == {"name": "outside", "outside": True, "file": "never.csv",
                                                           "sha256": file_sha256(never)}
    assert_no_canary_leaks(tmp_path / "audit", *canaries_of(prepared))


def test_a_changed_training_file_or_a_mixed_up_call_is_refused(prepared, tmp_path, corpus):
    from smotext.pipeline import audit_files, release

    bad = tmp_path / "prepared"
    shutil.copytree(prepared, bad)
    with open(bad / "train.csv", "a") as f:
        f.write("one more text,appointment\n")
    with pytest.raises(SmotextError, match="changed since `smotext prepare`"):
        audit_files(prepared=bad, synthetic=bad / "train.csv")
    with pytest.raises(SmotextError, match="either a `corpus` or a `prepared`"):
        release(corpus, tmp_path / "r", prepared=prepared, synthetic=corpus)
    with pytest.raises(SmotextError, match="`members` comes from the prepared folder"):
        audit_files(members=corpus, prepared=prepared, synthetic=corpus)
    with pytest.raises(SmotextError, match="not a folder `smotext prepare` made"):
        audit_files(prepared=tmp_path, synthetic=corpus)
    with pytest.raises(SmotextError, match="inside the prepared folder"):
        audit_files(prepared=prepared, synthetic=corpus, out=prepared / "audit")
    with pytest.raises(SmotextError, match="inside the prepared folder"):
        release(prepared=prepared, synthetic=corpus, out=prepared / "run")
    assert not (prepared / "audit").exists() and not (prepared / "run").exists()


def test_repeated_canaries_go_into_the_training_file_as_often_as_asked(corpus, lm, tmp_path):
    from smotext.pipeline import audit_files, prepare

    run = prepare(corpus, tmp_path / "p", canaries=6, canary_secret=SECRET, canary_repeats=3, lm=lm)
    canaries, _ = canaries_of(tmp_path / "p")
    train = pd.read_csv(tmp_path / "p" / "train.csv")["text"].tolist()
    assert json.loads((tmp_path / "p" / "private" / "canaries.json").read_text())["repeats"] == 3
    assert all(train.count(c["text"]) == (3 if c["added"] else 0) for c in canaries)
    assert run.rows == len(train)
    result = audit_files(prepared=tmp_path / "p", synthetic=tmp_path / "p" / "train.csv", plugins=("canary",))
    assert result.plugins["canary"]["details"]["repeats"] == 3
    assert result.plugins["canary"]["details"]["per_attack"]["fragments"]["group"] == 3


def test_release_runs_any_generator_plugin_and_holds_back_canary_children(corpus, tmp_path):
    """`copy` through the whole job (split, canaries, generation, hold-back, audit, gate): blocked,
    and its copies of the added canaries never reach synthetic.csv."""
    from smotext.cli import main

    code = main(["release", "--corpus", str(corpus), "--out", str(tmp_path / "run"), "--generator", "copy",
                 "--canaries", "8", "--canary-secret", "771_604_338_127".replace("_", ""), "--quiet"])
    assert code == 1
    results = json.loads((tmp_path / "run" / "results.json").read_text())
    assert results["generation"]["generator"]["name"] == "copy"
    canaries, secret = canaries_of(tmp_path / "run")
    released = pd.read_csv(tmp_path / "run" / "synthetic.csv")["text"]
    members = pd.read_csv(tmp_path / "run" / "private" / "members.csv")["text"]
    assert sorted(released) == sorted(members)  # the members' copies, and nothing of a canary
    assert results["generation"]["outputs_held_back"] == sum(c["added"] for c in canaries)
    assert_no_canary_leaks(tmp_path / "run", canaries, secret)
    with pytest.raises(SmotextError, match="unknown generator 'nope'; valid generators: .*copy"):
        from smotext.pipeline import release

        release(corpus, tmp_path / "r2", generator="nope")
