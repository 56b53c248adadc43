"""DP generation by fine-tuning, end to end with the real encoder, LM and shipped bridge: the records
reach only DP-SGD and the Gaussian releases (label model; votes with 'adapted-evolution'), and the two
parts of the budget add up to the release's ε. DP-SGD runs 2 steps of expected batch 8 here: what it
learns is not measured (benchmarks/dp_generation.py)."""

import dataclasses
import json
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import smotext.synth.dp_finetune as ft
import smotext.synth.private_evolution as pe
from smotext.cli import main
from smotext.errors import SmotextError, SmotextWarning
from smotext.synth.budget import PrivacyBudget, compose
from smotext.synth.decoder import Decoder
from smotext.synth.demo_corpus import build
from smotext.synth.dp import epsilon_spent
from smotext.synth.encoder import Encoder
from smotext.synth.pe_privacy import DPGeneration
from smotext.synth.smotext import SMOTExT
from smotext.synth.train import BridgeTrainer

ROWS = build(seed=3)
TEXTS = [t for t, _ in ROWS]
LABELS = [label for _, label in ROWS]
TOPIC = "message a patient writes to their clinic"


def _generate(tmp: Path, method: str | None, *flags: str):
    """`smotext generate --dp --dp-method METHOD` (None: the default, 'auto') on the demo corpus, with spies on
    what the records reach."""
    corpus = tmp / "c.csv"
    corpus.write_text("text,label\n" + "".join(f'"{t}",{y}\n' for t, y in ROWS), encoding="utf-8")
    seen = {"embed": [], "decoded": [], "trained": [], "folders": [], "written": []}
    mp = pytest.MonkeyPatch()
    embed, decode, init, train = Encoder.embed, Decoder.decode, BridgeTrainer.__init__, BridgeTrainer.train

    def spy_embed(self, texts, progress=False):
        seen["embed"].append(list(texts))
        return embed(self, texts, progress)

    def spy_decode(self, vectors, **kw):
        seen["decoded"].append(np.array(vectors))
        return decode(self, vectors, **kw)

    def spy_init(self, lm, encoder_name, encoder_sha256, embeddings, texts, *a, **kw):
        seen["trained"].append((list(texts), np.array(embeddings)))
        return init(self, lm, encoder_name, encoder_sha256, embeddings, texts, *a, **kw)

    def spy_train(self, folder, progress=True):
        seen["folders"].append(Path(folder))
        return train(self, folder, progress)

    def spy_write(lm, prompts, *a, **kw):
        seen["written"].append(list(prompts))
        return write(lm, prompts, *a, **kw)

    write = pe.write_texts
    mp.setattr(pe, "write_texts", spy_write)
    mp.setattr(Encoder, "embed", spy_embed)
    mp.setattr(Decoder, "decode", spy_decode)
    mp.setattr(BridgeTrainer, "__init__", spy_init)
    mp.setattr(BridgeTrainer, "train", spy_train)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", SmotextWarning)
            code = main(["generate", str(corpus), "--out", str(tmp / "s.csv"), "--dp", "--target-epsilon", "4",
                         *(["--dp-method", method] if method else []), "--dp-steps", "2", "--dp-batch-size", "8", "--n", "6",
                         "--max-new-tokens", "24", "--dp-topic", TOPIC, "--quiet", *flags])  # the shipped bridge
    finally:
        mp.undo()
    assert code == 0
    manifest = json.loads((tmp / "s.manifest.json").read_text())
    provenance = [json.loads(line) for line in (tmp / "s.provenance.jsonl").read_text().splitlines()]
    return manifest, provenance, seen, tmp


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    return _generate(tmp_path_factory.mktemp("dp_finetune"), None)  # 'auto': DP-SGD's settings pick finetune


@pytest.fixture(scope="module")
def evolved(tmp_path_factory):
    """'adapted-evolution': 4 candidates a class sampled from the adapted decoder, one voting round."""
    return _generate(tmp_path_factory.mktemp("dp_adapted_evolution"), "adapted-evolution", "--population", "4",
                     "--iterations", "1")


def test_records_reach_only_dp_sgd_and_the_label_model(run):
    manifest, provenance, seen, tmp = run
    prompts = manifest["privacy"]["class_prompts"]
    assert prompts == [ft.class_prompt(c, TOPIC) for c in sorted(set(LABELS))] and all(TOPIC in p for p in prompts)
    # DP-SGD read every record from its class's prompt vector, never from its own embedding
    (trained, vectors), = seen["trained"]
    assert trained == TEXTS
    assert len(np.unique(vectors.round(6), axis=0)) == len(prompts)
    # every vector the decoder got is one of those prompt vectors
    decoded = np.concatenate(seen["decoded"])
    gap = np.abs(decoded[:, None, :] - np.unique(vectors, axis=0)[None]).max(axis=2).min(axis=1)
    assert len(decoded) >= 6 and gap.max() < 1e-6
    # the real texts were embedded once, for the label model's centroids, besides the prompts
    assert sum(1 for texts in seen["embed"] if set(texts) & set(TEXTS)) == 1
    assert len(provenance) == 6 and all(r["parents"] == [] for r in provenance)
    assert {r["prompted_label"] for r in provenance} <= set(LABELS) and {r["label"] for r in provenance} <= set(LABELS)
    assert seen["written"] == []  # the LM wrote nothing from a prompt of its own


def test_adapted_evolution_votes_on_what_the_adapted_decoder_writes(evolved):
    manifest, provenance, seen, tmp = evolved
    prompts = manifest["privacy"]["class_prompts"]
    (trained, vectors), = seen["trained"]
    assert trained == TEXTS and len(np.unique(vectors.round(6), axis=0)) == len(prompts)
    # the start population was sampled from the class prompts' vectors (4 a class and a margin), not written by
    # the LM; then came the variations: mixes of candidates, none of them a prompt vector
    assert seen["written"] == []
    decoded = np.concatenate(seen["decoded"])
    prompt = np.abs(decoded[:, None, :] - np.unique(vectors, axis=0)[None]).max(axis=2).min(axis=1) < 1e-6
    first_mix = int(np.argmin(prompt))
    assert first_mix >= 4 * len(prompts) and not prompt[first_mix:].any() and len(decoded) > first_mix
    # the real texts were embedded once: the votes and the label model read those embeddings
    assert sum(1 for texts in seen["embed"] if set(texts) & set(TEXTS)) == 1
    assert len(provenance) == 6 and all(r["parents"] == [] for r in provenance)
    assert {r["origin"] for r in provenance} == {"variation"} and {r["label"] for r in provenance} <= set(LABELS)
    p, bridge = manifest["privacy"], manifest["models"]["bridge"]
    assert p["method"] == "adapted-evolution" and p["iterations"] == 1 and len(p["rounds"]) == 1
    assert "method_chosen" not in p  # named, not chosen
    assert p["mechanisms"] == 3  # the voting round, the class counts, the label model
    assert p["epsilon"] == pytest.approx(epsilon_spent("prv", p["sigma"], 1.0, 3, p["delta"]), rel=1e-9)
    assert 0.99 < p["epsilon"] <= 1.0 and 2.9 < bridge["dp"]["epsilon"] <= 3.0
    assert 3.98 < compose(p, bridge)["epsilon"] <= 4.0 and "not kept" in bridge["path"]
    assert p["settings"]["population"] == 4 and p["settings"]["steps"] == 2 and "secret" not in json.dumps(manifest)
    assert [f["name"] for f in manifest["filters"]] == ["degenerate", "fidelity", "dedupe"]
    folder, = seen["folders"]
    assert not folder.exists() and sorted(q.name for q in tmp.iterdir()) == ["c.csv", "s.csv", "s.manifest.json",
                                                                            "s.provenance.jsonl"]


def test_the_two_parts_add_up_to_the_budget(run):
    manifest, _, _, _ = run
    p, bridge = manifest["privacy"], manifest["models"]["bridge"]
    assert p["method"] == "finetune" and p["mode"] == "dp" and p["mechanisms"] == 2  # the class counts, the label model
    assert p["method_chosen"] == "auto: finetune (steps, batch_size set)"
    assert p["epsilon"] == pytest.approx(epsilon_spent("prv", p["sigma"], 1.0, 2, p["delta"]), rel=1e-9)
    assert 0.99 < p["epsilon"] <= 1.0  # a quarter of ε = 4, at δ/2
    sgd = bridge["dp"]
    assert sgd["used"] and sgd["epsilon"] == p["dp_sgd"]["epsilon"] and 2.9 < sgd["epsilon"] <= 3.0
    assert sgd["epsilon"] == pytest.approx(epsilon_spent("prv", sgd["noise_multiplier"], sgd["sample_rate"], 2, sgd["delta"]))
    assert sgd["delta"] == p["delta"] == pytest.approx(1 / (20 * len(TEXTS)))
    release = compose(p, bridge)
    assert 3.98 < release["epsilon"] <= 4.0 and release["delta"] == pytest.approx(1 / (10 * len(TEXTS)))
    assert bridge["training"]["data"]["sensitive"] and "class prompts" not in json.dumps(p["settings"])
    assert bridge["training"]["data"]["vectors"]["description"].startswith("the public prompt of the text's class")
    assert "not kept" in bridge["path"] and "secret" not in json.dumps(manifest)
    assert [f["name"] for f in manifest["filters"]] == ["degenerate", "fidelity", "dedupe"]  # fidelity: mixes only
    assert not manifest["vectors_lost_by_filter"].get("fidelity")


def test_nothing_of_the_adapter_is_left_behind(run):
    _, _, seen, tmp = run
    folder, = seen["folders"]
    assert not folder.exists() and not folder.parent.exists()  # the shards folder, with the adapter and its secret
    assert sorted(p.name for p in tmp.iterdir()) == ["c.csv", "s.csv", "s.manifest.json", "s.provenance.jsonl"]


def test_auto_picks_the_method_for_the_records():
    from smotext.synth.pe_privacy import AUTO_DPSGD, DPSGD_FROM

    auto = DPGeneration(4.0)
    assert auto.method == "auto" and not auto.trains_decoder
    dp, why = auto.for_records(DPSGD_FROM)
    assert dp.method == AUTO_DPSGD and why == f"auto: {AUTO_DPSGD} ({DPSGD_FROM:,} records, at least {DPSGD_FROM:,})"
    assert dp.trains_decoder and auto.method == "auto"  # a decided copy; the request is unchanged
    assert auto.for_records(DPSGD_FROM - 1) == (dataclasses.replace(auto, method="evolution"),
                                                f"auto: evolution ({DPSGD_FROM - 1:,} records, under {DPSGD_FROM:,})")
    assert auto.for_records(10 * DPSGD_FROM, can_train=False)[0].method == "evolution"
    # a setting only one method reads picks it, whatever the size
    assert DPGeneration(4.0, steps=3).for_records(10)[0].method == "finetune"
    assert DPGeneration(4.0, iterations=3).for_records(10 * DPSGD_FROM)[0].method == "evolution"
    assert DPGeneration(4.0, steps=3, population=8).for_records(10) == (
        DPGeneration(4.0, steps=3, population=8, method="adapted-evolution"),
        "auto: adapted-evolution (steps, population set)")
    named = DPGeneration(4.0, method="evolution")
    assert named.for_records(10 * DPSGD_FROM) == (named, None)


def test_the_budget_splits_as_declared():
    dp = DPGeneration(4.0, method="finetune")
    assert dp.split(2) == (3.0, 1.0) and DPGeneration(4.0, method="finetune", label_epsilon=0.5).split(2) == (3.5, 0.5)
    # one class and public counts: nothing but DP-SGD is released about the records
    assert DPGeneration(4.0, method="finetune", public_class_counts=True).split(1) == (4.0, 0.0)
    plan = ft.plan_finetune(DPGeneration(4.0, method="finetune", public_class_counts=True, secret=3), 1000, 1, seed=0)
    assert plan.labels is None and plan.train.dp.delta == pytest.approx(1e-4) and plan.train.batch_size == 64
    a, b = (ft.plan_finetune(DPGeneration(4.0, method="finetune", secret=s), 8000, 2, seed=0) for s in (3, 3))
    c = ft.plan_finetune(DPGeneration(4.0, method="finetune", secret=4), 8000, 2, seed=0)
    assert (a.dp_secret, a.labels.secret) == (b.dp_secret, b.labels.secret) != (c.dp_secret, c.labels.secret)
    assert a.dp_secret != a.labels.secret and a.train.batch_size == 250 and a.labels.delta == pytest.approx(1 / 160_000)
    # adapted-evolution's votes are Gaussian releases too: with public counts and one class it still splits
    evolved = DPGeneration(4.0, method="adapted-evolution", public_class_counts=True, iterations=3)
    assert evolved.split(1) == (3.0, 1.0) and evolved.budget(1).iterations == 3 and evolved.budget(1).target_epsilon == 1.0
    assert DPGeneration(4.0, method="finetune", iterations=2).voting_rounds == 0


@pytest.mark.parametrize("kw, sampler, message", [
    ({"iterations": 3}, {}, "`iterations` only applies to DP generation by evolution"),
    ({"label_epsilon": 4.0}, {}, "`label_epsilon` .4. must be below `target_epsilon`"),
    ({"method": "evolution", "steps": 3}, {}, "`steps` only applies with `method` 'finetune' or 'adapted-evolution'"),
    ({"method": "adapted-evolution", "ablation": "no_votes"}, {}, "`ablation` only applies to DP generation by evolution"),
    ({"method": "evolution", "rewrite_style": "blanks"}, {}, "`rewrite_style` 'blanks' has nothing to rewrite"),
    ({"method": "adapted-evolution", "target_epsilon": 0.02}, {}, "can't meet ε = 0.005"),
    ({}, {"num_candidates": 2}, "num_candidates 1"),
    ({}, {"temperature": 0.0}, "greedy decoding"),
    ({"target_epsilon": 0.01}, {}, "can't meet ε = 0.0025"),
    ({"batch_size": 500}, {}, "batch_size below the number of training texts"),
])
def test_bad_settings_are_refused_before_models_load(kw, sampler, message):
    dp = DPGeneration(**{"target_epsilon": 4.0, "method": "finetune", **kw})
    with pytest.raises(SmotextError, match=message):
        SMOTExT(lm="/no/such/model", dp=dp, **sampler).fit_resample(TEXTS, LABELS)


def test_a_voice_adapter_with_dp_finetuning_is_refused():
    with pytest.raises(SmotextError, match="adapts the decoder to the members itself"):
        PrivacyBudget(dp=True, target_epsilon=4.0, adapt_voice=True).generation_part(method="finetune")


def test_the_dp_generator_plugin_runs_either_method_and_claims_both_parts(run):
    from smotext.synth.generators import GENERATORS

    gen = GENERATORS.create("smotext-dp", method="finetune", target_epsilon=4.0)
    assert gen.sampler().dp.method == "finetune" and GENERATORS.create("smotext-dp").sampler().dp.method == "auto"
    manifest, _, _, _ = run
    gen._privacy = manifest["privacy"]  # what its fit_resample keeps of a run
    claim = gen.claim()
    assert claim["epsilon"] == pytest.approx(compose(manifest["privacy"], manifest["models"]["bridge"])["epsilon"])
    assert claim["delta"] == pytest.approx(1 / (10 * len(TEXTS)))


def test_the_audit_and_report_state_both_parts(run, encoder, texts, tmp_path):
    from smotext.audit.auditor import Auditor
    from smotext.reports.render import render_report
    from smotext.synth.corpus import Corpus

    manifest, _, _, _ = run
    c = lambda rows, name: Corpus([texts[i] for i in rows], ["a"] * len(rows), False, name, name)
    result = Auditor(["generation_privacy"], encoder=encoder).run(c(range(3), "m"), c(range(3, 6), "h"),
                                                                 c(range(6, 8), "s"), generation=manifest)
    facts = result.to_json()["plugins"]["generation_privacy"]["details"]
    assert facts["summary"].startswith("DP fine-tuning: ε = 3.99") and "DP-SGD on the decoder: ε = 2.99" in facts["summary"]
    html = render_report(result.to_json(), tmp_path / "r.html").read_text()
    section = html[html.index("<h2>Formal privacy guarantee</h2>"):html.index("<h2>The worst case: canaries</h2>")]
    assert "DP-SGD ε (the decoder)" in section and "reached the LM only through DP-SGD" in section
    assert "embedded only to vote" not in section and TOPIC in section


def test_the_audit_and_report_state_adapted_evolutions_parts(evolved, encoder, texts, tmp_path):
    from smotext.audit.auditor import Auditor
    from smotext.reports.render import render_report
    from smotext.synth.corpus import Corpus

    manifest = evolved[0]
    c = lambda rows, name: Corpus([texts[i] for i in rows], ["a"] * len(rows), False, name, name)
    result = Auditor(["generation_privacy"], encoder=encoder).run(c(range(3), "m"), c(range(3, 6), "h"),
                                                                 c(range(6, 8), "s"), generation=manifest)
    summary = result.to_json()["plugins"]["generation_privacy"]["details"]["summary"]
    assert summary.startswith("DP generation from a DP-adapted decoder: ε = 3.99")
    assert "1 noisy voting round(s), the class sizes, the label model: ε = 0.99" in summary
    html = render_report(result.to_json(), tmp_path / "r.html").read_text()
    section = html[html.index("<h2>Formal privacy guarantee</h2>"):html.index("<h2>The worst case: canaries</h2>")]
    assert "votes, class sizes and label model ε" in section and "evolution from a DP-adapted decoder" in section
    assert "their noisy votes on the candidates the adapted LM wrote" in section


def test_a_release_with_dp_finetuning_refuses_a_voice_adapter_before_work(tmp_path):
    from smotext.pipeline import release
    from smotext.synth.train import VoiceAdaptation

    sampler = SMOTExT(lm="/no/such/model", dp=DPGeneration(4.0, method="finetune"))
    with pytest.raises(SmotextError, match="give no voice adaptation"):
        release(pd.DataFrame({"text": TEXTS, "label": LABELS}), out=tmp_path / "run", label_col="label",
                sampler=sampler, voice=VoiceAdaptation(4.0))
    assert not (tmp_path / "run").exists()
