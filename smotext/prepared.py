"""The prepared folder: a corpus split and seeded with canaries for a generator smotext did not write.

``smotext prepare`` writes it; the outside generator trains on ``train.csv`` alone (members and the
canaries whose secret coin came up 'added', shuffled, nothing marking a canary); ``audit --prepared``
and ``release --prepared`` read the rest back from ``private/`` (owner-only: the splits, the canaries
with their coins and secret). Every file here is read back as untrusted input.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from smotext.errors import SmotextError

TRAIN_FILE, PREPARED_FILE = "train.csv", "prepared.json"
PRIVATE, SETTINGS_FILE, CANARIES_FILE = "private", "prepare.json", "canaries.json"
SPLITS = ("members", "holdout", "test")
MARKER_KIND = "prepare"


@dataclass
class Prepared:
    """A prepared folder read back: the splits, the canary experiment (None without canaries), what
    the outside generator was given (``train_sha256``) and the settings ``prepare`` ran with."""

    folder: Path
    members: object
    holdout: object
    test: object
    canaries: list | None
    secret: int | None
    settings: dict
    train_sha256: str
    repeats: int = 1


def training_rows(members, canaries: list, secret: int, repeats: int = 1) -> tuple[list[str], list[str]]:
    """What the outside generator may train on: the members and the added canaries (each ``repeats``
    times), in an order shuffled by the secret (a canary's place must not tell it)."""
    from smotext.audit.canaries import plant

    texts, labels = plant(members.texts, members.labels, canaries, repeats)
    order = np.random.default_rng([secret, 0x5EED]).permutation(len(texts))
    return [texts[i] for i in order], [labels[i] for i in order]


def write_private_splits(work: Path, members, holdout, test) -> Path:
    """Make ``work``/private/ (owner-only) and write the three splits into it: the user's own data,
    kept for re-auditing, never released. Returns the folder."""
    import pandas as pd

    from smotext.synth.corpus import write_table

    private = work / PRIVATE
    private.mkdir(mode=0o700)
    for name, split in zip(SPLITS, (members, holdout, test)):
        write_table(pd.DataFrame({"text": split.texts, "label": split.labels}), private / f"{name}.csv")
    return private


def write_prepared(work: Path, members, holdout, test, canaries: list, secret: int | None, settings: dict,
                   topic: str | None, repeats: int = 1) -> dict:
    """Fill ``work`` (a folder smotext is building) with train.csv, prepared.json and private/."""
    import pandas as pd

    from smotext.audit.canaries import CanaryRun
    from smotext.synth.corpus import file_sha256, write_json, write_table

    private = write_private_splits(work, members, holdout, test)
    if canaries:
        texts, labels = training_rows(members, canaries, secret, repeats)
        write_json(CanaryRun(canaries, secret, [], topic=topic, repeats=repeats).private_json(), private / CANARIES_FILE)
    else:
        texts, labels = list(members.texts), list(members.labels)
    write_table(pd.DataFrame({"text": texts, "label": labels}), work / TRAIN_FILE)
    train_sha = file_sha256(work / TRAIN_FILE)
    write_json({**settings, "train_sha256": train_sha, "canaries": len(canaries)}, private / SETTINGS_FILE)
    public = {"smotext": "prepare", "train": {"file": TRAIN_FILE, "rows": len(texts), "sha256": train_sha},
              "columns": ["text", "label"], "classes": sorted(set(labels)),
              "next": "train your generator on train.csv only, write a CSV with text and label columns, then: "
                      "smotext audit --prepared THIS-FOLDER --synthetic YOURS.csv --out AUDIT"}
    write_json(public, work / PREPARED_FILE)
    return public


def _split(folder: Path, name: str):
    from smotext.synth.corpus import read_corpus

    path = folder / PRIVATE / f"{name}.csv"
    if not path.is_file() or path.is_symlink():
        raise SmotextError(f"prepared {folder}: {PRIVATE}/{name}.csv is missing; was the folder made by `smotext prepare`?",
                           params="prepared")
    return read_corpus(path, "text", "label", require_label=True)


def _canaries(folder: Path) -> tuple[list, int, int]:
    from smotext.audit.canaries import Canary
    from smotext.outputs import load_user_json, read_user_text

    path = folder / PRIVATE / CANARIES_FILE
    data = load_user_json(read_user_text(path, "canaries"), str(path))
    bad = SmotextError(f"prepared {folder}: {PRIVATE}/{CANARIES_FILE} is not what `smotext prepare` writes",
                       params="prepared")
    if not isinstance(data, dict) or not isinstance(data.get("secret"), int) or not isinstance(data.get("canaries"), list):
        raise bad
    out = []
    for row in data["canaries"]:
        if not isinstance(row, dict):
            raise bad
        fields = {k: row.get(k) for k in ("text", "label", "prefix", "secret", "added", "pii")}
        if not (all(isinstance(fields[k], str) for k in ("text", "label", "prefix", "secret"))
                and isinstance(fields["added"], bool) and isinstance(fields["pii"], dict)
                and all(isinstance(k, str) and isinstance(v, str) for k, v in fields["pii"].items())):
            raise bad
        out.append(Canary(**fields))
    repeats = data.get("repeats", 1)
    if len(out) < 2 or not isinstance(repeats, int) or isinstance(repeats, bool) or repeats < 1:
        raise bad
    return out, data["secret"], repeats


def check_prepared_folder(folder: str | os.PathLike) -> Path:
    """``folder`` if it is a real folder carrying ``prepare``'s marker; else one clear error."""
    from smotext.outputs import read_marker

    p = Path(folder)
    if p.is_symlink() or not p.is_dir():
        raise SmotextError(f"prepared {p}: not a folder (give the --out folder of `smotext prepare`)", params="prepared")
    marker = read_marker(p)
    if marker is None or marker.get("kind") != MARKER_KIND:
        raise SmotextError(f"prepared {p}: not a folder `smotext prepare` made (no prepare marker)", params="prepared")
    return p


def read_prepared(folder: str | os.PathLike) -> Prepared:
    """A folder ``smotext prepare`` wrote, read back and checked: its marker, the splits, the canaries
    and that train.csv is still what the generator was given."""
    from smotext.outputs import load_user_json, read_user_text
    from smotext.synth.corpus import file_sha256

    p = check_prepared_folder(folder)
    settings_path = p / PRIVATE / SETTINGS_FILE
    settings = load_user_json(read_user_text(settings_path, "prepare settings"), str(settings_path))
    if not isinstance(settings, dict) or not isinstance(settings.get("train_sha256"), str) \
            or not isinstance(settings.get("canaries"), int):
        raise SmotextError(f"prepared {p}: {PRIVATE}/{SETTINGS_FILE} is not what `smotext prepare` writes",
                           params="prepared")
    members, holdout, test = (_split(p, name) for name in SPLITS)
    canaries, secret, repeats = _canaries(p) if settings["canaries"] else (None, None, 1)
    train = p / TRAIN_FILE
    if train.is_file() and not train.is_symlink() and file_sha256(train) != settings["train_sha256"]:
        raise SmotextError(f"prepared {p}: {TRAIN_FILE} changed since `smotext prepare` wrote it; the audit would not "
                           "know what the generator saw. Prepare again", params="prepared")
    return Prepared(p, members, holdout, test, canaries, secret, settings, settings["train_sha256"], repeats)


def outside_manifest(generator: dict, claim: dict, members, made: list[str], held_back: int, seconds: float | None,
                     seed: int | None, encoder=None) -> dict:
    """The public manifest of a generator smotext did not write: which generator (a plug-in's name
    and settings, or an outside file and its sha256), the privacy it claims, the counts per class."""
    from smotext.synth.corpus import json_safe
    from smotext.synth.manifest import describe_corpus, versions

    privacy = {"mode": claim.get("mode", "non-dp"), "epsilon": claim.get("epsilon", math.inf),
               "delta": claim.get("delta"), "claimed": True}
    if privacy["mode"] != "dp":
        privacy = {"mode": "non-dp", "epsilon": math.inf, "claimed": True}
    models = {} if encoder is None else \
        {"encoder": {"name": encoder.name, "path": str(encoder.path), "sha256": encoder.fingerprint}}
    per_class = {c: made.count(c) for c in sorted(set(made))}
    return {"smotext": "generate", "generator": generator, "seed": seed, "mode": privacy["mode"],
            "privacy": json_safe(privacy), "corpus": describe_corpus(members), "models": models,
            "requested": {}, "made": per_class, "rounds": None, "outputs_held_back": held_back,
            "seconds": {"total": None if seconds is None else round(seconds, 2)}, "versions": versions()}
