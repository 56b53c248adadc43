"""Generators as plug-ins: anything that turns labelled texts into labelled synthetic texts.

The contract is imbalanced-learn's: ``fit_resample(texts, labels) -> (texts, labels)``. A generator
registers by name (``@GENERATORS.register``, or a third-party package's entry point in the group
``smotext.generators``) with declared parameters, says what formal privacy it claims (``claim``)
and, where it knows them, which input rows each output came from (``parents_``). ``release(corpus,
generator=...)`` and ``smotext release --generator NAME`` run the whole pipeline (split, canaries,
generation, hold-back, audit, gate) for any of them. Built in: ``smotext`` and ``smotext-dp``
(SMOTExT, the release's own path), ``eda`` (word operations), ``paraphrase`` (the LM rewrites each
record) and ``copy`` (returns its input: a self-test that must be blocked).
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Sequence
from typing import Any, ClassVar

import numpy as np

from smotext.errors import SmotextError
from smotext.params import Param, int_at_least, number_in
from smotext.registry import Plugin, Registry
from smotext.synth.pe_privacy import DP_GENERATION_PARAMS

_SEED = Param(0, "seed of the generator's random choices", int_at_least(0))


class Generator(Plugin):
    """Base of every generator plug-in. ``fit_resample`` returns the synthetic texts and labels;
    after it, ``parents_`` is a list of input-row lists per output (None: not known, the release
    then holds back outputs that echo a canary instead of those with a canary parent)."""

    kind_label: ClassVar[str] = "generator"
    parents_: list[list[int]] | None = None

    def fit_resample(self, texts: Sequence[str], labels: Sequence[str]) -> tuple[list[str], list[str]]:
        raise NotImplementedError

    def claim(self) -> dict:
        """The formal privacy this generator claims about each input record: ``{"mode": "non-dp"}``
        (no guarantee) or ``{"mode": "dp", "epsilon": E, "delta": D}``. The audit checks it against
        the canaries; smotext cannot verify it otherwise."""
        return {"mode": "non-dp"}

    def describe(self) -> dict:
        """What a public manifest may say of this generator: its name and settings."""
        return {"name": self.name, "settings": {k: v for k, v in self.public_settings().items() if _plain(v)}}


def _plain(v) -> bool:
    return v is None or isinstance(v, (bool, int, float, str)) or \
        isinstance(v, (list, tuple)) and all(isinstance(x, (bool, int, float, str)) for x in v)


GENERATORS: Registry[Generator] = Registry("generator", Generator, "smotext.generators",
                                           builtin_modules=("smotext.synth.generators",))


def _per_record(generator: Generator, texts: Sequence[str]) -> None:
    generator.parents_ = [[i] for i in range(len(texts))]


@GENERATORS.register
class Copy(Generator):
    name = "copy"
    description = "returns its input unchanged: a self-test of the audit (every shipped policy must block it)"

    def fit_resample(self, texts, labels):
        _per_record(self, texts)
        return list(texts), list(labels)


def eda_text(text: str, rng: np.random.Generator, alpha: float = 0.15) -> str:
    """EDA-style word operations on one text (random swap, deletion, insertion of one of its own
    words). EDA's synonym replacement needs WordNet, which no package here ships offline."""
    words = text.split()
    if len(words) < 2:
        return text
    for _ in range(max(1, int(alpha * len(words)))):
        op = rng.integers(3)
        if op == 0:
            i, j = rng.choice(len(words), 2, replace=False)
            words[i], words[j] = words[j], words[i]
        elif op == 1 and len(words) > 2:
            del words[int(rng.integers(len(words)))]
        else:
            words.insert(int(rng.integers(len(words) + 1)), words[int(rng.integers(len(words)))])
    return " ".join(words)


@GENERATORS.register
class EDA(Generator):
    name = "eda"
    description = "EDA-style word operations: one lightly shuffled copy of every input record (a weak baseline)"
    params = {"alpha": Param(0.15, "share of a text's words touched", number_in(0, 1, low_open=True)),
              "random_state": _SEED}

    def fit_resample(self, texts, labels):
        rng = np.random.default_rng(self.settings["random_state"])
        _per_record(self, texts)
        return [eda_text(t, rng, self.settings["alpha"]) for t in texts], list(labels)


PARAPHRASE_PROMPT = "Paraphrase this text in one sentence, keeping its meaning and tone:\n\n{text}"
_PREAMBLE = re.compile(r"^(sure[,!.]?\s*)?(here('s| is) (a |the |my )?(paraphrased?|rephrased|version)[^:]*:\s*)", re.I)


def _lm_check(v) -> str | None:
    return None if v is None or isinstance(v, str) or hasattr(v, "model") else "None, a path or a loaded LanguageModel"


@GENERATORS.register
class Paraphrase(Generator):
    name = "paraphrase"
    description = "the LM (SMOTExT's decoder LM by default) paraphrases every input record once, sampled at a low temperature"
    params = {"lm": Param(None, "causal LM folder or .gguf (None: the shipped SmolLM2)", _lm_check),
              "prompt": Param(PARAPHRASE_PROMPT, "the instruction, with {text} where the record goes",
                              lambda v: None if isinstance(v, str) and "{text}" in v else "a string with {text}"),
              "batch_size": Param(32, "texts per LM batch", int_at_least(1)),
              "max_new_tokens": Param(40, "longest paraphrase, in tokens", int_at_least(1)),
              # at 0.8 the 135M LM drifted off its input (other films, invented words); at 0.3 it keeps to it,
              # as a paraphraser is meant to (benchmarks/results/outside_generators.md, the paraphrase note)
              "temperature": Param(0.3, "sampling temperature (0: greedy)", number_in(0, 2)),
              "progress": Param(False, "show a progress bar", None),
              "random_state": _SEED}

    def public_settings(self) -> dict:
        lm = self.settings["lm"]
        return {**self.settings, "lm": lm if lm is None or isinstance(lm, str) else getattr(lm, "name", "loaded")}

    def fit_resample(self, texts, labels):
        import torch
        from tqdm.auto import tqdm

        from smotext.synth.models import load_lm

        s = self.settings
        lm = s["lm"] if hasattr(s["lm"], "model") else load_lm(s["lm"])
        tok = lm.tokenizer
        side, tok.padding_side = tok.padding_side, "left"
        out: list[str] = []
        try:
            prompts = [tok.apply_chat_template([{"role": "user", "content": s["prompt"].format(text=t)}], tokenize=False,
                                               add_generation_prompt=True) for t in texts]
            bs = s["batch_size"]
            for b in tqdm(range(0, len(prompts), bs), desc="paraphrasing", unit="batch", disable=not s["progress"]):
                enc = tok(prompts[b:b + bs], return_tensors="pt", padding=True, add_special_tokens=False).to(lm.device)
                torch.manual_seed(s["random_state"] * 1_000_003 + b)
                sampling = {"do_sample": True, "temperature": s["temperature"], "top_p": 0.95} if s["temperature"] > 0 \
                    else {"do_sample": False}
                with torch.no_grad():
                    ids = lm.model.generate(**enc, max_new_tokens=s["max_new_tokens"], repetition_penalty=1.1,
                                            pad_token_id=tok.pad_token_id, eos_token_id=tok.eos_token_id, **sampling)
                for row in tok.batch_decode(ids[:, enc["input_ids"].shape[1]:], skip_special_tokens=True):
                    line = next((x for x in row.strip().splitlines() if x.strip()), "")
                    out.append(_PREAMBLE.sub("", line).strip().strip('"').strip())
        finally:
            tok.padding_side = side
        # a reply that was only a preamble leaves nothing: no text for that record
        kept = [i for i, t in enumerate(out) if t]
        self.parents_ = [[i] for i in kept]
        return [out[i] for i in kept], [labels[i] for i in kept]


class _SMOTExTBase(Generator):
    """SMOTExT as a generator plug-in. ``release`` runs it on its own path (voice adaptation,
    canaries in the decoder's voice, hold-back by provenance); ``fit_resample`` here is for using it
    like any other generator."""

    params = {"random_state": _SEED}

    def sampler(self, **options):
        """The SMOTExT sampler this generator stands for (``options``: more SMOTExT parameters)."""
        from smotext.synth.smotext import SMOTExT

        return SMOTExT(**{"random_state": self.settings["random_state"], "sampling_strategy": "all", **options})

    def fit_resample(self, texts, labels):
        s = self.sampler()
        s.fit_resample(list(texts), list(labels))
        self.parents_ = [list(map(int, p)) for p in s.provenance_["parents"]]
        self._privacy = s.privacy_
        return s.synthetic_["text"].tolist(), s.synthetic_["label"].tolist()


@GENERATORS.register
class SMOTExTGenerator(_SMOTExTBase):
    name = "smotext"
    description = "SMOTExT (the default): mixes of same-class members' embeddings, decoded by the bridge"


@GENERATORS.register
class SMOTExTDP(_SMOTExTBase):
    name = "smotext-dp"
    description = ("DP generation: members only vote, with noise, on public candidates (Private Evolution), or with "
                   "with method 'finetune' train the LM with DP-SGD and sample it ('adapted-evolution': and evolve "
                   "what it writes)")
    params = {"target_epsilon": Param(4.0, "the release's ε", number_in(0, low_open=True)),
              "method": DP_GENERATION_PARAMS["method"], "random_state": _SEED}

    def sampler(self, **options):
        from smotext.synth.budget import PrivacyBudget

        dp = PrivacyBudget(dp=True, target_epsilon=self.settings["target_epsilon"]).generation_part(
            method=self.settings["method"])
        return super().sampler(dp=dp, **options)

    def claim(self) -> dict:
        p = getattr(self, "_privacy", None)
        if p is None:
            return {"mode": "dp", "epsilon": self.settings["target_epsilon"], "delta": None}
        # DP fine-tuning's DP-SGD part is the decoder's: it adds to the generation section's (ε, δ)
        sgd = p.get("dp_sgd") or {}
        return {"mode": "dp", "epsilon": float(p["epsilon"]) + float(sgd.get("epsilon") or 0.0),
                "delta": None if p.get("delta") is None else p["delta"] + float(sgd.get("delta") or 0.0)}


class _Wrapped(Generator):
    """A generator given as an object with ``fit_resample`` or as a callable ``f(texts, labels)``."""

    name = "outside"
    description = "a generator given in Python"

    def __init__(self, fn: Callable, label: str, claim: dict | None = None):
        super().__init__()
        self._fn, self._label, self._claim = fn, label, claim

    def fit_resample(self, texts, labels):
        result = self._fn(list(texts), list(labels))
        if not (isinstance(result, tuple) and len(result) == 2):
            raise SmotextError(f"generator {self._label} must return (texts, labels), got {type(result).__name__}")
        out_texts, out_labels = (list(x) for x in result)
        if len(out_texts) != len(out_labels):
            raise SmotextError(f"generator {self._label} returned {len(out_texts)} texts and {len(out_labels)} labels")
        self.parents_ = getattr(getattr(self._fn, "__self__", None), "parents_", None)
        return out_texts, out_labels

    def claim(self) -> dict:
        return dict(self._claim or {"mode": "non-dp"})

    def describe(self) -> dict:
        return {"name": self._label, "settings": {}}


def as_generator(generator: Any, **params) -> Generator:
    """A Generator from a registered name (with ``params``), a Generator, an object with
    ``fit_resample`` (imbalanced-learn's contract) or a callable ``f(texts, labels) -> (texts, labels)``."""
    if isinstance(generator, str):
        return GENERATORS.create(generator, **params)
    if params:
        raise SmotextError("generator parameters go with a generator's name; this one was given as an object",
                           params="generator")
    if isinstance(generator, Generator):
        return generator
    fit = getattr(generator, "fit_resample", None)
    if callable(fit):
        return _Wrapped(fit, f"{type(generator).__module__}.{type(generator).__qualname__}",
                        getattr(generator, "smotext_claim", None))
    if callable(generator):
        return _Wrapped(generator, getattr(generator, "__qualname__", type(generator).__qualname__),
                        getattr(generator, "smotext_claim", None))
    raise SmotextError(f"generator must be a registered name ({', '.join(GENERATORS.names())}), a Generator, an object "
                       f"with fit_resample(texts, labels) or a callable, got {type(generator).__name__}", params="generator")


def claim_for(epsilon: float | None, delta: float | None) -> dict:
    """The privacy claim an outside generator states on the command line (``--claimed-epsilon``)."""
    if epsilon is None or math.isinf(epsilon):
        return {"mode": "non-dp"}
    return {"mode": "dp", "epsilon": float(epsilon), "delta": delta}
