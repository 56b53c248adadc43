"""Generation's share of the engine: each round's mixed vectors are cut into shards of whole
decoding batches. A shard is decoded and its candidates embedded here or by a worker that loaded
the encoder, LM and bridge once; what needs the whole set (filters, dedupe, per-class counts, the
next round) stays with the caller. A sampled row draws from the seed and its own index
(``Decoder.decode``'s ``first_row``), so the output is the same bytes with any number of workers."""

from __future__ import annotations

import json
import math
import os
from pathlib import Path
from typing import Any

import numpy as np

from smotext.engine import Engine, RayPool, Shard, ShardStore, cut, shard_key
from smotext.errors import SmotextError

# ``sampler`` below is a SMOTExT whose models are loaded; it is not imported here, because the
# sampler imports this module (a worker builds one from the class it is handed).
SMOTExT = Any

# Test hook: "SHARD:MARKER" makes the worker that runs shard SHARD die once (MARKER: a file it creates first).
FAIL_ONCE_ENV = "SMOTEXT_TEST_FAIL_SHARD_ONCE"


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
    for name in ("num_candidates", "segment_tokens", "temperature", "top_p", "max_new_tokens", "batch_size"):
        spec[name] = getattr(sampler, name)
    return spec


def _maybe_fail(shard: Shard) -> None:
    """The test hook of ``FAIL_ONCE_ENV``: this worker process dies on the named shard, once."""
    hook = os.environ.get(FAIL_ONCE_ENV)
    if not hook:
        return
    index, marker = hook.split(":", 1)
    if int(index) == shard.index and not os.path.exists(marker):
        Path(marker).write_text("failed once\n")
        os._exit(1)


def decode_task(cache: dict, shard: Shard, sampler_class: type, spec: dict, seed: int) -> tuple[list[str], np.ndarray]:
    """A worker's task: decode and embed ``shard`` with a ``sampler_class(**spec)`` (built once per worker)."""
    _maybe_fail(shard)
    key = ("sampler", sampler_class.__qualname__, json.dumps(spec, sort_keys=True))
    if key not in cache:
        cache[key] = sampler_class(**spec).load_models()
    return decode_shard(cache[key], shard, seed)


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
    results = zip(todo, pool.map(decode_task, todo, type(sampler), worker_spec(sampler), seed)) if pool is not None else \
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
