import json

import pandas as pd
import pytest

from smotext.synth.corpus import UNLABELLED, read_corpus, write_table
from smotext.errors import SmotextError

ROWS = [("first note about billing", "billing"), ("second note about a rash", "symptom"), ("third one", "billing")]


@pytest.fixture(params=["csv", "jsonl", "parquet"])
def corpus_file(request, tmp_path):
    frame = pd.DataFrame(ROWS, columns=["body", "topic"])
    return write_table(frame, tmp_path / f"c.{request.param}")


def test_reads_every_format_with_named_columns(corpus_file):
    c = read_corpus(corpus_file, text_col="body", label_col="topic", require_label=True)
    assert c.texts == [t for t, _ in ROWS]
    assert c.labels == [label for _, label in ROWS]
    assert c.labelled and len(c.sha256) == 64


def test_unlabelled_corpus_is_one_class(corpus_file):
    c = read_corpus(corpus_file, text_col="body", label_col="label")
    assert not c.labelled and set(c.labels) == {UNLABELLED}


def test_numbers_and_na_in_csv_stay_text(tmp_path):
    p = tmp_path / "c.csv"
    p.write_text("text,label\nNA,1\n12345,2\n", encoding="utf-8")
    c = read_corpus(p)
    assert c.texts == ["NA", "12345"] and c.labels == ["1", "2"]


@pytest.mark.parametrize(
    "content, kwargs, message",
    [
        (None, {}, "no such file"),
        ("text,label\n", {}, "no rows"),
        ("", {}, "empty"),
        ("body,label\nhello,a\n", {}, "no text column 'text'"),
        ("text,label\nhello,a\n", {"label_col": "topic", "require_label": True}, "no label column 'topic'"),
        ("text,label\nhello,a\n  ,b\n", {}, "empty text"),
        ("text,label\nhello,a\nworld,\n", {}, "missing label"),
    ],
)
def test_bad_csv_inputs_name_the_problem(tmp_path, content, kwargs, message):
    p = tmp_path / "c.csv"
    if content is not None:
        p.write_text(content, encoding="utf-8")
    with pytest.raises(SmotextError, match=message):
        read_corpus(p, **kwargs)


def test_non_text_values_are_refused(tmp_path):
    p = tmp_path / "c.jsonl"
    p.write_text(json.dumps({"text": "fine", "label": "a"}) + "\n" + json.dumps({"text": 42, "label": "a"}) + "\n")
    with pytest.raises(SmotextError, match="row 2.*int"):
        read_corpus(p)


def test_unreadable_encoding_is_refused(tmp_path):
    p = tmp_path / "c.csv"
    p.write_bytes("text,label\ncaf\xe9 au lait,a\n".encode("latin-1"))
    with pytest.raises(SmotextError, match="UTF-8"):
        read_corpus(p)


def test_unknown_extension_is_refused(tmp_path):
    p = tmp_path / "c.xlsx"
    p.write_text("x")
    with pytest.raises(SmotextError, match="extension"):
        read_corpus(p)


def test_write_table_leaves_no_partial_file(tmp_path):
    class Boom:
        def to_csv(self, *a, **k):
            raise RuntimeError("disk full")

    with pytest.raises(RuntimeError):
        write_table(Boom(), tmp_path / "out.csv")
    assert list(tmp_path.iterdir()) == []
