"""The sentence encoder: texts to unit-length vectors."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from smotext.synth.models import load_sentence_transformer, resolve_encoder_path, weights_fingerprint


class Encoder:
    """A sentence-transformers model loaded offline; ``embed`` returns L2-normalised float32 rows."""

    def __init__(self, spec: str | None = None, device: str = "cpu", batch_size: int = 64):
        self.name, self.path = resolve_encoder_path(spec)
        self.model = load_sentence_transformer(self.path, device=device)
        self.batch_size = batch_size
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

    def embed(self, texts: Sequence[str], progress: bool = False) -> np.ndarray:
        """Embed texts in batches; rows are unit vectors so a dot product is the cosine."""
        if len(texts) == 0:
            return np.zeros((0, self.dim), dtype=np.float32)
        out = self.model.encode(
            list(texts),
            batch_size=self.batch_size,
            show_progress_bar=progress,
            convert_to_numpy=True,
            normalize_embeddings=True,
        )
        return np.asarray(out, dtype=np.float32)
