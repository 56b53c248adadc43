"""DP generation: Private Evolution with SMOTExT's mixing as the variation step.

Real records never reach the LM, the bridge or a filter: they are embedded once and only vote
(``pe_privacy.vote_histogram``), and only the noisy vote counts leave that step. Everything after
is post-processing of public candidates and noisy counts, so the release carries the (ε, δ) the
``VotePlan`` was calibrated for.

    start:   per class, ``population`` candidates the LM writes from the class name and the topic
             (with 'adapted-evolution': samples of the DP-adapted decoder, ``dp_finetune``)
    T times: every record votes once (for its nearest candidate of its class, or with ``votes='contrast'``
             for its nearest candidate of any class, +1 if of its class, -1 if not); Gaussian noise on the counts;
             survivors = candidates whose noisy count reaches threshold·σ (at least 1 vote);
             next population = the top ``elite_share`` survivors unchanged + SMOTExT mixes of
             survivors (seed parent drawn by noisy count, a neighbour among the survivors), decoded;
             with ``rewrite_share`` that share of the new ones is instead a survivor (drawn by noisy
             count) the LM rewrites in other words, or whose blanks it fills in where words were cut
             out (``rewrite_style``: Aug-PE's paraphrase and fill-in-the-blank variations)
    output:  the population made after the last vote, one text per requested output; with the label
             model (``labels='centroids'``, the default) each takes the class of the noisy class centroids
             it sits nearest, as many per class as the class asked for (the LM's texts often read as the
             other class: a classifier of the real records agreed with the evolved class on 55% of them)
"""

from __future__ import annotations

import math
import random
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Callable

import numpy as np
import pandas as pd
from tqdm.auto import tqdm

from smotext.errors import SmotextError
from smotext.synth.corpus import UNLABELLED
from smotext.synth.filters import Candidates, FilterChain, FilterContext
from smotext.synth.lm_writer import write_texts
from smotext.synth.pe_privacy import (DPGeneration, VotePlan, label_by_centroids, noisy_class_counts, noisy_votes,
                                      vote_histogram)
from smotext.synth.sampling import counts_for_sizes, plan_mixes

# the default filters that look at synthetic texts only, with every method (fidelity applies to mixes: a text
# sampled from a class prompt, or written by the LM, is held to no vector)
DP_FILTERS = ("degenerate", "fidelity", "dedupe")
LENGTHS = ("one sentence", "one or two sentences", "two sentences")
DEFAULT_TOPIC = "short text"
BLANK = "___"
# the share of a survivor's words the fill-in-the-blank variation cuts out: enough that the LM writes
# a new text, few enough that the survivor's topic and tone still steer it
BLANK_SHARE = 0.4


def start_prompts(classes: list[str], per_class: int, topic: str | None, seed: int,
                  lengths: tuple[str, ...] = LENGTHS) -> list[tuple[str, str]]:
    """(class, prompt) pairs from public information only: the class names and the topic."""
    rng = random.Random(seed)
    what = topic or DEFAULT_TOPIC
    out = []
    for cls in classes:
        for _ in range(per_class):
            length = rng.choice(lengths)
            about = "" if cls == UNLABELLED else f" in the category \"{cls}\""
            out.append((cls, f"Write one {what}{about}, {length} long. Reply with the text only."))
    return out


def rewrite_prompt(text: str, topic: str | None) -> str:
    """The instruction that asks the LM to rewrite a public candidate (Aug-PE's paraphrase)."""
    return (f"Rewrite this {topic or DEFAULT_TOPIC} in different words, keeping its meaning and tone: \"{text}\" "
            "Reply with the new text only.")


def blank_out(text: str, rng: np.random.Generator, share: float = BLANK_SHARE) -> str:
    """``text`` with ``share`` of its words (at least one) cut out at random, each run of cut words one
    ``BLANK``."""
    words = text.split()
    cut = set(rng.choice(len(words), max(1, round(share * len(words))), replace=False).tolist()) if words else set()
    out: list[str] = []
    for i, w in enumerate(words):
        if i not in cut:
            out.append(w)
        elif not out or out[-1] != BLANK:
            out.append(BLANK)
    return " ".join(out) or BLANK


def blanks_prompt(text: str, topic: str | None) -> str:
    """The instruction that asks the LM to fill in a public candidate's blanks (Aug-PE's fill-in-the-blank)."""
    return (f"Fill in each blank ({BLANK}) in this {topic or DEFAULT_TOPIC} with your own words: \"{text}\" "
            "Reply with the complete text only.")


def check_dp_filters(filters, filter_params) -> tuple[str, ...]:
    """The filters DP generation runs: the default chain becomes the synthetic-only one
    (``DP_FILTERS``); a filter that reads real records (label, privacy, or a plug-in that doesn't
    declare otherwise) is refused."""
    from smotext.synth.filters import FILTERS
    from smotext.synth.params import DEFAULT_FILTERS

    default = DP_FILTERS
    chosen = default if tuple(filters) == tuple(DEFAULT_FILTERS) else tuple(filters)
    named = list(chosen) + [n for n in (filter_params or {}) if n not in chosen]
    reading = [n for n in named if n in FILTERS and FILTERS.get(n).reads_real]
    if reading:
        raise SmotextError(f"DP generation can't run the filter(s) {', '.join(reading)}: they read real records after "
                           "the noisy votes, which the (ε, δ) guarantee does not cover. Leave them out (DP generation's "
                           f"default filters are {', '.join(default)})", params="filters")
    return chosen


@dataclass
class _Archive:
    """Every public candidate made so far: text, class, embedding, where it came from."""

    texts: list[str] = field(default_factory=list)
    labels: list[str] = field(default_factory=list)
    emb: list[np.ndarray] = field(default_factory=list)
    info: list[dict] = field(default_factory=list)

    def add(self, text: str, label: str, emb: np.ndarray, info: dict) -> int:
        self.texts.append(text)
        self.labels.append(label)
        self.emb.append(np.asarray(emb, np.float32))
        self.info.append(info)
        return len(self.texts) - 1

    def embeddings(self, ids) -> np.ndarray:
        return np.stack([self.emb[i] for i in ids])


class PrivateEvolution:
    """One DP generation run for a loaded ``SMOTExT`` sampler (its decoder, encoder, LM, mixing
    settings and seed) and a ``DPGeneration`` request; ``run`` returns what ``fit_resample`` keeps."""

    def __init__(self, sampler, dp: DPGeneration, plan: VotePlan, chain: FilterChain,
                 start: Callable[[list[str], int, object], list[tuple[str, str, np.ndarray]]] | None = None):
        """``start`` (classes, per class, report) → (class, text, embedding) rows replaces the LM's
        writing of the start population from public prompts (``_start``); it must read no record."""
        self.s, self.dp, self.chain, self.start = sampler, dp, chain, start
        # 'no_noise' (a benchmark baseline) votes without noise; the manifest then says ε = ∞
        self.plan = plan if dp.ablation != "no_noise" else VotePlan(**{**plan.__dict__, "sigma": 0.0})
        self.archive = _Archive()
        self.rng = np.random.default_rng(sampler.random_state)
        self.seed = int(self.rng.integers(2**31 - 1))  # decoding and writing seed, from the published seed
        self.timing = {"write_start": 0.0, "vote": 0.0, "decode": 0.0, "filter": 0.0}
        self.iterations: list[dict] = []

    # ------------------------------------------------------------ the run

    def run(self, texts: list[str], labels: list[str], report,
            sizes: dict[str, float] | None = None) -> tuple[pd.DataFrame, pd.DataFrame, dict]:
        """Evolve; ``sizes``: the class sizes as this plan already released them (None: release them here)."""
        s, dp = self.s, self.dp
        if sizes is None:
            sizes = noisy_class_counts(self.plan, Counter(labels))  # a Gaussian release unless declared public
        counts = counts_for_sizes(s.sampling_strategy, {c: int(round(v)) for c, v in sizes.items()})
        report.requested = counts
        active = [c for c in sorted(counts) if counts[c] > 0]
        if not active:
            raise SmotextError("the noisy class sizes ask for no synthetic texts at all: ask for a number (--n)")
        real_emb = None
        if dp.ablation != "no_votes":
            t0 = time.perf_counter()
            real_emb = s.encoder_.embed(texts, progress=s.progress)  # used by vote_histogram and noisy_centroids only
            self.timing["vote"] += time.perf_counter() - t0
        pop = self._start(active, report)
        bar = tqdm(range(dp.iterations), desc="DP generation", unit="round", disable=not s.progress)
        for t in bar:
            t0 = time.perf_counter()
            if real_emb is None:
                noisy = np.zeros(len(pop))  # blind: every candidate counts the same
            else:
                hist = vote_histogram(real_emb, labels, self.archive.embeddings(pop), [self.archive.labels[i] for i in pop],
                                      votes=dp.votes)
                noisy = noisy_votes(self.plan, hist, t)
            self.timing["vote"] += time.perf_counter() - t0
            # From here on only public candidates and the noisy counts: post-processing.
            want = counts if t == dp.iterations - 1 else {c: dp.population for c in active}
            pop = self._next(pop, noisy, want, t, report)
            bar.set_postfix(kept=self.iterations[-1]["survivors_total"], population=len(pop))
        report.rounds = dp.iterations
        report.filters = self.chain.describe()
        rows = self._outputs(pop, counts)
        if self.plan.label_model and real_emb is not None:
            t0 = time.perf_counter()
            # the run's last release; assigning classes from it is post-processing
            classes = label_by_centroids(self.plan, real_emb, labels, active,
                                         self.archive.embeddings([r["candidate"] for r in rows]), [counts[c] for c in active])
            self.timing["vote"] += time.perf_counter() - t0
            for r, c in zip(rows, classes):
                r["evolved_label"], r["label"] = r["label"], c
        report.seconds.update(self.timing)
        report.made = {c: sum(r["label"] == c for r in rows) for c in counts}
        frame = pd.DataFrame({"text": [r["text"] for r in rows], "label": [r["label"] for r in rows]})
        provenance = pd.DataFrame(rows)
        provenance.insert(0, "synthetic_row", np.arange(len(rows)))
        privacy = {**self.plan.facts(dp.ablation), "settings": dp.settings(),
                   "class_sizes": {"public": dp.public_class_counts, "released": {c: round(v, 2) for c, v in sizes.items()}},
                   "rounds": self.iterations, "candidates": len(self.archive.texts)}
        return frame, provenance, privacy

    # ------------------------------------------------------------ start population

    def _start(self, classes: list[str], report) -> list[int]:
        """``population`` candidates per class written by the LM from public prompts (or by the
        ``start`` given); a few rounds of asking again when cleaning, the degenerate filter or
        dedupe drop some."""
        s, per = self.s, self.dp.population
        if self.start is not None:
            t0 = time.perf_counter()
            have = {c: [] for c in classes}
            for c, text, emb in self.start(classes, per, report):
                have[c].append(self.archive.add(text, c, emb, {"origin": "start", "round": 0, "parents": []}))
            self.timing["write_start"] += time.perf_counter() - t0
            return self._enough(have)
        ctx = FilterContext(real_texts=[], real_labels=[], real_embeddings=np.zeros((0, s.encoder_.dim), np.float32))
        have: dict[str, list[int]] = {c: [] for c in classes}
        for attempt in range(s.max_rounds):
            need = {c: per - len(have[c]) for c in classes if len(have[c]) < per}
            if not need:
                break
            factor = 1.3 if attempt == 0 else 2.0
            asks = [pair for c, n in need.items() for pair in start_prompts([c], math.ceil(n * factor), self.dp.topic,
                                                                             self.seed + 7919 * attempt + classes.index(c))]
            t0 = time.perf_counter()
            written = write_texts(s.lm_, [p for _, p in asks], self.seed + attempt, batch_size=s.batch_size,
                                  max_new_tokens=s.max_new_tokens, progress=s.progress, desc="writing the public start")
            self.timing["write_start"] += time.perf_counter() - t0
            pairs = [(c, t) for (c, _), t in zip(asks, written) if t]
            if not pairs:
                continue
            texts = [t for _, t in pairs]
            emb = s.encoder_.embed(texts)
            # the start has no target vector: fidelity to itself is 1 by construction
            alive, _, _ = self.chain.run(Candidates(texts, [c for c, _ in pairs], emb, emb), ctx)
            report.candidates_decoded += len(asks)
            for i in np.flatnonzero(alive):
                c = pairs[i][0]
                if len(have[c]) < per:
                    have[c].append(self.archive.add(texts[i], c, emb[i], {"origin": "start", "round": 0, "parents": []}))
                    ctx.accept([texts[i]], emb[i][None])
        return self._enough(have)

    @staticmethod
    def _enough(have: dict[str, list[int]]) -> list[int]:
        """The start population's archive ids, class by class; fewer than 2 in a class is an error."""
        short = {c: len(v) for c, v in have.items() if len(v) < 2}
        if short:
            c, n = sorted(short.items())[0]
            raise SmotextError(f"the LM wrote {n} usable start candidate(s) for class {c!r} from its name and the topic; "
                               "DP generation needs at least 2 a class: give a --dp-topic that describes the corpus, or "
                               "raise max_rounds")
        return [i for c in have for i in have[c]]

    # ------------------------------------------------------------ one iteration's variation

    def _next(self, pop: list[int], noisy: np.ndarray, want: dict[str, int], t: int, report) -> list[int]:
        """The next population from the survivors of noisy counts ``noisy`` (one per ``pop`` entry)."""
        s, dp = self.s, self.dp
        pop_arr, labels = np.asarray(pop), np.asarray([self.archive.labels[i] for i in pop], dtype=object)
        voting = dp.ablation != "no_votes"
        threshold = max(dp.threshold * self.plan.sigma, 1.0) if voting else -np.inf
        least = max(2, s.n_parents)
        survivors, weights, elites, spare, stats = [], [], {}, {}, {}
        for c in sorted(want):
            if want[c] <= 0:
                continue
            idx = np.flatnonzero(labels == c)
            order = idx[np.argsort(-noisy[idx], kind="stable")]
            keep = order[noisy[order] >= threshold]
            if len(keep) < least:  # too few cleared the bar: the best by noisy count (post-processing, free)
                keep = order[:least]
            w = np.maximum(noisy[keep], 0.0)
            w = w if w.sum() > 0 else np.ones(len(keep))
            survivors += pop_arr[keep].tolist()
            weights += w.tolist()
            n_elite = min(len(keep), int(dp.elite_share * want[c]))
            elites[c] = pop_arr[keep[:n_elite]].tolist()
            spare[c] = pop_arr[keep[n_elite:]].tolist()
            stats[c] = {"candidates": int(len(idx)), "survivors": int(len(keep)),
                        "noisy_votes": round(float(noisy[idx].sum()), 2), "elites": n_elite}
        self.iterations.append({"iteration": t + 1, "threshold": None if not voting else round(threshold, 3),
                                "per_class": stats, "survivors_total": len(survivors)})
        ctx = FilterContext(real_texts=[], real_labels=[], real_embeddings=np.zeros((0, s.encoder_.dim), np.float32))
        for c, ids in elites.items():
            if ids:  # dedupe keeps variations from repeating the survivors that go on unchanged
                ctx.accept([self.archive.texts[i] for i in ids], self.archive.embeddings(ids))
        need = {c: want[c] - len(elites[c]) for c in elites}
        new = self._rewrite(survivors, np.asarray(weights), {c: round(dp.rewrite_share * n) for c, n in need.items()},
                            ctx, t, report) if dp.rewrite_share else {c: [] for c in need}
        for c, ids in self._vary(survivors, np.asarray(weights), {c: n - len(new[c]) for c, n in need.items()}, ctx, t,
                                 report).items():
            new[c] += ids
        pop = []
        for c in sorted(elites):
            # where the filters left a class short, the other survivors (best first) go on unchanged
            short = want[c] - len(elites[c]) - len(new[c])
            pop += elites[c] + new[c] + spare[c][:max(0, short)]
        return pop

    def _rewrite_ask(self, parent: int) -> tuple[str, str]:
        """(style, prompt) for one rewrite of the archive's candidate ``parent``, by ``rewrite_style``."""
        style = self.dp.rewrite_style
        if style == "both":
            style = "paraphrase" if self.rng.random() < 0.5 else "blanks"
        text = self.archive.texts[parent]
        if style == "blanks":
            return style, blanks_prompt(blank_out(text, self.rng), self.dp.topic)
        return style, rewrite_prompt(text, self.dp.topic)

    def _rewrite(self, pool: list[int], weights: np.ndarray, need: dict[str, int], ctx: FilterContext, t: int,
                 report) -> dict[str, list[int]]:
        """Aug-PE's variations by the LM: ``need[c]`` survivors of class c (drawn by ``weights``) that
        the LM rewrites in other words or whose blanks it fills in (``_rewrite_ask``), filtered
        (fidelity: to the survivor rewritten) until made or the sampler's max_rounds run out. The LM
        reads public candidates only."""
        s = self.s
        labels = np.asarray([self.archive.labels[i] for i in pool], dtype=object)
        made: dict[str, list[int]] = {c: [] for c in need}
        for attempt in range(s.max_rounds):
            asks = []  # (class, parent's archive id)
            for c, n in need.items():
                idx = np.flatnonzero(labels == c)
                short = n - len(made[c])
                if short > 0 and len(idx):
                    p = weights[idx] / weights[idx].sum()
                    asks += [(c, pool[i]) for i in self.rng.choice(idx, math.ceil(short * (1.3 if attempt == 0 else 2.0)),
                                                                   p=p)]
            if not asks:
                break
            styles, prompts = zip(*[self._rewrite_ask(i) for _, i in asks])
            t0 = time.perf_counter()
            written = write_texts(s.lm_, list(prompts), self.seed + 7919 * (t + 1) + attempt, batch_size=s.batch_size,
                                  max_new_tokens=s.max_new_tokens, progress=s.progress, desc="rewriting survivors")
            report.candidates_decoded += len(asks)
            pairs = [(c, i, text, style) for (c, i), text, style in zip(asks, written, styles) if text]
            self.timing["rewrite"] = self.timing.get("rewrite", 0.0) + time.perf_counter() - t0
            if not pairs:
                continue
            texts = [p[2] for p in pairs]
            emb = s.encoder_.embed(texts)
            alive, _, dropped_by = self.chain.run(
                Candidates(texts, [p[0] for p in pairs], self.archive.embeddings([p[1] for p in pairs]), emb), ctx)
            for j in np.flatnonzero(~alive):
                report.dropped_by[dropped_by[j]] = report.dropped_by.get(dropped_by[j], 0) + 1
            for j in np.flatnonzero(alive):
                c, parent, text, style = pairs[j]
                if len(made[c]) < need[c]:
                    made[c].append(self.archive.add(text, c, emb[j], {"origin": "rewrite", "round": t + 1,
                                                                      "parents": [parent], "style": style}))
                    ctx.accept([text], emb[j][None])
        return made

    def _vary(self, pool: list[int], weights: np.ndarray, need: dict[str, int], ctx: FilterContext, t: int,
              report) -> dict[str, list[int]]:
        """SMOTExT mixes among ``pool`` (archive ids), seed parents drawn by ``weights``, decoded and
        filtered until ``need`` per class are made or the sampler's max_rounds run out.

        What each pass accepts joins the pool (weighted as its parents on average) for the next pass:
        a few dozen survivors have too few distinct mixes to decode into thousands of distinct texts
        (greedy decoding maps near-identical vectors to one text, which dedupe then drops). Mixes of
        mixes are post-processing too: no real record is read."""
        s = self.s
        pool, weights = list(pool), np.asarray(weights, float)
        pool_emb = self.archive.embeddings(pool)
        pool_labels = [self.archive.labels[i] for i in pool]
        made: dict[str, list[int]] = {c: [] for c in need}
        accept_rate = 1.0 / s.oversample
        for attempt in range(s.max_rounds):
            short = {c: n - len(made[c]) for c, n in need.items() if len(made[c]) < n}
            if not short:
                break
            factor = min(5.0, 1.0 / max(accept_rate, 0.2))
            plan = plan_mixes(pool_emb, pool_labels, {c: math.ceil(n * factor) for c, n in short.items()}, self.rng,
                              k_neighbors=s.k_neighbors, n_parents=s.n_parents, lambda_range=s.lambda_range,
                              lambda_distribution=s.lambda_distribution, beta=s.beta, dirichlet_alpha=s.dirichlet_alpha,
                              seed_weights=weights)
            kept = s._run_round(plan, pool_emb, self.chain, ctx, self.seed + 1000 * (t + 1) + attempt, self.timing, report)
            report.candidates_decoded += len(plan) * s.num_candidates
            accepted_texts, accepted_emb, grown, grown_w = [], [], [], []
            for row in kept:
                c = row["label"]
                if len(made[c]) >= need[c]:
                    continue
                emb = row.pop("_emb")
                parents = row.pop("parents")
                info = {"origin": "variation", "round": t + 1, "parents": [pool[p] for p in parents],
                        **{k: v for k, v in row.items() if k not in ("text", "label")}}
                made[c].append(self.archive.add(row["text"], c, emb, info))
                accepted_texts.append(row["text"])
                accepted_emb.append(emb)
                grown.append(made[c][-1])
                grown_w.append(float(weights[parents].mean()))
            if accepted_texts:
                ctx.accept(accepted_texts, np.stack(accepted_emb))
                pool += grown
                weights = np.concatenate([weights, grown_w])
                pool_emb = np.concatenate([pool_emb, np.stack(accepted_emb)])
                pool_labels += [self.archive.labels[i] for i in grown]
            accept_rate = max(len(kept) / max(1, len(plan)), 1e-3)
        return made

    # ------------------------------------------------------------ output

    def _outputs(self, pop: list[int], counts: dict[str, int]) -> list[dict]:
        """The final population as synthetic rows with their (public) lineage; ``parents`` is empty:
        no output has a real record as a parent."""
        rows, taken = [], Counter()
        for i in pop:
            c = self.archive.labels[i]
            if taken[c] >= counts.get(c, 0):
                continue
            taken[c] += 1
            info = self.archive.info[i]
            rows.append({"text": self.archive.texts[i], "label": c, "parents": [], "candidate": i,
                         "candidate_parents": info["parents"], "origin": info["origin"], "round": info["round"],
                         **{k: v for k, v in info.items() if k not in ("origin", "round", "parents")}})
        return rows
