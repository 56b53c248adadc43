"""Differential privacy for bridge training (DP-SGD through Opacus).

Each step draws a Poisson sample of the corpus (every text joins with probability q), clips every
text's gradient to ``max_grad_norm`` and adds Gaussian noise of ``noise_multiplier * max_grad_norm``.
The noise multiplier is calibrated up front so that the whole schedule spends at most the target ε,
and the ε actually spent is recomputed by Opacus' accountant from (noise, q, steps done).
"""

from __future__ import annotations

import functools
import math
import warnings
from contextlib import contextmanager
from dataclasses import asdict, dataclass

import numpy as np

from smotext.errors import SmotextError, SmotextWarning
from smotext.params import Param, check_declared, check_value, number_in, one_of

ACCOUNTANTS = ("prv", "rdp")  # opacus' "gdp" is only an approximation; not offered
MAX_EPSILON = 100.0  # above this a DP guarantee says nothing (e^100), and calibrating noise for it can run for minutes


def _delta(v) -> str | None:
    return None if v is None else number_in(0, 1, low_open=True, high_open=True)(v) and "None or a number between 0 and 1"


def _epsilon(v) -> str | None:
    return None if v is None else number_in(0, MAX_EPSILON, low_open=True)(v) and \
        f"None or a finite number > 0 and <= {MAX_EPSILON:g}"


# The budget's parameters, declared once: every DP part (DP generation, DP-SGD, a voice adapter, the
# release's PrivacyBudget) takes these.
EPSILON = Param(None, "privacy budget ε for the whole run", _epsilon, flag="--target-epsilon", cli={"type": float})
DELTA = Param(None, "δ (None: 1/(10·N) for N real records)", _delta, flag="--delta", cli={"type": float})
ACCOUNTANT = Param("prv", "Opacus privacy accountant", one_of(*ACCOUNTANTS), flag="--accountant",
                   cli={"choices": ACCOUNTANTS})

DPSGD_PARAMS: dict[str, Param] = {
    "target_epsilon": EPSILON,
    "delta": DELTA,
    "max_grad_norm": Param(1.0, "per-text gradient clipping norm", number_in(0, low_open=True), flag="--max-grad-norm"),
    "accountant": ACCOUNTANT,
}


@dataclass
class DPConfig:
    """What the user asks for: a budget (ε, δ), a clipping norm and an accountant (``DPSGD_PARAMS``)."""

    target_epsilon: float
    delta: float | None = DPSGD_PARAMS["delta"].default  # None: 1 / (10 N), below 1/N as DP over N records requires
    max_grad_norm: float = DPSGD_PARAMS["max_grad_norm"].default
    accountant: str = DPSGD_PARAMS["accountant"].default

    def check(self) -> None:
        check_budget(self.target_epsilon, self.delta, self.accountant)
        check_declared(self, DPSGD_PARAMS)


def check_budget(target_epsilon, delta, accountant: str) -> None:
    """What every DP budget must be: ε a finite number in (0, MAX_EPSILON], δ (when given) in (0, 1),
    a known accountant."""
    check_value("target_epsilon", target_epsilon, number_in(0, MAX_EPSILON, low_open=True))
    if delta is not None and number_in(0, 1, low_open=True, high_open=True)(delta):
        raise SmotextError(f"delta must be between 0 and 1, got {delta}", params="delta")
    if accountant not in ACCOUNTANTS:
        raise SmotextError(f"unknown accountant {accountant!r}; valid: {', '.join(ACCOUNTANTS)}", params="accountant")


def noise_multiplier(target_epsilon: float, delta: float, sample_rate: float, steps: int, accountant: str,
                     where: str, fix: str, fix_params) -> float:
    """The one calibration: the Gaussian noise multiplier that spends at most ``target_epsilon`` at
    ``delta`` over ``steps`` releases at ``sample_rate`` (1 for DP generation's votes, a Poisson rate
    for DP-SGD), by Opacus' accountant. An impossible budget raises one line: what (``where``) and
    how to fix it (``fix``, naming ``fix_params``)."""
    from opacus.accountants.utils import get_noise_multiplier

    try:
        with _quiet_accountant():
            return float(get_noise_multiplier(target_epsilon=target_epsilon, target_delta=delta,
                                              sample_rate=sample_rate, steps=steps, accountant=accountant))
    except ValueError as e:
        raise SmotextError(f"can't meet {where}: {e} {fix}", params=fix_params) from None


@dataclass
class DPPlan:
    """The calibrated mechanism for one run: what the accountant needs, fixed before step 0."""

    noise_multiplier: float
    sample_rate: float
    delta: float
    max_grad_norm: float
    accountant: str
    target_epsilon: float
    expected_batch_size: int
    planned_steps: int


def default_delta(n: int) -> float:
    return 1.0 / (10 * n)


def resolve_delta(delta: float | None, n: int) -> float:
    """δ as given, or 1/(10 N) by default; warns when it is not below 1/N."""
    delta = delta if delta is not None else default_delta(n)
    if delta >= 1.0 / n:
        warnings.warn(f"delta {delta:g} is not below 1/N = {1 / n:g}; "
                      "a mechanism may then reveal a whole record with probability δ", SmotextWarning, stacklevel=3)
    return delta


def epsilon_spent(accountant: str, noise_multiplier: float, sample_rate: float, steps: int, delta: float) -> float:
    """ε after ``steps`` Poisson-sampled Gaussian steps, by Opacus' accountant ``accountant``."""
    from opacus.accountants import create_accountant

    if steps == 0:
        return 0.0
    acc = create_accountant(accountant)
    acc.history = [(noise_multiplier, sample_rate, steps)]
    with _quiet_accountant():
        return float(acc.get_epsilon(delta=delta))


@contextmanager
def _quiet_accountant():
    # Opacus' RDP analysis warns when its best order is the largest it tries; the bound is still valid.
    # Its PRV code takes log(1 - q), -inf at sample rate 1 (DP generation's votes), and handles it.
    with warnings.catch_warnings(), np.errstate(divide="ignore"):
        warnings.filterwarnings("ignore", message="Optimal order is the (largest|smallest) alpha")
        yield


FIX_PARAMS = ("target_epsilon", "steps", "batch_size")  # what a refused budget's message tells the user to change


def calibrate(cfg: DPConfig, n: int, batch_size: int, steps: int) -> DPPlan:
    """The noise multiplier that spends at most ``cfg.target_epsilon`` over ``steps`` steps of
    expected size ``batch_size`` from ``n`` texts; refuses budgets no noise level can meet."""
    cfg.check()
    if batch_size >= n:
        raise SmotextError(
            f"DP training needs batch_size below the number of training texts ({batch_size} >= {n}): "
            "Poisson sampling with rate 1 gives no privacy amplification; use a smaller batch or more texts", params="batch_size")
    delta = resolve_delta(cfg.delta, n)
    q = batch_size / n
    fix = "Raise target_epsilon, train fewer steps, or use a larger batch_size (with more texts)"
    where = f"ε = {cfg.target_epsilon:g} at δ = {delta:g} over {steps} steps with sample rate {q:.4g} ({batch_size} of {n} texts)"
    sigma = noise_multiplier(cfg.target_epsilon, delta, q, steps, cfg.accountant, where, fix, FIX_PARAMS)
    if sigma > batch_size:
        # The averaged gradient's noise would then exceed, per coordinate, the largest gradient one
        # step can carry (the clipping norm): training would learn nothing but noise.
        raise SmotextError(f"can't meet {where} usefully: it needs noise multiplier {sigma:.3g}, more than the expected "
                           f"batch size, so the noise would drown every gradient. {fix}", params=FIX_PARAMS)
    return DPPlan(noise_multiplier=float(sigma), sample_rate=q, delta=delta, max_grad_norm=cfg.max_grad_norm,
                  accountant=cfg.accountant, target_epsilon=float(cfg.target_epsilon), expected_batch_size=batch_size,
                  planned_steps=steps)


def poisson_batch(n: int, sample_rate: float, seed: int, step: int) -> np.ndarray:
    """Rows in step ``step``'s Poisson sample (each row independently with prob. ``sample_rate``); may be empty.

    A function of (seed, step) so that a resumed run draws exactly what the uninterrupted one would;
    the seed must be secret (see ``BridgeTrainer``), or subsampling amplifies nothing.
    """
    rng = np.random.default_rng([seed, step, 0x0D9])
    return np.flatnonzero(rng.random(n) < sample_rate)


def card_facts(plan: DPPlan | None, steps_done: int, clipped: str = "all bridge parameters") -> dict:
    """The model card's ``dp`` section: ε is what the steps actually taken spent, by the accountant."""
    if plan is None:
        return {"used": False}
    import opacus

    return {
        "used": True,
        "epsilon": epsilon_spent(plan.accountant, plan.noise_multiplier, plan.sample_rate, steps_done, plan.delta),
        **asdict(plan), "steps": steps_done, "sampling": "poisson", "clipping": f"per-sample (flat, {clipped})",
        "library": f"opacus {opacus.__version__}",
    }


def decoder_epsilon(training: dict) -> tuple[float, list[dict]]:
    """The ε a bridge's weights carry about sensitive texts, from its card's ``training`` section.

    Each training stage (the run itself, then the bridge it adapted, and so on) counts 0 if its
    texts were public, its DP ε if it used DP, and ∞ if it saw sensitive texts without DP; stages add
    up (sequential composition; conservative when they used different corpora). A stage whose card
    does not say its texts were public counts as sensitive.
    """
    total, stages = 0.0, []
    stage = training
    while stage:
        data, dp = stage.get("data") or {}, stage.get("dp") or {"used": False}
        sensitive = data.get("sensitive", True) is not False
        if not sensitive:
            eps = 0.0
        elif dp.get("used") and isinstance(dp.get("epsilon"), (int, float)):
            eps = float(dp["epsilon"])
        else:
            eps = math.inf
        stages.append({"texts": data.get("texts"), "description": data.get("description", ""), "sensitive": sensitive,
                       "dp": dp, "epsilon": eps})
        total += eps
        stage = (stage.get("init") or {}).get("card_training")
    return total, stages


# ---------------------------------------------------------------- voice adapters

# ε of the voice adapter a release trains by default (when the members are enough for it): on
# Rotten Tomatoes ε = 1, 4 and 8 adapted about equally well (voice_adapter.md), and 4 is the budget
# the release goals are set at.
DEFAULT_VOICE_EPSILON = 4.0
VOICE_STEPS = 30  # DP-SGD steps of a voice adapter's default schedule
VOICE_LR = 0.05
VOICE_MAX_BATCH = 512
VOICE_SAMPLE_RATE = 1 / 24  # default expected batch: this share of the corpus (at most VOICE_MAX_BATCH)
# Expected batch over noise multiplier below which a voice adapter learns too little: each averaged
# gradient coordinate then carries noise of std σ/B against a signal of about 1/√(adapter size).
MIN_SIGNAL = 100.0


def voice_batch(n: int) -> int:
    """The default expected batch of a voice adapter trained on ``n`` texts."""
    return int(min(VOICE_MAX_BATCH, max(8, round(n * VOICE_SAMPLE_RATE))))


@dataclass
class VoicePlan:
    """A DP voice adapter's schedule on a corpus, and whether its signal can clear the noise."""

    texts: int
    epsilon: float
    delta: float
    steps: int
    batch_size: int
    noise_multiplier: float  # inf when no noise level meets the budget
    signal: float  # expected batch / noise multiplier
    min_texts: int  # about the smallest corpus that clears MIN_SIGNAL at this ε with the default schedule

    @property
    def enough(self) -> bool:
        return self.signal >= MIN_SIGNAL

    def sentence(self) -> str:
        head = (f"{self.texts:,} texts at ε = {self.epsilon:g}: {self.steps} steps of expected batch {self.batch_size}, "
                f"noise multiplier {self.noise_multiplier:.3g}, signal (batch / noise) {self.signal:.0f}")
        if self.enough:
            return f"{head}: enough (needs >= {MIN_SIGNAL:g})"
        return (f"{head}, below the {MIN_SIGNAL:g} a voice adapter needs to learn more than noise. DP adaptation at "
                f"ε = {self.epsilon:g} needs about {self.min_texts:,} texts; use a larger corpus or a larger ε, or "
                "generate with the default bridge")


def plan_voice(n: int, epsilon: float, delta: float | None = None, accountant: str = ACCOUNTANT.default, steps: int | None = None,
               batch_size: int | None = None) -> VoicePlan:
    """The voice adapter's DP schedule for ``n`` texts at ``epsilon`` (default steps and batch unless
    given), its signal, and how many texts the default schedule needs at this ε."""
    check_budget(epsilon, delta, accountant)
    steps = steps or VOICE_STEPS
    batch = min(batch_size or voice_batch(n), max(1, n - 1))
    sigma = _sigma_or_inf(epsilon, delta, accountant, n, batch, steps)
    # With the default batch (a fixed share of the corpus) σ hardly depends on n, so the signal
    # grows linearly with n: solve for the n that clears MIN_SIGNAL, then check it. RDP is ten times
    # quicker than PRV here and its σ a little larger, so the size it names errs on the safe side.
    need = n
    for _ in range(2):
        s = _sigma_or_inf(epsilon, None, "rdp", need, voice_batch(need), VOICE_STEPS)
        if not math.isfinite(s):
            need *= 4
            continue
        need = max(2, math.ceil(MIN_SIGNAL * s / VOICE_SAMPLE_RATE))
    return VoicePlan(texts=n, epsilon=float(epsilon), delta=resolve_delta(delta, n), steps=steps, batch_size=batch,
                     noise_multiplier=sigma, signal=batch / sigma, min_texts=int(need))


@functools.lru_cache(maxsize=256)
def _sigma_or_inf(epsilon: float, delta: float | None, accountant: str, n: int, batch: int, steps: int) -> float:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", SmotextWarning)
            return calibrate(DPConfig(epsilon, delta, 1.0, accountant), n, batch, steps).noise_multiplier
    except SmotextError:
        return math.inf
