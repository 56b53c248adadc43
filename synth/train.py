"""Training a bridge with an autoencoding objective (embed a text, reconstruct it), resumably.

The LM stays frozen; gradients flow through it into the bridge. Checkpoints hold the bridge,
the optimizer state and the RNG state in safetensors plus a JSON file, so a resumed run
continues exactly where the interrupted one stopped (the data order is a function of the seed).
With a ``DPConfig`` the bridge is trained with DP-SGD (``synth.dp``): Poisson batches, per-text
clipping and calibrated noise, and the card records the ε the steps taken spent.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import math
import os
import secrets
import time
import warnings
from collections.abc import Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
from tqdm.auto import tqdm

from smotext.synth.bridge import (ADAPTER_SIZE, ADAPTERS, CARD_FILE, SIZED_ADAPTERS, Bridge, BridgeConfig, ModelCard,
                                  adapter_parameters, init_bridge, lora_targets, per_text_lora_grads, save_bridge)
from smotext.synth.decoder import PromptTemplate, prefix_cache
from smotext.synth.dp import (VOICE_LR, VOICE_STEPS, DPConfig, DPPlan, VoicePlan, calibrate, card_facts, plan_voice,
                              poisson_batch, voice_batch)
from smotext.errors import SmotextError, SmotextWarning
from smotext.params import check_declared, check_value, int_at_least
from smotext.synth.params import (ADAPTER_LR, DEFAULT_ADAPTER, LORA_VOICE_MODULES, TRAIN_PARAMS,  # noqa: F401
                                  VOICE_PARAMS)  # (DEFAULT_ADAPTER re-exported)
from smotext.synth.models import LanguageModel

log = logging.getLogger("smotext")

CHECKPOINT_DIR = "checkpoint"


_T = TRAIN_PARAMS


@dataclass
class TrainConfig:
    """Hyper-parameters of a bridge training run (``TRAIN_PARAMS``); a resumed run must use the same ones."""

    steps: int = _T["steps"].default
    batch_size: int = _T["batch_size"].default
    lr: float = _T["lr"].default
    weight_decay: float = _T["weight_decay"].default
    warmup_steps: int = _T["warmup_steps"].default
    n_tokens: int = _T["n_tokens"].default
    hidden: int = _T["hidden"].default
    max_target_tokens: int = _T["max_target_tokens"].default
    noise_std: float = _T["noise_std"].default
    seed: int = _T["seed"].default
    checkpoint_every: int = _T["checkpoint_every"].default
    dp: DPConfig | None = None  # DP-SGD; batch_size is then the expected size of a Poisson batch
    init: str = ""  # sha256 of the bridge weights training started from ("" = fresh weights)
    lora_rank: int = _T["lora_rank"].default
    adapter: str = ""  # a voice adapter (bridge.ADAPTERS) trained on top of the frozen bridge given as init
    adapter_size: int = 0  # prefix tokens or low-rank rank (0: the kind's default)
    micro_batch: int = _T["micro_batch"].default

    def check(self) -> None:
        if self.adapter not in ("", *ADAPTERS):
            raise SmotextError(f"unknown adapter {self.adapter!r}; valid: {', '.join(ADAPTERS)}", params="adapter")
        if self.adapter_size and self.adapter not in SIZED_ADAPTERS:
            raise SmotextError(f"adapter_size applies to the {', '.join(SIZED_ADAPTERS)} adapters, not "
                               f"{self.adapter or 'none'!r}", params="adapter_size")
        if self.adapter and self.lora_rank:
            raise SmotextError("a voice adapter trains on top of a frozen bridge: leave lora-rank out", params="lora_rank")
        check_declared(self, TRAIN_PARAMS)
        check_value("adapter_size", self.adapter_size, int_at_least(0))
        if self.lora_rank and self.dp is not None:
            raise SmotextError("DP-SGD training with LoRA is not supported: train the bridge alone (lora_rank 0) under DP",
                               params="lora_rank")
        if self.dp is not None:
            self.dp.check()


def batch_indices(step: int, batch_size: int, n: int, seed: int) -> np.ndarray:
    """Rows of the training set used at ``step``: consecutive slices of seeded per-epoch permutations."""
    start = step * batch_size
    idx = []
    while len(idx) < batch_size:
        epoch, pos = divmod(start + len(idx), n)
        perm = np.random.default_rng([seed, epoch]).permutation(n)
        idx.extend(perm[pos : pos + batch_size - len(idx)].tolist())
    return np.asarray(idx)


def _lr_at(step: int, cfg: TrainConfig) -> float:
    if step < cfg.warmup_steps:
        return cfg.lr * (step + 1) / cfg.warmup_steps
    progress = (step - cfg.warmup_steps) / max(1, cfg.steps - cfg.warmup_steps)
    return cfg.lr * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * min(1.0, progress))))


def make_card(config: BridgeConfig, step: int, train_config: dict, data: dict, losses: list[float],
              device: str, seconds: float, dp: DPPlan | None = None, init: dict | None = None) -> ModelCard:
    """The model card of a bridge after ``step`` steps of a run configured by ``train_config``."""
    recent = losses[-50:]
    trained = "all bridge parameters"
    if config.adapter:
        trained = f"a {config.adapter} voice adapter ({adapter_parameters(config):,} parameters); the rest of the bridge frozen"
    training = {
        "objective": "autoencoding: embed a text, reconstruct it; LM frozen", "trained": trained,
        "steps": step, "train_config": train_config, "data": data,
        "final_loss": float(np.mean(recent)) if recent else None,
        "loss_curve": [float(np.mean(losses[i : i + 50])) for i in range(0, len(losses), 50)],
        "device": device, "train_seconds": round(seconds, 1),
        "dp": card_facts(dp, step, trained),
    }
    if init:
        training["init"] = init
    if step < train_config["steps"]:
        training["stopped_early"] = f"exported at step {step} of a {train_config['steps']}-step schedule"
    return ModelCard(config=config, training=training)


@contextmanager
def _damaged_checkpoint(ck: Path):
    """A checkpoint that can't be read (cut short, edited, another version) is one clear error."""
    try:
        yield
    except SmotextError:
        raise
    except Exception as e:  # json, safetensors, torch and key errors alike: the files are not what we wrote
        raise SmotextError(f"{ck}: the checkpoint is damaged ({type(e).__name__}: {e}); delete that folder to "
                           "start the run anew") from None


def export_bridge_folder(folder: str | os.PathLike, half: bool = False) -> ModelCard:
    """``export_checkpoint`` with float16 weights when ``half``, else float32."""
    return export_checkpoint(folder, dtype=torch.float16 if half else torch.float32)


def export_checkpoint(folder: str | os.PathLike, dtype: torch.dtype = torch.float32) -> ModelCard:
    """Write bridge.safetensors + bridge.json from the latest checkpoint in ``folder`` (e.g. to use a
    bridge before its run has finished); the card records the step it was exported at."""
    from safetensors.torch import load_file

    ck = Path(folder) / CHECKPOINT_DIR
    if not (ck / "state.json").exists():
        raise SmotextError(f"{folder}: no checkpoint to export (expected {ck / 'state.json'})")
    with _damaged_checkpoint(ck):
        meta = json.loads((ck / "state.json").read_text(encoding="utf-8"))
        config = BridgeConfig(**meta["bridge_config"])
        bridge = Bridge(config)
        tensors = load_file(str(ck / "state.safetensors"))
        bridge.load_state_dict({k[len("bridge."):]: v for k, v in tensors.items() if k.startswith("bridge.")})
        plan = DPPlan(**meta["dp_plan"]) if meta.get("dp_plan") else None
        card = make_card(config, meta["step"], meta["train_config"], meta["data"], meta["losses"], meta.get("device", "?"),
                         meta.get("seconds", 0.0), plan, meta.get("init"))
    save_bridge(bridge, card, folder, dtype=dtype)
    return card


class BridgeTrainer:
    """Trains one bridge for one (encoder, LM) pair on a list of texts, with checkpoint and resume.

    ``init`` (a loaded bridge and its card) adapts an existing bridge instead of training a fresh
    one: its shape and prompt are kept, and ``cfg.init`` records its weights' sha256.
    ``dp_secret`` seeds DP-SGD's batch sampling and noise. It must stay secret (the guarantee assumes
    an adversary can't replay either), so it defaults to a fresh random number, is kept only in the
    private checkpoint (so a resumed run continues exactly) and never in the card; tests pass one.
    """

    def __init__(self, lm: LanguageModel, encoder_name: str, encoder_sha256: str, embeddings: np.ndarray,
                 texts: Sequence[str], cfg: TrainConfig, data_description: dict, instruction: str | None = None,
                 init: tuple[Bridge, ModelCard] | None = None, init_description: dict | None = None,
                 dp_secret: int | None = None):
        if cfg.adapter and not cfg.adapter_size:
            cfg = dataclasses.replace(cfg, adapter_size=ADAPTER_SIZE[cfg.adapter])
        cfg.check()
        if len(texts) < 2:
            raise SmotextError("training a bridge needs at least 2 texts")
        self.lm, self.cfg, self.texts = lm, cfg, list(texts)
        self.embeddings = torch.as_tensor(embeddings, dtype=torch.float32)
        if cfg.adapter and init is None:
            raise SmotextError("a voice adapter trains on top of an existing bridge: give the bridge to adapt "
                               "(init, e.g. 'default')", params="adapter")
        if init is not None:
            start, card = init
            if (card.config.encoder_sha256, card.config.lm_sha256) != (encoder_sha256, lm.fingerprint):
                raise SmotextError("the bridge to adapt was trained for another encoder or LM than the ones given")
            if int(embeddings.shape[1]) != card.config.in_dim:
                raise SmotextError(f"the bridge to adapt takes {card.config.in_dim}-d vectors, the encoder gives {embeddings.shape[1]}")
            if cfg.lora_rank and cfg.lora_rank != card.config.lora_rank:
                raise SmotextError(f"the bridge to adapt has LoRA rank {card.config.lora_rank}; adapting keeps its shape, "
                                   "so leave lora-rank out")
            if (cfg.dp is not None or cfg.adapter == "lora") and card.config.lora_rank:
                raise SmotextError("the bridge to adapt carries LoRA updates of the LM, which DP-SGD training and a lora "
                                   "voice adapter do not support")
            if card.config.adapter and (cfg.adapter or cfg.dp is not None):
                raise SmotextError(f"the bridge to adapt already carries a {card.config.adapter} voice adapter; adapt the "
                                   "bridge it was trained on instead")
            config = BridgeConfig(**asdict(card.config))
            if cfg.adapter == "lora":  # the adapter is LoRA pairs on the LM's own layers, kept in the bridge
                config = dataclasses.replace(config, adapter="lora", adapter_size=cfg.adapter_size,
                                             lora_rank=cfg.adapter_size,
                                             lora_modules=lora_targets(lm.model, LORA_VOICE_MODULES))
            elif cfg.adapter:
                config = dataclasses.replace(config, adapter=cfg.adapter, adapter_size=cfg.adapter_size)
            own = "lora." if cfg.adapter == "lora" else "voice."
            self.bridge = init_bridge(config, cfg.seed).to(lm.device)
            missing, unexpected = self.bridge.load_state_dict(start.state_dict(), strict=False)
            if unexpected or any(not k.startswith(own) for k in missing):  # only a new adapter may be missing
                raise SmotextError(f"the bridge to adapt does not match its card (missing {missing[:3]}, "
                                   f"unexpected {unexpected[:3]})")
            if cfg.adapter == "prefix":
                init_prefix(self.bridge, lm, config.instruction)
            if cfg.adapter:  # the bridge itself stays as it was: only the adapter learns
                for name, p in self.bridge.named_parameters():
                    p.requires_grad_(name.startswith(own))
        else:
            table = lm.model.get_input_embeddings().weight
            config = BridgeConfig(
                in_dim=int(embeddings.shape[1]), out_dim=lm.hidden_size, n_tokens=cfg.n_tokens, hidden=cfg.hidden,
                out_scale=float(table.detach().float().std()), encoder=encoder_name, encoder_sha256=encoder_sha256,
                lm=lm.name, lm_sha256=lm.fingerprint,
            )
            if instruction:
                config.instruction = instruction
            if cfg.lora_rank:
                config.lora_rank, config.lora_modules = cfg.lora_rank, lora_targets(lm.model)
            self.bridge = init_bridge(config, cfg.seed).to(lm.device)
        self.init_description = init_description
        self.template = PromptTemplate.build(lm.tokenizer, config.instruction)
        self.trainable = {n: p for n, p in self.bridge.named_parameters() if p.requires_grad}
        self.optimizer = torch.optim.AdamW(self.trainable.values(), lr=cfg.lr, weight_decay=cfg.weight_decay)
        self.dp_plan: DPPlan | None = None
        self.private_bridge = None
        self._prefix_kv = None
        self.dp_secret = dp_secret if dp_secret is not None else secrets.randbits(63)
        if cfg.dp is not None:
            self._make_private()
        self.data_description = data_description
        self.step = 0
        self.losses: list[float] = []
        self.seconds = 0.0
        self._targets = self._tokenize_targets()

    def _make_private(self) -> None:
        from opacus import GradSampleModule
        from opacus.optimizers import DPOptimizer

        self.dp_plan = calibrate(self.cfg.dp, len(self.texts), self.cfg.batch_size, self.cfg.steps)
        # Per-text gradients for the bridge only: the frozen LM just carries them back to it. A voice
        # adapter's come from per_sample_grads instead (Opacus has no hooks for bare parameters).
        self.private_bridge = None if self.cfg.adapter else GradSampleModule(self.bridge, loss_reduction="mean")
        self.noise_generator = torch.Generator(device=self.lm.device).manual_seed(self.dp_secret)
        self.optimizer = DPOptimizer(
            self.optimizer, noise_multiplier=self.dp_plan.noise_multiplier, max_grad_norm=self.dp_plan.max_grad_norm,
            expected_batch_size=self.cfg.batch_size, loss_reduction="mean", generator=self.noise_generator,
        )

    def _tokenize_targets(self) -> list[list[int]]:
        tok = self.lm.tokenizer
        ids = tok(self.texts, add_special_tokens=False, truncation=True, max_length=self.cfg.max_target_tokens)["input_ids"]
        return [row + [tok.eos_token_id] for row in ids]

    def loss_on(self, idx: np.ndarray, generator: torch.Generator, per_text: bool = False) -> torch.Tensor:
        """Mean next-token loss on the answers of the rows ``idx`` (prompt positions are not scored).

        ``per_text`` averages each text's tokens first, then the texts: DP-SGD needs every text's
        gradient to depend on that text alone, which a mean over all tokens of a batch breaks.
        """
        z = self._vectors(idx, generator)
        bridge = self.private_bridge if self.private_bridge is not None else self.bridge
        losses = self.answer_loss(bridge(z), idx, per_text)
        return losses.mean() if per_text else losses

    @torch.no_grad()
    def mean_loss(self) -> float:
        """Mean per-text reconstruction loss of all the trainer's texts through its bridge as it
        stands (no noise on the vectors, no update): how close the bridge is to these texts."""
        idx = np.arange(len(self.texts))
        losses = [self.answer_loss(self.bridge(self.embeddings[c].to(self.lm.device)), c, per_text=True)
                  for c in self._chunks(idx)]
        return float(torch.cat(losses).mean())

    def _vectors(self, idx: np.ndarray, generator: torch.Generator) -> torch.Tensor:
        dev = self.lm.device
        z = self.embeddings[idx].to(dev)
        if self.cfg.noise_std > 0:
            z = z + self.cfg.noise_std * torch.randn(z.shape, generator=generator).to(dev) / math.sqrt(z.shape[1])
            z = torch.nn.functional.normalize(z, dim=1)
        return z

    def answer_loss(self, soft: torch.Tensor, idx: np.ndarray, per_text: bool = False) -> torch.Tensor:
        """The LM's loss on the answers of rows ``idx`` given their soft tokens: one number (mean over
        all answer tokens), or with ``per_text`` each text's mean token loss (a vector)."""
        dev = self.lm.device
        cache = self._prompt_cache(len(idx))
        if cache is None:
            prompt = self.template.embeds(self.lm, soft)
        else:  # the prompt's fixed start is in the cache: feed the soft tokens onwards
            prompt = self.template.after_prefix(self.lm, soft)
        targets = [self._targets[i] for i in idx]
        width = max(map(len, targets))
        pad = self.lm.tokenizer.pad_token_id
        tgt = torch.full((len(idx), width), pad, dtype=torch.long)
        mask = torch.zeros((len(idx), width), dtype=torch.long)
        for r, t in enumerate(targets):
            tgt[r, : len(t)] = torch.tensor(t)
            mask[r, : len(t)] = 1
        tgt, mask = tgt.to(dev), mask.to(dev)
        embeds = torch.cat([prompt, self.lm.model.get_input_embeddings()(tgt)], dim=1)
        cached = 0 if cache is None else cache.get_seq_length()
        attn = torch.cat([torch.ones((len(idx), cached + prompt.shape[1]), dtype=torch.long, device=dev), mask], dim=1)
        labels = torch.cat([torch.full(prompt.shape[:2], -100, device=dev), tgt.masked_fill(mask == 0, -100)], dim=1)
        autocast = torch.autocast("cuda", dtype=torch.bfloat16) if dev.type == "cuda" else torch.autocast("cpu", enabled=False)
        extra = {} if cache is None else {"cache": cache, "use_cache": True}
        with autocast, self.bridge.attached(self.lm.model):
            if not per_text:
                return self.lm.model(inputs_embeds=embeds, attention_mask=attn, labels=labels, **extra).loss
            # Only the answer's positions are scored: the LM head (a fifth of the LM) skips the prompt's.
            logits = self.lm.model(inputs_embeds=embeds, attention_mask=attn, logits_to_keep=width + 1,
                                   **extra).logits[:, :-1].float()
        shifted = labels[:, -width:]
        token_loss = torch.nn.functional.cross_entropy(logits.transpose(1, 2), shifted, ignore_index=-100, reduction="none")
        scored = (shifted != -100).sum(dim=1).clamp(min=1)
        return token_loss.sum(dim=1) / scored

    def _prompt_cache(self, rows: int):
        """The LM's keys and values for the prompt's fixed start (chat header and instruction), for
        ``rows`` texts; None where the start is not fixed (LoRA changes how the LM reads it).
        Nothing before the soft tokens is trained, so computing it once saves a third of each pass."""
        if self.bridge.config.lora_rank:
            return None
        if self._prefix_kv is None:
            self._prefix_kv = self.template.prefix_kv(self.lm)
        return prefix_cache(self._prefix_kv, rows, self.lm.model.config)

    # ------------------------------------------------------------ checkpoints

    def _state(self) -> tuple[dict[str, torch.Tensor], dict]:
        tensors = {f"bridge.{k}": v.detach().cpu().contiguous() for k, v in self.bridge.state_dict().items()}
        opt = self.optimizer.state_dict()
        for pid, st in opt["state"].items():
            for key, val in st.items():
                tensors[f"optim.{pid}.{key}"] = torch.as_tensor(val).detach().cpu().contiguous()
        tensors["rng.torch"] = torch.random.get_rng_state()
        if self.dp_plan is not None:
            tensors["rng.dp_noise"] = self.noise_generator.get_state()
        meta = {
            "step": self.step, "losses": self.losses, "seconds": self.seconds, "device": str(self.lm.device),
            "train_config": asdict(self.cfg), "bridge_config": asdict(self.bridge.config),
            "data": self.data_description, "param_groups": opt["param_groups"],
            "dp_plan": asdict(self.dp_plan) if self.dp_plan is not None else None, "init": self.init_description,
            "dp_secret": self.dp_secret if self.dp_plan is not None else None,
            "optim_keys": {str(pid): {k: list(torch.as_tensor(v).shape) for k, v in st.items()} for pid, st in opt["state"].items()},
        }
        return tensors, meta

    def save_checkpoint(self, folder: Path) -> None:
        from safetensors.torch import save_file

        ck = folder / CHECKPOINT_DIR
        ck.mkdir(parents=True, exist_ok=True)
        tensors, meta = self._state()
        from smotext.outputs import atomic_files

        with atomic_files(ck / "state.safetensors", ck / "state.json") as (tmp_w, tmp_meta):
            save_file(tensors, str(tmp_w))
            tmp_meta.write_text(json.dumps(meta, indent=1), encoding="utf-8")

    def load_checkpoint(self, folder: Path) -> bool:
        """Resume from ``folder``'s checkpoint if there is one; refuse one made with other settings."""
        from safetensors.torch import load_file

        ck = folder / CHECKPOINT_DIR
        if not (ck / "state.json").exists() or not (ck / "state.safetensors").exists():
            return False
        with _damaged_checkpoint(ck):
            meta = json.loads((ck / "state.json").read_text(encoding="utf-8"))
            # Settings added since a checkpoint was written count as their defaults, so old runs still resume.
            saved = {**{k: v for k, v in asdict(TrainConfig()).items() if k not in meta["train_config"]}, **meta["train_config"]}
            if saved != asdict(self.cfg) or any(meta["data"].get(k) != self.data_description.get(k)
                                                for k in ("sha256", "vectors")):
                raise SmotextError(
                    f"{folder} holds a checkpoint from a run with other settings or data; "
                    "use the same command to resume, or another --out folder (or delete it) to start anew"
                )
            saved_bridge = meta["bridge_config"]
            if {k: saved_bridge[k] for k in ("in_dim", "out_dim", "encoder_sha256", "lm_sha256")} != {
                k: getattr(self.bridge.config, k) for k in ("in_dim", "out_dim", "encoder_sha256", "lm_sha256")
            }:
                raise SmotextError(f"{folder} holds a checkpoint for other models; use another output folder")
            tensors = load_file(str(ck / "state.safetensors"))
            self.bridge.load_state_dict({k[len("bridge."):]: v for k, v in tensors.items() if k.startswith("bridge.")})
            state = {}
            for pid, shapes in meta["optim_keys"].items():
                state[int(pid)] = {k: tensors[f"optim.{pid}.{k}"].reshape(shape).to(self.lm.device if k != "step" else "cpu")
                                   for k, shape in shapes.items()}
            self.optimizer.load_state_dict({"state": state, "param_groups": meta["param_groups"]})
            torch.random.set_rng_state(tensors["rng.torch"])
            if self.dp_plan is not None:
                self.dp_secret = meta["dp_secret"]
                self.noise_generator.set_state(tensors["rng.dp_noise"])
            self.step, self.losses, self.seconds = meta["step"], meta["losses"], meta.get("seconds", 0.0)
        return True

    # ------------------------------------------------------------ training

    def _chunks(self, idx: np.ndarray) -> list[np.ndarray]:
        """``idx`` in passes of at most ``micro_batch`` texts (gradient accumulation bounds memory),
        texts of similar length together so that little of each pass is padding."""
        if len(idx) > self.cfg.micro_batch:
            idx = idx[np.argsort([len(self._targets[i]) for i in idx], kind="stable")]
        return [idx[i : i + self.cfg.micro_batch] for i in range(0, len(idx), self.cfg.micro_batch)]

    def _step(self, gen: torch.Generator) -> float:
        idx = batch_indices(self.step, self.cfg.batch_size, len(self.texts), self.cfg.seed)
        self.optimizer.zero_grad(set_to_none=True)
        total = 0.0
        for chunk in self._chunks(idx):
            loss = self.loss_on(chunk, gen) * (len(chunk) / len(idx))
            loss.backward()
            total += float(loss.detach())
        torch.nn.utils.clip_grad_norm_(self.trainable.values(), 1.0)
        self.optimizer.step()
        return total

    def _dp_step(self, gen: torch.Generator) -> float | None:
        """One DP-SGD step: a Poisson batch, every text's gradient clipped, one noise draw for the
        whole batch. Passes of ``micro_batch`` texts are clipped and summed before the noise."""
        idx = poisson_batch(len(self.texts), self.dp_plan.sample_rate, self.dp_secret, self.step)
        self.optimizer.zero_grad(set_to_none=True)
        chunks, losses = self._chunks(idx), []
        for i, chunk in enumerate(chunks):
            losses.append(self._per_text_grads(chunk, gen))
            self.optimizer.signal_skip_step(do_skip=i < len(chunks) - 1)  # clip and sum now; noise after the last pass
            self.optimizer.step()
            if i < len(chunks) - 1:
                self.optimizer.zero_grad(set_to_none=True)  # keeps the summed clipped gradients
        if not chunks:  # an empty Poisson batch still takes its noisy step, as the accountant assumes
            for p in self.trainable.values():
                p.grad_sample = torch.zeros((0, *p.shape), dtype=p.dtype, device=p.device)
            self.optimizer.step()
        return float(torch.cat(losses).mean()) if losses else None

    def _per_text_grads(self, idx: np.ndarray, gen: torch.Generator) -> torch.Tensor:
        """Set ``p.grad_sample`` (one gradient per text) for the rows ``idx``; returns their losses."""
        z = self._vectors(idx, gen)
        if self.private_bridge is not None:  # the whole bridge: Opacus' hooks record per-text gradients
            losses = self.answer_loss(self.private_bridge(z), idx, per_text=True)
            with warnings.catch_warnings():  # Opacus' hooks on a bridge whose input needs no gradient: expected
                warnings.filterwarnings("ignore", message="Full backward hook is firing")
                losses.mean().backward()
            return losses.detach()
        if self.cfg.adapter == "lora":  # LoRA pairs inside the LM record each text's own gradient
            with per_text_lora_grads(self.bridge) as collect:
                losses = self.answer_loss(self.bridge(z), idx, per_text=True)
                losses.sum().backward()
                for name, g in collect().items():
                    self.trainable[name].grad_sample = g
            return losses.detach()
        # A voice adapter: texts pass the LM independently, so the gradient of the summed loss with
        # respect to text i's soft tokens is text i's own; the adapter's per-text gradient follows
        # by the chain rule through the (cheap) bridge alone.
        soft = self.bridge(z).detach().requires_grad_(True)
        losses = self.answer_loss(soft, idx, per_text=True)
        (out_grad,) = torch.autograd.grad(losses.sum(), soft)
        for name, g in per_sample_grads(self.bridge, list(self.trainable), z, out_grad).items():
            self.trainable[name].grad_sample = g
        return losses.detach()

    def card(self) -> ModelCard:
        return make_card(self.bridge.config, self.step, asdict(self.cfg), self.data_description, self.losses,
                         str(self.lm.device), self.seconds, self.dp_plan, self.init_description)

    def train(self, folder: str | os.PathLike, progress: bool = True) -> ModelCard:
        """Train to ``cfg.steps``, checkpointing every ``cfg.checkpoint_every`` steps and on Ctrl-C."""
        from smotext.outputs import read_marker, write_marker

        out = Path(folder)
        check_bridge_folder(out)
        out.mkdir(parents=True, exist_ok=True)
        if read_marker(out) is None:
            write_marker(out, "bridge")
        resumed = self.load_checkpoint(out)
        if not resumed:
            torch.manual_seed(self.cfg.seed)
        self.bridge.train()
        bar = tqdm(total=self.cfg.steps, initial=self.step, desc="training bridge", unit="step", disable=not progress)
        try:
            while self.step < self.cfg.steps:
                t0 = time.perf_counter()
                for g in self.optimizer.param_groups:
                    g["lr"] = _lr_at(self.step, self.cfg)
                # Noise is a function of (seed, step) so a resumed run draws what the uninterrupted one would.
                gen = torch.Generator().manual_seed(self.cfg.seed * 1_000_003 + self.step)
                loss = self._dp_step(gen) if self.dp_plan is not None else self._step(gen)
                if loss is not None and not math.isfinite(loss):
                    # Saving now would checkpoint broken weights over good ones: stop at the last checkpoint.
                    raise SmotextError(f"training diverged: the loss became {loss} at step {self.step + 1}; the last "
                                       "checkpoint is kept. Lower lr (or noise_std) and run again",
                                       params=("lr", "noise_std"))
                self.step += 1
                if loss is not None:
                    self.losses.append(loss)
                self.seconds += time.perf_counter() - t0
                bar.update(1)
                if self.losses:  # a DP step whose Poisson batch was empty has no loss
                    bar.set_postfix(loss=f"{np.mean(self.losses[-20:]):.3f}")
                if self.step % self.cfg.checkpoint_every == 0:
                    self.save_checkpoint(out)
        except KeyboardInterrupt:
            self.save_checkpoint(out)
            bar.close()
            raise
        bar.close()
        self.save_checkpoint(out)
        self.bridge.eval()
        card = self.card()
        save_bridge(self.bridge, card, out)
        return card


def per_sample_grads(module: torch.nn.Module, names: list[str], inputs: torch.Tensor,
                     out_grads: torch.Tensor) -> dict[str, torch.Tensor]:
    """{name: (batch, *shape)}: each row's gradient of <module(input_i), out_grad_i> with respect to
    the parameters ``names`` (the others held fixed), by vmap over rows."""
    from torch.func import functional_call, grad, vmap

    params = {n: p.detach() for n, p in module.named_parameters() if n in names}

    def contribution(params, x, g):
        return (functional_call(module, params, (x.unsqueeze(0),)).squeeze(0) * g).sum()

    return vmap(grad(contribution), in_dims=(None, 0, 0))(params, inputs, out_grads)


def init_prefix(bridge: Bridge, lm: LanguageModel, text: str) -> None:
    """Start a prefix adapter from the LM's embeddings of ``text``'s tokens (repeated to length):
    soft tokens of ordinary words, not random vectors the LM has never seen."""
    ids = lm.tokenizer(text, add_special_tokens=False)["input_ids"] or [lm.tokenizer.eos_token_id]
    n = bridge.voice["prefix"].shape[0]
    ids = torch.tensor((ids * (n // len(ids) + 1))[:n], device=lm.device)
    with torch.no_grad():
        bridge.voice["prefix"].copy_(lm.model.get_input_embeddings()(ids).float() / bridge.config.out_scale)


class SensitiveTrainingWarning(SmotextWarning):
    """A bridge is being trained on sensitive texts without differential privacy."""


def check_bridge_folder(out: str | os.PathLike) -> None:
    """A bridge is trained into a new or empty folder, one smotext made, or an earlier bridge's
    folder (its card or checkpoint): never into a folder of other files, nor through a link."""
    from smotext.outputs import check_owned_folder

    out = Path(out)
    if out.is_dir() and not out.is_symlink() and ((out / CARD_FILE).is_file() or (out / CHECKPOINT_DIR / "state.json").is_file()):
        return
    check_owned_folder("out", out)


def decoder_trainer(corpus, *, config: TrainConfig | None = None, init: str | os.PathLike | None = None,
                    public: bool = False, description: str = "", instruction: str | None = None,
                    encoder=None, lm=None, text_col: str = "text", progress: bool = False,
                    dp_secret: int | None = None, vectors: np.ndarray | None = None,
                    vectors_description: str = "") -> BridgeTrainer:
    """A ``BridgeTrainer`` ready to train a bridge on ``corpus`` (a Corpus or a file; labels unused).

    ``init`` adapts an existing bridge (a folder, or "default" for the shipped one) and keeps its
    shape; ``config.dp`` (a ``DPConfig``) trains with DP-SGD. Texts count as sensitive unless
    ``public``; sensitive texts without DP raise a ``SensitiveTrainingWarning``. Bad settings raise
    SmotextError before any model loads. ``trainer.train(out)`` trains and resumes. ``dp_secret``
    seeds DP-SGD's sampling and noise (default: a fresh secret; pass one only in tests and benchmarks).
    ``vectors`` (one row per text; default: each text's own embedding) are what the bridge learns to
    read each text from, e.g. its class's public prompt (``vectors_description`` says which, on the card)."""
    from smotext.synth.bridge import default_bridge_path, load_bridge
    from smotext.synth.corpus import Corpus, read_corpus
    from smotext.synth.encoder import Encoder
    from smotext.synth.models import load_lm, weights_fingerprint

    cfg = dataclasses.replace(config) if config is not None else TrainConfig()
    start = init_sha = None
    if init:
        init_path = default_bridge_path() if str(init) == "default" else Path(init)
        start = load_bridge(init_path, device="cpu")
        if start[1].config.adapter:
            raise SmotextError(f"{init}: this bridge already carries a {start[1].config.adapter} voice adapter; adapt "
                               "the bridge it was trained on instead", params="init")
        init_sha = weights_fingerprint(init_path / "bridge.safetensors")
        cfg.init = init_sha
        # an adapted bridge keeps the shape it was trained with
        cfg.n_tokens, cfg.hidden = start[1].config.n_tokens, start[1].config.hidden
        cfg.lora_rank = cfg.lora_rank or start[1].config.lora_rank
    cfg.check()
    corpus = corpus if isinstance(corpus, Corpus) else read_corpus(corpus, text_col, label_col=None)
    if not public and cfg.dp is None:
        warnings.warn("training a bridge on texts marked sensitive without differential privacy: it can memorise "
                      "them; train with DP-SGD (a DPConfig) or mark the texts public", SensitiveTrainingWarning, stacklevel=2)
    encoder = encoder if isinstance(encoder, Encoder) else Encoder(encoder)
    lm = lm if isinstance(lm, LanguageModel) else load_lm(lm)
    data = {"path": corpus.source, "sha256": corpus.sha256, "texts": len(corpus), "description": description,
            "sensitive": not public}
    if vectors is None:
        log.info("embedding %d training texts", len(corpus))
        emb = encoder.embed(corpus.texts, progress=progress)
    else:
        emb = np.asarray(vectors, np.float32)
        if emb.shape != (len(corpus), encoder.dim):
            raise SmotextError(f"vectors must be one {encoder.dim}-d row per text: got shape {emb.shape} for "
                               f"{len(corpus)} texts")
        # a resumed run must read each text from the same vector
        data["vectors"] = {"description": vectors_description, "sha256": hashlib.sha256(emb.tobytes()).hexdigest()}
    init_description = {"bridge": str(init), "sha256": init_sha, "card_training": {
        k: start[1].training.get(k) for k in ("steps", "data", "dp", "init")}} if start else None
    return BridgeTrainer(lm, encoder.name, encoder.fingerprint, emb, corpus.texts, cfg, data, instruction=instruction,
                         init=start, init_description=init_description, dp_secret=dp_secret)


def fit_decoder(corpus, out: str | os.PathLike, *, progress: bool = False, **options) -> ModelCard:
    """Train a bridge on ``corpus`` into ``out`` (resuming from its checkpoint); ``options`` as
    ``decoder_trainer``. Returns the saved bridge's model card."""
    return decoder_trainer(corpus, progress=progress, **options).train(out, progress=progress)


_V = VOICE_PARAMS


@dataclass
class VoiceAdaptation:
    """How to adapt a bridge's voice to a corpus: a small adapter (``kind``) trained on top of the
    frozen bridge, with DP-SGD at ``epsilon`` (None: without DP, for public texts only); declared in
    ``VOICE_PARAMS``.

    ``steps`` and ``batch_size`` default to ``dp.VOICE_STEPS`` and a share of the corpus
    (``dp.voice_batch``); a DP schedule whose signal can't clear its noise (``dp.plan_voice``) is
    refused with the corpus size it would need."""

    epsilon: float | None
    kind: str = _V["kind"].default
    size: int = _V["size"].default  # prefix tokens or rank (0: the kind's default)
    delta: float | None = _V["delta"].default
    steps: int | None = _V["steps"].default
    batch_size: int | None = _V["batch_size"].default
    lr: float | None = _V["lr"].default  # None: the kind's (ADAPTER_LR, else VOICE_LR)
    accountant: str = _V["accountant"].default
    micro_batch: int = _V["micro_batch"].default
    seed: int = _V["seed"].default
    optional: bool = _V["optional"].default

    def check(self) -> None:
        check_declared(self, VOICE_PARAMS)
        TrainConfig(adapter=self.kind, adapter_size=self.size, micro_batch=self.micro_batch, seed=self.seed).check()
        if self.epsilon is not None:
            DPConfig(self.epsilon, self.delta, 1.0, self.accountant).check()

    def plan(self, n: int) -> VoicePlan | None:
        """The DP schedule for ``n`` texts (None without DP)."""
        self.check()
        if self.epsilon is None:
            return None
        return plan_voice(n, self.epsilon, self.delta, self.accountant, self.steps, self.batch_size)

    def decide(self, n: int) -> tuple[bool, str]:
        """Whether an ``optional`` adaptation runs on ``n`` texts, and the line that says what happens."""
        plan = self.plan(n)
        if plan is None or plan.enough:
            how = "without DP" if plan is None else (f"with DP-SGD at ε = {self.epsilon:g} ({plan.steps} steps of "
                                                     f"expected batch {plan.batch_size})")
            return True, (f"adapting the bridge to the members' voice: a {self.kind} adapter trained {how} on {n:,} "
                          "members (--no-adapt-voice skips it)")
        return False, (f"not adapting the voice: {n:,} members are too few for a DP voice adapter at ε = {self.epsilon:g} "
                       f"(it needs about {plan.min_texts:,}); generating with the bridge as it is")

    def train_config(self, n: int) -> tuple[TrainConfig, VoicePlan | None]:
        """The TrainConfig for ``n`` texts; raises SmotextError when DP would train noise."""
        plan = self.plan(n)
        if plan is not None and not plan.enough:
            raise SmotextError(plan.sentence(), params="target_epsilon")
        steps = self.steps or VOICE_STEPS
        batch = plan.batch_size if plan else min(self.batch_size or voice_batch(n), n)
        dp = None if self.epsilon is None else DPConfig(self.epsilon, self.delta, 1.0, self.accountant)
        lr = self.lr if self.lr is not None else ADAPTER_LR.get(self.kind, VOICE_LR)
        return TrainConfig(steps=steps, batch_size=batch, lr=lr, warmup_steps=max(1, steps // 10), adapter=self.kind,
                           adapter_size=self.size, micro_batch=self.micro_batch, seed=self.seed, dp=dp,
                           checkpoint_every=5), plan


def voice_trainer(corpus, voice: VoiceAdaptation, *, init: str | os.PathLike = "default", text_col: str = "text",
                  **options) -> tuple[BridgeTrainer, VoicePlan | None]:
    """A trainer for ``voice`` on ``corpus`` (a Corpus or a file) on top of the bridge ``init``, and
    its DP plan; ``options`` as ``decoder_trainer``. Refuses before any model loads."""
    from smotext.synth.corpus import Corpus, read_corpus

    corpus = corpus if isinstance(corpus, Corpus) else read_corpus(corpus, text_col, label_col=None)
    cfg, plan = voice.train_config(len(corpus))
    return decoder_trainer(corpus, config=cfg, init=init, **options), plan
