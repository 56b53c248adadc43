"""Where the heavy work runs: in this process (``local``) or spread over a Ray cluster (``ray``).

Generation cuts each round's mixed vectors into shards of whole decoding batches. A shard is
decoded and its candidates embedded by a worker that loaded the encoder, LM and bridge once; what
needs the whole set (filters, dedupe, per-class counts, the next round) stays with the caller. A
sampled row draws from the seed and its own index (``Decoder.decode``'s ``first_row``), so the
output is the same bytes with any number of workers. Finished shards can be kept in a folder
(``ShardStore``), so an interrupted run resumes where it stopped.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from smotext.errors import SmotextError

if TYPE_CHECKING:
    from smotext.synth.smotext import SMOTExT

ENGINES = ("local", "ray")
SHARD_BATCHES = 8  # decoding batches per shard: small enough to spread, large enough to keep a worker busy
RAY_INSTALL = "pip install 'smotext[ray]'"
# Test hook: "SHARD:MARKER" makes the worker that runs shard SHARD die once (MARKER: a file it creates first).
FAIL_ONCE_ENV = "SMOTEXT_TEST_FAIL_SHARD_ONCE"


@dataclass
class Engine:
    """How to run the heavy work: ``kind`` "local" (this process) or "ray" (``address``: an existing
    cluster, None: start one on this machine; ``workers``: workers, default one per core there;
    ``threads``: cores each worker reserves and computes with, default the cluster's cores shared
    out among the workers); ``shard_batches``: decoding batches per shard."""

    kind: str = "local"
    address: str | None = None
    workers: int | None = None
    shard_batches: int = SHARD_BATCHES
    threads: int | None = None

    def check(self) -> None:
        if self.kind not in ENGINES:
            raise SmotextError(f"unknown engine {self.kind!r}; valid: {', '.join(ENGINES)}", params="engine")
        for name in ("workers", "shard_batches", "threads"):
            v = getattr(self, name)
            if v is not None and (isinstance(v, bool) or not isinstance(v, int) or v < 1):
                raise SmotextError(f"{name} must be a whole number >= 1, got {v!r}", params=name)
        if self.kind == "local" and (self.address or self.workers or self.threads):
            raise SmotextError("--ray-address, --workers and threads per worker apply to --engine ray", params="engine")
        if self.kind == "ray":
            require_ray()
            if self.address:
                probe_address(self.address)
            elif self.workers is not None and self.workers > local_cores():
                raise SmotextError(f"workers must be at most {local_cores()}, the cores of the Ray cluster started here, "
                                   f"got {self.workers}", params="workers")


ADDRESS_TIMEOUT_S = 3.0


def local_cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def probe_address(address: str) -> None:
    """A Ray cluster address must answer within seconds (Ray itself retries for minutes)."""
    import socket

    if address == "auto":
        return
    hostport = address.split("://", 1)[-1].rstrip("/")
    host, _, port = hostport.rpartition(":")
    if not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise SmotextError(f"ray_address {address!r} is not HOST:PORT (or 'auto')", params="ray_address")
    try:
        with socket.create_connection((host.strip("[]"), int(port)), timeout=ADDRESS_TIMEOUT_S):
            pass
    except OSError as e:
        raise SmotextError(f"ray_address {address}: no Ray cluster answers there within {ADDRESS_TIMEOUT_S:g} s "
                           f"({e.strerror or type(e).__name__})", params="ray_address") from None


def require_ray():
    """The ``ray`` module, or a SmotextError that says how to install it."""
    try:
        import ray
    except ImportError:
        raise SmotextError(f"--engine ray needs Ray, which is not installed: {RAY_INSTALL}", params="engine") from None
    return ray


def as_engine(engine: Engine | str | None) -> Engine:
    """An Engine from None (local), a kind's name or an Engine; checked."""
    engine = Engine() if engine is None else Engine(engine) if isinstance(engine, str) else engine
    if not isinstance(engine, Engine):
        raise SmotextError(f"engine must be 'local', 'ray' or an Engine, got {type(engine).__name__}", params="engine")
    engine.check()
    return engine


# ---------------------------------------------------------------- shards

@dataclass(frozen=True)
class Shard:
    index: int
    first_row: int  # the shard's first vector in the round: sampling seeds follow the row, not the shard
    targets: np.ndarray


def cut(targets: np.ndarray, rows_per_shard: int) -> list[Shard]:
    return [Shard(i, start, targets[start : start + rows_per_shard])
            for i, start in enumerate(range(0, len(targets), rows_per_shard))]


class ShardStore:
    """Finished shards of a run on disk (texts as JSON, embeddings as .npy; no pickles), so that an
    interrupted run picks up where it stopped. A shard is found by a key of everything its result
    depends on; the caller removes the folder once the run's outputs are written."""

    def __init__(self, folder: str | os.PathLike):
        self.folder = Path(folder)

    def _paths(self, key: str) -> tuple[Path, Path]:
        return self.folder / f"{key}.npy", self.folder / f"{key}.json"

    def get(self, key: str) -> tuple[list[str], np.ndarray] | None:
        emb_path, text_path = self._paths(key)
        import stat

        if not text_path.exists():  # the texts are written last: without them the shard is not done
            return None
        try:
            if not all(stat.S_ISREG(os.lstat(p).st_mode) for p in (text_path, emb_path)):
                return None  # a link or device planted in the folder is never read: the shard is made again
            texts = json.loads(text_path.read_text(encoding="utf-8"))
            emb = np.load(emb_path, allow_pickle=False)
        except (OSError, ValueError):
            return None  # a damaged shard is made again
        return (texts, emb) if isinstance(texts, list) and len(texts) == len(emb) else None

    def put(self, key: str, texts: list[str], emb: np.ndarray) -> None:
        from smotext.outputs import atomic_files

        self.folder.mkdir(parents=True, exist_ok=True)
        emb_path, text_path = self._paths(key)
        with atomic_files(emb_path) as (tmp,):  # exclusive temp names: a planted link is never opened
            with open(tmp, "wb") as f:
                np.save(f, np.asarray(emb, dtype=np.float32), allow_pickle=False)
        with atomic_files(text_path) as (tmp,):  # the texts last: without them the shard is not done
            tmp.write_bytes(json.dumps(texts, ensure_ascii=False).encode("utf-8"))


def shard_key(context: str, shard: Shard) -> str:
    h = hashlib.sha256(context.encode())
    h.update(f"|{shard.first_row}|".encode())
    h.update(np.ascontiguousarray(shard.targets, dtype=np.float32).tobytes())
    return h.hexdigest()[:32]


# ---------------------------------------------------------------- decoding a shard

def decode_shard(sampler: SMOTExT, shard: Shard, seed: int) -> tuple[list[str], np.ndarray]:
    """A shard's candidates (n per vector, flat) and their embeddings, by a sampler whose models are loaded."""
    decoded = sampler.decoder_.decode(shard.targets, num_candidates=sampler.num_candidates, seed=seed,
                                      first_row=shard.first_row)
    flat = [t for cands in decoded for t in cands]
    return flat, sampler.encoder_.embed(flat)


def worker_spec(sampler: SMOTExT) -> dict[str, Any]:
    """What a worker needs to build the sampler's decoder on its own: model names or paths (a loaded
    encoder or LM by the path it came from) and the decoding settings. A bridge handed over in
    memory can't travel: refused."""
    spec = {}
    for name in ("encoder", "lm", "bridge"):
        v = getattr(sampler, name)
        if name != "bridge" and isinstance(getattr(v, "path", None), (str, os.PathLike)):
            v = v.path  # a loaded Encoder or LanguageModel: each worker loads the same weights
        if not (v is None or isinstance(v, (str, os.PathLike))):
            raise SmotextError(f"--engine ray loads the models in each worker: give {name} as a name or a folder, not "
                               "an object in memory", params=name)
        spec[name] = None if v is None else os.fspath(v)
    for name in ("num_candidates", "segment_tokens", "temperature", "max_new_tokens", "batch_size"):
        spec[name] = getattr(sampler, name)
    return spec


def _sampler_from_spec(spec: dict) -> SMOTExT:
    from smotext.synth.smotext import SMOTExT

    return SMOTExT(**spec).load_models()


def _maybe_fail(shard: Shard) -> None:
    """The test hook of ``FAIL_ONCE_ENV``: this worker process dies on the named shard, once."""
    hook = os.environ.get(FAIL_ONCE_ENV)
    if not hook:
        return
    index, marker = hook.split(":", 1)
    if int(index) == shard.index and not os.path.exists(marker):
        Path(marker).write_text("failed once\n")
        os._exit(1)


class _Worker:
    """A Ray actor: decodes and embeds shards, embeds texts, scans them for PII. Each model is loaded
    on first use and kept for the worker's life."""

    def __init__(self, spec: dict, threads: int):
        import torch

        torch.set_num_threads(max(1, threads))
        self.spec, self._sampler, self._encoder = spec, None, None

    @property
    def sampler(self) -> SMOTExT:
        if self._sampler is None:
            self._sampler = _sampler_from_spec(self.spec)
            self._encoder = self._sampler.encoder_
        return self._sampler

    @property
    def encoder(self):
        if self._encoder is None:
            from smotext.synth.encoder import Encoder

            self._encoder = Encoder(self.spec.get("encoder"))
        return self._encoder

    def decode(self, shard: Shard, seed: int) -> tuple[list[str], np.ndarray]:
        _maybe_fail(shard)
        return decode_shard(self.sampler, shard, seed)

    def embed(self, texts: list[str], precision: str = "float32") -> np.ndarray:
        return self.encoder.embed(texts, precision=precision)

    def scan_pii(self, texts: list[str], min_score: float) -> list:
        from smotext.audit.pii import get_scanner

        return get_scanner(min_score).scan(texts)


class RayPool:
    """Workers on a Ray cluster (started on this machine unless ``engine.address`` names one), for
    the length of one job. Workers that die are restarted and their task retried."""

    def __init__(self, engine: Engine, spec: dict):
        ray = require_ray()
        self.started = not ray.is_initialized()
        if self.started:  # workers of a cluster started here inherit this process's environment (HF_HUB_OFFLINE, ...)
            local = {} if engine.address else {"object_store_memory": 512 * 2**20}  # shards are small
            ray.init(address=engine.address, include_dashboard=False, log_to_driver=False, **local)
        cpus = int(ray.cluster_resources().get("CPU", 1))
        if engine.workers is not None and engine.workers > cpus:  # the rest would wait for cores forever
            if self.started:
                ray.shutdown()
            raise SmotextError(f"workers must be at most {cpus}, the cores of the Ray cluster, got {engine.workers}",
                               params="workers")
        n = engine.workers or max(1, cpus)
        threads = engine.threads or max(1, cpus // n)
        actor = ray.remote(num_cpus=min(threads, cpus), max_restarts=3, max_task_retries=3)(_Worker)
        self.workers = [actor.remote(spec, threads) for _ in range(n)]

    def map(self, method: str, items: Sequence, *args) -> Iterator:
        """``method(item, *args)`` of a worker for each item, results in item order as they are ready."""
        from ray.util import ActorPool

        pool = ActorPool(self.workers)
        return pool.map(lambda w, item: getattr(w, method).remote(item, *args), list(items))

    def close(self) -> None:
        ray = require_ray()
        for w in self.workers:
            ray.kill(w)
        if self.started:
            ray.shutdown()


def chunks(items: Sequence, size: int) -> list:
    return [items[i : i + size] for i in range(0, len(items), size)]


def decode_round(sampler: SMOTExT, targets: np.ndarray, seed: int, store: ShardStore | None = None,
                 pool: RayPool | None = None, progress: bool = False) -> tuple[list[str], np.ndarray]:
    """Decode and embed one round's ``targets`` shard by shard: here, or on ``pool``'s workers;
    shards already in ``store`` are read back, new ones put there. Returns the flat candidates and
    their embeddings, in target order."""
    from tqdm.auto import tqdm

    engine: Engine = sampler.engine_
    batch = sampler.decoder_.batch_size
    per_shard = max(1, engine.shard_batches)
    if pool is not None:  # at least two shards per worker, so that none waits while another decodes a large rest
        per_shard = max(1, min(per_shard, math.ceil(len(targets) / batch) // (2 * len(pool.workers))))
    rows = per_shard * batch  # whole batches: boundaries fall where they would in one piece
    shards = cut(targets, rows)
    context = json.dumps({"seed": seed, "decoding": sampler.decoding_, "models": sampler.model_fingerprints_},
                         sort_keys=True)
    keys = [shard_key(context, s) for s in shards]
    done = {s.index: store.get(k) for s, k in zip(shards, keys)} if store is not None else {}
    todo = [s for s in shards if done.get(s.index) is None]
    bar = tqdm(total=len(shards), initial=len(shards) - len(todo), desc="decoding", unit="shard", disable=not progress)
    results = zip(todo, pool.map("decode", todo, seed)) if pool is not None else \
        ((s, decode_shard(sampler, s, seed)) for s in todo)
    for shard, (texts, emb) in results:
        if store is not None:
            store.put(keys[shard.index], texts, emb)
        done[shard.index] = (texts, emb)
        bar.update(1)
    bar.close()
    texts = [t for s in shards for t in done[s.index][0]]
    dim = sampler.encoder_.dim
    emb = np.concatenate([done[s.index][1] for s in shards]) if shards else np.zeros((0, dim), np.float32)
    return texts, emb
