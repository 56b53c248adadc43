"""Engines: the same generation in this process and on Ray workers, a worker that dies, a resumed run."""

import sys

import numpy as np
import pytest

from smotext.engine import RAY_INSTALL, Engine, ShardStore
from smotext.synth.shards import FAIL_ONCE_ENV
from smotext.errors import SmotextError
from smotext.synth.demo_corpus import build
from smotext.synth.smotext import SMOTExT

ROWS = build(seed=3)[:60]
TEXTS = [t for t, _ in ROWS]
LABELS = [label for _, label in ROWS]


def generation(encoder, lm, engine=None, **options):
    """A small run with the shipped bridge (a tiny test bridge writes texts the degenerate filter drops)."""
    return SMOTExT(sampling_strategy=10, random_state=2, encoder=encoder, lm=lm, max_new_tokens=8, batch_size=2,
                   filters=["degenerate", "dedupe"], engine=engine, **options)


def outputs(s: SMOTExT) -> tuple[list, list, list]:
    """What a run released and from which parents (exact), and its fidelity scores to 5 decimals: the
    texts are re-embedded in another process, whose float sums may differ in the last digit."""
    fidelity = [Approx(v) for v in s.provenance_["fidelity"].tolist()]
    return s.synthetic_["text"].tolist(), s.provenance_["parents"].tolist(), fidelity


class Approx(float):
    def __eq__(self, other) -> bool:
        return abs(float(self) - float(other)) < 1e-5

    __hash__ = float.__hash__


def test_ray_without_ray_installed_says_how_to_install_it(monkeypatch):
    monkeypatch.setitem(sys.modules, "ray", None)  # import ray now fails as if it were not installed
    with pytest.raises(SmotextError, match=RAY_INSTALL.replace("[", r"\[").replace("]", r"\]")):
        Engine("ray").check()
    with pytest.raises(SmotextError, match="--engine ray"):
        SMOTExT(engine="ray").fit_resample(TEXTS, LABELS)
    for bad in ({"workers": 2}, {"threads": 2}):
        with pytest.raises(SmotextError, match="apply to --engine ray"):
            Engine("local", **bad).check()
    with pytest.raises(SmotextError, match="threads must be an int >= 1"):
        Engine("local", threads=0).check()


def test_cli_engine_ray_without_ray_is_one_line_exit_2_and_writes_nothing(tmp_path, capsys, monkeypatch):
    from smotext.cli import main
    from smotext.synth.corpus import write_table

    import pandas as pd

    monkeypatch.setitem(sys.modules, "ray", None)
    write_table(pd.DataFrame({"text": TEXTS, "label": LABELS}), tmp_path / "corpus.csv", "csv")
    code = main(["generate", str(tmp_path / "corpus.csv"), "--out", str(tmp_path / "out" / "syn.csv"), "--engine", "ray"])
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if line.startswith("smotext:")]
    assert code == 2 and len(lines) == 1 and "needs Ray" in lines[0] and RAY_INSTALL in lines[0], err
    assert not (tmp_path / "out").exists()


def test_a_resumed_run_reads_back_the_shards_it_finished_and_gives_the_same_output(encoder, lm, tmp_path, monkeypatch):
    import smotext.synth.shards as engine_module

    local = Engine("local", shard_batches=1)
    whole = generation(encoder, lm, local)
    whole.fit_resample(TEXTS, LABELS)

    real = engine_module.decode_shard
    calls = []

    def interrupted(sampler, shard, seed):
        calls.append(shard.index)
        if len(calls) == 3:
            raise KeyboardInterrupt  # the run stops in its third shard
        return real(sampler, shard, seed)

    monkeypatch.setattr(engine_module, "decode_shard", interrupted)
    with pytest.raises(KeyboardInterrupt):
        generation(encoder, lm, local).fit_resample(TEXTS, LABELS, checkpoint=tmp_path / "shards")
    assert len(list((tmp_path / "shards").glob("*.json"))) == 2

    calls.clear()
    monkeypatch.setattr(engine_module, "decode_shard", lambda *a: calls.append(a[1].index) or real(*a))
    resumed = generation(encoder, lm, local)
    resumed.fit_resample(TEXTS, LABELS, checkpoint=tmp_path / "shards")
    assert outputs(resumed) == outputs(whole)
    assert calls[0] == 2  # the first round's two finished shards were read back, not decoded again
    # a damaged shard is decoded again rather than trusted
    store = ShardStore(tmp_path / "shards")
    key = sorted(p.stem for p in (tmp_path / "shards").glob("*.json"))[0]
    (tmp_path / "shards" / f"{key}.json").write_text("[\"only one\"]")
    assert store.get(key) is None


def test_the_same_bytes_in_process_and_on_two_ray_workers_even_when_one_dies(encoder, lm, tmp_path, monkeypatch):
    pytest.importorskip("ray", reason=f"the Ray engine's test needs Ray: {RAY_INSTALL}")
    for options in ({}, {"num_candidates": 3, "segment_tokens": 2}):
        local = generation(encoder, lm, Engine("local", shard_batches=1), **options)
        local.fit_resample(TEXTS, LABELS)
        marker = tmp_path / f"failed-{len(options)}"
        monkeypatch.setenv(FAIL_ONCE_ENV, f"2:{marker}")  # the worker that takes shard 2 dies once
        ray_run = generation(encoder, lm, Engine("ray", workers=2, shard_batches=1), **options)
        ray_run.fit_resample(TEXTS, LABELS)
        assert marker.exists()  # a worker did die, and its shard was run again
        assert outputs(ray_run) == outputs(local), options
        assert len(local.synthetic_) == 10
        assert np.isfinite(ray_run.provenance_["fidelity"]).all()
