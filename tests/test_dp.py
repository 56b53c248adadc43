"""DP-SGD bridge training: the ε on the card is Opacus' own, gradients are per text, budgets that
can't be met are refused, and the decoder's ε reaches the audit and the gate."""

import json
import math

import numpy as np
import pytest
import torch

from smotext.audit.auditor import Auditor
from smotext.reports.gate import Gate
from smotext.reports.policy import load_policy
from smotext.cli import main
from smotext.synth.bridge import load_bridge
from smotext.synth.corpus import Corpus
from smotext.synth.dp import DPConfig, calibrate, decoder_epsilon, poisson_batch
from smotext.errors import SmotextError
from smotext.synth.train import BridgeTrainer, TrainConfig, export_checkpoint
from test_bridge import assert_same_run, stop_at



def dp_trainer(lm, encoder, texts, emb, steps=3, eps=8.0, accountant="prv", noise_std=0.1, secret=1234):
    cfg = TrainConfig(steps=steps, batch_size=2, warmup_steps=1, n_tokens=2, hidden=32, max_target_tokens=12,
                      checkpoint_every=2, noise_std=noise_std, dp=DPConfig(eps, max_grad_norm=0.5, accountant=accountant))
    return BridgeTrainer(lm, encoder.name, encoder.fingerprint, emb, texts, cfg,
                         {"sha256": "dp-data", "texts": len(texts), "sensitive": True}, dp_secret=secret)


@pytest.mark.parametrize("accountant", ["prv", "rdp"])
def test_card_epsilon_is_what_opacus_computes_for_the_recorded_mechanism(tmp_path, lm, encoder, texts,
                                                                           text_embeddings, accountant):
    from opacus.accountants import PRVAccountant, RDPAccountant

    trainer = dp_trainer(lm, encoder, texts, text_embeddings, accountant=accountant)
    card = trainer.train(tmp_path, progress=False)
    dp = card.training["dp"]
    assert dp["used"] and dp["accountant"] == accountant and dp["steps"] == 3 and dp["sampling"] == "poisson"
    assert dp["sample_rate"] == 2 / 8 and dp["delta"] == pytest.approx(1 / 80) and dp["max_grad_norm"] == 0.5
    # Opacus' own accountant, fed only what the card records, gives the same ε; and it is within budget.
    acc = {"prv": PRVAccountant, "rdp": RDPAccountant}[accountant]()
    for _ in range(dp["steps"]):
        acc.step(noise_multiplier=dp["noise_multiplier"], sample_rate=dp["sample_rate"])
    assert dp["epsilon"] == pytest.approx(acc.get_epsilon(delta=dp["delta"]), rel=1e-6)
    assert 7.5 < dp["epsilon"] <= 8.0 + 0.01  # calibrated to spend the budget over the planned steps
    assert dp["noise_multiplier"] > 0


def test_dp_card_round_trips_and_survives_export(tmp_path, lm, encoder, texts, text_embeddings):
    trainer = dp_trainer(lm, encoder, texts, text_embeddings, secret=None)
    card = trainer.train(tmp_path, progress=False)
    # the sampling/noise secret is random per run and kept out of the card (only the private checkpoint has it)
    assert trainer.dp_secret != dp_trainer(lm, encoder, texts, text_embeddings, secret=None).dp_secret
    assert str(trainer.dp_secret) not in (tmp_path / "bridge.json").read_text()
    loaded = load_bridge(tmp_path)[1]
    assert loaded.to_json() == card.to_json()
    assert json.loads((tmp_path / "bridge.json").read_text())["training"]["dp"] == card.training["dp"]
    assert export_checkpoint(tmp_path).training["dp"] == card.training["dp"]


def test_interrupted_dp_training_resumes_exactly(tmp_path, lm, encoder, texts, text_embeddings, monkeypatch):
    straight = dp_trainer(lm, encoder, texts, text_embeddings, steps=4)
    straight.train(tmp_path / "a", progress=False)
    stop_at(dp_trainer(lm, encoder, texts, text_embeddings, steps=4), 3, tmp_path / "b", monkeypatch)
    # half-way, the checkpoint's card says what the steps taken so far spent
    assert export_checkpoint(tmp_path / "b").training["dp"]["epsilon"] < straight.card().training["dp"]["epsilon"]
    resumed = dp_trainer(lm, encoder, texts, text_embeddings, steps=4)
    resumed.train(tmp_path / "b", progress=False)
    assert_same_run(straight, resumed)  # the same batches and noise were drawn


def test_each_text_gradient_depends_on_that_text_alone(lm, encoder, texts, text_embeddings):
    """Per-text clipping bounds one record's influence only if its gradient ignores its batch-mates."""
    trainer = dp_trainer(lm, encoder, texts, text_embeddings, noise_std=0.0)
    gen = torch.Generator().manual_seed(0)

    def grad_samples(idx, per_text=True):
        trainer.optimizer.zero_grad(set_to_none=True)
        trainer.loss_on(np.asarray(idx), gen, per_text=per_text).backward()
        return [p.grad_sample.clone() for p in trainer.bridge.parameters()]

    def gap(batch, alone):  # relative distance between text 5's gradient in the batch and alone
        return max(float((b[1] - a[0]).norm() / a[0].norm()) for b, a in zip(batch, alone))

    alone = grad_samples([5])
    assert gap(grad_samples([0, 5, 6]), alone) < 1e-3  # padding changes float rounding only
    # a mean over all tokens of the batch would couple them (text lengths differ): what the check catches
    assert gap(grad_samples([0, 5, 6], per_text=False), grad_samples([5], per_text=False)) > 0.01  # seen: 0.031


def test_poisson_batches_are_seeded_and_sized_by_the_rate():
    a = [poisson_batch(1000, 0.05, seed=1, step=s) for s in range(40)]
    assert all(np.array_equal(x, poisson_batch(1000, 0.05, seed=1, step=s)) for s, x in enumerate(a))
    sizes = [len(x) for x in a]
    assert 40 < np.mean(sizes) < 60 and len(set(sizes)) > 5  # sizes vary around q·N = 50


def test_unsatisfiable_or_invalid_budgets_are_refused():
    with pytest.raises(SmotextError, match="can't meet ε = 1e-09"):
        calibrate(DPConfig(1e-9), n=8, batch_size=4, steps=100)
    with pytest.raises(SmotextError, match="batch_size below the number of training texts") as e:
        calibrate(DPConfig(8.0), n=8, batch_size=8, steps=10)
    assert e.value.params == ("batch_size",)  # the library names parameters; the CLI maps them to its flags
    for bad in (0.0, math.inf, -1.0):
        with pytest.raises(SmotextError, match="target_epsilon must be") as e:
            DPConfig(bad).check()
        assert e.value.params == ("target_epsilon",)
    with pytest.raises(SmotextError, match="delta must be between"):
        DPConfig(1.0, delta=1.5).check()
    with pytest.raises(SmotextError, match="unknown accountant 'gdp'"):
        DPConfig(1.0, accountant="gdp").check()


@pytest.fixture
def corpus_file(tmp_path, texts):
    p = tmp_path / "sensitive.csv"
    p.write_text("text\n" + "\n".join(f'"{t}"' for t in texts) + "\n", encoding="utf-8")
    return p


def test_fit_decoder_refuses_an_unsatisfiable_budget_and_writes_nothing(tmp_path, corpus_file, capsys):
    out = tmp_path / "bridge"
    code = main(["fit-decoder", str(corpus_file), "--out", str(out), "--dp", "--target-epsilon", "1e-9",
                 "--steps", "100", "--batch-size", "2", "--quiet"])
    err = capsys.readouterr().err
    assert code == 2 and "can't meet ε = 1e-09" in err and "Raise --target-epsilon" in err
    assert not out.exists()
    assert main(["fit-decoder", str(corpus_file), "--out", str(out), "--target-epsilon", "3"]) == 2
    assert "--dp and --target-epsilon go together" in capsys.readouterr().err


def test_fit_decoder_warns_loudly_without_dp_on_sensitive_texts(tmp_path, corpus_file, capsys):
    common = ["--steps", "1", "--batch-size", "2", "--soft-tokens", "2", "--hidden", "16", "--max-target-tokens", "8", "--quiet"]
    assert main(["fit-decoder", str(corpus_file), "--out", str(tmp_path / "a"), *common]) == 0
    assert "WARNING: training a bridge on texts marked SENSITIVE without differential privacy" in capsys.readouterr().err
    card = load_bridge(tmp_path / "a")[1]
    assert card.training["data"]["sensitive"] is True and card.training["dp"] == {"used": False}
    assert decoder_epsilon(card.training)[0] == math.inf

    # adapting that bridge with DP: ε adds up over the chain, and ∞ stays ∞
    assert main(["fit-decoder", str(corpus_file), "--out", str(tmp_path / "b"), "--init", str(tmp_path / "a"),
                 "--dp", "--target-epsilon", "4", *common]) == 0
    captured = capsys.readouterr()
    assert "WARNING" not in captured.err and "differential privacy: ε =" in captured.out
    card_b = load_bridge(tmp_path / "b")[1]
    assert card_b.config.n_tokens == 2 and card_b.training["init"]["card_training"]["dp"] == {"used": False}
    eps, stages = decoder_epsilon(card_b.training)
    assert eps == math.inf and [s["sensitive"] for s in stages] == [True, True]
    assert 0 < stages[0]["epsilon"] <= 4.01

    assert main(["fit-decoder", str(corpus_file), "--out", str(tmp_path / "c"), "--public", *common]) == 0
    assert "WARNING" not in capsys.readouterr().err
    assert decoder_epsilon(load_bridge(tmp_path / "c")[1].training)[0] == 0.0


def generation(training: dict) -> dict:
    return {"smotext": "generate", "models": {"bridge": {"path": "b", "sha256": "s", "training": training}}}


PUBLIC = {"data": {"texts": 10, "sensitive": False}, "dp": {"used": False}}
NO_DP = {"data": {"texts": 10, "sensitive": True}, "dp": {"used": False}}
UNMARKED = {"data": {"texts": 10}, "dp": {"used": False}}  # an older card: counts as sensitive
DP = lambda eps: {"data": {"texts": 10, "sensitive": True},
                  "dp": {"used": True, "epsilon": eps, "delta": 1e-5, "accountant": "prv", "noise_multiplier": 1.1,
                         "max_grad_norm": 1.0, "sample_rate": 0.01, "steps": 100},
                  "init": {"card_training": PUBLIC}}


def test_default_policy_requires_dp_for_a_decoder_that_saw_sensitive_texts(encoder, texts, tmp_path):
    c = lambda rows, name: Corpus([texts[i] for i in rows], ["a"] * len(rows), False, name, name)
    members, holdout, synthetic = c(range(0, 3), "m"), c(range(3, 6), "h"), c(range(6, 8), "s")
    auditor = Auditor(["decoder_privacy"], encoder=encoder)
    policy = load_policy("default")
    outcomes = {}
    for name, training in (("public", PUBLIC), ("no-dp", NO_DP), ("unmarked", UNMARKED), ("dp3", DP(3.0)), ("dp9", DP(9.0))):
        result = auditor.run(members, holdout, synthetic, generation=generation(training))
        decision = Gate(policy).decide(result)
        outcomes[name] = (result.metrics["decoder_privacy.epsilon"].value,
                          "decoder-trained-with-dp" in decision.deciding)
    assert outcomes == {"public": (0.0, False), "no-dp": (math.inf, True), "unmarked": (math.inf, True),
                        "dp3": (3.0, False), "dp9": (9.0, True)}
    assert json.loads(json.dumps(auditor.run(members, holdout, synthetic, generation=generation(NO_DP)).to_json()))[
        "metrics"]["decoder_privacy.epsilon"]["value"] == "inf"  # strict JSON, read back by float()

    # no manifest: the plug-in is skipped and the rule that needs it blocks (fail closed)
    result = auditor.run(members, holdout, synthetic)
    assert result.plugins["decoder_privacy"]["status"] == "skipped"
    decision = Gate(policy).decide(result)
    assert decision.verdict == "BLOCK" and "decoder-trained-with-dp" in decision.deciding


def test_report_shows_the_decoder_dp_facts(encoder, texts, tmp_path):
    from smotext.reports.render import render_report

    c = lambda rows, name: Corpus([texts[i] for i in rows], ["a"] * len(rows), False, name, name)
    result = Auditor(["decoder_privacy"], encoder=encoder).run(c(range(3), "m"), c(range(3, 6), "h"), c(range(6, 8), "s"),
                                                              generation=generation(DP(3.0)))
    html = render_report(result.to_json(), tmp_path / "r.html").read_text()
    section = html[html.index("<h2>The decoder</h2>"):html.index("<h2>The synthetic data</h2>")]
    assert "trained on sensitive texts with DP-SGD: ε = 3" in section
    assert "prv" in section and "1.100" in section and "1e-05" in section and "adapted from" in section


def test_a_run_of_empty_poisson_batches_still_takes_noisy_steps(tmp_path, lm, encoder, texts, text_embeddings, monkeypatch):
    """An empty batch is a step the accountant counts: the noise is still added and the card says so."""
    import smotext.synth.train

    monkeypatch.setattr(smotext.synth.train, "poisson_batch", lambda n, q, seed, step: np.array([], dtype=int))
    trainer = dp_trainer(lm, encoder, texts, text_embeddings, steps=2)
    before = [p.detach().clone() for p in trainer.bridge.parameters()]
    card = trainer.train(tmp_path, progress=False)
    assert card.training["dp"]["steps"] == 2 and card.training["final_loss"] is None and trainer.losses == []
    assert all(not torch.equal(b, p) for b, p in zip(before, trainer.bridge.parameters()))  # noise moved them
