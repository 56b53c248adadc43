"""Bridge save/load, model card, training checkpoints and exact resume, with the real LM."""

import json

import numpy as np
import pytest
import torch

from smotext.synth.bridge import BridgeConfig, ModelCard, init_bridge, load_bridge, save_bridge
from smotext.errors import SmotextError
from smotext.synth.train import BridgeTrainer, TrainConfig, batch_indices


def test_save_load_round_trip(tmp_path):
    cfg = BridgeConfig(in_dim=12, out_dim=20, n_tokens=3, hidden=16, encoder="enc", lm="lm")
    bridge = init_bridge(cfg, seed=5)
    card = ModelCard(cfg, {"steps": 7, "data": {"texts": 3}})
    save_bridge(bridge, card, tmp_path)
    loaded, card2 = load_bridge(tmp_path)
    assert card2.to_json() == card.to_json()
    assert "lora_rank" not in card.to_json()["config"]  # LoRA settings only appear on bridges that use it
    for (k, v), (k2, v2) in zip(bridge.state_dict().items(), loaded.state_dict().items()):
        assert k == k2 and torch.equal(v, v2)
    z = torch.randn(4, 12)
    assert loaded(z).shape == (4, 3, 20)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bridge.json", "bridge.safetensors"]


def test_same_seed_same_initial_weights():
    cfg = BridgeConfig(in_dim=4, out_dim=6, n_tokens=2, hidden=8)
    a, b, c = init_bridge(cfg, 1), init_bridge(cfg, 1), init_bridge(cfg, 2)
    assert all(torch.equal(x, y) for x, y in zip(a.parameters(), b.parameters()))
    assert not all(torch.equal(x, y) for x, y in zip(a.parameters(), c.parameters()))


@pytest.mark.parametrize(
    "mutate, message",
    [
        (lambda d: d.update(format="other"), "not a smotext bridge card"),
        (lambda d: d["config"].update(colour="red"), "unknown config key"),
        (lambda d: d["config"].update(n_tokens=0), "n_tokens must be a positive int"),
        (lambda d: d["config"].update(lora_rank=4), "lora_rank and lora_modules must be given together"),
        (lambda d: d["config"].update(lora_rank=2, lora_modules={"q": [4]}), r"must be \[in_features, out_features\]"),
    ],
)
def test_bad_cards_are_refused(tmp_path, mutate, message):
    cfg = BridgeConfig(in_dim=4, out_dim=6, n_tokens=2, hidden=8)
    save_bridge(init_bridge(cfg, 0), ModelCard(cfg), tmp_path)
    data = json.loads((tmp_path / "bridge.json").read_text())
    mutate(data)
    (tmp_path / "bridge.json").write_text(json.dumps(data))
    with pytest.raises(SmotextError, match=message):
        load_bridge(tmp_path)


def test_missing_or_mismatched_weights_are_refused(tmp_path):
    with pytest.raises(SmotextError, match="expected bridge.json and bridge.safetensors"):
        load_bridge(tmp_path)
    cfg = BridgeConfig(in_dim=4, out_dim=6, n_tokens=2, hidden=8)
    save_bridge(init_bridge(cfg, 0), ModelCard(cfg), tmp_path)
    data = json.loads((tmp_path / "bridge.json").read_text())
    data["config"]["hidden"] = 9
    (tmp_path / "bridge.json").write_text(json.dumps(data))
    with pytest.raises(SmotextError, match="weights don't match the card"):
        load_bridge(tmp_path)


def test_batch_order_is_a_function_of_seed_and_step():
    a = [batch_indices(s, 3, 7, seed=0).tolist() for s in range(5)]
    assert a == [batch_indices(s, 3, 7, seed=0).tolist() for s in range(5)]
    epoch0 = a[0] + a[1] + [a[2][0]]
    assert sorted(epoch0) == list(range(7))  # each epoch visits every row once


def _trainer(lm, encoder, texts, emb, steps, **kw):
    cfg = TrainConfig(steps=steps, batch_size=4, warmup_steps=1, n_tokens=2, hidden=32, max_target_tokens=12,
                      checkpoint_every=2, noise_std=0.1, **kw)
    return BridgeTrainer(lm, encoder.name, encoder.fingerprint, emb, texts, cfg, {"sha256": "data-1", "texts": len(texts)})


def interrupt_at(trainer, step, monkeypatch):
    """Make ``trainer`` raise KeyboardInterrupt (as Ctrl-C would) when it reaches ``step``."""
    real_vectors = trainer._vectors  # every kind of step starts a pass here

    def vectors(idx, gen):
        if trainer.step == step:
            raise KeyboardInterrupt
        return real_vectors(idx, gen)

    monkeypatch.setattr(trainer, "_vectors", vectors)


def stop_at(trainer, step, folder, monkeypatch):
    """Run ``trainer`` into ``folder`` until Ctrl-C arrives at ``step`` (it checkpoints and re-raises)."""
    interrupt_at(trainer, step, monkeypatch)
    with pytest.raises(KeyboardInterrupt):
        trainer.train(folder, progress=False)


def assert_same_run(a, b):
    """Two trainers went through the same losses to the same weights."""
    np.testing.assert_allclose(b.losses, a.losses, rtol=1e-5)
    for x, y in zip(a.bridge.parameters(), b.bridge.parameters()):
        torch.testing.assert_close(x, y, rtol=1e-5, atol=1e-6)


def test_interrupted_training_resumes_exactly(tmp_path, lm, encoder, texts, text_embeddings, monkeypatch):
    straight = _trainer(lm, encoder, texts, text_embeddings, steps=5)
    straight.train(tmp_path / "a", progress=False)

    # Ctrl-C during step 4 (after the step-2 checkpoint): the trainer saves where it is and re-raises.
    stop_at(_trainer(lm, encoder, texts, text_embeddings, steps=5), 3, tmp_path / "b", monkeypatch)
    assert json.loads((tmp_path / "b" / "checkpoint" / "state.json").read_text())["step"] == 3
    assert not (tmp_path / "b" / "bridge.json").exists()  # no finished bridge from an unfinished run

    resumed = _trainer(lm, encoder, texts, text_embeddings, steps=5)  # the same command again
    resumed.train(tmp_path / "b", progress=False)
    assert resumed.step == 5 and len(resumed.losses) == 5
    assert_same_run(straight, resumed)
    bridge, card = load_bridge(tmp_path / "b")
    assert card.training["steps"] == 5 and card.training["data"]["sha256"] == "data-1"
    assert card.config.lm_sha256 == lm.fingerprint and card.config.encoder_sha256 == encoder.fingerprint
    assert card.training["final_loss"] == pytest.approx(np.mean(straight.losses), rel=1e-4)


def test_resume_refuses_a_checkpoint_from_other_settings(tmp_path, lm, encoder, texts, text_embeddings):
    _trainer(lm, encoder, texts, text_embeddings, steps=1).train(tmp_path, progress=False)
    other = _trainer(lm, encoder, texts, text_embeddings, steps=1, lr=5e-4)
    with pytest.raises(SmotextError, match="checkpoint from a run with other settings"):
        other.train(tmp_path, progress=False)


def test_training_lowers_the_loss_on_its_batch(lm, encoder, texts, text_embeddings, tmp_path):
    trainer = _trainer(lm, encoder, texts[:4], text_embeddings[:4], steps=10, lr=1e-2)
    idx = np.arange(4)
    gen = lambda: torch.Generator().manual_seed(0)
    with torch.no_grad():
        before = float(trainer.loss_on(idx, gen()))
    trainer.train(tmp_path, progress=False)
    with torch.no_grad():
        after = float(trainer.loss_on(idx, gen()))
    assert after < before - 0.15  # seen: 4.07 -> 3.78


def test_export_a_checkpoint_before_the_run_ends(tmp_path, lm, encoder, texts, text_embeddings, monkeypatch):
    from smotext.synth.train import export_checkpoint

    trainer = _trainer(lm, encoder, texts, text_embeddings, steps=5)
    stop_at(trainer, 2, tmp_path, monkeypatch)
    card = export_checkpoint(tmp_path, dtype=torch.float16)
    assert card.training["steps"] == 2 and "exported at step 2 of a 5-step schedule" in card.training["stopped_early"]
    bridge, card2 = load_bridge(tmp_path)
    assert card2.to_json() == card.to_json()
    for x, y in zip(trainer.bridge.parameters(), bridge.parameters()):
        torch.testing.assert_close(x.detach().half().float(), y)
    with pytest.raises(SmotextError, match="no checkpoint"):
        export_checkpoint(tmp_path / "nothing")


def test_a_checkpoint_from_before_newer_settings_still_resumes(tmp_path, lm, encoder, texts, text_embeddings):
    """Settings added later (dp, init) count as their defaults when an older checkpoint lacks them."""
    trainer = _trainer(lm, encoder, texts, text_embeddings, steps=3)
    trainer.save_checkpoint(tmp_path)
    state = tmp_path / "checkpoint" / "state.json"
    meta = json.loads(state.read_text())
    for key in ("dp", "init"):
        del meta["train_config"][key]
    state.write_text(json.dumps(meta))
    assert _trainer(lm, encoder, texts, text_embeddings, steps=3).load_checkpoint(tmp_path)
    with pytest.raises(SmotextError, match="other settings"):  # but a real difference is still refused
        _trainer(lm, encoder, texts, text_embeddings, steps=3, lr=5e-4).load_checkpoint(tmp_path)


# ---------------------------------------------------------------- LoRA


def test_lora_changes_the_lm_only_while_attached(tmp_path, lm):
    from smotext.synth.bridge import lora_targets

    modules = lora_targets(lm.model)
    assert len(modules) == 2 * lm.model.config.num_hidden_layers  # q and v of every layer
    cfg = BridgeConfig(in_dim=4, out_dim=lm.hidden_size, n_tokens=2, hidden=8, lora_rank=2, lora_modules=modules)
    bridge = init_bridge(cfg, seed=0)
    ids = lm.tokenizer("A short sentence to score.", return_tensors="pt")["input_ids"]
    with torch.no_grad():
        base = lm.model(ids).logits
        with bridge.attached(lm.model):  # B starts at zero: a fresh LoRA leaves the LM as it was
            torch.testing.assert_close(lm.model(ids).logits, base)
        for pair in bridge.lora.values():
            pair.B.normal_(0, 0.05)
        with bridge.attached(lm.model):
            moved = lm.model(ids).logits
        after = lm.model(ids).logits
    assert (moved - base).abs().max() > 1e-2
    torch.testing.assert_close(after, base)  # the hooks are gone once the block ends

    save_bridge(bridge, ModelCard(cfg), tmp_path)
    loaded, card = load_bridge(tmp_path)
    assert card.config.lora_modules == modules and card.config.lora_rank == 2
    with torch.no_grad(), loaded.attached(lm.model):
        torch.testing.assert_close(lm.model(ids).logits, moved)


def test_lora_training_updates_the_lm_side_and_decodes(tmp_path, lm, encoder, texts, text_embeddings):
    from smotext.synth.decoder import Decoder

    ids = lm.tokenizer("Hello there", return_tensors="pt")["input_ids"]
    with torch.no_grad():
        base = lm.model(ids).logits
    trainer = _trainer(lm, encoder, texts, text_embeddings, steps=2, lora_rank=2)
    card = trainer.train(tmp_path, progress=False)
    assert card.config.lora_rank == 2 and card.training["train_config"]["lora_rank"] == 2
    assert all(float(p.B.detach().abs().sum()) > 0 for p in trainer.bridge.lora.values())
    bridge, card = load_bridge(tmp_path)
    with torch.no_grad():
        torch.testing.assert_close(lm.model(ids).logits, base)  # the LM's own weights never moved
        with bridge.attached(lm.model):
            assert not torch.allclose(lm.model(ids).logits, base)
    out = Decoder(bridge, card, lm, max_new_tokens=6).decode(text_embeddings[:2])
    assert len(out) == 2 and all(isinstance(c[0], str) for c in out)


def test_lora_with_dp_or_for_another_lm_is_refused(lm):
    from smotext.synth.decoder import Decoder
    from smotext.synth.dp import DPConfig

    with pytest.raises(SmotextError, match="DP-SGD training with LoRA is not supported"):
        TrainConfig(lora_rank=4, dp=DPConfig(target_epsilon=8.0)).check()
    cfg = BridgeConfig(in_dim=384, out_dim=lm.hidden_size, lora_rank=2,
                       lora_modules={"model.layers.99.self_attn.q_proj": [lm.hidden_size, lm.hidden_size]})
    with pytest.raises(SmotextError, match="LoRA update for the LM layer 'model.layers.99"):
        Decoder(init_bridge(cfg, 0), ModelCard(cfg), lm)


def test_a_bridge_with_non_finite_weights_is_refused(tmp_path):
    cfg = BridgeConfig(in_dim=12, out_dim=20, n_tokens=3, hidden=16, encoder="enc", lm="lm")
    bridge = init_bridge(cfg, seed=5)
    with torch.no_grad():
        next(bridge.parameters())[0, 0] = float("nan")
    save_bridge(bridge, ModelCard(cfg, {"steps": 7}), tmp_path)
    with pytest.raises(SmotextError, match="hold NaN or infinity"):
        load_bridge(tmp_path)


def test_diverging_training_stops_at_its_last_good_checkpoint(tmp_path, lm, encoder, texts, text_embeddings, monkeypatch):
    trainer = _trainer(lm, encoder, texts, text_embeddings, steps=5)
    real_step = trainer._step
    monkeypatch.setattr(trainer, "_step", lambda gen: real_step(gen) if trainer.step < 2 else float("nan"))
    with pytest.raises(SmotextError, match="training diverged: the loss became nan at step 3"):
        trainer.train(tmp_path, progress=False)
    assert json.loads((tmp_path / "checkpoint" / "state.json").read_text())["step"] == 2  # checkpoint_every=2
    assert not (tmp_path / "bridge.json").exists()


def test_a_damaged_checkpoint_is_one_clear_error_on_resume(tmp_path, lm, encoder, texts, text_embeddings):
    _trainer(lm, encoder, texts, text_embeddings, steps=1).train(tmp_path, progress=False)
    (tmp_path / "checkpoint" / "state.json").write_text('{"step": 1, "train_config": ')
    with pytest.raises(SmotextError, match="the checkpoint is damaged"):
        _trainer(lm, encoder, texts, text_embeddings, steps=1).train(tmp_path, progress=False)
