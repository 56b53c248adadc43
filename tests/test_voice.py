"""Voice adapters: a few parameters on a frozen bridge, trained with DP-SGD at large (accumulated)
batches; exact per-text gradients, the bridge itself untouched, the card's ε counted by the audit,
and corpora too small for the budget refused with the size they would need."""

import dataclasses
import json

import numpy as np
import pytest
import torch

from smotext.cli import main
from smotext.errors import SmotextError
from smotext.synth.bridge import BridgeConfig, ModelCard, adapter_parameters, init_bridge, load_bridge, save_bridge
from smotext.synth.dp import MIN_SIGNAL, DPConfig, decoder_epsilon, plan_voice, poisson_batch
from smotext.synth.params import ADAPTERS, DEFAULT_ADAPTER, SINGLE_DECODING, SINGLE_TEMPERATURE, SINGLE_TOP_P
from smotext.synth.smotext import SMOTExT
from smotext.synth.train import BridgeTrainer, TrainConfig, VoiceAdaptation, per_sample_grads
from test_bridge import assert_same_run, stop_at
from conftest import unit_rows

KINDS = sorted(ADAPTERS)
BRIDGE_KINDS = [k for k in KINDS if k != "lora"]  # adapters inside the bridge itself (lora adapts the LM)


def small_config(kind: str) -> BridgeConfig:
    size = {"bias": 0, "prefix": 3, "lowrank": 2}[kind]
    return BridgeConfig(in_dim=12, out_dim=10, n_tokens=4, hidden=16, adapter=kind, adapter_size=size)


@pytest.mark.parametrize("kind", BRIDGE_KINDS)
def test_adapter_starts_neutral_and_round_trips(tmp_path, kind):
    base = init_bridge(BridgeConfig(in_dim=12, out_dim=10, n_tokens=4, hidden=16), seed=3)
    adapted = init_bridge(small_config(kind), seed=3)
    missing, _ = adapted.load_state_dict(base.state_dict(), strict=False)
    assert missing and all(k.startswith("voice.") for k in missing)
    z = torch.as_tensor(unit_rows(5, 12))
    out, ref = adapted(z), base(z)
    if kind == "prefix":  # P learned tokens before the bridge's own, which are unchanged
        assert out.shape == (5, 4 + 3, 10) and torch.equal(out[:, 3:], ref)
    else:  # bias 0 and U = 0: the adapter starts as the identity
        assert out.shape == ref.shape and torch.allclose(out, ref)
    assert adapter_parameters(adapted.config) == sum(p.numel() for p in adapted.voice.values()) > 0
    with torch.no_grad():
        for p in adapted.voice.values():
            p.add_(0.5)
    assert not torch.allclose(adapted(z), out)
    save_bridge(adapted, ModelCard(adapted.config, {"steps": 1}), tmp_path)
    loaded, card = load_bridge(tmp_path)
    assert card.config.adapter == kind and torch.equal(loaded(z), adapted(z))
    plain = tmp_path / "plain"
    save_bridge(base, ModelCard(base.config), plain)  # cards of bridges without an adapter stay as they were
    assert "adapter" not in json.loads((plain / "bridge.json").read_text())["config"]


def test_bad_adapter_configs_are_refused():
    with pytest.raises(SmotextError, match="unknown adapter"):
        BridgeConfig(in_dim=4, out_dim=4, adapter="lora2")
    with pytest.raises(SmotextError, match="adapter_size"):
        BridgeConfig(in_dim=4, out_dim=4, adapter="prefix", adapter_size=0)
    with pytest.raises(SmotextError, match="adapter_size"):
        BridgeConfig(in_dim=4, out_dim=4, adapter="bias", adapter_size=2)
    with pytest.raises(SmotextError, match="lora"):
        TrainConfig(adapter="bias", lora_rank=2).check()


@pytest.mark.parametrize("kind", BRIDGE_KINDS)
def test_per_sample_grads_are_each_rows_own(kind):
    bridge = init_bridge(small_config(kind), seed=0)
    with torch.no_grad():
        for p in bridge.voice.values():
            p.normal_()  # away from zero, so every parameter's gradient is exercised
    names = [n for n, _ in bridge.named_parameters() if n.startswith("voice.")]
    z = torch.as_tensor(unit_rows(6, 12, seed=1))
    g = torch.randn(bridge(z).shape, generator=torch.Generator().manual_seed(2))
    got = per_sample_grads(bridge, names, z, g)
    for i in range(6):  # one backward pass per row, the slow way
        bridge.zero_grad()
        (bridge(z[i : i + 1]) * g[i : i + 1]).sum().backward()
        for n, p in bridge.named_parameters():
            if n in names:
                assert torch.allclose(got[n][i], p.grad, atol=1e-5), n


def voice_trainer(lm, encoder, texts, emb, tiny_bridge_dir, kind="prefix", dp=True, micro_batch=32, steps=3, secret=7):
    cfg = TrainConfig(steps=steps, batch_size=4, lr=0.05, warmup_steps=1, max_target_tokens=12, checkpoint_every=2,
                      adapter=kind, micro_batch=micro_batch, dp=DPConfig(50.0, max_grad_norm=0.5) if dp else None)
    base = load_bridge(tiny_bridge_dir)
    return BridgeTrainer(lm, encoder.name, encoder.fingerprint, emb, texts, cfg,
                         {"sha256": "voice-data", "texts": len(texts), "sensitive": dp}, init=base, dp_secret=secret,
                         init_description={"bridge": "tiny", "card_training": {"data": {"sensitive": False}, "dp": {"used": False}}})


def test_dp_adapter_trains_only_the_adapter_and_its_card_carries_the_epsilon(tmp_path, lm, encoder, texts, text_embeddings,
                                                                            tiny_bridge_dir):
    base, _ = load_bridge(tiny_bridge_dir)
    trainer = voice_trainer(lm, encoder, texts, text_embeddings, tiny_bridge_dir)
    assert set(trainer.trainable) == {"voice.prefix"}
    start = trainer.bridge.voice["prefix"].detach().clone()
    card = trainer.train(tmp_path, progress=False)
    bridge, loaded = load_bridge(tmp_path)
    for name, value in base.state_dict().items():  # the bridge itself: bit for bit what it was
        assert torch.equal(bridge.state_dict()[name], value), name
    assert not torch.allclose(bridge.voice["prefix"], start)
    dp = card.training["dp"]
    assert dp["used"] and 0 < dp["epsilon"] <= 50.0 + 1e-6 and "voice adapter" in dp["clipping"]
    assert loaded.config.adapter == "prefix" and loaded.config.adapter_size == 4
    assert "prefix voice adapter (2,304 parameters)" in card.training["trained"]
    eps, stages = decoder_epsilon(card.training)  # the adapter's ε, plus 0 for the public bridge under it
    assert eps == pytest.approx(dp["epsilon"]) and [s["epsilon"] for s in stages] == [pytest.approx(dp["epsilon"]), 0.0]


def test_lora_per_text_grads_are_each_texts_own(lm, encoder, texts, text_embeddings, tiny_bridge_dir):
    """The LoRA pairs inside the LM record each text's own gradient in one backward pass: the same
    as one backward pass per text, the slow way."""
    trainer = voice_trainer(lm, encoder, texts, text_embeddings, tiny_bridge_dir, kind="lora", dp=False)
    assert set(trainer.trainable) and all(n.startswith("lora.") for n in trainer.trainable)
    with torch.no_grad():
        for p in trainer.bridge.lora.parameters():
            p.normal_(std=0.02)  # B away from zero, so A's gradient is exercised too
    idx, gen = np.array([0, 3, 5]), torch.Generator().manual_seed(0)
    trainer._per_text_grads(idx, gen)
    got = {n: p.grad_sample.clone() for n, p in trainer.trainable.items()}
    for row, i in enumerate(idx):
        for p in trainer.trainable.values():
            p.grad = None
        trainer.loss_on(np.array([i]), gen, per_text=True).backward()
        for n, p in trainer.trainable.items():  # padding changes the float sums a little, nothing more
            assert float((got[n][row] - p.grad).norm()) <= 0.01 * float(p.grad.norm()), (n, i)
    first = next(iter(got))
    assert float((got[first][0] - got[first][1]).norm()) > 0.2 * float(got[first][0].norm())  # texts differ


def test_a_lora_adapter_starts_as_the_lm_and_trains_only_itself_under_dp(tmp_path, lm, encoder, texts, text_embeddings,
                                                                         tiny_bridge_dir):
    base, _ = load_bridge(tiny_bridge_dir)
    trainer = voice_trainer(lm, encoder, texts, text_embeddings, tiny_bridge_dir, kind="lora")
    idx, gen = np.arange(4), torch.Generator().manual_seed(0)
    neutral = voice_trainer(lm, encoder, texts, text_embeddings, tiny_bridge_dir, kind="bias", dp=False)  # bias 0
    with torch.no_grad():  # B = 0: the LM reads the prompt exactly as without the adapter
        assert float(trainer.loss_on(idx, gen, per_text=True)) == pytest.approx(
            float(neutral.loss_on(idx, gen, per_text=True)), abs=1e-4)
    card = trainer.train(tmp_path, progress=False)
    bridge, loaded = load_bridge(tmp_path)
    for name, value in base.state_dict().items():
        assert torch.equal(bridge.state_dict()[name], value), name
    assert any(float(p.abs().max()) > 0 for n, p in bridge.named_parameters() if n.endswith(".B"))
    assert (loaded.config.adapter, loaded.config.lora_rank, len(loaded.config.lora_modules)) == ("lora", 4, 60)
    assert "lora voice adapter (230,400 parameters)" in card.training["trained"] and card.training["dp"]["used"]
    sampler = SMOTExT(bridge=str(tmp_path), lm=lm, encoder=encoder, max_new_tokens=6).load_models()
    assert all(isinstance(t, str) for t, in sampler.decoder_.decode(text_embeddings[:2], seed=0))
    # lora decodes at its own default (T 1.0 wrote 1.6x the real texts' non-words in a release)
    assert (sampler.decoding_["temperature"], sampler.decoding_["top_p"]) == SINGLE_DECODING["lora"] != \
        (SINGLE_TEMPERATURE, SINGLE_TOP_P)


def test_micro_batches_change_memory_not_the_step(lm, encoder, texts, text_embeddings, tiny_bridge_dir):
    """Clipped per-text gradients summed over passes of 1 text are those of one pass: with the same
    secret (same Poisson batch and noise) the noisy gradient of a step is the same."""
    grads = {}
    for micro, secret in ((32, 7), (1, 7), (32, 8)):
        trainer = voice_trainer(lm, encoder, texts, text_embeddings, tiny_bridge_dir, kind="bias", micro_batch=micro,
                                secret=secret)
        assert len(poisson_batch(len(texts), trainer.dp_plan.sample_rate, secret, 0)) > 1
        trainer._dp_step(torch.Generator().manual_seed(0))
        grads[micro, secret] = trainer.trainable["voice.bias"].grad.clone()
    assert torch.allclose(grads[32, 7], grads[1, 7], atol=1e-4)  # padding widths differ: float noise only
    assert not torch.allclose(grads[32, 7], grads[32, 8], rtol=1e-2)  # another secret: another batch and noise


def test_interrupted_adapter_training_resumes_exactly(tmp_path, lm, encoder, texts, text_embeddings, tiny_bridge_dir,
                                                      monkeypatch):
    full = voice_trainer(lm, encoder, texts, text_embeddings, tiny_bridge_dir, kind="lowrank", steps=3)
    full.train(tmp_path / "a", progress=False)
    stop_at(voice_trainer(lm, encoder, texts, text_embeddings, tiny_bridge_dir, kind="lowrank", steps=3), 2,
            tmp_path / "b", monkeypatch)
    resumed = voice_trainer(lm, encoder, texts, text_embeddings, tiny_bridge_dir, kind="lowrank", steps=3)
    resumed.train(tmp_path / "b", progress=False)
    assert_same_run(full, resumed)


def test_adapter_without_dp_lowers_the_loss(lm, encoder, texts, text_embeddings, tiny_bridge_dir):
    trainer = voice_trainer(lm, encoder, texts, text_embeddings, tiny_bridge_dir, kind="bias", dp=False)
    idx, gen = np.arange(len(texts)), torch.Generator().manual_seed(0)
    before = trainer.mean_loss()
    with torch.no_grad():  # the public measure is the mean of the per-text losses
        assert before == pytest.approx(float(trainer.loss_on(idx, gen, per_text=True)), rel=1e-5)
    for _ in range(4):
        trainer._step(gen)
        trainer.step += 1
    assert trainer.mean_loss() < before - 0.02


def test_every_bridge_samples_by_default_and_greedy_stays_one_setting_away(tmp_path, lm, encoder, tiny_bridge_dir):
    base, card = load_bridge(tiny_bridge_dir)
    adapted = init_bridge(dataclasses.replace(card.config, adapter="bias"), seed=0)
    adapted.load_state_dict(base.state_dict(), strict=False)
    save_bridge(adapted, ModelCard(adapted.config, card.training), tmp_path / "adapted")

    def decoding(bridge, **options):
        sampler = SMOTExT(encoder=encoder, lm=lm, bridge=str(bridge), **options).load_models()
        return sampler.decoding_, sampler.decoder_.temperature_for(1)

    assert decoding(tmp_path / "adapted") == ({"num_candidates": 1, "temperature": SINGLE_TEMPERATURE,
                                               "top_p": SINGLE_TOP_P, "segment_tokens": None}, SINGLE_TEMPERATURE)
    assert decoding(tmp_path / "adapted", temperature=0)[0]["temperature"] == 0  # greedy on request
    assert decoding(tmp_path / "adapted", top_p=0.5)[0]["top_p"] == 0.5
    # a bridge without an adapter (the shipped kind) samples the same way: greedy was the least varied
    assert decoding(tiny_bridge_dir) == decoding(tmp_path / "adapted")
    assert decoding(tiny_bridge_dir, temperature=0) == ({"num_candidates": 1, "temperature": 0, "top_p": None,
                                                        "segment_tokens": None}, 0)
    assert decoding(tmp_path / "adapted", num_candidates=3)[0]["temperature"] == 0.8  # best-of-n keeps its own
    # and so does a loaded sampler asked for best-of-n afterwards, with the decoder it has
    sampler = SMOTExT(encoder=encoder, lm=lm, bridge=str(tmp_path / "adapted")).load_models()
    decoder = sampler.decoder_
    assert sampler.set_params(num_candidates=3).load_models().decoding_["temperature"] == 0.8
    assert sampler.decoder_ is decoder


def test_plan_says_how_many_texts_a_budget_needs():
    small, large = plan_voice(100, 4.0), plan_voice(20_000, 4.0)
    assert not small.enough and small.signal < MIN_SIGNAL and "needs about" in small.sentence()
    assert large.enough and large.batch_size == 512
    # the size it names is about enough: a corpus of that size clears the bar, a third of it does not
    assert plan_voice(small.min_texts, 4.0).signal >= 0.9 * MIN_SIGNAL
    assert not plan_voice(small.min_texts // 3, 4.0).enough
    assert plan_voice(5000, 1.0).min_texts > plan_voice(5000, 8.0).min_texts  # less budget, more texts
    with pytest.raises(SmotextError, match="needs about"):
        VoiceAdaptation(4.0).train_config(100)
    cfg, plan = VoiceAdaptation(4.0).train_config(20_000)
    assert cfg.adapter == DEFAULT_ADAPTER and cfg.batch_size == plan.batch_size == 512 and cfg.dp.target_epsilon == 4.0


def test_cli_refuses_a_corpus_too_small_for_dp_adaptation(tmp_path, capsys, monkeypatch):
    import smotext.synth.models as models

    monkeypatch.setattr(models, "load_lm", lambda *a, **k: pytest.fail("no model may load before the refusal"))
    corpus = tmp_path / "c.csv"
    corpus.write_text("text\n" + "".join(f"short note number {i}\n" for i in range(100)))
    code = main(["fit-decoder", str(corpus), "--out", str(tmp_path / "o"), "--adapter", "prefix", "--dp",
                 "--target-epsilon", "4", "--quiet"])
    err = capsys.readouterr().err
    assert code == 2 and "100 texts at ε = 4" in err and "needs about" in err
    assert not (tmp_path / "o").exists()


@pytest.mark.parametrize("argv, budgets_", [
    (["--dp", "--target-epsilon", "8"], (4.0, 4.0)),
    (["--dp", "--target-epsilon", "8", "--voice-epsilon", "2"], (6.0, 2.0)),
    (["--target-epsilon", "3"], (None, 3.0)),
    (["--voice-epsilon", "3"], (None, 3.0)),
])
def test_cli_splits_the_budget_between_generation_and_voice(argv, budgets_):
    from smotext.cli import budget_from_args, build_parser

    args = build_parser().parse_args(["release", "--corpus", "c.csv", "--out", "o", "--adapt-voice", *argv])
    assert budget_from_args(args).split() == budgets_


@pytest.mark.parametrize("argv, message", [
    (["--adapt-voice"], "needs a budget"),
    (["--adapt-voice", "--target-epsilon", "3", "--voice-epsilon", "1"], "give the voice adapter's budget once"),
    (["--adapt-voice", "--dp", "--target-epsilon", "3", "--voice-epsilon", "3"], "between 0 and --target-epsilon"),
    (["--voice-epsilon", "3"], "only applies with --adapt-voice"),
])
def test_cli_refuses_unclear_voice_budgets(tmp_path, capsys, argv, message):
    corpus = tmp_path / "c.csv"
    corpus.write_text("text,label\na,x\nb,y\n")
    assert main(["release", "--corpus", str(corpus), "--out", str(tmp_path / "o"), "--quiet", *argv]) == 2
    assert message in capsys.readouterr().err and not (tmp_path / "o").exists()


def test_release_refuses_to_adapt_on_too_few_members_before_any_model_loads(tmp_path, capsys, monkeypatch):
    import smotext.synth.models as models

    monkeypatch.setattr(models, "load_lm", lambda *a, **k: pytest.fail("no model may load before the refusal"))
    corpus = tmp_path / "c.csv"
    corpus.write_text("text,label\n" + "".join(f"note {i} about {'billing' if i % 2 else 'symptoms'},{i % 2}\n"
                                               for i in range(200)))
    assert main(["release", "--corpus", str(corpus), "--out", str(tmp_path / "o"), "--adapt-voice",
                 "--target-epsilon", "4", "--quiet"]) == 2
    err = capsys.readouterr().err
    assert "100 texts at ε = 4" in err and "needs about" in err  # the members: half of the 200
    assert not (tmp_path / "o").exists() and not list(tmp_path.glob(".o.*"))


@pytest.mark.parametrize("argv, message", [
    (["--steps", "0"], "steps must be an int >= 1"),
    (["--lr", "0"], "lr must be"),
    (["--hidden", "32"], "--hidden does not apply with --adapter"),
    (["--adapter-size", "2", "--adapter", "bias"], "--adapter-size applies to the prefix, lowrank, lora adapters"),
])
def test_fit_decoder_adapter_bad_settings_exit_2_before_models(tmp_path, capsys, monkeypatch, argv, message):
    import smotext.synth.models as models

    monkeypatch.setattr(models, "load_lm", lambda *a, **k: pytest.fail("no model may load before the refusal"))
    corpus = tmp_path / "c.csv"
    corpus.write_text("text\n" + "".join(f"short note number {i}\n" for i in range(50)))
    args = ["fit-decoder", str(corpus), "--out", str(tmp_path / "o"), "--public", "--quiet", *argv]
    if "--adapter" not in argv:
        args += ["--adapter", "lowrank"]
    assert main(args) == 2
    assert message in capsys.readouterr().err and not (tmp_path / "o").exists()


@pytest.mark.parametrize("argv, size, said, adapts", [
    ([], 200, "not adapting the voice: 100 members are too few for a DP voice adapter at ε = 4", False),
    ([], 4000, f"adapting the bridge to the members' voice: a {DEFAULT_ADAPTER} adapter trained with DP-SGD at ε = 4",
     True),
    (["--adapter", "prefix"], 4000, "a prefix adapter", True),
    (["--no-adapt-voice"], 4000, None, False),
    (["--dp", "--target-epsilon", "4"], 4000, None, False),  # DP generation: adapting would split its budget
])
def test_release_adapts_the_voice_by_default_when_the_members_are_enough(tmp_path, capsys, monkeypatch, argv, size,
                                                                         said, adapts):
    import smotext.pipeline as pipeline

    seen = []

    def stop(*args, **kwargs):  # the first model load (or the adapter's training) ends the run here
        raise KeyboardInterrupt

    monkeypatch.setattr(SMOTExT, "load_models", stop)
    monkeypatch.setattr(pipeline, "_adapt_voice", lambda *a, **k: seen.append(a[2]) or stop())
    corpus = tmp_path / "c.csv"
    corpus.write_text("text,label\n" + "".join(f"note {i} about {'billing' if i % 2 else 'symptoms'},{i % 2}\n"
                                               for i in range(size)))
    assert main(["release", "--corpus", str(corpus), "--out", str(tmp_path / "o"), *argv]) == 130
    err = capsys.readouterr().err
    assert (said in err) if said else ("voice" not in err)
    assert bool(seen) == adapts and not (tmp_path / "o").exists()
    if adapts:
        assert seen[0].dp.target_epsilon == 4.0 and seen[0].adapter == (argv[-1] if argv else DEFAULT_ADAPTER)
