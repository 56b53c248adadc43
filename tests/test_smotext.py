"""The SMOTExT sampler end to end with the real encoder and LM."""

import numpy as np
import pytest

from smotext.synth.demo_corpus import build
from smotext.errors import SmotextError, SmotextWarning
from smotext.synth.smotext import SMOTExT, default_bridge_path

ROWS = build(seed=2)
TEXTS = [t for t, _ in ROWS]
LABELS = [label for _, label in ROWS]


def mixed_targets(prov, real: np.ndarray) -> np.ndarray:
    """The unit target vector of each synthetic text, rebuilt from its parents and weights."""
    t = np.stack([(np.asarray(w)[:, None] * real[p]).sum(0) for p, w in zip(prov["parents"], prov["weights"])])
    return t / np.linalg.norm(t, axis=1, keepdims=True)


def test_shortfall_is_reported_with_the_filter_that_caused_it(encoder, lm, tiny):
    sampler = SMOTExT(sampling_strategy={"billing": 3}, random_state=0, encoder=encoder, lm=lm, bridge=tiny,
                      filter_params={"fidelity": {"min_cosine": 0.99}}, max_rounds=2, max_new_tokens=4, filters=["fidelity"])
    with pytest.warns(SmotextWarning, match="made 0 of 3 synthetic texts") as caught:
        texts, labels = sampler.fit_resample(TEXTS, LABELS)
    assert len(caught) == 1 and caught[0].filename == __file__  # pointed at the caller, not at smotext's insides
    assert texts == TEXTS and labels == LABELS  # nothing passed, so nothing was added
    rep = sampler.report_
    assert rep.made == {"appointment": 0, "billing": 0, "prescription": 0, "symptom": 0}
    assert rep.rounds == 2 and rep.shortfall == {"billing": 3}
    assert rep.dropped_by["fidelity"] == rep.candidates_decoded
    assert "made 0 of 3" in rep.shortfall_message() and "fidelity" in rep.shortfall_message()
    assert rep.filters[0]["name"] == "fidelity" and rep.filters[0]["out"] == 0


def test_greedy_runs_decode_no_near_copy_of_a_vector_decoded_before(encoder, lm, tiny):
    """Near-identical members give near-identical mixes, which greedy decoding would turn into one
    text again and again: with ``near_copy`` they are not decoded; at 1 every mix is."""
    texts = [f"The invoice for March is wrong, reference {i}." for i in range(8)] + \
        [f"My knee hurts when I climb stairs, day {i}." for i in range(8)]
    labels = ["billing"] * 8 + ["symptom"] * 8
    runs = {}
    for near in (0.99, 1.0):
        sampler = SMOTExT(sampling_strategy={"billing": 4, "symptom": 4}, random_state=0, encoder=encoder, lm=lm,
                          bridge=tiny, max_new_tokens=4, filters=["dedupe"], k_neighbors=3, near_copy=near, max_rounds=2,
                          temperature=0)
        with pytest.warns(SmotextWarning):  # near-copies of a few texts: the run falls short, and says so
            sampler.fit_resample(texts, labels)
        runs[near] = sampler
    skipping, every = runs[0.99].report_, runs[1.0].report_
    assert skipping.near_copies_skipped > 0 and every.near_copies_skipped == 0
    assert skipping.keep_rate == sum(skipping.made.values()) / skipping.candidates_decoded
    assert skipping.keep_rate > every.keep_rate
    real = encoder.embed(texts)
    targets = mixed_targets(runs[0.99].provenance_, real)
    sims = targets @ targets.T
    assert (sims[np.triu_indices(len(targets), 1)] <= 0.99 + 1e-4).all()


def test_bad_parameters_fail_before_any_model_loads():
    # no encoder/LM is given and none would load: the parameter check comes first
    for kw in ({"k_neighbors": 0}, {"kind": "smote"}, {"num_candidates": 0}, {"segment_tokens": 0}, {"oversample": 0.5}, {"filters": ["typo"]},
               {"temperature": -0.5}, {"temperature": 0, "num_candidates": 2}):
        with pytest.raises(SmotextError):
            SMOTExT(**kw).fit_resample(TEXTS, LABELS)
    with pytest.raises(SmotextError, match="3 texts but 2 labels"):
        SMOTExT().fit_resample(TEXTS[:3], LABELS[:2])
    with pytest.raises(SmotextError, match="empty"):
        SMOTExT().fit_resample([], [])


needs_default_bridge = pytest.mark.skipif(
    not (default_bridge_path() / "bridge.json").exists(), reason="no default bridge installed"
)


@needs_default_bridge
def test_fit_resample_like_imbalanced_learn(encoder, lm):
    sampler = SMOTExT(sampling_strategy=12, random_state=1, encoder=encoder, lm=lm, max_new_tokens=24,
                      filter_params={"fidelity": {"min_cosine": 0.2}})
    texts, labels = sampler.fit_resample(TEXTS, LABELS)
    syn = sampler.synthetic_
    assert texts[: len(TEXTS)] == TEXTS and texts[len(TEXTS):] == syn["text"].tolist()
    assert labels[len(TEXTS):] == syn["label"].tolist()
    assert sampler.report_.requested == {"appointment": 4, "billing": 3, "prescription": 3, "symptom": 2}
    assert len(syn) == sum(sampler.report_.made.values()) >= 6
    prov = sampler.provenance_
    assert (prov["fidelity"] >= 0.2).all() and (prov["max_real_cosine"] <= 0.9).all()
    for parents, label in zip(prov["parents"], prov["label"]):
        assert {LABELS[i] for i in parents} == {label}
    # re-embedding the outputs lands nearer their targets than random real texts do
    emb = encoder.embed(syn["text"].tolist())
    real = encoder.embed(TEXTS)
    targets = mixed_targets(prov, real)
    rng = np.random.default_rng(0)
    random_real = real[rng.integers(len(real), size=len(emb))]
    assert np.mean((emb * targets).sum(1)) > np.mean((random_real * targets).sum(1))


@needs_default_bridge
def test_unlabelled_corpus_and_dirichlet_mixing(encoder, lm):
    sampler = SMOTExT(sampling_strategy=4, n_parents=3, random_state=0, encoder=encoder, lm=lm, max_new_tokens=20,
                      filters=["degenerate", "privacy", "dedupe"])
    texts, labels = sampler.fit_resample(TEXTS[:40])
    assert set(labels) == {"_all_"}
    prov = sampler.provenance_
    assert len(prov) == 4 and all(len(p) == 3 for p in prov["parents"])
    assert np.allclose([sum(w) for w in prov["weights"]], 1.0, atol=1e-5)


@needs_default_bridge
def test_same_seed_same_output(encoder, lm):
    def run(seed):
        s = SMOTExT(sampling_strategy=5, random_state=seed, encoder=encoder, lm=lm, max_new_tokens=16,
                    filters=["degenerate", "dedupe"])
        s.fit_resample(TEXTS, LABELS)
        return s.synthetic_["text"].tolist(), s.provenance_["parents"].tolist()

    assert run(4) == run(4)
    assert run(4) != run(5)


@needs_default_bridge
def test_best_of_n_by_segment_search_keeps_the_closest_passing_candidate(encoder, lm):
    def run():
        s = SMOTExT(sampling_strategy=4, random_state=3, encoder=encoder, lm=lm, max_new_tokens=12, num_candidates=3,
                    segment_tokens=4, filters=["degenerate"])
        s.fit_resample(TEXTS, LABELS)
        return s

    s = run()
    assert s.decoder_.segment_tokens == 4 and s.decoder_.embed == encoder.embed
    prov = s.provenance_
    assert len(prov) == 4 and (prov["candidates"] == 3).all()
    targets = mixed_targets(prov, encoder.embed(TEXTS))
    got = (encoder.embed(s.synthetic_["text"].tolist()) * targets).sum(1)
    assert np.allclose(got, prov["fidelity"], atol=1e-4)
    assert run().synthetic_["text"].tolist() == s.synthetic_["text"].tolist()


def test_generate_that_makes_nothing_fails_and_writes_nothing(encoder, lm, tiny, tmp_path):
    from smotext import generate
    from smotext.synth.corpus import Corpus

    sampler = SMOTExT(sampling_strategy={"billing": 3}, random_state=0, encoder=encoder, lm=lm, bridge=tiny,
                      filter_params={"fidelity": {"min_cosine": 0.99}}, max_rounds=1, max_new_tokens=4, filters=["fidelity"])
    with pytest.warns(SmotextWarning), pytest.raises(SmotextError, match="generation made 0 synthetic text"):
        generate(Corpus.from_texts(TEXTS, LABELS), tmp_path / "syn.csv", sampler=sampler)
    assert list(tmp_path.iterdir()) == []
