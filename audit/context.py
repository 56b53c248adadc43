"""What every audit plug-in sees: the real members, the real non-members, a real test split and the
synthetic set, embedded once (cached in memory, never on disk), plus shared work computed once on demand."""

from __future__ import annotations

import hashlib
import re
import warnings
from collections import OrderedDict
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

import numpy as np

from smotext.synth.corpus import Corpus
from smotext.errors import SmotextError, SmotextWarning
from smotext.synth.models import cache_root
from smotext.neighbors import topk_cosine


@dataclass
class Split:
    """Texts with labels and their embeddings; ``rows`` are row numbers in the file they came from."""

    texts: list[str]
    labels: list[str]
    embeddings: np.ndarray
    rows: np.ndarray

    def __len__(self) -> int:
        return len(self.texts)


EMBED_CHUNK = 2048  # texts per task when Ray workers embed
PII_CHUNK = 512  # texts per task when Ray workers scan for PII


class EmbeddingCache:
    """Embeddings of text lists, kept in this process's memory only, keyed by encoder weights,
    precision and the exact texts: the audit embeds real (sensitive) texts, and an embedding on disk
    can be decoded back into text, so nothing is written. What isn't cached is embedded here or,
    given a ``pool`` (``engine.RayPool``), by its workers."""

    _memory: OrderedDict[str, np.ndarray] = OrderedDict()  # shared by the audits of one process (tests, notebooks)
    MAX_BYTES = 1 << 30

    def __init__(self, encoder, enabled: bool = True, pool=None, precision: str = "float32"):
        self.encoder, self.enabled, self.pool, self.precision = encoder, enabled, pool, precision
        _remove_old_disk_cache()

    def embed(self, texts: list[str], progress: bool = False) -> np.ndarray:
        h = hashlib.sha256(f"{self.encoder.fingerprint}|{self.precision}".encode())
        for t in texts:
            h.update(t.encode("utf-8", "surrogatepass") + b"\x00")
        key = h.hexdigest()
        memory = EmbeddingCache._memory
        if self.enabled and key in memory:
            memory.move_to_end(key)
            return memory[key].copy()
        if self.pool is not None and len(texts) > EMBED_CHUNK:
            from smotext.engine import chunks

            emb = np.concatenate(list(self.pool.map(embed_task, chunks(texts, EMBED_CHUNK), str(self.encoder.path),
                                                    self.precision)))
        else:
            emb = self.encoder.embed(texts, progress=progress, precision=self.precision)
        if self.enabled and emb.nbytes <= self.MAX_BYTES:
            memory[key] = emb.copy()
            while sum(a.nbytes for a in memory.values()) > self.MAX_BYTES:
                memory.popitem(last=False)
        return emb


def embed_task(cache: dict, texts: list[str], encoder: str, precision: str) -> np.ndarray:
    """A worker's task: embed ``texts`` with the encoder at ``encoder`` (loaded once per worker)."""
    from smotext.synth.encoder import Encoder

    key = ("encoder", encoder)
    if key not in cache:
        cache[key] = Encoder(encoder)
    return cache[key].embed(texts, precision=precision)


def scan_pii_task(cache: dict, texts: list[str], min_score: float) -> list:
    """A worker's task: presidio's entities per text."""
    from smotext.audit.pii import get_scanner

    return get_scanner(min_score).scan(texts)


_OLD_CACHE_CHECKED = False


def _remove_old_disk_cache() -> None:
    """Earlier versions kept the audit's embeddings of real texts in ~/.cache/smotext/embeddings,
    world-readable: remove the files smotext wrote there (32 hex digits .npy), once per process."""
    global _OLD_CACHE_CHECKED
    if _OLD_CACHE_CHECKED:
        return
    _OLD_CACHE_CHECKED = True
    folder = cache_root() / "embeddings"
    if folder.is_symlink() or not folder.is_dir():
        return
    removed = 0
    for f in folder.iterdir():
        if re.fullmatch(r"[0-9a-f]{32}(\.\d+\.part)?\.npy", f.name) and f.is_file() and not f.is_symlink():
            f.unlink(missing_ok=True)
            removed += 1
    if removed:
        warnings.warn(f"removed {removed} embedding file(s) of audited texts that an earlier smotext version left in "
                      f"{folder}; the audit no longer writes them", SmotextWarning)
    try:
        folder.rmdir()
    except OSError:
        pass


class AuditContext:
    """Members vs non-members (equal sizes, seeded), a utility test split, the synthetic set.

    Without a separate test file, ``test_fraction`` of the holdout becomes the utility test split
    (also the reference population of the calibrated attack); the rest are the non-members.
    ``parent_rows`` (member row numbers that served as parents) lets attacks score those members alone;
    ``generation`` (the generation manifest) describes the generator, e.g. its bridge's training;
    ``canaries`` (an ``audit.canaries.CanaryRun``) is the release's canary experiment, if it planted any.
    """

    def __init__(self, members: Corpus, holdout: Corpus, synthetic: Corpus, encoder, *, test: Corpus | None = None,
                 test_fraction: float = 0.3, seed: int = 0, n_boot: int = 200, progress: bool = False,
                 cache: bool = True, parent_rows: set[int] | None = None, generation: dict | None = None,
                 lm=None, canaries=None, pool=None, precision: str = "float32", real_examples: bool = False):
        for name, c in (("members", members), ("holdout", holdout), ("synthetic", synthetic)):
            if len(c) < 2:
                raise SmotextError(f"the {name} set needs at least 2 texts, it has {len(c)}")
        if not 0 < test_fraction < 1:
            raise SmotextError(f"test_fraction must be between 0 and 1, got {test_fraction}")
        self.seed, self.n_boot, self.progress = seed, n_boot, progress
        self.encoder = encoder
        self.labelled = members.labelled and holdout.labelled and synthetic.labelled and (test is None or test.labelled)
        rng = np.random.default_rng(seed)
        self.cache = EmbeddingCache(encoder, enabled=cache, pool=pool, precision=precision)
        self.pool = pool  # Ray workers for the heavy per-text work, or None

        hold_rows = rng.permutation(len(holdout))
        if test is None:
            n_test = max(1, int(round(test_fraction * len(holdout))))
            test_rows, nonmember_rows = np.sort(hold_rows[:n_test]), np.sort(hold_rows[n_test:])
            test_src = holdout
        else:
            test_rows, nonmember_rows, test_src = np.arange(len(test)), np.arange(len(holdout)), test
        n_eval = min(len(members), len(nonmember_rows))
        if n_eval < 2:
            raise SmotextError("too few holdout texts left as non-members; give a larger holdout or a separate test set")
        member_rows = np.sort(rng.permutation(len(members))[:n_eval])
        nonmember_rows = np.sort(rng.permutation(nonmember_rows)[:n_eval])

        self.members = self._split(members, member_rows)
        self.nonmembers = self._split(holdout, nonmember_rows)
        self.test = self._split(test_src, test_rows)
        self.synthetic = self._split(synthetic, np.arange(len(synthetic)))
        self.all_members = members  # every member (for PII replay), not only the evaluated sample
        self.parent_rows = parent_rows  # member rows generation used as parents (from the provenance), if known
        self.generation = generation  # the generation manifest, if known
        self.canaries = canaries
        self.real_examples = real_examples  # whether details may show real texts (masked; the report is then internal)
        self._lm = lm  # the generator's LM, loaded on first use (only plug-ins that write public texts need it)

    def _split(self, corpus: Corpus, rows: np.ndarray) -> Split:
        texts = [corpus.texts[i] for i in rows]
        return Split(texts, [corpus.labels[i] for i in rows], self.cache.embed(texts, self.progress), rows)

    def scan_pii(self, texts: list[str], min_score: float) -> list:
        """Presidio's entities per text: here, or in chunks on the Ray workers."""
        from smotext.audit.pii import get_scanner

        if self.pool is None or len(texts) <= PII_CHUNK:
            return get_scanner(min_score).scan(texts)
        from smotext.engine import chunks

        return [ents for part in self.pool.map(scan_pii_task, chunks(texts, PII_CHUNK), min_score) for ents in part]

    @cached_property
    def _common_words(self) -> frozenset[str]:
        from smotext.audit.pii import common_words

        return common_words(self.all_members.texts + self.nonmembers.texts + self.test.texts)

    def show_real(self, text: str) -> str | None:
        """A real text as the report may show it: None unless real examples were asked for, and then
        masked (``audit.pii.mask_real``) so that rare words, names and numbers do not survive."""
        if not self.real_examples:
            return None
        from smotext.audit.pii import mask_real

        return mask_real(text, self._common_words)

    def rng(self, salt: str) -> np.random.Generator:
        """A generator per plug-in, so adding one plug-in never changes another's numbers."""
        return np.random.default_rng([self.seed, int(hashlib.sha256(salt.encode()).hexdigest()[:8], 16)])

    # ------------------------------------------------------------ shared work, computed once

    def nearest_synthetic(self, which: str, k: int = 5) -> tuple[np.ndarray, np.ndarray]:
        """Top-k cosines and indices of synthetic texts nearest each member / non-member."""
        key = f"_nn_{which}_{k}"
        if not hasattr(self, key):
            split = {"members": self.members, "nonmembers": self.nonmembers}[which]
            setattr(self, key, topk_cosine(split.embeddings, self.synthetic.embeddings, k=k))
        return getattr(self, key)

    @property
    def lm(self):
        """The causal LM generation used (the manifest names it), loaded offline on first use."""
        if self._lm is None:
            from smotext.synth.models import load_lm

            named = ((self.generation or {}).get("models") or {}).get("lm") or {}
            path = named.get("path")  # where generation found it; on another machine, the same model by name
            self._lm = load_lm(path if path and Path(path).exists() else named.get("name"), device="cpu")
        return self._lm

    @cached_property
    def classes(self) -> list[str]:
        return sorted(set(self.members.labels) | set(self.synthetic.labels) | set(self.test.labels))

    def require_labels(self, plugin: str) -> None:
        if not self.labelled:
            raise SmotextError(f"{plugin} needs labels in members, holdout and synthetic sets (name the column with label_col)", params="label_col")
        if len(set(self.synthetic.labels)) < 2:
            raise SmotextError(f"{plugin} needs at least 2 classes in the synthetic set")

    def fit_classifier(self, embeddings: np.ndarray, labels: list[str], seed: int = 0):
        """The audit's one classifier: logistic regression on frozen embeddings (as the seed papers)."""
        from sklearn.linear_model import LogisticRegression

        return LogisticRegression(max_iter=2000, C=10.0, random_state=seed).fit(embeddings, labels)

    @cached_property
    def target_classifier(self):
        """The classifier trained on synthetic data only: what membership-inference attacks target."""
        return self.fit_classifier(self.synthetic.embeddings, self.synthetic.labels, self.seed)
