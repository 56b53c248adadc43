"""DP generation end to end with the real encoder, LM and a tiny bridge: real records only vote."""

import json
import math
import warnings

import numpy as np
import pytest

import smotext.synth.lm_writer as lm_writer
import smotext.synth.private_evolution as pe
from smotext.audit.plugins.generation_privacy import release_privacy
from smotext.cli import main
from smotext.errors import SmotextError, SmotextWarning
from smotext.reports.gate import Gate
from smotext.reports.policy import load_policy
from smotext.synth.corpus import UNLABELLED
from smotext.synth.decoder import Decoder
from smotext.synth.demo_corpus import build
from smotext.synth.dp import epsilon_spent
from smotext.synth.encoder import Encoder
from smotext.synth.filters import FILTERS
from smotext.synth.pe_privacy import DPGeneration, VotePlan
from smotext.synth.smotext import SMOTExT

ROWS = build(seed=3)
TEXTS = [t for t, _ in ROWS]
LABELS = [label for _, label in ROWS]
TOPIC = "message a patient writes to their clinic"


def dp_sampler(encoder, lm, bridge, secret=11, **dp):
    settings = {"target_epsilon": 4.0, "iterations": 2, "population": 3, "topic": TOPIC, "secret": secret, **dp}
    return SMOTExT(sampling_strategy=8, random_state=0, encoder=encoder, lm=lm, bridge=bridge, max_new_tokens=24,
                   dp=DPGeneration(**settings))


@pytest.fixture(scope="module")
def spied(encoder, lm, tiny):
    """One DP run with spies on everything real records could reach."""
    seen = {"embed": [], "prompts": [], "decoded": [], "filtered": [], "contexts": [], "votes": [], "archived": [],
            "centroids": []}
    mp = pytest.MonkeyPatch()
    embed, decode, write, vote, add = Encoder.embed, Decoder.decode, lm_writer.write_batch, pe.vote_histogram, pe._Archive.add
    relabel = pe.label_by_centroids

    def spy_embed(self, texts, progress=False):
        out = embed(self, texts, progress)
        seen["embed"].append((list(texts), out))
        return out

    def spy_decode(self, vectors, **kw):
        seen["decoded"].append(np.array(vectors))
        return decode(self, vectors, **kw)

    def spy_write(lm_, prompts, seed, max_new_tokens=40):
        seen["prompts"] += list(prompts)
        return write(lm_, prompts, seed, max_new_tokens)

    def spy_vote(real, real_classes, candidates, candidate_classes, **kw):
        seen["votes"].append((real, np.array(candidates)))
        return vote(real, real_classes, candidates, candidate_classes, **kw)

    def spy_labels(plan, real, real_classes, classes, emb, counts):
        seen["centroids"].append(real)
        return relabel(plan, real, real_classes, classes, emb, counts)

    def spy_add(self, text, label, emb, info):
        seen["archived"].append((text, np.array(emb)))
        return add(self, text, label, emb, info)

    mp.setattr(pe._Archive, "add", spy_add)
    mp.setattr(Encoder, "embed", spy_embed)
    mp.setattr(Decoder, "decode", spy_decode)
    mp.setattr(lm_writer, "write_batch", spy_write)
    mp.setattr(pe, "vote_histogram", spy_vote)
    mp.setattr(pe, "label_by_centroids", spy_labels)
    for cls in FILTERS.classes().values():
        def spy_apply(self, cand, ctx, _apply=cls.apply):
            seen["filtered"] += list(cand.texts)
            seen["contexts"].append(ctx)
            return _apply(self, cand, ctx)
        mp.setattr(cls, "apply", spy_apply)
    try:
        sampler = dp_sampler(encoder, lm, tiny)
        with warnings.catch_warnings():  # the tiny bridge writes junk the filters drop: a shortfall warning
            warnings.simplefilter("ignore", SmotextWarning)
            sampler.fit_resample(TEXTS, LABELS)
    finally:
        mp.undo()
    return sampler, seen


def test_real_records_only_vote(spied):
    sampler, seen = spied
    real = set(TEXTS)
    # embedded once, for the votes and the label model's centroids, and that array went nowhere else
    real_calls = [out for texts, out in seen["embed"] if set(texts) & real]
    assert len(real_calls) == 1 and len(seen["votes"]) == 2 and len(seen["centroids"]) == 1
    assert all(r is real_calls[0] for r, _ in seen["votes"]) and seen["centroids"][0] is real_calls[0]
    # the LM was prompted with class names and the topic only
    assert seen["prompts"] and not any(t in p for p in seen["prompts"] for t in real)
    assert all(TOPIC in p for p in seen["prompts"])
    # no filter saw a real text, a real label set or a real embedding
    assert seen["filtered"] and not real & set(seen["filtered"])
    assert all(not c.real_texts and not c.real_labels and len(c.real_embeddings) == 0 for c in seen["contexts"])
    # every vector the decoder got is a mix of public candidates' embeddings (those written from the
    # prompts and those decoded since): inside their span
    assert not real & {t for t, _ in seen["archived"]}
    public = np.stack([e for _, e in seen["archived"]])
    basis, _ = np.linalg.qr(public.T.astype(np.float64))
    decoded = np.concatenate(seen["decoded"]).astype(np.float64)
    residual = np.linalg.norm(decoded - decoded @ basis @ basis.T, axis=1)
    assert len(public) < public.shape[1] and residual.max() < 1e-4
    real_residual = np.linalg.norm(real_calls[0] - real_calls[0] @ basis @ basis.T, axis=1)
    assert real_residual.min() > 0.1  # a real record is not in that span: the check can fail
    assert (sampler.provenance_["parents"].map(len) == 0).all()  # no output has a real parent


def test_the_manifest_records_what_a_fresh_opacus_computation_spends(spied):
    sampler, _ = spied
    p = sampler.privacy_
    # two voting rounds, the class counts and the label model's centroids
    assert p["mode"] == "dp" and p["iterations"] == 2 and p["mechanisms"] == 4 and not p["public_class_counts"]
    assert p["label_model"] == "class centroids" and p["settings"]["labels"] == "centroids"
    assert p["epsilon"] == pytest.approx(epsilon_spent("prv", p["sigma"], 1.0, 4, p["delta"]), rel=1e-9)
    assert p["epsilon_per_part"]["label_model"] == pytest.approx(epsilon_spent("prv", p["sigma"], 1.0, 1, p["delta"]))
    prov = sampler.provenance_  # each output keeps the class it was evolved for beside the one it is released with
    assert (prov["label"] == sampler.synthetic_["label"]).all() and set(prov["evolved_label"]) <= set(LABELS)
    assert 3.9 < p["epsilon"] <= 4.0 and p["delta"] == pytest.approx(1 / (10 * len(TEXTS)))
    assert "add/remove" in p["adjacency"] and "secret" not in json.dumps(p)
    assert [r["iteration"] for r in p["rounds"]] == [1, 2]
    assert sum(sampler.report_.made.values()) == len(sampler.synthetic_) >= 6  # the tiny bridge may fall short


def test_same_secret_same_output(spied, encoder, lm, tiny):
    first, _ = spied
    again = dp_sampler(encoder, lm, tiny, secret=11)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", SmotextWarning)
        again.fit_resample(TEXTS, LABELS)
    assert again.synthetic_.equals(first.synthetic_)
    assert again.privacy_["class_sizes"] == first.privacy_["class_sizes"]


def test_blank_out_cuts_a_share_of_the_words_into_blanks():
    text = "a gripping and funny film about grief friendship and the sea"
    a, b = (pe.blank_out(text, np.random.default_rng(5)) for _ in range(2))
    assert a == b  # seeded
    kept = [w for w in a.split() if w != pe.BLANK]
    assert len(kept) == 11 - round(pe.BLANK_SHARE * 11) and pe.BLANK in a and pe.BLANK * 2 not in a.replace(" ", "")
    words = iter(text.split())
    assert all(w in words for w in kept)  # the words kept are the text's, in order
    assert pe.blank_out("wow", np.random.default_rng(0)) == pe.BLANK and pe.blank_out("", np.random.default_rng(0)) == pe.BLANK


def test_an_unlabelled_corpus_is_one_class_and_the_lm_rewrites_survivors(encoder, lm, tiny, monkeypatch):
    asked, write = [], pe.write_texts

    def spy(lm_, prompts, *a, **kw):
        out = write(lm_, prompts, *a, **kw)
        asked.extend(zip(prompts, out))
        return out

    monkeypatch.setattr(pe, "write_texts", spy)
    # every new candidate is to be the LM's rewrite of a survivor (Aug-PE's paraphrase or fill-in-the-blank),
    # mixes only where short
    sampler = SMOTExT(sampling_strategy=3, random_state=1, encoder=encoder, lm=lm, bridge=tiny, max_new_tokens=24,
                      dp=DPGeneration(target_epsilon=8.0, iterations=1, population=3, secret=2, public_class_counts=True,
                                      rewrite_share=1.0, rewrite_style="both"))
    texts, labels = sampler.fit_resample(TEXTS[:60])
    assert len(sampler.synthetic_) == 3 and set(sampler.synthetic_["label"]) == {UNLABELLED}
    assert sampler.privacy_["epsilon_per_part"]["class_counts"] == 0.0 and sampler.privacy_["mechanisms"] == 1
    prov = sampler.provenance_
    rewritten = prov[prov["origin"] == "rewrite"]
    assert len(rewritten) and (rewritten["candidate_parents"].map(len) == 1).all()
    assert set(rewritten["style"]) <= {"paraphrase", "blanks"}
    # the LM rewrote public start candidates only: each rewrite prompt quotes one (blanked out or whole),
    # none quotes a real text
    prompts = [p for p, _ in asked]
    starts = [out for p, out in asked if p.startswith("Write one") and out]
    rewrites = [p for p in prompts if p.startswith("Rewrite this")]
    blanks = [p for p in prompts if p.startswith("Fill in each blank")]
    written = [p for p in prompts if p.startswith("Write one")]
    assert starts and rewrites and blanks and len(written) + len(rewrites) + len(blanks) == len(prompts)
    assert not any(t in p for p in prompts for t in TEXTS)
    assert all(any(f'"{s}"' in p for s in starts) for p in rewrites)

    def blanked_from(quoted, source):
        words = iter(source.split())
        return pe.BLANK in quoted and all(w in words for w in quoted.split() if w != pe.BLANK)

    quoted = [p.split('"', 1)[1].rsplit('"', 1)[0] for p in blanks]
    assert all(any(blanked_from(q, s) for s in starts) for q in quoted)
    assert sampler.privacy_["candidates"] >= 3 + len(rewritten)
    assert sampler.privacy_["settings"]["rewrite_share"] == 1.0 and sampler.privacy_["settings"]["rewrite_style"] == "both"


@pytest.mark.parametrize("kw, message", [
    ({"filters": ("degenerate", "label")}, "can't run the filter(s) label"),
    ({"filter_params": {"privacy": {"max_cosine": 0.5}}}, "can't run the filter(s) privacy"),
    ({"kind": "borderline"}, "kind='borderline'"),
])
def test_filters_and_seeds_that_read_real_records_are_refused(kw, message):
    sampler = SMOTExT(lm="/no/such/model", dp=DPGeneration(target_epsilon=4.0), **kw)
    with pytest.raises(SmotextError, match=message.replace("(", r"\(").replace(")", r"\)")):
        sampler.fit_resample(TEXTS, LABELS)  # refused before any model loads (the LM path does not exist)


def test_an_unsatisfiable_budget_exits_2_before_models_load(tmp_path, capsys):
    corpus = tmp_path / "c.csv"
    corpus.write_text("text,label\n" + "".join(f"text number {i},a\n" for i in range(30)), encoding="utf-8")
    code = main(["generate", str(corpus), "--out", str(tmp_path / "s.csv"), "--dp", "--target-epsilon", "0.05",
                 "--lm", "/no/such/model", "--quiet"])
    err = capsys.readouterr().err
    assert code == 2 and "can't meet ε = 0.05" in err and "--target-epsilon" in err and err.count("\n") == 1
    assert not (tmp_path / "s.csv").exists()


def test_dp_flags_without_dp_are_refused(tmp_path, capsys):
    assert main(["generate", "x.csv", "--out", str(tmp_path / "s.csv"), "--population", "9"]) == 2
    assert "--population only applies with --dp" in capsys.readouterr().err


def test_generate_dp_from_the_cli_writes_the_privacy_facts(tmp_path, tiny_bridge_dir, capsys):
    corpus = tmp_path / "c.csv"
    corpus.write_text("text,label\n" + "".join(f'"{t}",{y}\n' for t, y in ROWS[:80]), encoding="utf-8")
    code = main(["generate", str(corpus), "--out", str(tmp_path / "s.csv"), "--dp", "--target-epsilon", "6",
                 "--iterations", "1", "--population", "2", "--n", "4", "--bridge", str(tiny_bridge_dir),
                 "--max-new-tokens", "24", "--dp-topic", TOPIC, "--quiet"])
    assert code == 0, capsys.readouterr().err
    manifest = json.loads((tmp_path / "s.manifest.json").read_text())
    assert manifest["mode"] == "dp" and manifest["privacy"]["epsilon"] <= 6
    assert manifest["privacy"]["settings"]["topic"] == TOPIC and "dp" not in manifest["parameters"]
    assert manifest["privacy"]["method_chosen"] == "auto: evolution (iterations, population set)"
    assert [f["name"] for f in manifest["filters"]] == manifest["parameters"]["filters"] == ["degenerate", "fidelity", "dedupe"]
    prov = [json.loads(line) for line in (tmp_path / "s.provenance.jsonl").read_text().splitlines()]
    assert len(prov) == 4 and all(r["parents"] == [] for r in prov)


# ---------------------------------------------------------------- the audit and the gate (no models)

def manifest(privacy, decoder=None):
    data = {"sensitive": decoder is not None, "texts": 10}
    dp = {"used": True, "epsilon": decoder, "delta": 1e-6} if decoder is not None else {"used": False}
    return {"privacy": privacy, "models": {"bridge": {"dp": dp, "training": {"data": data, "dp": dp}}}}


def test_release_epsilon_composes_generation_and_decoder():
    plan = VotePlan(sigma=2.0, iterations=2, public_class_counts=False, delta=1e-5, accountant="prv", target_epsilon=4,
                    records=1000, secret=1)
    facts = plan.facts()
    alone = release_privacy(manifest(facts))
    assert alone["epsilon"] == pytest.approx(facts["epsilon"]) and alone["delta"] == 1e-5 and "DP generation" in alone["summary"]
    both = release_privacy(manifest(facts, decoder=1.5))
    assert both["epsilon"] == pytest.approx(facts["epsilon"] + 1.5) and both["delta"] == pytest.approx(1e-5 + 1e-6)
    assert math.isinf(release_privacy(manifest({"mode": "non-dp", "epsilon": "inf"}))["epsilon"])
    assert math.isinf(release_privacy(manifest(None))["epsilon"])  # a manifest from before DP generation
    noiseless = release_privacy(manifest(VotePlan(**{**plan.__dict__, "sigma": 0.0}).facts("no_noise")))
    assert math.isinf(noiseless["epsilon"]) and "not a private release" in noiseless["summary"]
    no_votes = plan.facts("no_votes")
    assert no_votes["epsilon_per_part"]["iterations"] == 0.0 and no_votes["epsilon"] == pytest.approx(
        epsilon_spent("prv", 2.0, 1.0, 1, 1e-5))


def _results(eps):
    return {"metrics": {"generation_privacy.epsilon": {"value": eps}}, "plugins": {},
            "inputs": {"evaluated": {"members": 500, "nonmembers": 500, "test": 200}}}


def test_strict_requires_a_formal_guarantee_and_default_warns():
    strict = Gate(load_policy("strict")).decide(_results("inf"))
    assert "formal-privacy-guarantee" in strict.deciding
    assert "formal-privacy-guarantee" not in Gate(load_policy("strict")).decide(_results(3.9)).deciding
    default = Gate(load_policy("default")).decide(_results("inf"))
    assert "formal-privacy-guarantee" in default.warnings and "formal-privacy-guarantee" not in default.deciding
    assert "formal-privacy-guarantee" not in Gate(load_policy("default")).decide(_results(7.5)).warnings
    assert not any(r.metric == "generation_privacy.epsilon" for r in load_policy("research").rules)
