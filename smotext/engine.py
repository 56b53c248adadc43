"""Where the heavy work runs: in this process (``local``) or spread over a Ray cluster (``ray``).

The runtime layer: it is handed what to run and imports no stage. A job opens one pool of workers
(``Engine.session``) that generation and the audit share; a task is a module-level function
``fn(cache, item, *args)`` that a worker calls with its own ``cache`` dict, where the stage keeps the
models it loaded, so each worker loads a model once for the whole job. Work is cut into shards
(``cut``); finished shards can be kept in a folder (``ShardStore``), so an interrupted run resumes
where it stopped.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from contextlib import contextmanager

import numpy as np

from smotext.errors import SmotextError
from smotext.params import Param, check_declared, int_at_least, one_of

ENGINES = ("local", "ray")
SHARD_BATCHES = 8  # decoding batches per shard: small enough to spread, large enough to keep a worker busy
RAY_INSTALL = "pip install 'smotext[ray]'"


ENGINE_PARAMS: dict[str, Param] = {
    "kind": Param("local", f"local: this process; ray: workers on a Ray cluster ({RAY_INSTALL})", one_of(*ENGINES),
                  flag="--engine", cli={"choices": ENGINES}),
    "address": Param(None, "an existing Ray cluster to use (None: start one on this machine)", None,
                     flag="--ray-address", cli={"metavar": "ADDR"}),
    "workers": Param(None, "Ray workers (None: one per CPU core of the cluster)", int_at_least(1, none_ok=True),
                     flag="--workers", cli={"type": int}),
    "shard_batches": Param(SHARD_BATCHES, "decoding batches per shard", int_at_least(1)),
    "threads": Param(None, "cores each Ray worker computes with (None: the cluster's cores shared out)",
                     int_at_least(1, none_ok=True)),
}


@dataclass
class Engine:
    """How to run the heavy work: ``kind`` "local" (this process) or "ray" (``address``: an existing
    cluster, None: start one on this machine; ``workers``: workers, default one per core there;
    ``threads``: cores each worker reserves and computes with, default the cluster's cores shared
    out among the workers); ``shard_batches``: decoding batches per shard."""

    kind: str = ENGINE_PARAMS["kind"].default
    address: str | None = ENGINE_PARAMS["address"].default
    workers: int | None = ENGINE_PARAMS["workers"].default
    shard_batches: int = ENGINE_PARAMS["shard_batches"].default
    threads: int | None = ENGINE_PARAMS["threads"].default

    def __post_init__(self):
        self._pool: RayPool | None = None  # not a field: the manifest records the settings, not the workers
        self._sessions = 0

    def pool(self) -> RayPool | None:
        """The job's workers (started on first use; None for ``local``, which runs in this process)."""
        if self.kind != "ray":
            return None
        if self._pool is None:
            self._pool = RayPool(self)
        return self._pool

    @contextmanager
    def session(self):
        """One job: the workers ``pool()`` starts inside it live until it ends, shared by every stage
        run inside it (a release's generation and audit). Sessions nest; the outermost closes them."""
        self._sessions += 1
        try:
            yield self
        finally:
            self._sessions -= 1
            if self._sessions == 0 and self._pool is not None:
                pool, self._pool = self._pool, None
                pool.close()

    def check(self) -> None:
        if self.kind not in ENGINES:
            raise SmotextError(f"unknown engine {self.kind!r}; valid: {', '.join(ENGINES)}", params="engine")
        check_declared(self, {k: p for k, p in ENGINE_PARAMS.items() if k != "kind"})
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


def engine_check(v) -> str | None:
    """The declared parameters' check of an ``engine`` value (see ``smotext.params.Param``)."""
    return None if v is None or v in ENGINES or isinstance(v, Engine) else "None, 'local', 'ray' or an Engine"


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


# ---------------------------------------------------------------- workers

class _Worker:
    """A Ray actor that runs tasks ``fn(cache, item, *args)``; ``cache`` lives as long as the worker,
    so a stage loads each model once per worker."""

    def __init__(self, threads: int):
        import torch

        torch.set_num_threads(max(1, threads))
        self.cache: dict = {}

    def call(self, fn, item, *args):
        return fn(self.cache, item, *args)


class RayPool:
    """Workers on a Ray cluster (started on this machine unless ``engine.address`` names one), for
    the length of one job. Workers that die are restarted and their task retried."""

    def __init__(self, engine: Engine):
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
        self.workers = [actor.remote(threads) for _ in range(n)]

    def map(self, fn, items: Sequence, *args) -> Iterator:
        """``fn(cache, item, *args)`` on a worker for each item, results in item order as they are ready."""
        from ray.util import ActorPool

        pool = ActorPool(self.workers)
        return pool.map(lambda w, item: w.call.remote(fn, item, *args), list(items))

    def close(self) -> None:
        ray = require_ray()
        for w in self.workers:
            ray.kill(w)
        if self.started:
            ray.shutdown()


def chunks(items: Sequence, size: int) -> list:
    return [items[i : i + size] for i in range(0, len(items), size)]
