"""The SMOTExT sampler: the generation stage's front door (``fit_resample``).

embed -> plan same-class parents and weights -> mix -> decode with the bridge -> filter,
repeated in bounded rounds until the requested counts are met.
"""

from __future__ import annotations

import math
import os
import time
import warnings
from collections import Counter
from collections.abc import Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator

from smotext.synth.bridge import Bridge, ModelCard, default_bridge_path, load_bridge  # noqa: F401 (re-exported)
from smotext.synth.corpus import UNLABELLED
from smotext.synth.decoder import Decoder, check_compatible
from smotext.synth.encoder import Encoder
from smotext.errors import SmotextError, SmotextWarning
from smotext.params import check_all
from smotext.synth.filters import Candidates, FilterChain, FilterContext
from smotext.synth.models import LanguageModel, load_lm, weights_fingerprint
from smotext.synth.params import GENERATION_PARAMS, single_decoding
from smotext.synth.pe_privacy import DPGeneration
from smotext.synth.sampling import MixPlan, distinct_rows, plan_mixes, resolve_counts, validate_params


_D = {name: p.default for name, p in GENERATION_PARAMS.items()}
GPU_DECODE_BATCH = 256  # least decoding batch on a GPU (outputs don't depend on batch boundaries)


@dataclass
class GenerationReport:
    """What a run asked for, made, and dropped, per class and per filter."""

    requested: dict[str, int]
    made: dict[str, int] = field(default_factory=dict)
    rounds: int = 0
    candidates_decoded: int = 0
    near_copies_skipped: int = 0  # planned mixes not decoded: greedy decoding would repeat an earlier text
    filters: list[dict] = field(default_factory=list)
    dropped_by: dict[str, int] = field(default_factory=dict)
    seconds: dict[str, float] = field(default_factory=dict)

    @property
    def keep_rate(self) -> float:
        """Texts kept over candidates decoded (1 = no decode wasted on a filter or a surplus)."""
        return sum(self.made.values()) / self.candidates_decoded if self.candidates_decoded else 0.0

    @property
    def shortfall(self) -> dict[str, int]:
        return {c: n - self.made.get(c, 0) for c, n in self.requested.items() if self.made.get(c, 0) < n}

    def shortfall_message(self) -> str | None:
        """One sentence saying how many were made and which filters cost the rest, or None if none short."""
        if not self.shortfall:
            return None
        want, got = sum(self.requested.values()), sum(self.made.values())
        causes = ", ".join(f"{k}: {v}" for k, v in sorted(self.dropped_by.items(), key=lambda kv: -kv[1])) or "none"
        short = ", ".join(f"{c!r} {n} short" for c, n in self.shortfall.items())
        return (f"made {got} of {want} synthetic texts after {self.rounds} round(s) ({short}); candidates dropped by "
                f"filter: {causes}. Relax those filters' thresholds, raise max_rounds, or use a better bridge.")


class SMOTExT(BaseEstimator):
    """SMOTE for text: interpolate same-class neighbours in embedding space, decode back to text.

    Parameters mirror imbalanced-learn's SMOTE where they can: ``sampling_strategy`` ('auto',
    'minority', 'all', an int total, or a dict of per-class counts), ``k_neighbors``, ``kind``
    ('regular', 'borderline', 'adasyn') and ``random_state``. ``n_parents`` > 2 mixes with
    Dirichlet(``dirichlet_alpha``) weights; two parents mix with λ drawn from ``lambda_range``.

    ``encoder``, ``lm`` and ``bridge`` take a path/name (None = the defaults) or loaded objects.
    After ``fit_resample``: ``synthetic_`` (text, label), ``provenance_`` (private: parents,
    weights, filter scores) and ``report_`` (counts per class and per filter).

    ``num_candidates`` = 1 samples one text per vector (at ``params.single_decoding``'s temperature
    and nucleus unless ``temperature`` / ``top_p`` are given; ``temperature`` 0 decodes greedily);
    n > 1 keeps, of n candidates per target, the closest that passes the filters. With
    ``segment_tokens`` set they come from segment search (n continuations of that many tokens at a
    time, the closest kept each time); None samples n whole texts.

    ``dp`` (a ``DPGeneration``) switches to DP generation: the real records only vote, with noise, on
    candidates written from public information, and the mixes are among those candidates
    (``synth.private_evolution``). ``privacy_`` then holds the (ε, δ) the run spent. Its filters
    may only look at synthetic texts: the default chain becomes degenerate, fidelity, dedupe.
    """

    def __init__(
        self,
        sampling_strategy: str | int | Mapping[str, int] = _D["sampling_strategy"],
        k_neighbors: int = _D["k_neighbors"],
        kind: str = _D["kind"],
        n_parents: int = _D["n_parents"],
        lambda_range: tuple[float, float] = _D["lambda_range"],
        lambda_distribution: str = _D["lambda_distribution"],
        beta: float = _D["beta"],
        dirichlet_alpha: float = _D["dirichlet_alpha"],
        random_state: int | None = _D["random_state"],
        encoder: str | Encoder | None = _D["encoder"],
        lm: str | LanguageModel | None = _D["lm"],
        bridge: str | tuple[Bridge, ModelCard] | None = _D["bridge"],
        filters: Sequence[str] = _D["filters"],
        filter_params: Mapping[str, Mapping] | None = _D["filter_params"],
        num_candidates: int = _D["num_candidates"],
        segment_tokens: int | None = _D["segment_tokens"],
        temperature: float | None = _D["temperature"],
        top_p: float | None = _D["top_p"],
        max_new_tokens: int = _D["max_new_tokens"],
        batch_size: int = _D["batch_size"],
        max_rounds: int = _D["max_rounds"],
        near_copy: float = _D["near_copy"],
        oversample: float = _D["oversample"],
        progress: bool = _D["progress"],
        engine=_D["engine"],
        dp: DPGeneration | None = _D["dp"],
    ):
        # scikit-learn's contract: __init__ only stores its arguments; checking happens at fit time.
        self.sampling_strategy = sampling_strategy
        self.k_neighbors = k_neighbors
        self.kind = kind
        self.n_parents = n_parents
        self.lambda_range = lambda_range
        self.lambda_distribution = lambda_distribution
        self.beta = beta
        self.dirichlet_alpha = dirichlet_alpha
        self.random_state = random_state
        self.encoder = encoder
        self.lm = lm
        self.bridge = bridge
        self.filters = filters
        self.filter_params = filter_params
        self.num_candidates = num_candidates
        self.segment_tokens = segment_tokens
        self.temperature = temperature
        self.top_p = top_p
        self.max_new_tokens = max_new_tokens
        self.batch_size = batch_size
        self.max_rounds = max_rounds
        self.near_copy = near_copy
        self.oversample = oversample
        self.progress = progress
        self.engine = engine
        self.dp = dp

    # ------------------------------------------------------------ set-up

    def _check_params(self) -> None:
        """Every parameter against its declaration (GENERATION_PARAMS), then the ones that constrain each other."""
        validate_params(
            k_neighbors=self.k_neighbors, kind=self.kind, n_parents=self.n_parents, lambda_range=self.lambda_range,
            lambda_distribution=self.lambda_distribution, beta=self.beta, dirichlet_alpha=self.dirichlet_alpha,
        )
        check_all(GENERATION_PARAMS, self.get_params(deep=False))
        if self.temperature == 0 and self.num_candidates > 1:
            raise SmotextError("temperature 0 decodes greedily, which gives one text per vector: it needs "
                               "num_candidates 1", params="temperature")

    def _check_memory(self, total: int) -> None:
        """Refuse a request whose plan can't fit in memory (checked before any model loads)."""
        # a round holds, per planned target, its vector and its candidates' embeddings (float32; 1024-d
        # bounds the encoders in use), drawn with the oversampling factor
        need = total * self.oversample * (1 + self.num_candidates) * 1024 * 4
        try:
            ram = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
        except (ValueError, OSError, AttributeError):  # not on this platform: no bound
            return
        if need > ram / 2:
            raise SmotextError(f"sampling_strategy asks for {total:,} synthetic texts; planning them needs about "
                               f"{need / 2**30:.0f} GiB, more than half of this machine's {ram / 2**30:.0f} GiB. Ask for "
                               "fewer per run (runs with different seeds can be concatenated)", params="sampling_strategy")

    def load_models(self) -> "SMOTExT":
        """Load encoder, LM and bridge (also done by fit_resample) and check that they fit together.

        Models already loaded for the same ``encoder``/``lm``/``bridge`` values are reused; after
        ``set_params`` changes one of them, or a decoding setting, the affected parts are rebuilt.
        """
        loaded = getattr(self, "_loaded_for", {})

        def changed(key: str, value) -> bool:
            if key not in loaded:
                return True
            old = loaded[key]
            if isinstance(value, (str, os.PathLike)) or value is None:
                return not (isinstance(old, (str, os.PathLike)) or old is None) or old != value
            return old is not value  # a loaded object: the same object or not (kept alive here, so ids can't recur)

        if changed("encoder", self.encoder):
            self.encoder_ = self.encoder if isinstance(self.encoder, Encoder) else Encoder(self.encoder)
        if changed("lm", self.lm):
            self.lm_ = self.lm if isinstance(self.lm, LanguageModel) else load_lm(self.lm, half_on_gpu=True)
        settings = (self.max_new_tokens, self.batch_size, self.segment_tokens, self.temperature, self.top_p)
        if changed("encoder", self.encoder) or changed("lm", self.lm) or changed("bridge", self.bridge) \
                or loaded.get("decoding") != settings:
            if isinstance(self.bridge, tuple):
                bridge, card = self.bridge
                self.bridge_path_, self.bridge_sha256_ = "<in memory>", ""
            else:
                path = Path(self.bridge) if self.bridge else default_bridge_path()
                if not self.bridge and not (path / "bridge.json").exists():
                    raise SmotextError("no default bridge is installed; train one with `smotext fit-decoder` and pass it "
                                       "as bridge", params="bridge")
                bridge, card = load_bridge(path)
                self.bridge_path_, self.bridge_sha256_ = str(path), weights_fingerprint(path / "bridge.safetensors")
            check_compatible(card, self.encoder_.dim, self.lm_)
            single_t, single_p = single_decoding(card.config.adapter)
            on_gpu = str(self.lm_.device).startswith("cuda")  # a GPU decodes many rows at once for the time of one
            self.decoder_ = Decoder(bridge, card, self.lm_, max_new_tokens=self.max_new_tokens,
                                    batch_size=max(self.batch_size, GPU_DECODE_BATCH) if on_gpu else self.batch_size,
                                    temperature=self.temperature,
                                    single_temperature=single_t, top_p=self.top_p, single_top_p=single_p,
                                    embed=self.encoder_.embed,
                                    segment_tokens=None if self.segment_tokens is None else int(self.segment_tokens))
        self._loaded_for = {"encoder": self.encoder, "lm": self.lm, "bridge": self.bridge, "decoding": settings}
        return self

    @property
    def decoding_(self) -> dict:
        """How the loaded decoder decodes: candidates per vector, temperature (0: greedy), the
        nucleus of sampled tokens (None when greedy) and, for best-of-n, the segment length (None:
        whole samples)."""
        n, dec = self.num_candidates, self.decoder_
        t = dec.temperature_for(n)
        return {"num_candidates": n, "temperature": t, "top_p": dec.top_p_for(n) if t else None,
                "segment_tokens": dec.segment_tokens if n > 1 else None}

    @property
    def model_fingerprints_(self) -> dict:
        """sha256 of the loaded encoder's, LM's and bridge's weights (what a decoded shard depends on)."""
        bridge = self.bridge_sha256_
        if not bridge:  # a bridge handed over in memory: hash its tensors
            import hashlib

            h = hashlib.sha256()
            for name, t in sorted(self.decoder_.bridge.state_dict().items()):
                h.update(name.encode())
                h.update(t.detach().cpu().contiguous().numpy().tobytes())
            bridge = h.hexdigest()
        return {"encoder": self.encoder_.fingerprint, "lm": self.lm_.fingerprint, "bridge": bridge}

    # ------------------------------------------------------------ the front door

    def fit_resample(self, texts: Sequence[str], labels: Sequence | None = None, *,
                     checkpoint: str | os.PathLike | None = None) -> tuple[list[str], list[str]]:
        """Generate synthetic texts; return the real texts followed by the synthetic ones, with labels.

        The synthetic part alone is in ``synthetic_``; ``labels=None`` treats all texts as one class.
        ``checkpoint``: a folder where finished shards are kept, so that the same call after an
        interruption picks up where it stopped (the caller removes it once the outputs are written).
        """
        self._check_params()
        from smotext.engine import ShardStore, as_engine
        from smotext.synth.shards import worker_spec

        self.engine_ = as_engine(self.engine)
        self._store = ShardStore(checkpoint) if checkpoint is not None else None
        if self.engine_.kind == "ray":
            worker_spec(self)  # models given as loaded objects can't reach the workers: refused before any loads
        texts = list(texts)
        if not texts:
            raise SmotextError("the corpus is empty")
        if any(not isinstance(t, str) or not t.strip() for t in texts):
            raise SmotextError("every text must be a non-empty string")
        labels = [UNLABELLED] * len(texts) if labels is None else [str(v) for v in labels]
        if len(labels) != len(texts):
            raise SmotextError(f"{len(texts)} texts but {len(labels)} labels")
        with self.engine_.session():  # Ray workers live for this call, or for the job that holds the session
            return (self._fit_resample_dp if self.dp is not None else self._fit_resample_mixes)(texts, labels)

    def _fit_resample_mixes(self, texts: list[str], labels: list[str]) -> tuple[list[str], list[str]]:
        self.privacy_ = {"mode": "non-dp", "epsilon": math.inf,
                         "note": "outputs are decoded from mixes of real records' embeddings: no formal guarantee"}
        counts = resolve_counts(self.sampling_strategy, labels)
        self._check_memory(sum(counts.values()))
        small = {c: n for c, n in Counter(labels).items() if counts.get(c, 0) > 0 and n < self.k_neighbors + 1}
        if small:
            c, n = sorted(small.items())[0]
            raise SmotextError(
                f"class {c!r} has {n} text(s) but k_neighbors={self.k_neighbors} needs at least {self.k_neighbors + 1}: "
                "lower k_neighbors, add texts to that class, or leave it out", params="k_neighbors"
            )
        chain = FilterChain.build(self.filters, self.filter_params)  # a bad filter name fails before models load
        self.load_models()
        t0 = time.perf_counter()
        real_emb = self.encoder_.embed(texts, progress=self.progress)
        report = GenerationReport(requested=counts, seconds={"embed_real": time.perf_counter() - t0})
        self.synthetic_, self.provenance_ = self._generate(texts, labels, real_emb, counts, chain, report)
        self.report_ = report
        if msg := report.shortfall_message():
            warnings.warn(msg, SmotextWarning, stacklevel=3)
        return texts + self.synthetic_["text"].tolist(), labels + self.synthetic_["label"].tolist()

    def _fit_resample_dp(self, texts: list[str], labels: list[str]) -> tuple[list[str], list[str]]:
        """DP generation (Private Evolution, or with ``dp.method`` 'finetune' or 'adapted-evolution'
        DP fine-tuning first):
        checked and calibrated before any model loads."""
        from smotext.synth.pe_privacy import calibrate_votes
        from smotext.synth.private_evolution import PrivateEvolution, check_dp_filters

        # 'auto' decided for these records; the DP-SGD methods need the shipped bridge, one sampled text a vector,
        # and (untested with Ray) the local engine
        dp, chosen = self.dp.for_records(len(texts), can_train=self.bridge is None and self.num_candidates == 1
                                         and self.temperature != 0 and self.engine_.kind == "local")
        dp.check()
        if self.kind != "regular":
            raise SmotextError(f"kind={self.kind!r} picks seeds by their real neighbours' classes; DP generation mixes "
                               "public candidates only and takes kind='regular'", params="kind")
        report = GenerationReport(requested={})
        chain = FilterChain.build(check_dp_filters(self.filters, self.filter_params), self.filter_params)
        if dp.trains_decoder:
            from smotext.synth.dp_finetune import DPFinetune, check_sampler, plan_finetune

            check_sampler(self)
            seed = int(np.random.default_rng([self.random_state or 0, 0xF7]).integers(2**31 - 1))  # the adapter's init
            plan = plan_finetune(dp, len(texts), len(set(labels)), seed)  # an impossible budget fails here
            self.load_models()
            self.synthetic_, self.provenance_, self.privacy_ = DPFinetune(self, dp, plan, chain).run(texts, labels, report)
        else:
            # an impossible budget fails here, before any model loads
            plan = calibrate_votes(dp.budget(len(set(labels))), len(texts), secret=dp.secret)
            self.load_models()
            self.synthetic_, self.provenance_, self.privacy_ = PrivateEvolution(self, dp, plan, chain).run(
                texts, labels, report)
        if chosen is not None:
            self.privacy_["method_chosen"] = chosen
        self.report_ = report
        if msg := report.shortfall_message():
            warnings.warn(msg, SmotextWarning, stacklevel=3)
        return texts + self.synthetic_["text"].tolist(), labels + self.synthetic_["label"].tolist()

    # ------------------------------------------------------------ after a run

    def hold_back(self, parent_rows) -> pd.DataFrame:
        """Remove from this run's outputs (``synthetic_``, ``provenance_``, the report's counts) every
        text with a parent among ``parent_rows`` (rows of the texts ``fit_resample`` was given, e.g.
        planted canaries); returns their provenance, ``generated_row`` numbering them as generated."""
        rows = {int(r) for r in parent_rows}
        prov = self.provenance_
        held = np.array([any(int(p) in rows for p in parents) for parents in prov["parents"]], bool)
        self.synthetic_ = self.synthetic_[~held].reset_index(drop=True)
        kept = prov[~held].reset_index(drop=True)
        kept["synthetic_row"] = range(len(kept))
        self.provenance_ = kept
        if self.report_.requested:
            self.report_.made = {c: int((self.synthetic_["label"] == c).sum()) for c in self.report_.requested}
        return prov[held].reset_index(drop=True).rename(columns={"synthetic_row": "generated_row"})

    @contextmanager
    def using_bridge(self, folder: str | os.PathLike, recorded_as: str | os.PathLike | None = None):
        """Generate with the bridge in ``folder`` (e.g. a voice adapter trained on the members) inside
        this block; the sampler's own ``bridge`` setting comes back after it. The run's manifest names
        the bridge as ``recorded_as`` (where the folder will be once a run's output is in place)."""
        own = self.bridge
        self.bridge = str(folder)
        try:
            yield self
            if recorded_as is not None and getattr(self, "bridge_path_", None) == str(folder):
                self.bridge_path_ = str(recorded_as)
        finally:
            self.bridge = own

    # ------------------------------------------------------------ rounds

    def _generate(self, texts, labels, real_emb, counts, chain, report):
        rng = np.random.default_rng(self.random_state)
        seed = int(rng.integers(2**31 - 1))  # decoding seed, derived so one random_state drives everything
        ctx = FilterContext(real_texts=texts, real_labels=labels, real_embeddings=real_emb)
        made = {c: 0 for c in counts}
        rows: list[dict] = []
        accept_rate = 1.0 / self.oversample
        timing = {"decode": 0.0, "filter": 0.0}  # decode: decoding and embedding the candidates
        greedy = self.decoding_["temperature"] == 0
        planned = np.zeros((0, real_emb.shape[1]), np.float32)  # every vector decoded so far (greedy runs only)
        for rnd in range(self.max_rounds):
            need = {c: counts[c] - made[c] for c in counts if counts[c] > made[c]}
            if not need:
                break
            factor = min(5.0, 1.0 / max(accept_rate, 0.2))
            draw = {c: math.ceil(n * factor) for c, n in need.items()}
            plan = plan_mixes(
                real_emb, labels, draw, rng, k_neighbors=self.k_neighbors, kind=self.kind, n_parents=self.n_parents,
                lambda_range=self.lambda_range, lambda_distribution=self.lambda_distribution, beta=self.beta,
                dirichlet_alpha=self.dirichlet_alpha,
            )
            drawn = len(plan)
            if greedy and self.near_copy < 1:
                targets = plan.mix(real_emb)
                keep = distinct_rows(targets, self.near_copy, planned)
                plan, planned = plan.subset(keep), np.vstack([planned, targets[keep]])
                report.near_copies_skipped += int(drawn - keep.sum())
            kept = self._run_round(plan, real_emb, chain, ctx, seed + rnd, timing, report) if len(plan) else []
            report.rounds = rnd + 1
            report.candidates_decoded += len(plan) * self.num_candidates
            new = []
            for row in kept:  # surplus beyond a class's count is dropped, in plan order
                if made[row["label"]] < counts[row["label"]]:
                    made[row["label"]] += 1
                    new.append({**row, "round": rnd + 1})
            if new:
                ctx.accept([r["text"] for r in new], np.stack([r.pop("_emb") for r in new]))
            rows += new
            accept_rate = max(len(kept) / max(1, drawn), 1e-3)  # skipped near-copies count as lost: draw for them
        report.made = made
        report.filters = chain.describe()
        report.seconds.update(timing)
        frame = pd.DataFrame({"text": [r["text"] for r in rows], "label": [r["label"] for r in rows]})
        provenance = pd.DataFrame(rows)
        provenance.insert(0, "synthetic_row", np.arange(len(rows)))
        return frame, provenance

    def _run_round(self, plan: MixPlan, real_emb, chain: FilterChain, ctx: FilterContext, seed: int, timing, report) -> list[dict]:
        """Decode one plan and filter it; returns the kept rows in plan order (best candidate per vector)."""
        from smotext.synth.shards import decode_round

        targets = plan.mix(real_emb)
        t0 = time.perf_counter()
        flat, emb = decode_round(self, targets, seed, self._store, self.engine_.pool(), progress=self.progress)
        timing["decode"] += time.perf_counter() - t0
        n_c = self.num_candidates
        owner = np.repeat(np.arange(len(plan)), n_c)
        t0 = time.perf_counter()
        cand = Candidates(flat, [plan.labels[i] for i in owner], targets[owner], emb)
        alive, scores, dropped_by = chain.run(cand, ctx)
        timing["filter"] += time.perf_counter() - t0
        fidelity = np.einsum("nd,nd->n", emb, targets[owner])
        kept = []
        for i in range(len(plan)):
            js = np.arange(i * n_c, (i + 1) * n_c)
            ok = js[alive[js]]
            if not len(ok):
                # A lost vector is put down to the filter that dropped most of its candidates.
                first = Counter(dropped_by[j] for j in js).most_common(1)[0][0]
                report.dropped_by[first] = report.dropped_by.get(first, 0) + 1
                continue
            j = ok[np.argmax(fidelity[ok])]  # best-of-n: closest to the target among those that pass
            row = {
                "text": flat[j], "label": plan.labels[i],
                "parents": plan.parents[i].tolist(), "weights": [round(float(w), 6) for w in plan.weights[i]],
                "fidelity": float(fidelity[j]), "candidates": n_c, "_emb": emb[j],
            }
            for key, vals in scores.items():
                if key != "fidelity":
                    v = vals[j]
                    row[key] = None if np.isnan(v) else (int(v) if key == "nearest_real" else float(v))
            kept.append(row)
        return kept
