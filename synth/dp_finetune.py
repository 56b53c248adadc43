"""DP generation by fine-tuning: the LM learns the records' voice with DP-SGD, then is sampled.

    train:   LoRA updates of the LM's attention layers (the lora voice adapter) on top of the bridge,
             trained with DP-SGD (Poisson batches, each record's gradient clipped, Gaussian noise;
             ``dp.calibrate``) to write each record from one vector: its class's public prompt
             (``class_prompt``) as the bridge reads it
    sample:  per class, as many texts as the class sizes (noisy unless declared public) ask for, each
             sampled from the class's prompt
    labels:  with the label model (``labels='centroids'``, the default) each text takes the class of
             the noisy class centroid it sits nearest, as many per class as were sampled for it (the
             prompt's class shows weakly in the samples: 0.53 accuracy as prompted on Rotten Tomatoes)

With ``method='adapted-evolution'`` the adapted decoder instead samples Private Evolution's start
population from the class prompts and decodes its variations (``private_evolution``): the records
vote on what the adapted LM writes.

The budget, split by ``DPGeneration.split``: DP-SGD spends ``target_epsilon - label_epsilon`` at δ/2,
stated on the adapted bridge's card (the manifest's ``models.bridge``); the Gaussian releases (the
class counts, the label model and any votes) spend ``label_epsilon`` at δ/2 (the manifest's
``privacy``). The release composes the two (``budget.compose``: basic composition, they add up).
Records reach only DP-SGD and those releases; sampling, filtering, evolving and labelling are
post-processing. This is the standard DP fine-tuning recipe (Yue et al., ACL 2023) at this
project's scale: a 135M LM and a rank-4 adapter.
"""

from __future__ import annotations

import dataclasses
import math
import secrets
import tempfile
import time
from collections import Counter
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from smotext.errors import SmotextError
from smotext.synth.corpus import UNLABELLED
from smotext.synth.dp import DPConfig, DPPlan, calibrate, resolve_delta
from smotext.synth.filters import Candidates, FilterChain, FilterContext
from smotext.synth.params import ADAPTER_LR
from smotext.synth.pe_privacy import (DPGeneration, VotePlan, calibrate_votes, label_by_centroids,
                                      noisy_class_counts)
from smotext.synth.private_evolution import DEFAULT_TOPIC, PrivateEvolution
from smotext.synth.sampling import counts_for_sizes

if TYPE_CHECKING:
    from smotext.synth.train import TrainConfig

FINETUNE_STEPS = 24  # DP-SGD steps: 0.23-0.26 s per record's gradient through the 135M LM on 2 cores
BATCH_SHARE, MIN_BATCH, MAX_BATCH = 1 / 32, 64, 256  # the default expected batch: this share of the records, clamped
WORK_DIR = "dp-finetune"  # the adapter's folder inside a run's checkpoint folder


def finetune_batch(records: int) -> int:
    """The default expected DP-SGD batch for ``records`` records: 1/32 of them, 64 to 256, below the count."""
    return int(min(MAX_BATCH, max(MIN_BATCH, round(records * BATCH_SHARE)), max(1, records - 1)))


def class_prompt(cls: str, topic: str | None) -> str:
    """The public text a class's records are read from: the topic and the class name only."""
    about = "" if cls == UNLABELLED else f" in the category \"{cls}\""
    return f"A {topic or DEFAULT_TOPIC}{about}."


def _part_secret(secret: int, part: int) -> int:
    """An independent secret for each noisy part (1: the label releases, 2: DP-SGD) from the run's one."""
    return int(np.random.SeedSequence([secret, part]).generate_state(1, np.uint64)[0] >> 1)


@dataclass
class FinetunePlan:
    """DP fine-tuning's calibrated mechanisms, fixed before any model loads."""

    train: "TrainConfig"  # the adapter's schedule, with its DPConfig
    dpsgd: DPPlan
    labels: VotePlan | None  # the class counts and the label model; None when neither is released
    dp_secret: int = dataclasses.field(repr=False)


def plan_finetune(dp: DPGeneration, records: int, classes: int, seed: int) -> FinetunePlan:
    """Split ``dp``'s budget for ``records`` records of ``classes`` classes and calibrate both parts;
    an impossible budget or schedule raises SmotextError here, before any model loads."""
    from smotext.synth.train import TrainConfig

    dp.check()
    sgd_epsilon, label_epsilon = dp.split(classes)
    delta = resolve_delta(dp.delta, records)
    secret = dp.secret if dp.secret is not None else secrets.randbits(63)
    labels, part_delta = None, delta
    if label_epsilon > 0:
        part_delta = delta / 2
        labels = calibrate_votes(dataclasses.replace(dp.budget(classes), delta=part_delta), records,
                                 secret=_part_secret(secret, 1))
    steps = dp.steps or FINETUNE_STEPS
    batch = dp.batch_size or finetune_batch(records)
    cfg = TrainConfig(steps=steps, batch_size=batch, lr=ADAPTER_LR["lora"], warmup_steps=max(1, steps // 10),
                      adapter="lora", seed=seed, dp=DPConfig(sgd_epsilon, part_delta, 1.0, dp.accountant),
                      checkpoint_every=4)
    cfg.check()
    return FinetunePlan(cfg, calibrate(cfg.dp, records, batch, steps), labels, _part_secret(secret, 2))


def check_sampler(sampler) -> None:
    """What DP fine-tuning needs of the sampler's settings, checked before any model loads."""
    if sampler.num_candidates != 1:
        raise SmotextError("DP fine-tuning samples one text per draw from a class's prompt: it takes num_candidates 1",
                           params="num_candidates")
    if sampler.temperature == 0:
        raise SmotextError("DP fine-tuning samples its texts: greedy decoding (temperature 0) would write one text a "
                           "class", params="temperature")
    if isinstance(sampler.bridge, tuple):
        raise SmotextError("DP fine-tuning adapts a bridge read from a folder: give bridge as a path (or None for the "
                           "shipped one)", params="bridge")


class DPFinetune:
    """One DP fine-tuning run for a loaded ``SMOTExT`` sampler and a ``DPGeneration`` with method
    'finetune' or 'adapted-evolution'; ``run`` returns what ``fit_resample`` keeps."""

    def __init__(self, sampler, dp: DPGeneration, plan: FinetunePlan, chain: FilterChain):
        self.s, self.dp, self.plan, self.chain = sampler, dp, plan, chain
        self.seed = int(np.random.default_rng(sampler.random_state).integers(2**31 - 1))  # sampling, from the published seed
        self.timing = {"train": 0.0, "decode": 0.0, "filter": 0.0, "label": 0.0}

    def run(self, texts: list[str], labels: list[str], report) -> tuple[pd.DataFrame, pd.DataFrame, dict]:
        s, dp, plan = self.s, self.dp, self.plan
        real_counts = Counter(labels)
        # the class sizes' release, before training: a run that would ask for nothing fails here
        sizes = noisy_class_counts(plan.labels, real_counts) if plan.labels is not None else \
            {c: float(n) for c, n in real_counts.items()}  # declared public (no Gaussian release at all)
        counts = counts_for_sizes(s.sampling_strategy, {c: int(round(v)) for c, v in sizes.items()})
        if not any(counts.values()):
            raise SmotextError("the noisy class sizes ask for no synthetic texts at all: ask for a number (--n)")
        classes = sorted(real_counts)
        prompts = [class_prompt(c, dp.topic) for c in classes]
        codes = dict(zip(classes, s.encoder_.embed(prompts)))
        with self._folder() as folder:
            card = self._train(texts, labels, prompts, codes, folder)
            with s.using_bridge(folder, recorded_as="(adapted with DP-SGD in this run; not kept)"):
                s.load_models()
                if dp.method == "finetune":
                    frame, provenance, facts = self._finetuned(texts, labels, sizes, counts, codes, report)
                else:  # the records vote on what the adapted decoder writes from the class prompts
                    def start(active, per, report_):
                        rows = self._sample(active, {c: per for c in active}, codes, report_)
                        return [(r["label"], r["text"], r["_emb"]) for r in rows]

                    frame, provenance, facts = PrivateEvolution(s, dp, plan.labels, self.chain, start=start).run(
                        texts, labels, report, sizes=sizes)
                    report.seconds["train"] = self.timing["train"]
        sgd = card.training.get("dp") or {}
        return frame, provenance, {
            **facts, "method": dp.method, "class_prompts": prompts,
            "dp_sgd": {k: sgd.get(k) for k in ("epsilon", "delta", "noise_multiplier", "sample_rate", "steps",
                                              "max_grad_norm", "accountant")},
            "dp_sgd_note": "DP-SGD trained the decoder on these records: its ε is the decoder's (models.bridge), "
                           "which adds to this section's ε in the release's"}

    def _finetuned(self, texts: list[str], labels: list[str], sizes: dict[str, float], counts: dict[str, int],
                   codes: dict[str, np.ndarray], report) -> tuple[pd.DataFrame, pd.DataFrame, dict]:
        """'finetune': ``counts`` texts per class (from the released class ``sizes``), sampled from
        the class's prompt, then given classes by the label model."""
        s, plan = self.s, self.plan
        report.requested = counts
        active = [c for c in sorted(counts) if counts[c] > 0]
        rows = self._sample(active, counts, codes, report)
        if plan.labels is not None and plan.labels.label_model and rows:
            t0 = time.perf_counter()
            classes = label_by_centroids(plan.labels, s.encoder_.embed(texts, progress=s.progress), labels, active,
                                         np.stack([r["_emb"] for r in rows]),
                                         [sum(r["label"] == c for r in rows) for c in active])
            for r, c in zip(rows, classes):
                r["label"] = c  # post-processing of the label model's release
            self.timing["label"] += time.perf_counter() - t0
        for r in rows:
            r.pop("_emb")
        report.seconds.update(self.timing)
        report.made = {c: sum(r["label"] == c for r in rows) for c in counts}
        report.filters = self.chain.describe()
        frame = pd.DataFrame({"text": [r["text"] for r in rows], "label": [r["label"] for r in rows]})
        provenance = pd.DataFrame(rows, columns=["text", "label", "prompted_label", "parents", "round"])
        provenance.insert(0, "synthetic_row", np.arange(len(rows)))
        if plan.labels is not None:
            facts = plan.labels.facts()
        else:
            facts = {"mode": "dp", "epsilon": 0.0, "delta": 0.0, "mechanisms": 0, "label_model": None,
                     "public_class_counts": True, "accountant": self.dp.accountant}
        return frame, provenance, {**facts, "settings": self.dp.settings(),
                                   "class_sizes": {"public": plan.labels is None or plan.labels.public_class_counts,
                                                   "released": {c: round(v, 2) for c, v in sizes.items()}}}

    @contextmanager
    def _folder(self):
        """Where the adapter trains: in the run's checkpoint folder (resumable; removed with it) or a
        private temporary one."""
        store = self.s._store
        if store is not None:
            yield store.folder / WORK_DIR
            return
        with tempfile.TemporaryDirectory(prefix="smotext-dp-finetune-") as tmp:
            yield Path(tmp) / "bridge"

    def _train(self, texts, labels, prompts, codes: dict[str, np.ndarray], folder: Path):
        from smotext.synth.corpus import Corpus
        from smotext.synth.train import decoder_trainer

        s = self.s
        t0 = time.perf_counter()
        trainer = decoder_trainer(Corpus.from_texts(texts, labels, source="<DP generation's records>"),
                                  config=self.plan.train, init=s.bridge or "default", encoder=s.encoder_, lm=s.lm_,
                                  description="the records DP generation draws from, each read from its class's prompt",
                                  vectors=np.stack([codes[y] for y in labels]),
                                  vectors_description="the public prompt of the text's class: " + " | ".join(prompts),
                                  progress=s.progress, dp_secret=self.plan.dp_secret)
        card = trainer.train(folder, progress=s.progress)
        self.timing["train"] += time.perf_counter() - t0
        return card

    def _sample(self, active: list[str], counts: dict[str, int], codes: dict[str, np.ndarray], report) -> list[dict]:
        """``counts[c]`` texts per class sampled from its prompt's vector, filtered on synthetic texts
        only; asked again (up to the sampler's max_rounds) where the filters left a class short."""
        from smotext.synth.shards import decode_round

        s = self.s
        ctx = FilterContext(real_texts=[], real_labels=[], real_embeddings=np.zeros((0, s.encoder_.dim), np.float32))
        rows: list[dict] = []
        for k, c in enumerate(active):
            made = 0
            for attempt in range(s.max_rounds):
                short = counts[c] - made
                if short <= 0:
                    break
                targets = np.repeat(codes[c][None], math.ceil(short * (1.25 if attempt == 0 else 2.0)) + 4, axis=0)
                t0 = time.perf_counter()
                flat, emb = decode_round(s, targets, self.seed + 1000 * k + attempt, s._store, s.engine_.pool(),
                                         progress=s.progress)
                self.timing["decode"] += time.perf_counter() - t0
                report.candidates_decoded += len(flat)
                report.rounds = max(report.rounds, attempt + 1)
                t0 = time.perf_counter()
                # a sample is held to no vector: every one reads its class's prompt, so fidelity is 1 by construction
                alive, _, dropped_by = self.chain.run(Candidates(flat, [c] * len(flat), emb, emb), ctx)
                self.timing["filter"] += time.perf_counter() - t0
                for j in np.flatnonzero(~alive):
                    report.dropped_by[dropped_by[j]] = report.dropped_by.get(dropped_by[j], 0) + 1
                keep = np.flatnonzero(alive)[:short]
                if len(keep):
                    ctx.accept([flat[j] for j in keep], emb[keep])
                rows += [{"text": flat[j], "label": c, "prompted_label": c, "parents": [], "round": attempt + 1,
                          "_emb": emb[j]} for j in keep]
                made += len(keep)
        return rows
