"""Reading labelled text corpora (CSV, JSONL, Parquet) and writing datasets atomically."""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from smotext.errors import SmotextError
from smotext.outputs import json_safe
from smotext.text import same_text_key

FORMATS = ("csv", "jsonl", "parquet")
UNLABELLED = "_all_"  # the single class of a corpus read without labels


@dataclass(frozen=True)
class Corpus:
    """Texts and their labels as read from a file; ``labelled`` is False for one-class corpora."""

    texts: list[str]
    labels: list[str]
    labelled: bool
    source: str
    sha256: str

    def __len__(self) -> int:
        return len(self.texts)

    @classmethod
    def from_texts(cls, texts, labels=None, source: str = "<python>") -> "Corpus":
        """A corpus from Python lists (``labels=None``: one class); its sha256 covers texts and labels."""
        texts = [str(t) for t in texts]
        labelled = labels is not None
        labels = [str(v) for v in labels] if labelled else [UNLABELLED] * len(texts)
        if len(labels) != len(texts):
            raise SmotextError(f"{len(texts)} texts but {len(labels)} labels")
        digest = hashlib.sha256(json.dumps([texts, labels], ensure_ascii=False).encode("utf-8")).hexdigest()
        return cls(texts, labels, labelled, source, digest)


def overlap_counts(sets: dict[str, list[str]]) -> dict[str, int]:
    """For each pair of named text lists, how many records of the first have a copy in the second."""
    keys = {name: [same_text_key(t) for t in texts] for name, texts in sets.items()}
    names = list(sets)
    out = {}
    for i, a in enumerate(names):
        for b in names[i + 1:]:
            other = set(keys[b])
            out[f"{a}/{b}"] = sum(k in other for k in keys[a])
    return out


def format_of(path: str | os.PathLike, fmt: str | None = None) -> str:
    """The table format named by ``fmt`` or by the file's extension."""
    if fmt:
        if fmt not in FORMATS:
            raise SmotextError(f"unknown format {fmt!r}; use one of {', '.join(FORMATS)}")
        return fmt
    suffix = Path(path).suffix.lower().lstrip(".")
    aliases = {"csv": "csv", "tsv": "csv", "jsonl": "jsonl", "ndjson": "jsonl", "json": "jsonl", "parquet": "parquet", "pq": "parquet"}
    if suffix not in aliases:
        raise SmotextError(f"{path}: can't tell the format from the extension {suffix!r}; use .csv, .jsonl or .parquet")
    return aliases[suffix]


def file_sha256(path: str | os.PathLike, chunk: int = 1 << 20) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            h.update(block)
    return h.hexdigest()


def _read_frame(path: Path, fmt: str) -> pd.DataFrame:
    try:
        if fmt == "csv":
            sep = "\t" if path.suffix.lower() == ".tsv" else ","
            # dtype=str and no NA parsing: a text "NA" or "123" is still text.
            return pd.read_csv(path, sep=sep, dtype=str, keep_default_na=False, encoding="utf-8")
        if fmt == "jsonl":
            return _read_jsonl(path)
        return pd.read_parquet(path)
    except UnicodeDecodeError as e:
        raise SmotextError(f"{path}: not valid UTF-8 (byte {e.start}); re-save the file as UTF-8") from None
    except pd.errors.EmptyDataError:
        raise SmotextError(f"{path}: the file is empty") from None
    except (ValueError, pd.errors.ParserError, OSError) as e:
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise SmotextError(f"{path}: can't read it as {fmt}: {first}") from None
    except Exception as e:  # pyarrow raises its own types for a corrupt parquet file
        raise SmotextError(f"{path}: can't read it as {fmt}: {type(e).__name__}: {e}") from None


def _read_jsonl(path: Path) -> pd.DataFrame:
    """JSON Lines with every value as written: 1 stays the int 1 and 1.0 the float 1.0 (pandas'
    reader would turn a column of both into floats, and the labels 1, 2 into '1.0', '2.0')."""
    from smotext.outputs import load_user_json

    records = []
    with open(path, encoding="utf-8") as f:
        for i, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                rec = load_user_json(line, f"line {i}")  # depth-checked, no NaN
            except SmotextError as e:
                raise ValueError(str(e)) from None
            if not isinstance(rec, dict):
                raise ValueError(f"line {i}: not a JSON object")
            records.append(rec)
    if not records:
        raise pd.errors.EmptyDataError("no records")
    return pd.DataFrame(records, dtype=object)


def _label_key(v):
    """Labels that name one class when compared by value: 1, 1.0 and "1" all key to 1.0."""
    if isinstance(v, bool):
        return ("bool", v)
    if isinstance(v, (int, float)):
        return ("number", float(v))
    try:
        return ("number", float(str(v).strip()))
    except ValueError:
        return ("text", str(v))


def read_corpus(
    path: str | os.PathLike,
    text_col: str = "text",
    label_col: str | None = "label",
    *,
    require_label: bool = False,
    fmt: str | None = None,
) -> Corpus:
    """Read a corpus; without a label column (or with ``label_col=None``) all texts form one class.

    Raises SmotextError naming the problem: missing file or column, empty corpus,
    non-text values, unreadable encoding.
    """
    p = Path(path)
    if not p.exists():
        raise SmotextError(f"{p}: no such file")
    if not p.is_file():
        raise SmotextError(f"{p}: not a file")
    fmt = format_of(p, fmt)
    return corpus_from_frame(_read_frame(p, fmt), text_col, label_col, require_label=require_label, source=str(p),
                             sha256=file_sha256(p))


def corpus_from_frame(frame: pd.DataFrame, text_col: str = "text", label_col: str | None = "label", *,
                      require_label: bool = False, source: str = "<DataFrame>", sha256: str | None = None) -> Corpus:
    """A Corpus from a pandas DataFrame, checked as a file's rows are (``read_corpus``); ``sha256``
    defaults to a digest of the texts and labels."""
    p = source
    if not isinstance(frame, pd.DataFrame):
        raise SmotextError(f"a corpus must be a file path, a Corpus or a pandas DataFrame, got {type(frame).__name__}")
    if text_col not in frame.columns:
        cols = ", ".join(map(str, frame.columns)) or "none"
        raise SmotextError(f"{p}: no text column {text_col!r} (columns: {cols}); choose one with text_col", params="text_col")
    if len(frame) == 0:
        raise SmotextError(f"{p}: the corpus has no rows")

    texts = frame[text_col].tolist()
    for i, t in enumerate(texts):
        if t is None or (isinstance(t, float) and t != t):  # JSON null arrives as None or NaN
            raise SmotextError(f"{p}: row {i + 1}: {text_col!r} is empty (null), not text")
        if not isinstance(t, str):
            raise SmotextError(f"{p}: row {i + 1}: {text_col!r} holds a {type(t).__name__} ({t!r:.40}), not text")
    blank = [i + 1 for i, t in enumerate(texts) if not t.strip()]
    if blank:
        raise SmotextError(f"{p}: {len(blank)} empty text(s) in {text_col!r}, first at row {blank[0]}; remove them")

    if label_col is not None and label_col in frame.columns:
        raw = frame[label_col].tolist()
        bad = [i + 1 for i, v in enumerate(raw) if v is None or (isinstance(v, float) and v != v) or str(v).strip() == ""]
        if bad:
            raise SmotextError(f"{p}: {len(bad)} missing label(s) in {label_col!r}, first at row {bad[0]}")
        if any(isinstance(v, (list, dict)) for v in raw):
            raise SmotextError(f"{p}: labels in {label_col!r} must be single values, not lists or objects")
        labels, labelled = [str(v) for v in raw], True  # kept as written: 1 is the class '1', 2.0 the class '2.0'
        kinds: dict[tuple, tuple] = {}
        for v, s in zip(raw, labels):  # 1, 1.0 and "1" would merge (or split) one class depending on the reader
            first = kinds.setdefault(_label_key(v), (v, s))
            if first[1] != s or type(first[0]) is not type(v):
                raise SmotextError(f"{p}: labels {first[0]!r} ({type(first[0]).__name__}) and {v!r} ({type(v).__name__}) "
                                   f"in {label_col!r} name the same class written two ways; write them the same way")
    elif label_col is not None and require_label:
        cols = ", ".join(map(str, frame.columns))
        raise SmotextError(f"{p}: no label column {label_col!r} (columns: {cols}); choose one with label_col", params="label_col")
    else:
        labels, labelled = [UNLABELLED] * len(texts), False
    if sha256 is None:
        sha256 = hashlib.sha256(json.dumps([texts, labels], ensure_ascii=False).encode("utf-8")).hexdigest()
    return Corpus(texts=texts, labels=labels, labelled=labelled, source=source, sha256=sha256)


def write_table(frame: pd.DataFrame, path: str | os.PathLike, fmt: str | None = None) -> Path:
    """Write a table in CSV/JSONL/Parquet; the file appears whole or not at all, never through a link."""
    from smotext.outputs import atomic_files

    p = Path(path)
    fmt = format_of(p, fmt)
    with atomic_files(p) as (tmp,):
        if fmt == "csv":
            frame.to_csv(tmp, index=False, encoding="utf-8")
        elif fmt == "jsonl":
            with open(tmp, "w", encoding="utf-8") as f:
                for rec in frame.to_dict(orient="records"):
                    f.write(json.dumps(rec, ensure_ascii=False, default=_json_default) + "\n")
        else:
            frame.to_parquet(tmp, index=False)
    return p


def write_json(obj, path: str | os.PathLike) -> Path:
    """Write strict JSON atomically (indented, UTF-8; non-finite floats as ``json_safe`` says)."""
    from smotext.outputs import write_text_atomic

    return write_text_atomic(path, json_text(obj))


def json_text(obj) -> str:
    """``obj`` as strict JSON text (indented, UTF-8; non-finite floats as ``json_safe`` says)."""
    return json.dumps(json_safe(obj), indent=2, ensure_ascii=False, default=_json_default, allow_nan=False) + "\n"


def _json_default(o):
    import numpy as np

    if isinstance(o, np.integer):
        return int(o)
    if isinstance(o, np.floating):
        return float(o)
    if isinstance(o, np.ndarray):
        return o.tolist()
    if isinstance(o, Path):
        return str(o)
    raise TypeError(f"not JSON serialisable: {type(o).__name__}")
