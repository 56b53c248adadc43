"""The xRAG-style modality bridge: an MLP from a sentence vector to K soft tokens of the LM.

Saved as ``bridge.safetensors`` (weights only) beside ``bridge.json`` (its model card).
"""

from __future__ import annotations

import json
import math
import os
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable, Iterator

import torch
from torch import nn

from smotext.errors import SmotextError
from smotext.synth.params import ADAPTER_SIZE, ADAPTERS, SIZED_ADAPTERS  # noqa: F401  (ADAPTER_SIZE: re-exported)

WEIGHTS_FILE = "bridge.safetensors"
CARD_FILE = "bridge.json"
DEFAULT_INSTRUCTION = "Repeat the hidden text:"


@dataclass
class BridgeConfig:
    """Shape of a bridge and the models and prompt it was trained for."""

    in_dim: int
    out_dim: int
    n_tokens: int = 8
    hidden: int = 1024
    out_scale: float = 0.1  # soft tokens come out at the LM embedding table's scale
    instruction: str = DEFAULT_INSTRUCTION
    encoder: str = ""
    encoder_sha256: str = ""
    lm: str = ""
    lm_sha256: str = ""
    # Optional LoRA on the LM: rank, scale (alpha / rank) and the LM's linear layers it adapts,
    # {module name: [in_features, out_features]}. Rank 0 keeps the LM exactly as it was.
    lora_rank: int = 0
    lora_alpha: float = 16.0
    lora_modules: dict[str, list[int]] = field(default_factory=dict)
    # Optional voice adapter (see ``ADAPTERS``): a few parameters on top of a frozen bridge, trained
    # on a corpus (with DP-SGD) so the decoded texts take its voice; "" = none.
    adapter: str = ""
    adapter_size: int = 0  # prefix: tokens; lowrank and lora: rank; bias: unused (0)

    def __post_init__(self):
        for name in ("in_dim", "out_dim", "n_tokens", "hidden"):
            v = getattr(self, name)
            if not isinstance(v, int) or v < 1:
                raise SmotextError(f"bridge config: {name} must be a positive int, got {v!r}")
        if not isinstance(self.lora_rank, int) or self.lora_rank < 0:
            raise SmotextError(f"bridge config: lora_rank must be an int >= 0, got {self.lora_rank!r}")
        if bool(self.lora_rank) != bool(self.lora_modules):
            raise SmotextError("bridge config: lora_rank and lora_modules must be given together")
        for name, shape in self.lora_modules.items():
            if not (isinstance(shape, list) and len(shape) == 2 and all(isinstance(d, int) and d > 0 for d in shape)):
                raise SmotextError(f"bridge config: lora_modules[{name!r}] must be [in_features, out_features]")
        if self.adapter not in ("", *ADAPTERS):
            raise SmotextError(f"bridge config: unknown adapter {self.adapter!r}; valid: {', '.join(ADAPTERS)}")
        if not isinstance(self.adapter_size, int) or self.adapter_size < 0 or \
                (self.adapter in SIZED_ADAPTERS) != (self.adapter_size > 0):
            raise SmotextError(f"bridge config: adapter {self.adapter or 'none'!r} takes adapter_size "
                               f"{'>= 1' if self.adapter in SIZED_ADAPTERS else '0'}, got {self.adapter_size!r}")
        if self.adapter == "lora" and self.lora_rank != self.adapter_size:  # its LoRA pairs are the adapter
            raise SmotextError(f"bridge config: a lora adapter of rank {self.adapter_size} needs lora_rank "
                               f"{self.adapter_size}, got {self.lora_rank}")


@dataclass
class ModelCard:
    """What a user needs to trust a bridge: its config, what it was trained on, and how."""

    config: BridgeConfig
    training: dict = field(default_factory=dict)

    def to_json(self) -> dict:
        config = asdict(self.config)
        if not self.config.lora_rank:  # cards of bridges without LoRA stay readable by versions before it
            for key in ("lora_rank", "lora_alpha", "lora_modules"):
                del config[key]
        if not self.config.adapter:  # likewise for bridges without a voice adapter
            del config["adapter"], config["adapter_size"]
        return {"format": "smotext-bridge/1", "config": config, "training": self.training}

    @classmethod
    def from_json(cls, data: dict, source: str = "bridge.json") -> "ModelCard":
        if not isinstance(data, dict) or data.get("format") != "smotext-bridge/1":
            raise SmotextError(f"{source}: not a smotext bridge card (format 'smotext-bridge/1' expected)")
        known = set(BridgeConfig.__dataclass_fields__)
        cfg = data.get("config") or {}
        unknown = sorted(set(cfg) - known)
        if unknown:
            raise SmotextError(f"{source}: unknown config key(s) {unknown}")
        try:
            config = BridgeConfig(**cfg)
        except TypeError as e:
            raise SmotextError(f"{source}: bad config: {e}") from None
        return cls(config=config, training=dict(data.get("training") or {}))


class LoraPair(nn.Module):
    """A low-rank update B·A added to one frozen linear layer's output; B starts at zero."""

    def __init__(self, in_features: int, out_features: int, rank: int, scale: float):
        super().__init__()
        self.A = nn.Parameter(torch.empty(rank, in_features))
        self.B = nn.Parameter(torch.zeros(out_features, rank))
        nn.init.kaiming_uniform_(self.A, a=math.sqrt(5))
        self.scale = scale
        self.captured: list | None = None  # (input, x·Aᵀ, output gradient) per call while per-text gradients are taken

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = x.to(self.A.dtype) @ self.A.T
        y = (h @ self.B.T) * self.scale
        if self.captured is not None and y.requires_grad:
            xs, hs, store = x.detach().to(self.A.dtype), h.detach(), self.captured
            y.register_hook(lambda g: store.append((xs, hs, g.detach())))
        return y

    def grad_samples(self) -> dict[str, torch.Tensor]:
        """Each text's gradient of A and B, from what was captured ((batch, tokens, ·) per call): the
        sum over a text's own tokens, as Opacus computes it for a linear layer."""
        ga = gb = 0
        for x, h, g in self.captured or []:
            gb = gb + self.scale * torch.einsum("bto,btr->bor", g, h)
            ga = ga + self.scale * torch.einsum("btr,bti->bri", g @ self.B.detach(), x)
        return {"A": ga, "B": gb}


def lora_targets(lm_model: nn.Module, suffixes: tuple[str, ...] = ("q_proj", "v_proj")) -> dict[str, list[int]]:
    """{name: [in, out]} of the LM's linear layers whose names end in one of ``suffixes``."""
    found = {name: [m.in_features, m.out_features] for name, m in lm_model.named_modules()
             if isinstance(m, nn.Linear) and name.rsplit(".", 1)[-1] in suffixes}
    if not found:
        raise SmotextError(f"LoRA: the LM has no linear layers named {', '.join(suffixes)}")
    return found


class Bridge(nn.Module):
    """2-layer GELU MLP: (batch, in_dim) -> (batch, n_tokens, out_dim) soft-token embeddings.

    With ``config.lora_rank`` > 0 it also carries LoRA updates for some of the LM's layers, which
    take effect only inside ``attached(lm)``: the LM object itself is never changed.
    """

    def __init__(self, config: BridgeConfig):
        super().__init__()
        self.config = config
        self.net = nn.Sequential(
            nn.Linear(config.in_dim, config.hidden),
            nn.GELU(),
            nn.Linear(config.hidden, config.n_tokens * config.out_dim),
        )
        # Created after the MLP so a bridge without LoRA draws the same initial weights as before.
        scale = config.lora_alpha / config.lora_rank if config.lora_rank else 0.0
        self.lora = nn.ModuleDict({
            _key(name): LoraPair(i, o, config.lora_rank, scale) for name, (i, o) in config.lora_modules.items()
        })
        self.voice = nn.ParameterDict(_voice_params(config))

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        cfg = self.config
        if cfg.adapter != "lowrank":
            out = self.net(z)
        else:  # W2 h + U (V h): the update to the last layer, without forming U V
            h = self.net[1](self.net[0](z))
            out = self.net[2](h) + (h @ self.voice["v"].T) @ self.voice["u"].T
        out = (out * cfg.out_scale).view(z.shape[0], cfg.n_tokens, cfg.out_dim)
        # Adapters live in units of out_scale (the embedding table's spread), so one learning rate fits all kinds.
        if cfg.adapter == "bias":
            out = out + self.voice["bias"] * cfg.out_scale
        elif cfg.adapter == "prefix":  # learned tokens, the same for every vector
            out = torch.cat([(self.voice["prefix"] * cfg.out_scale).expand(z.shape[0], -1, -1), out], dim=1)
        return out

    @property
    def n_soft(self) -> int:
        """Soft tokens per vector that this bridge writes (K, plus a prefix adapter's tokens)."""
        return self.config.n_tokens + (self.config.adapter_size if self.config.adapter == "prefix" else 0)

    @contextmanager
    def attached(self, lm_model: nn.Module) -> Iterator[None]:
        """Apply this bridge's LoRA updates to ``lm_model`` for the duration of the block."""
        handles = []
        try:
            for name in self.config.lora_modules:
                pair = self.lora[_key(name)]
                handles.append(lm_model.get_submodule(name).register_forward_hook(
                    lambda mod, args, out, pair=pair: out + pair(args[0]).to(out.dtype)))
            yield
        finally:
            for h in handles:
                h.remove()


def _voice_params(config: BridgeConfig) -> dict[str, nn.Parameter]:
    """A voice adapter's parameters, at values that leave the bridge's output unchanged (lowrank:
    U = 0, V random; bias: 0). A prefix has no neutral value: the trainer starts it from token
    embeddings (``init_prefix``)."""
    k, d, r = config.n_tokens, config.out_dim, config.adapter_size
    if config.adapter == "bias":
        return {"bias": nn.Parameter(torch.zeros(k, d))}
    if config.adapter == "prefix":
        return {"prefix": nn.Parameter(torch.zeros(r, d))}
    if config.adapter == "lowrank":
        return {"u": nn.Parameter(torch.zeros(k * d, r)),
                "v": nn.Parameter(torch.randn(r, config.hidden) / math.sqrt(config.hidden))}
    return {}


def adapter_parameters(config: BridgeConfig) -> int:
    """How many numbers a bridge's voice adapter trains (0 without one)."""
    if config.adapter == "lora":
        return sum(config.lora_rank * (i + o) for i, o in config.lora_modules.values())
    return sum(p.numel() for p in _voice_params(config).values())


@contextmanager
def per_text_lora_grads(bridge: Bridge) -> Iterator[Callable[[], dict[str, torch.Tensor]]]:
    """Inside the block, the bridge's LoRA pairs record what one backward pass needs for per-text
    gradients; the function yielded returns them after the backward, {parameter name: (batch, *shape)}."""
    pairs = {name: pair for name, pair in bridge.lora.items()}
    for pair in pairs.values():
        pair.captured = []

    def collect() -> dict[str, torch.Tensor]:
        return {f"lora.{name}.{p}": g for name, pair in pairs.items() for p, g in pair.grad_samples().items()}

    try:
        yield collect
    finally:
        for pair in pairs.values():
            pair.captured = None


def _key(module_name: str) -> str:
    return module_name.replace(".", "__")  # ModuleDict keys can't hold dots


def init_bridge(config: BridgeConfig, seed: int) -> Bridge:
    """A freshly initialised bridge; the same seed gives the same weights."""
    gen_state = torch.random.get_rng_state()
    torch.manual_seed(seed)
    try:
        return Bridge(config)
    finally:
        torch.random.set_rng_state(gen_state)


def _file_sha256(path: Path) -> str:
    import hashlib

    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(1 << 20):
            h.update(block)
    return h.hexdigest()


def save_bridge(bridge: Bridge, card: ModelCard, folder: str | os.PathLike, dtype: torch.dtype = torch.float32) -> Path:
    """Write weights (safetensors) and card (JSON) into ``folder``, each file atomically."""
    from safetensors.torch import save_file

    out = Path(folder)
    out.mkdir(parents=True, exist_ok=True)
    tensors = {k: v.detach().to("cpu", dtype).contiguous() for k, v in bridge.state_dict().items()}
    from smotext.outputs import atomic_files

    # The two files are renamed one after the other; the card, renamed last, names its weights' sha256,
    # so a reader that finds new weights beside an old card (a crash between the renames) refuses them.
    with atomic_files(out / WEIGHTS_FILE, out / CARD_FILE) as (tmp_w, tmp_c):  # exclusive temp names, no links
        save_file(tensors, str(tmp_w), metadata={"format": "smotext-bridge/1"})
        data = {**card.to_json(), "weights_sha256": _file_sha256(tmp_w)}
        tmp_c.write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")
    return out


def default_bridge_path() -> Path:
    """The bridge shipped inside the package."""
    from importlib import resources

    return Path(str(resources.files("smotext.synth") / "assets" / "default_bridge"))


def load_bridge(folder: str | os.PathLike, device: str | torch.device = "cpu") -> tuple[Bridge, ModelCard]:
    """Load a bridge folder (safetensors + card); never unpickles anything."""
    from safetensors.torch import load_file

    p = Path(folder)
    if p.is_file() and p.name in (WEIGHTS_FILE, CARD_FILE):
        p = p.parent
    card_path, weights_path = p / CARD_FILE, p / WEIGHTS_FILE
    if not card_path.exists() or not weights_path.exists():
        raise SmotextError(f"bridge {str(folder)!r}: expected {CARD_FILE} and {WEIGHTS_FILE} in that folder")
    from smotext.outputs import load_user_json, read_user_text

    # a bridge folder may come from anyone: a regular file under a size cap, nesting bounded
    data = load_user_json(read_user_text(card_path, "bridge card", 16 << 20), str(card_path))
    card = ModelCard.from_json(data, str(card_path))
    if isinstance(data, dict) and data.get("weights_sha256") is not None:
        if _file_sha256(weights_path) != data["weights_sha256"]:
            raise SmotextError(f"bridge {str(folder)!r}: {WEIGHTS_FILE} is not the file its card describes (a write was "
                               "interrupted?); train or export the bridge again")
    bridge = Bridge(card.config)
    try:
        state = load_file(str(weights_path))
        bridge.load_state_dict({k: v.float() for k, v in state.items()})
    except Exception as e:
        raise SmotextError(f"{weights_path}: weights don't match the card: {type(e).__name__}: {e}") from None
    bad = sorted(k for k, v in state.items() if not torch.isfinite(v.float()).all())
    if bad:
        raise SmotextError(f"{weights_path}: weights {bad[:3]} hold NaN or infinity; this bridge can't decode (was its "
                           "training diverging?)")
    return bridge.to(device).eval(), card
