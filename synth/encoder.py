"""The sentence encoder: texts to unit-length vectors."""

from __future__ import annotations

import contextlib
from collections.abc import Sequence

import numpy as np

from smotext.synth.models import (default_device, load_sentence_transformer, resolve_encoder_path, resolve_precision,
                                  weights_fingerprint)

GPU_BATCH = 512  # texts per forward pass on a GPU: short texts, a small model; fills it without waste


class Encoder:
    """A sentence-transformers model loaded offline; ``embed`` returns L2-normalised float32 rows.

    ``device`` None: a CUDA GPU when present, else the CPU; ``batch_size`` None: 64 on a CPU,
    512 on a GPU; ``precision`` the default of ``embed`` ("float32", "bfloat16" or "auto")."""

    def __init__(self, spec: str | None = None, device: str | None = None, batch_size: int | None = None,
                 precision: str = "float32"):
        self.name, self.path = resolve_encoder_path(spec)
        self.device = device or default_device()
        self.precision = resolve_precision(precision, self.device)
        self.model = load_sentence_transformer(self.path, device=self.device)
        self.batch_size = batch_size or (GPU_BATCH if self.device.startswith("cuda") else 64)
        self._fingerprint: str | None = None

    @property
    def dim(self) -> int:
        get_dim = getattr(self.model, "get_embedding_dimension", None) or self.model.get_sentence_embedding_dimension
        return int(get_dim())

    @property
    def fingerprint(self) -> str:
        if self._fingerprint is None:
            self._fingerprint = weights_fingerprint(self.path)
        return self._fingerprint

    def embed(self, texts: Sequence[str], progress: bool = False, precision: str | None = None) -> np.ndarray:
        """Embed texts in batches; rows are unit vectors so a dot product is the cosine. A text that
        occurs more than once is embedded once. ``precision`` (default: the encoder's): "bfloat16"
        runs the model under autocast, faster where the hardware has it (benchmarks/results/scale.md)."""
        if len(texts) == 0:
            return np.zeros((0, self.dim), dtype=np.float32)
        rows: dict[str, int] = {}
        index = np.fromiter((rows.setdefault(t, len(rows)) for t in texts), dtype=np.int64, count=len(texts))
        precision = self.precision if precision is None else resolve_precision(precision, self.device)
        with self._autocast(precision):
            out = self.model.encode(
                list(rows),
                batch_size=self.batch_size,
                show_progress_bar=progress,
                convert_to_numpy=True,
                normalize_embeddings=True,
            )
        out = np.asarray(out, dtype=np.float32)
        if precision == "bfloat16":  # normalised in bfloat16: make the rows unit length again in float32
            out /= np.linalg.norm(out, axis=1, keepdims=True).clip(1e-12)
        return out if len(rows) == len(texts) else out[index]

    def _autocast(self, precision: str):
        if precision != "bfloat16":
            return contextlib.nullcontext()
        import torch

        return torch.autocast(self.device.split(":")[0], dtype=torch.bfloat16)
