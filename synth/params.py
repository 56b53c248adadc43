"""The SMOTExT sampler's parameters, declared once: ``SMOTExT.__init__`` takes its defaults from
here, ``SMOTExT`` checks values against it, and the CLI builds its generation flags from it.
Torch-free, so the CLI can build its parser without loading a model library."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from smotext.engine import engine_check
from smotext.synth.dp import ACCOUNTANT, DELTA, MAX_EPSILON, VOICE_LR, VOICE_STEPS
from smotext.params import Param, int_at_least, is_bool, number_in, one_of

STRATEGIES = ("auto", "not majority", "minority", "all")
KINDS = ("regular", "borderline", "adasyn")
LAMBDA_DISTRIBUTIONS = ("uniform", "beta")
DEFAULT_FILTERS = ("degenerate", "fidelity", "label", "privacy", "dedupe")
SAMPLING_TEMPERATURE = 0.8  # best-of-n's temperature when none is given (decode_sweep.md)
# Every bridge decodes one sampled text per vector at this temperature unless told otherwise: greedy
# decoding returns the mode, a generic sentence, the same one for near-identical vectors. On Rotten
# Tomatoes the shipped bridge sampled at T 1.0 in a 0.9 nucleus was harder to tell from real than
# greedy (detection AUC 0.876 / 0.822 against 0.955 / 0.888), as fluent as the corpus and as useful to
# a TF-IDF judge (benchmarks/results/decoding_fluency.md); an adapted bridge's voice shows in samples only.
SINGLE_TEMPERATURE = 1.0
# ... and keeps the nucleus of tokens within this much probability: the tail beyond it is where
# non-words and word salad come from (decoding_fluency.md: T 1.2 with top-p 0.95 wrote 3.5x the real
# texts' share of non-words; T 1.0 with top-p 0.9 as many as the real texts).
SINGLE_TOP_P = 0.9
# (temperature, top_p) of a kind of voice adapter that decodes best elsewhere: lora at T 1.0 wrote 1.61x
# the real texts' non-words in a release of 2,000 texts, at T 0.9 1.15x (release_defaults.md).
SINGLE_DECODING = {"lora": (0.9, 0.9)}


def single_decoding(adapter: str) -> tuple[float, float]:
    """(temperature, top_p) of one text per vector by default, for a bridge with this adapter ("": none)."""
    return SINGLE_DECODING.get(adapter, (SINGLE_TEMPERATURE, SINGLE_TOP_P))


TOP_P = 0.95  # the nucleus of every other sampled decoding (best-of-n, or a temperature given)
DECODE_BATCH = 128  # vectors decoded at once: 1.7x batch 32's texts/s on 2 CPU cores; 256 was no faster (throughput.md)
# Greedy decoding writes the same text for near-identical vectors: on the demo corpus most planned
# mixes within cosine 0.99 of an earlier one decode to an earlier text (benchmarks/results/keep_rate.md),
# so those are not decoded at all.
NEAR_COPY_COSINE = 0.99
SEGMENT_TOKENS = 5  # segment search's default step, chosen on development snippets (decode_sweep.md)


def _strategy(v) -> str | None:
    ok = (isinstance(v, str) and v in STRATEGIES) or isinstance(v, Mapping) or \
        (isinstance(v, int) and not isinstance(v, bool) and v >= 1)
    return None if ok else f"one of {STRATEGIES}, an int >= 1, or a dict of per-class counts"


def _lambda_range(v) -> str | None:
    try:
        lo, hi = (float(x) for x in v)
    except (TypeError, ValueError):
        return "two numbers (low, high)"
    return None if 0.0 <= lo <= hi <= 1.0 else "two numbers with 0 <= low <= high <= 1"


def _names(v) -> str | None:
    ok = isinstance(v, Sequence) and not isinstance(v, str) and all(isinstance(x, str) for x in v)
    return None if ok else "a list of filter names"


def _mapping_or_none(v) -> str | None:
    return None if v is None or isinstance(v, Mapping) else "None or a dict of filter name -> parameters"


def _dp(v) -> str | None:
    from smotext.synth.pe_privacy import DPGeneration

    return None if v is None or isinstance(v, DPGeneration) else "None or a DPGeneration (the budget and its settings)"


def _temperature(v) -> str | None:
    return None if v is None else number_in(0)(v) and "None or a finite number >= 0"


def _model(v) -> str | None:
    return None  # a path, a name, None or a loaded model: the loader says what is wrong with it


GENERATION_PARAMS: dict[str, Param] = {
    "sampling_strategy": Param(
        "auto", "how many: 'auto' balances classes up to the majority, 'minority' tops up only the smallest, "
        "'all' makes one per real text; an int is a total split in proportion to the class sizes; a dict gives "
        "per-class counts", _strategy),
    "k_neighbors": Param(5, "parents come from each seed's k nearest neighbours of the same class", int_at_least(1),
                         flag="--k-neighbors"),
    "kind": Param("regular", "which texts seed a mix: any (SMOTE), those at the class border (Borderline-SMOTE-1), "
                  "or in proportion to foreign neighbours (ADASYN)", one_of(*KINDS), flag="--kind",
                  cli={"choices": KINDS}),
    "n_parents": Param(2, "2 = pairwise λ mixing; more = Dirichlet mixing", int_at_least(2), flag="--n-parents"),
    "lambda_range": Param((0.2, 0.8), "λ for pairwise mixing; away from 0 and 1 keeps outputs away from one parent",
                          _lambda_range, flag="--lambda-range", cli={"type": float, "nargs": 2, "metavar": ("LOW", "HIGH")}),
    "lambda_distribution": Param("uniform", "how λ is drawn in lambda_range", one_of(*LAMBDA_DISTRIBUTIONS),
                                 flag="--lambda-distribution", cli={"choices": LAMBDA_DISTRIBUTIONS}),
    "beta": Param(2.0, "Beta(a, a) shape for the 'beta' lambda distribution", number_in(0, low_open=True), flag="--beta"),
    "dirichlet_alpha": Param(1.0, "Dirichlet concentration for more than 2 parents", number_in(0, low_open=True),
                             flag="--dirichlet-alpha"),
    "random_state": Param(None, "seed for every random choice (None: unseeded)", int_at_least(0, none_ok=True),
                          flag="--seed", cli={"type": int}, cli_default=0),
    "encoder": Param(None, "sentence-transformers model folder or name (None: all-MiniLM-L6-v2), or a loaded Encoder",
                     _model, flag="--encoder", cli={"type": str}),
    "lm": Param(None, "HF causal-LM folder or .gguf file (None: SmolLM2-135M-Instruct), or a loaded LanguageModel", _model,
                flag="--lm", cli={"type": str}),
    "bridge": Param(None, "bridge folder from fit-decoder (None: the shipped bridge), or a (Bridge, ModelCard) pair",
                    _model, flag="--bridge", cli={"type": str}),
    "filters": Param(DEFAULT_FILTERS, "filters to run, by registry name", _names),
    "filter_params": Param(None, "per-filter parameters: {filter name: {parameter: value}}", _mapping_or_none),
    "num_candidates": Param(1, "best-of-n: draw n per vector, keep the closest that passes the filters "
                            "(1: one text per vector)", int_at_least(1), flag="--num-candidates"),
    "segment_tokens": Param(SEGMENT_TOKENS, "with n > 1: sample n continuations this many tokens at a time and go on "
                            "from the closest (None, or 0 on the command line: n whole samples)",
                            int_at_least(1, none_ok=True), flag="--segment-tokens", cli={"type": int}),
    "temperature": Param(None, "sampling temperature (lower: closer to greedy, less varied; 0: greedy, n = 1 only); "
                         f"None: {SINGLE_TEMPERATURE} for n = 1 ("
                         + ", ".join(f"{t} with a {k} adapter" for k, (t, _) in SINGLE_DECODING.items()) + "), "
                         f"{SAMPLING_TEMPERATURE} for n > 1; a number samples even with n = 1",
                         _temperature, flag="--temperature", cli={"type": float}),
    "top_p": Param(None, "nucleus of sampled decoding: each token is drawn from the most likely tokens up to this "
                   f"probability mass (None: {SINGLE_TOP_P} for one sample per vector at its default temperature, "
                   f"{TOP_P} otherwise)", lambda v: None if v is None else number_in(0, 1, low_open=True)(v),
                   flag="--top-p", cli={"type": float}),
    "max_new_tokens": Param(40, "most tokens per synthetic text", int_at_least(1), flag="--max-new-tokens"),
    "batch_size": Param(DECODE_BATCH, "vectors decoded at once (on a GPU at least 256)", int_at_least(1), flag="--batch-size"),
    "max_rounds": Param(5, "rounds of drawing more when filters drop outputs", int_at_least(1), flag="--max-rounds"),
    "near_copy": Param(NEAR_COPY_COSINE, "with greedy decoding (temperature 0), a planned mix whose vector has "
                       "cosine above this to one planned before in the run is not decoded: greedy decoding would "
                       "write the same text again "
                       "(1: decode every mix)", number_in(0, 1), flag="--near-copy"),
    "oversample": Param(1.3, "vectors drawn per wanted text in the first round", number_in(1.0)),
    "progress": Param(False, "show progress bars", is_bool),
    "engine": Param(None, "where decoding runs: None or 'local' in this process, 'ray' on a Ray cluster, or an "
                    "Engine (its address, workers and shard size)", engine_check),
    "dp": Param(None, "DP generation (Private Evolution): real records only vote on public candidates; None: "
                "SMOTExT mixes real records' embeddings (no formal guarantee)", _dp),
}
MODEL_PARAMS = ("encoder", "lm", "bridge")

# Bridge training's parameters, declared once (``TrainConfig`` and fit-decoder's flags).
TRAIN_PARAMS: dict[str, Param] = {
    "steps": Param(1000, "training steps", int_at_least(1), flag="--steps"),
    "batch_size": Param(16, "texts per step (the expected size of a Poisson batch under DP)", int_at_least(1),
                        flag="--batch-size"),
    "lr": Param(1e-3, "learning rate", number_in(0, low_open=True), flag="--lr"),
    "weight_decay": Param(0.01, "AdamW weight decay", number_in(0)),
    "warmup_steps": Param(50, "steps of rising learning rate", int_at_least(0), flag="--warmup-steps"),
    "n_tokens": Param(8, "K, soft tokens per vector", int_at_least(1), flag="--soft-tokens"),
    "hidden": Param(1024, "width of the bridge's hidden layer", int_at_least(1), flag="--hidden"),
    "max_target_tokens": Param(48, "most tokens of a training text the bridge learns to write", int_at_least(1),
                               flag="--max-target-tokens"),
    "noise_std": Param(0.0, "Gaussian noise on the input vectors during training, so the decoder tolerates "
                       "off-manifold mixes", number_in(0), flag="--noise-std"),
    "seed": Param(0, "seed of the data order, the initial weights and the noise", int_at_least(0), flag="--seed"),
    "checkpoint_every": Param(50, "steps between checkpoints", int_at_least(1), flag="--checkpoint-every"),
    "lora_rank": Param(0, "also train rank-R LoRA updates of the LM's attention q/v layers, kept in the bridge (0: none)",
                       int_at_least(0), flag="--lora-rank"),
    "micro_batch": Param(32, "texts per forward/backward pass; larger batches are accumulated, so memory stays bounded",
                         int_at_least(1), flag="--micro-batch"),
}


# Voice adapters: what each adds to a frozen bridge (parameters for SmolLM2's 576-d inputs, K = 8).
ADAPTERS = {
    "bias": "an offset added to each soft token (K x d; 4,608)",
    "prefix": "N learned soft tokens placed before the bridge's (N x d; 2,304 for N = 4)",
    "lowrank": "a rank-R update of the bridge's last layer (R x (hidden + K x d); 22,528 for R = 4)",
    "lora": "rank-R LoRA updates of the LM's own attention q and v projections in every layer (R x (in + out) "
            "each; 230,400 for R = 4): capacity in the LM itself, not only in its input",
}
ADAPTER_SIZE = {"bias": 0, "prefix": 4, "lowrank": 4, "lora": 4}  # default adapter_size per kind
SIZED_ADAPTERS = ("prefix", "lowrank", "lora")  # the kinds adapter_size applies to
LORA_VOICE_MODULES = ("q_proj", "v_proj")  # the LM's layers a lora voice adapter updates
# Adam moves every trained number by about lr a step: the soft-token adapters live in units of the
# embedding table's spread and take VOICE_LR; a LoRA factor moves the LM's own weights, and needs less.
ADAPTER_LR = {"lora": 0.002}


# In a release of 2,000 Rotten Tomatoes texts at ε = 4 (benchmarks/results/release_defaults.md), lora
# at T 0.9 was harder to tell from real than bias at T 1.0 (detection AUC 0.855 / 0.793 against 0.871 /
# 0.804), more fluent (non-words 1.15x the real texts' against 1.28x) and more useful to a TF-IDF judge
# (0.6525 against 0.623; real 0.690), for less variety (distinct bigrams 0.85x against 0.93x) and 174 s more.
DEFAULT_ADAPTER = "lora"

# A voice adapter's parameters, declared once (``VoiceAdaptation``, fit-decoder --adapter, release --adapt-voice).
VOICE_PARAMS: dict[str, Param] = {
    "epsilon": Param(None, "ε of the adapter's DP-SGD (None: no DP, for public texts only)",
                     lambda v: None if v is None else number_in(0, MAX_EPSILON, low_open=True)(v)),
    "kind": Param(DEFAULT_ADAPTER, f"which voice adapter (default {DEFAULT_ADAPTER} with --adapt-voice; fit-decoder without "
                  "--adapter trains a whole bridge): " + "; ".join(f"{k}: {v}" for k, v in ADAPTERS.items()),
                  one_of(*ADAPTERS), flag="--adapter", cli={"choices": sorted(ADAPTERS)}, cli_default=None),
    "size": Param(0, "prefix tokens, or the rank of lowrank and lora (0: the kind's default, 4)", int_at_least(0),
                  flag="--adapter-size"),
    "delta": DELTA,
    "steps": Param(None, f"DP-SGD steps (None: {VOICE_STEPS})", int_at_least(1, none_ok=True), flag="--steps"),
    "batch_size": Param(None, "expected Poisson batch (None: 1/24 of the corpus, at most 512)",
                        int_at_least(1, none_ok=True), flag="--batch-size"),
    "lr": Param(None, f"learning rate (None: {VOICE_LR:g}; " + ", ".join(f"{k}: {v:g}" for k, v in ADAPTER_LR.items())
                + ")", lambda v: None if v is None else number_in(0, low_open=True)(v), flag="--lr", cli={"type": float}),
    "accountant": ACCOUNTANT,
    "micro_batch": TRAIN_PARAMS["micro_batch"],
    "seed": TRAIN_PARAMS["seed"],
    "optional": Param(False, "adapt only when the corpus is large enough for ε, else go on with the bridge as it is "
                      "(a release's default adapter); False: a corpus too small for ε is refused", is_bool),
}


# A corpus file's columns (every command that reads one).
COLUMN_PARAMS: dict[str, Param] = {
    "text_col": Param("text", "text column", lambda v: None if isinstance(v, str) and v else "a column name",
                      flag="--text-col"),
    "label_col": Param(None, "label column (None: 'label' if present; without one all texts form one class)",
                       lambda v: None if v is None or (isinstance(v, str) and v) else "None or a column name",
                       flag="--label-col"),
}
