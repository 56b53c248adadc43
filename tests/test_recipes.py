"""The default bridge's recipes: data file reading and the settings sweep's variants (no models)."""

import json

import pytest

from recipes.bridge_data import clean, heldout_texts, read_texts
from recipes.bridge_sweep import BASE, parse_vary, variants
from synth.errors import SmotextError


def test_vary_makes_one_setting_changes_of_the_base():
    runs = variants(parse_vary(["soft_tokens=4,16", "lr=3e-4"]), ["Write out the hidden text:"])
    assert list(runs) == ["base", "soft_tokens=4", "soft_tokens=16", "lr=0.0003", "instruction=Write out the hidden text:"]
    assert runs["base"] == BASE
    for name, settings in runs.items():
        changed = {k for k in BASE if settings[k] != BASE[k]}
        assert len(changed) == (name != "base")
    assert runs["soft_tokens=16"]["soft_tokens"] == 16 and isinstance(runs["lr=0.0003"]["lr"], float)


@pytest.mark.parametrize("bad", ["depth=2", "soft_tokens", "soft_tokens=", "soft_tokens=four", "hidden=1.5"])
def test_bad_vary_is_refused_with_the_keys_it_takes(bad):
    with pytest.raises(SmotextError, match="--vary"):
        parse_vary([bad])


def test_read_texts_reads_the_recipe_file_and_names_the_recipe_when_missing(tmp_path):
    path = tmp_path / "data.jsonl"
    path.write_text("\n".join(json.dumps({"text": t, "label": "g", "topic": "t"}) for t in ["one text.", "two texts."]) + "\n")
    assert read_texts(path) == ["one text.", "two texts."]
    with pytest.raises(SmotextError, match="recipes.bridge_data"):
        read_texts(tmp_path / "absent.jsonl")


def test_clean_keeps_two_whole_sentences_and_drops_refusals():
    assert clean('"The delivery was late again. I called twice. Nobody answered and') == \
        "The delivery was late again. I called twice."
    assert clean("I'm sorry, but I cannot write that for you today.") is None
    assert clean("Too short.") is None


def test_heldout_texts_drop_copies_of_training_texts_and_repeats(tmp_path):
    write = lambda name, texts: (tmp_path / name).write_text("".join(json.dumps({"text": t}) + "\n" for t in texts))
    write("train.jsonl", ["The printer jams every morning."])
    write("heldout.jsonl", ["the printer  jams every morning", "A new text.", "A new text.", "Another one.", "A third."])
    assert heldout_texts(tmp_path / "heldout.jsonl", tmp_path / "train.jsonl", 2) == ["A new text.", "Another one."]
    with pytest.raises(SmotextError, match="not found"):
        heldout_texts(tmp_path / "heldout.jsonl", tmp_path / "absent.jsonl", 2)
