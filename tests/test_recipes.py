"""The default bridge's recipes: data file reading, the settings sweep's variants and the fidelity
benchmark's record of bridges compared (no models)."""

import json
from pathlib import Path

import pytest

from recipes.bridge_data import CRITIC_GENRES, GENRES, clean, heldout_texts, prompts, read_texts
from recipes.bridge_sweep import BASE, parse_vary, variants
from smotext.errors import SmotextError


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


def test_prompt_streams_are_seeded_per_mix_and_the_general_one_is_unchanged():
    take = lambda seed, mix="general": [p for _, (_, _, p) in zip(range(50), prompts(seed, mix))]
    general, critic = take(0), take(0, "critic")
    assert take(0) == general and take(0, "critic") == critic and take(1, "critic") != critic
    # The general stream must not move: runs/bridge-data.jsonl resumes from its position.
    assert general[0] == "Write a weather report about a mobile app crash, two sentences long. Reply with the text only."
    assert all(any(g in p for g in GENRES) and " about " in p for p in general)
    assert all(any(g in p for g in CRITIC_GENRES) for p in critic)
    assert {w for p in critic for w in ("praising", "panning", "mixed feelings") if w in p} == {"praising", "panning", "mixed feelings"}
    with pytest.raises(SmotextError, match="unknown mix"):
        next(prompts(0, "poetry"))


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


def _fidelity_run(sha: str, in_domain: float) -> dict:
    scores = {"cosine_n1": in_domain - 0.1, "cosine_n4": in_domain}
    return {"date": "2026-11-22", "bridge": f"runs/{sha}", "bridge_sha256": sha, "bridge_steps": 10,
            "bridge_training_texts": 100, "best_of": 4, "in_domain": dict(scores), "rotten_tomatoes": dict(scores),
            "interpolation": {"label_kept": 0.5}}


def test_fidelity_results_keep_one_line_per_earlier_bridge_and_decoding(monkeypatch):
    monkeypatch.syspath_prepend(str(Path(__file__).resolve().parent.parent / "benchmarks"))
    from bridge_fidelity import headline, history, render

    first, second = _fidelity_run("aaa", 0.4), _fidelity_run("bbb", 0.5)
    assert history(None, first) == []
    second["history"] = history(first, second)
    assert [h["bridge_sha256"] for h in second["history"]] == ["aaa"]
    rerun = _fidelity_run("bbb", 0.55)
    assert history(second, rerun) == second["history"]  # a rerun of the same bridge replaces its own line
    third = _fidelity_run("ccc", 0.6)
    assert [h["bridge_sha256"] for h in history(second, third)] == ["aaa", "bbb"]
    searched = dict(_fidelity_run("bbb", 0.58), segment_tokens=5)  # same bridge, another decoding: both kept
    assert [h["bridge_sha256"] for h in history(second, searched)] == ["aaa", "bbb"]
    assert headline(second)["in_domain"] == {"cosine_n1": 0.4, "cosine_n4": 0.5}
    second.update(seconds=1.0, machine="m", command="c", notes="", interpolation={
        **{k: 0.1 for k in ("pairs", "cosine_to_target", "cosine_to_parent_a", "cosine_to_parent_b",
                            "cosine_to_nearer_parent", "label_kept_by_target_vector")}, "label_kept": 0.5, "examples": []})
    for key in ("in_domain", "rotten_tomatoes"):
        second[key].update({"texts": 1, "share_at_0.3_n1": 1, "share_at_0.3_n4": 1, "exact_rate_n1": 0,
                            "exact_rate_n4": 0, "random_pair_cosine": 0.1, "examples": []})
    table = render(second).split("## Runs compared")[1]
    assert "| aaa | 10 | 100 | sampling whole texts | 0.300 / 0.400 |" in table
    assert "| bbb | 10 | 100 | sampling whole texts | 0.400 / 0.500 |" in table
    searched.update({k: second[k] for k in ("seconds", "machine", "command", "notes", "interpolation")},
                    history=history(second, searched))
    for key in ("in_domain", "rotten_tomatoes"):
        searched[key] = {**second[key], **searched[key]}
    assert "| bbb | 10 | 100 | segment search, 5 tokens a step | 0.480 / 0.580 |" in render(searched)
