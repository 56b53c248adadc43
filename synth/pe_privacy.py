"""The privacy core of DP generation (Private Evolution): real records only vote, votes are noised,
and the budget is accounted up front.

Each iteration every real record votes once, for its nearest candidate of its own class; the
whole vote histogram (all classes together) is released with Gaussian noise N(0, σ²) per bin.
Adding or removing one record changes one bin by 1, so the histogram's L2 sensitivity is 1;
replacing a record moves one vote, √2. The ε here is for add/remove adjacency. With the class
counts (one record changes one class count by 1: sensitivity 1 too) released the same way unless
declared public, a run is T (or T + 1) Gaussian mechanisms of sensitivity 1 and noise σ. The
label model adds one more: the per-class sums of the records' unit embeddings (one record moves one
class's sum by at most its norm, 1), released with the same noise; the outputs take the class of the
nearest noisy centroid, which is post-processing.

Accounting uses Opacus' accountants with sample rate 1: with no subsampling the "subsampled"
Gaussian mechanism is the Gaussian mechanism itself, and ``steps`` of it is exactly the adaptive
composition of our releases (each iteration's candidates depend on earlier noisy histograms only).
The noise is drawn from a secret, never the published seed: an attacker who knew the noise could
subtract it.
"""

from __future__ import annotations

import dataclasses
import math
import secrets
from dataclasses import dataclass, field

import numpy as np

from smotext.errors import SmotextError
from smotext.params import Param, check_declared, check_value, int_at_least, is_bool, number_in, one_of
from smotext.synth.dp import (ACCOUNTANT, DELTA, MAX_EPSILON, check_budget, epsilon_spent, noise_multiplier,
                              resolve_delta)

ADJACENCY = "add/remove one record (replacing one record moves one vote: L2 sensitivity √2, about twice the ε)"
FIX = ("target_epsilon", "iterations")


ABLATIONS = ("no_noise", "no_votes")  # benchmark baselines, not modes to release with
METHODS = ("auto", "evolution", "finetune", "adapted-evolution")
DPSGD_METHODS = ("finetune", "adapted-evolution")  # the methods that adapt the decoder to the records with DP-SGD
# 'auto' picks AUTO_DPSGD from this many records on (where the sampler allows DP-SGD), evolution below
# (dp_generation.md: the two compared at 1,000, 4,000 and 8,000 members).
DPSGD_FROM = 4000
AUTO_DPSGD = "finetune"
# The DP-SGD methods' default split: the Gaussian releases (class counts, label model, adapted-evolution's
# votes) get this share of ε, DP-SGD the rest (dp_generation.md: at ε = 4, 3 + 1 did as well as 3.5 + 0.5).
LABEL_SHARE = 0.25
# What only some methods read: set with another, they are refused.
EVOLUTION_ONLY = ("iterations", "population", "threshold", "elite_share", "rewrite_share", "rewrite_style", "votes",
                  "ablation")
FINETUNE_ONLY = ("label_epsilon", "steps", "batch_size")
VOTES = ("contrast", "own_class")
LABELS = ("centroids", "evolved")
REWRITE_STYLES = ("paraphrase", "blanks", "both")


def _topic(v) -> str | None:
    return None if v is None or (isinstance(v, str) and v.strip()) else "None or a non-empty description of the corpus"


def _none_or(choices):
    return lambda v: None if v is None or v in choices else f"None or one of {choices}"


# DP generation's parameters, declared once (``DPGeneration`` and the --dp flags). The budget
# (target_epsilon) is the release's ``PrivacyBudget``'s on the command line.
DP_GENERATION_PARAMS: dict[str, Param] = {
    "target_epsilon": Param(None, "ε DP generation spends", number_in(0, MAX_EPSILON, low_open=True)),
    "delta": DELTA,
    "iterations": Param(2, "voting rounds", int_at_least(1), flag="--iterations"),
    "population": Param(64, "public candidates per class and round", int_at_least(2), flag="--population"),
    "threshold": Param(2.0, "candidates survive a round with at least this many σ of noisy votes", number_in(0),
                       flag="--dp-threshold", cli={"metavar": "K"}),
    "elite_share": Param(0.25, "share of the next population that is survivors kept unchanged", number_in(0, 1),
                         flag="--elite-share"),
    "rewrite_share": Param(0.0, "share of each round's new candidates the LM writes by rewriting a survivor in other "
                           "words (Aug-PE's paraphrase variation) instead of decoding a mix of survivors",
                           number_in(0, 1), flag="--rewrite-share"),
    "rewrite_style": Param("paraphrase", "how the LM rewrites a survivor (with rewrite_share): 'paraphrase' (in other "
                           "words), 'blanks' (fills in the blanks where a share of its words were cut out: Aug-PE's "
                           "fill-in-the-blank variation) or 'both' (each rewrite one of the two, at random)",
                           one_of(*REWRITE_STYLES), flag="--rewrite-style", cli={"choices": REWRITE_STYLES}),
    "topic": Param(None, "a public description of the corpus the start candidates are written from, e.g. 'patient "
                   "portal message' (None: 'short text')", _topic, flag="--dp-topic", cli={"metavar": "TEXT"}),
    "public_class_counts": Param(False, "the class sizes are public: spend no budget on them (the manifest records "
                                 "this)", is_bool, flag="--public-class-counts"),
    "accountant": ACCOUNTANT,
    "secret": Param(None, "seed of the noise (None: a fresh secret; never the published seed)",
                    int_at_least(0, none_ok=True)),
    "ablation": Param(None, "benchmarks only: 'no_noise' or 'no_votes'", _none_or(ABLATIONS)),
    "votes": Param("own_class", "how records vote: 'own_class' (nearest candidate of their class) or 'contrast'",
                   one_of(*VOTES)),
    "method": Param("auto", f"how DP generation writes: 'auto' ({AUTO_DPSGD!r} from {DPSGD_FROM:,} records on if the "
                    "sampler uses the shipped bridge and samples one text per vector, else 'evolution'; a setting only "
                    "one method reads picks it), "
                    "'evolution' (Private Evolution: the records vote on candidates "
                    "the LM writes from public prompts; minutes, any corpus size), 'finetune' (LoRA on the LM trained with "
                    "DP-SGD on the records, each read from its class's public prompt, then sampled, and the label model "
                    "gives the classes: texts in the corpus's voice; wants thousands of records and, on CPU, about 0.25 s "
                    "per record and step of DP-SGD) or 'adapted-evolution' (the same DP-SGD, then evolution whose start "
                    "and variations the adapted LM writes)", one_of(*METHODS), flag="--dp-method",
                    cli={"choices": METHODS}),
    "label_epsilon": Param(None, f"finetune, adapted-evolution: the share of target_epsilon spent on the Gaussian releases "
                           f"(class counts, label model, adapted-evolution's votes; None: {LABEL_SHARE:g} of it); "
                           "DP-SGD spends the rest",
                           lambda v: None if v is None else number_in(0, MAX_EPSILON, low_open=True)(v),
                           flag="--dp-label-epsilon", cli={"type": float, "metavar": "E"}),
    "steps": Param(None, "finetune, adapted-evolution: DP-SGD steps (None: 24)", int_at_least(1, none_ok=True), flag="--dp-steps",
                   cli={"type": int, "metavar": "N"}),
    "batch_size": Param(None, "finetune, adapted-evolution: DP-SGD's expected Poisson batch (None: 1/32 of the records, 64 to 256)",
                        int_at_least(2, none_ok=True), flag="--dp-batch-size",
                        cli={"type": int, "metavar": "N"}),
    "labels": Param("centroids", "the class each output is released with: 'centroids' (its nearest class centroid, "
                    "the centroids released once with noise: one more Gaussian release) or 'evolved' (the class it "
                    "was evolved for, which the LM's texts often contradict)", one_of(*LABELS), flag="--dp-labels"),
}
_G = DP_GENERATION_PARAMS


def gaussian_releases(iterations: int, public_class_counts: bool, label_model: bool) -> int:
    """Gaussian releases of sensitivity 1 in a run: the voting rounds, the class counts unless
    public, and the label model's centroids."""
    return iterations + (0 if public_class_counts else 1) + int(label_model)


@dataclass
class VoteBudget:
    """What the user asks for: a budget over ``iterations`` voting rounds."""

    target_epsilon: float
    iterations: int = 4
    delta: float | None = None  # None: 1 / (10 N), below 1/N
    public_class_counts: bool = False  # True: the user declares the class sizes public (no noise spent on them)
    accountant: str = _G["accountant"].default
    label_model: bool = False  # True: the noisy class centroids are released too

    def check(self) -> None:
        check_budget(self.target_epsilon, self.delta, self.accountant)
        check_value("iterations", self.iterations, int_at_least(0))  # 0: DP fine-tuning's labels only

    @property
    def releases(self) -> int:
        return gaussian_releases(self.iterations, self.public_class_counts, self.label_model)


@dataclass
class DPGeneration:
    """DP generation as ``SMOTExT(dp=...)`` takes it: the budget and the evolution's settings
    (declared in ``DP_GENERATION_PARAMS``).

    Each class starts from ``population`` candidates the LM writes from the class name and ``topic``
    (a public description of the corpus); ``iterations`` times, every real record votes for its
    nearest candidate of its class (``votes``: see ``vote_histogram``), the noisy counts keep the candidates that reach ``threshold``·σ
    votes (at least 1), and the next population is the top ``elite_share`` of them unchanged plus
    SMOTExT mixes among them, decoded. After the last vote the mixes are the requested outputs.
    ``method`` 'finetune' trains the LM with DP-SGD instead and samples it; 'adapted-evolution' trains
    it the same way, then evolves candidates it writes (``synth.dp_finetune``); 'auto' (the default)
    picks one for the records at hand (``for_records``).
    ``secret`` seeds the noise (None: a fresh one; never the published seed). ``ablation`` is for
    benchmarks only: 'no_noise' votes without noise (not private: ε = ∞), 'no_votes' ignores the
    real records (the public start population evolved blind).
    """

    target_epsilon: float
    delta: float | None = _G["delta"].default
    iterations: int = _G["iterations"].default
    population: int = _G["population"].default
    threshold: float = _G["threshold"].default
    elite_share: float = _G["elite_share"].default
    rewrite_share: float = _G["rewrite_share"].default
    rewrite_style: str = _G["rewrite_style"].default
    topic: str | None = _G["topic"].default
    public_class_counts: bool = _G["public_class_counts"].default
    accountant: str = _G["accountant"].default
    secret: int | None = field(default=_G["secret"].default, repr=False)
    ablation: str | None = _G["ablation"].default
    votes: str = _G["votes"].default
    labels: str = _G["labels"].default
    method: str = _G["method"].default
    label_epsilon: float | None = _G["label_epsilon"].default
    steps: int | None = _G["steps"].default
    batch_size: int | None = _G["batch_size"].default

    @property
    def trains_decoder(self) -> bool:
        """Whether the method adapts the decoder to the records with DP-SGD (``DPSGD_METHODS``;
        'auto' is not decided until ``for_records``)."""
        return self.method in DPSGD_METHODS

    def for_records(self, records: int, can_train: bool = True) -> tuple["DPGeneration", str | None]:
        """This request with 'auto' decided for ``records`` records, and why (None when the method was
        named). ``can_train``: the sampler allows DP-SGD (the shipped bridge, one sampled text per
        vector). Settings decide first: DP-SGD's (``FINETUNE_ONLY``) pick 'finetune', evolution's
        (``EVOLUTION_ONLY``) 'evolution', both 'adapted-evolution'."""
        if self.method != "auto":
            return self, None
        sgd = [k for k in FINETUNE_ONLY if getattr(self, k) is not None]
        evolution = [k for k in EVOLUTION_ONLY if getattr(self, k) != _G[k].default]
        if sgd or evolution:
            method = ("adapted-evolution" if evolution else "finetune") if sgd else "evolution"
            why = f"{', '.join(sgd + evolution)} set"
        elif not can_train:
            method, why = "evolution", "the sampler can't train by DP-SGD: a bridge of its own, num_candidates, greedy or Ray"
        elif records >= DPSGD_FROM:
            method, why = AUTO_DPSGD, f"{records:,} records, at least {DPSGD_FROM:,}"
        else:
            method, why = "evolution", f"{records:,} records, under {DPSGD_FROM:,}"
        return dataclasses.replace(self, method=method), f"auto: {method} ({why})"

    @property
    def voting_rounds(self) -> int:
        """The rounds in which the records vote: none with 'finetune'."""
        return 0 if self.method == "finetune" else self.iterations

    def budget(self, classes: int = 2) -> "VoteBudget":
        """The Gaussian releases this run makes about ``classes`` classes: a label model only where
        there are classes to tell apart and real records to vote ('no_votes' evolves blind). With
        a DP-SGD method they spend their share of ε (``split``; DP-SGD's part is accounted by the
        trainer)."""
        label_model = self.labels == "centroids" and self.ablation != "no_votes" and classes > 1
        epsilon = (self.split(classes)[1] or self.target_epsilon) if self.trains_decoder else self.target_epsilon
        return VoteBudget(epsilon, self.voting_rounds, self.delta, self.public_class_counts, self.accountant,
                          label_model=label_model)

    def split(self, classes: int = 2) -> tuple[float, float]:
        """A DP-SGD method's (DP-SGD's ε, the Gaussian releases' ε); the second is 0 when nothing
        else is released (no votes, one class or no label model, and public class counts)."""
        if not gaussian_releases(self.voting_rounds, self.public_class_counts, self.labels == "centroids" and classes > 1):
            return float(self.target_epsilon), 0.0
        share = self.label_epsilon if self.label_epsilon is not None else LABEL_SHARE * self.target_epsilon
        return float(self.target_epsilon - share), float(share)

    def check(self) -> None:
        check_declared(self, DP_GENERATION_PARAMS)
        if self.trains_decoder:
            fixed = EVOLUTION_ONLY if self.method == "finetune" else ("ablation",)
            other = [k for k in fixed if getattr(self, k) != _G[k].default]
            if other:
                raise SmotextError(f"{', '.join(f'`{k}`' for k in other)} only appl{'y' if len(other) > 1 else 'ies'} "
                                   f"to DP generation by evolution, not `method` {self.method!r}",
                                   params=(*other, "method"))
            if self.label_epsilon is not None and not self.label_epsilon < self.target_epsilon:
                raise SmotextError(f"`label_epsilon` ({self.label_epsilon:g}) must be below `target_epsilon` "
                                   f"({self.target_epsilon:g}): DP-SGD spends the rest", params=("label_epsilon",
                                                                                                  "target_epsilon"))
        elif self.method == "evolution":
            other = [k for k in FINETUNE_ONLY if getattr(self, k) is not None]
            if other:
                raise SmotextError(f"{', '.join(f'`{k}`' for k in other)} only appl{'y' if len(other) > 1 else 'ies'} "
                                   "with `method` 'finetune' or 'adapted-evolution'", params=(*other, "method"))
        if self.rewrite_style != _G["rewrite_style"].default and not self.rewrite_share:
            raise SmotextError(f"`rewrite_style` {self.rewrite_style!r} has nothing to rewrite: set `rewrite_share` "
                               "above 0 too", params=("rewrite_style", "rewrite_share"))
        self.budget().check()

    def settings(self) -> dict:
        """The public settings, for the manifest (never the secret)."""
        dpsgd = {"label_epsilon": self.label_epsilon, "steps": self.steps, "batch_size": self.batch_size}
        if self.method == "finetune":
            return {"method": self.method, "topic": self.topic, "labels": self.labels, **dpsgd}
        evolution = {"method": self.method, "iterations": self.iterations, "population": self.population,
                     "threshold": self.threshold, "elite_share": self.elite_share, "rewrite_share": self.rewrite_share,
                     "rewrite_style": self.rewrite_style, "topic": self.topic, "votes": self.votes,
                     "labels": self.labels}
        return {**evolution, **dpsgd} if self.trains_decoder else {**evolution, "ablation": self.ablation}


@dataclass
class VotePlan:
    """The calibrated mechanism: σ for every release, fixed before the first vote."""

    sigma: float
    iterations: int
    public_class_counts: bool
    delta: float
    accountant: str
    target_epsilon: float
    records: int
    secret: int = field(default_factory=lambda: secrets.randbits(63), repr=False)
    label_model: bool = False

    @property
    def mechanisms(self) -> int:
        return gaussian_releases(self.iterations, self.public_class_counts, self.label_model)

    def epsilon(self) -> float:
        """ε the whole run spends (the accountant's composition of all releases); ∞ without noise."""
        return self._epsilon(self.mechanisms)

    def _epsilon(self, releases: int) -> float:
        """ε of ``releases`` of this plan's Gaussian mechanisms: 0 for none, ∞ without noise."""
        if releases == 0:
            return 0.0
        return math.inf if self.sigma == 0 else epsilon_spent(self.accountant, self.sigma, 1.0, releases, self.delta)

    def facts(self, ablation: str | None = None) -> dict:
        """The manifest's privacy section (never the secret). Under an ablation the votes were not
        released ('no_votes': only the class counts cost ε) or not noised ('no_noise': ε = ∞)."""
        import opacus

        counts = 0 if self.public_class_counts else 1
        voted = 0 if ablation == "no_votes" else self.iterations
        labelled = int(self.label_model and ablation != "no_votes")
        per_part = {"iterations": self._epsilon(voted), "class_counts": self._epsilon(counts),
                    "label_model": self._epsilon(labelled)}
        mode = "dp" if ablation is None else f"ablation: {ablation.replace('_', ' ')}"
        return {"mode": mode, "epsilon": self._epsilon(voted + counts + labelled), "epsilon_per_part": per_part,
                "epsilon_per_part_note": "each part alone; together they compose to less than their sum",
                "delta": self.delta, "sigma": self.sigma, "iterations": self.iterations,
                "mechanisms": voted + counts + labelled, "public_class_counts": self.public_class_counts,
                "label_model": "class centroids" if labelled else None,
                "sensitivity": 1.0, "adjacency": ADJACENCY, "accountant": self.accountant,
                "target_epsilon": self.target_epsilon, "records": self.records,
                "library": f"opacus {opacus.__version__}"}


def calibrate_votes(budget: VoteBudget, records: int, secret: int | None = None) -> VotePlan:
    """The σ that spends at most ``budget.target_epsilon`` over the run's releases about ``records``
    real records. Refuses a budget whose noise would drown every vote (σ above the record count:
    even all records on one candidate could not clear it)."""
    budget.check()
    if records < 1:
        raise SmotextError("DP generation needs at least one real record to vote")
    delta = resolve_delta(budget.delta, records)
    steps = budget.releases
    if steps == 0:
        raise SmotextError("this budget releases nothing: no voting round, class count or label model")
    parts = ([f"{budget.iterations} voting rounds"] if budget.iterations else []) + \
        ([] if budget.public_class_counts else ["the class counts"]) + (["the label model"] if budget.label_model else [])
    where = f"ε = {budget.target_epsilon:g} at δ = {delta:g} over {steps} Gaussian releases ({' + '.join(parts)})"
    fix = "Raise target_epsilon, vote in fewer iterations, or bring more records."
    sigma = noise_multiplier(budget.target_epsilon, delta, 1.0, steps, budget.accountant, where, fix, FIX)
    if sigma > records:
        raise SmotextError(f"can't meet {where} usefully: it needs noise σ = {sigma:.3g} per vote count, more than the "
                           f"{records} records that vote, so no candidate's votes could clear the noise. {fix}", params=FIX)
    return VotePlan(sigma=sigma, iterations=budget.iterations, public_class_counts=budget.public_class_counts, delta=delta,
                    accountant=budget.accountant, target_epsilon=float(budget.target_epsilon), records=records,
                    label_model=budget.label_model, **({} if secret is None else {"secret": secret}))



def vote_histogram(real: np.ndarray, real_classes, candidates: np.ndarray, candidate_classes,
                   votes: str = "own_class") -> np.ndarray:
    """Votes per candidate; each real record (a unit-norm embedding row) casts exactly one.

    ``own_class``: a record votes +1 for its nearest candidate (highest cosine) of its own class; a
    record of a class with no candidate casts no vote. ``contrast``: a record picks its nearest
    candidate of any class, +1 if that candidate is of the record's class and -1 if not, so a
    candidate that reads like another class loses support (the sentence encoder sees topic more than
    label). Either way one record changes one bin by 1: L2 sensitivity 1."""
    if votes not in VOTES:
        raise ValueError(f"votes must be one of {VOTES}, got {votes!r}")
    real, candidates = np.asarray(real, np.float32), np.asarray(candidates, np.float32)
    real_classes, candidate_classes = np.asarray(real_classes), np.asarray(candidate_classes)
    if len(real_classes) != len(real) or len(candidate_classes) != len(candidates):
        raise ValueError("one class per row is needed, for real records and for candidates alike")
    hist = np.zeros(len(candidates), np.int64)
    if votes == "contrast":
        if len(candidates) == 0:
            return hist
        for start in range(0, len(real), 4096):  # bounded memory: 4096 × candidates similarities at a time
            best = np.argmax(real[start:start + 4096] @ candidates.T, axis=1)
            np.add.at(hist, best, np.where(candidate_classes[best] == real_classes[start:start + 4096], 1, -1))
        return hist
    for c in np.unique(real_classes):
        cand = np.flatnonzero(candidate_classes == c)
        if len(cand) == 0:
            continue
        rows = real[real_classes == c]
        for start in range(0, len(rows), 4096):
            best = cand[np.argmax(rows[start:start + 4096] @ candidates[cand].T, axis=1)]
            np.add.at(hist, best, 1)
    return hist


def noise(plan: VotePlan, size: int, release: int) -> np.ndarray:
    """N(0, σ²) noise for release number ``release`` (0.. iterations - 1: the voting rounds;
    ``plan.iterations``: the class counts; ``plan.iterations + 1``: the label model), drawn from the
    plan's secret alone."""
    return np.random.default_rng([plan.secret, release, 0x9E]).normal(0.0, plan.sigma, size)


def noisy_votes(plan: VotePlan, hist: np.ndarray, iteration: int) -> np.ndarray:
    """Round ``iteration``'s released histogram: the votes plus Gaussian noise."""
    if not 0 <= iteration < plan.iterations:
        raise ValueError(f"iteration must be in [0, {plan.iterations}), got {iteration}: the budget covers no more rounds")
    return np.asarray(hist, float) + noise(plan, len(hist), iteration)


def noisy_class_counts(plan: VotePlan, counts: dict[str, int]) -> dict[str, float]:
    """Class sizes as released: exact when declared public, else with Gaussian noise (the last
    release the budget covers). Post-processing (rounding, clipping at 0) is free."""
    if plan.public_class_counts:
        return {k: float(v) for k, v in counts.items()}
    keys = sorted(counts)
    noisy = np.array([counts[k] for k in keys], float) + noise(plan, len(keys), plan.iterations)
    return {k: float(max(0.0, v)) for k, v in zip(keys, noisy)}


def noisy_centroids(plan: VotePlan, real: np.ndarray, real_classes, classes: list[str]) -> np.ndarray:
    """The label model: per class of ``classes``, the sum of its records' embeddings (each scaled to
    norm at most 1, so one record moves one sum by at most 1: L2 sensitivity 1) plus N(0, σ²) per
    coordinate, normalised. A record of a class not in ``classes`` adds to no sum."""
    if not plan.label_model:
        raise ValueError("this plan's budget does not cover the label model")
    real = np.asarray(real, np.float64)
    real = real / np.maximum(1.0, np.linalg.norm(real, axis=1, keepdims=True))
    real_classes = np.asarray(real_classes)
    sums = np.stack([real[real_classes == c].sum(axis=0) for c in classes])
    sums = sums + noise(plan, sums.size, plan.iterations + 1).reshape(sums.shape)
    return sums / np.maximum(np.linalg.norm(sums, axis=1, keepdims=True), 1e-12)


def assign_classes(emb: np.ndarray, centroids: np.ndarray, counts: list[int]) -> np.ndarray:
    """Each row of ``emb`` (unit embeddings) gets a class index, ``counts[c]`` rows to class c where
    there are enough rows: pairs (row, class) are taken in order of the row's cosine to that
    centroid above its mean over the centroids (what sets the classes apart, not how typical the
    text is), best first. Rows left over (more rows than counts) go to their nearest centroid."""
    scores = np.asarray(emb, np.float64) @ np.asarray(centroids, np.float64).T
    scores = scores - scores.mean(axis=1, keepdims=True)
    out = np.full(len(scores), -1)
    room = np.asarray(counts, int).copy()
    for flat in np.argsort(-scores, axis=None, kind="stable"):
        row, c = divmod(int(flat), scores.shape[1])
        if out[row] < 0 and room[c] > 0:
            out[row], room[c] = c, room[c] - 1
    rest = out < 0
    out[rest] = scores[rest].argmax(axis=1)
    return out


def label_by_centroids(plan: VotePlan, real: np.ndarray, real_classes, classes: list[str], emb: np.ndarray,
                       counts: list[int]) -> list[str]:
    """The label model end to end: the class each row of ``emb`` is released with, from the noisy
    class centroids (``noisy_centroids``: one Gaussian release) by ``assign_classes``."""
    return [classes[k] for k in assign_classes(emb, noisy_centroids(plan, real, real_classes, classes), counts)]


def gaussian_composition_epsilon(sigma: float, releases: int, delta: float) -> float:
    """The exact ε of ``releases`` Gaussian mechanisms of sensitivity 1 and noise σ (they compose to
    one with μ = √releases / σ; Balle & Wang's analytic formula), to check the accountant against."""
    from scipy.optimize import brentq
    from scipy.stats import norm

    mu = math.sqrt(releases) / sigma

    def gap(eps: float) -> float:
        return norm.cdf(-eps / mu + mu / 2) - math.exp(eps) * norm.cdf(-eps / mu - mu / 2) - delta

    return 0.0 if gap(0.0) <= 0 else float(brentq(gap, 0.0, 500.0))
