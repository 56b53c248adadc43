"""The `smotext` command, one sub-command per stage: each maps its arguments to a library call.
Exit codes: 0 done (or RELEASE), 1 BLOCK, 2 bad input or error.

Only the standard library and torch-free parts of smotext are imported at start-up, so
`smotext --help`, `gate`, `report` and `policies` never load torch."""

from __future__ import annotations

import argparse
import json
import os
import re
import signal
import sys
import warnings
from pathlib import Path

from smotext.engine import ENGINES, RAY_INSTALL
from smotext.synth.models import PRECISIONS
from smotext.errors import SmotextError, SmotextWarning
from smotext.params import flags
from smotext.synth.params import ADAPTERS, GENERATION_PARAMS, SEGMENT_TOKENS, STRATEGIES

EXIT_OK, EXIT_ERROR = 0, 2

# Library parameter -> CLI flag, for messages: the library names parameters, the CLI speaks in flags.
FLAGS = {
    **flags(GENERATION_PARAMS),
    "sampling_strategy": "--n/--strategy/--counts", "segment_tokens": "--segment-tokens", "filters": "--filters",
    "text_col": "--text-col", "label_col": "--label-col", "holdout_fraction": "--holdout-fraction",
    "test_fraction": "--test-fraction", "n_boot": "--bootstrap", "policy": "--policy", "out": "--out",
    "pii_allowlist": "--pii-allowlist",
    "provenance": "--provenance", "manifest": "--manifest", "target_epsilon": "--target-epsilon", "delta": "--delta",
    "max_grad_norm": "--max-grad-norm", "steps": "--steps", "lr": "--lr", "n_tokens": "--soft-tokens",
    "hidden": "--hidden", "max_target_tokens": "--max-target-tokens", "checkpoint_every": "--checkpoint-every",
    "lora_rank": "--lora-rank", "noise_std": "--noise-std", "warmup_steps": "--warmup-steps",
    "allow_overlap": "--allow-overlap", "release_files": "--release-file", "iterations": "--iterations",
    "population": "--population", "topic": "--dp-topic", "threshold": "--dp-threshold", "elite_share": "--elite-share",
    "accountant": "--accountant", "canaries": "--canaries", "canary_secret": "--canary-secret",
    "ray_address": "--ray-address", "workers": "--workers", "real_examples": "--real-examples",
}


def in_flags(message: str, names) -> str:
    """``message`` with the named library parameters written as CLI flags (``k_neighbors=3`` stays a value).

    Identifier-like names (with an underscore) are rewritten wherever they stand; one-word names
    such as ``steps`` or ``delta`` are also plain English words, so only as the subject that opens
    the message ("beta must be ...")."""
    for name in names:
        if name not in FLAGS:
            continue
        if "_" in name:
            message = re.sub(rf"(?<![\w-]){re.escape(name)}\b(?!=)", FLAGS[name], message)
        else:
            message = re.sub(rf"^{re.escape(name)}(?= must )", FLAGS[name], message)
    return message


def _quiet_libraries() -> None:
    """Only for commands that load models: transformers is imported here, not at start-up."""
    import transformers

    transformers.logging.set_verbosity_error()
    transformers.logging.disable_progress_bar()  # ours are enough; theirs would show on every cached load


SENSITIVE_NO_DP_WARNING = """\
smotext: ******************************************************************************
smotext: WARNING: training a bridge on texts marked SENSITIVE without differential privacy.
smotext: The bridge can memorise them and write them back out in "synthetic" text. Its card
smotext: records no DP, and the default release policy blocks anything it generates.
smotext: Use --dp --target-epsilon E to train with DP-SGD, or --public if these texts are public.
smotext: ******************************************************************************"""


def _show_warning(message, category, filename, lineno, file=None, line=None, _default=warnings.showwarning):
    if category.__name__ == "SensitiveTrainingWarning":  # not imported here: its module loads torch
        print(SENSITIVE_NO_DP_WARNING, file=sys.stderr)
    elif issubclass(category, SmotextWarning):
        print(f"smotext: warning: {in_flags(str(message), FLAGS)}", file=sys.stderr)
    else:
        _default(message, category, filename, lineno, file, line)


# ---------------------------------------------------------------- generate

def _strategy(args):
    chosen = [x for x in (args.n is not None, args.strategy is not None, args.counts is not None) if x]
    if len(chosen) > 1:
        raise SmotextError("give only one of --n, --strategy and --counts")
    if args.n is not None:
        return args.n
    if args.counts is not None:
        try:
            counts = json.loads(args.counts)
        except json.JSONDecodeError as e:
            raise SmotextError(f"--counts must be a JSON object like '{{\"urgent\": 50}}': {e}") from None
        if not isinstance(counts, dict):
            raise SmotextError("--counts must be a JSON object of class -> count")
        return counts
    return args.strategy or args.default_strategy


FILTER_DEST = "filter:"  # argparse dest prefix of a filter parameter's flag: filter:<filter>:<parameter>


DP_FLAGS = {"delta": "--delta", "iterations": "--iterations", "population": "--population", "dp_topic": "--dp-topic",
            "dp_threshold": "--dp-threshold", "elite_share": "--elite-share"}


def dp_from_args(args):
    """The DPGeneration the --dp options describe, or None without --dp (then they must be absent)."""
    from smotext.synth.pe_privacy import DPGeneration

    given = [flag for dest, flag in DP_FLAGS.items() if getattr(args, dest) is not None]
    given += ["--public-class-counts"] * args.public_class_counts
    generation_epsilon, _ = budgets(args)
    if not args.dp:
        if (args.target_epsilon is not None and not getattr(args, "adapt_voice", False)) or given:
            raise SmotextError(f"{', '.join(given or ['--target-epsilon'])} only apply with --dp "
                               "(--dp --target-epsilon E generates with differential privacy)")
        return None
    if args.target_epsilon is None:
        raise SmotextError("--dp needs a budget: --dp --target-epsilon E (e.g. 4)")
    chosen = {"delta": args.delta, "iterations": args.iterations, "population": args.population, "topic": args.dp_topic,
              "threshold": args.dp_threshold, "elite_share": args.elite_share}
    return DPGeneration(generation_epsilon, public_class_counts=args.public_class_counts, accountant=args.accountant,
                        **{k: v for k, v in chosen.items() if v is not None})


def budgets(args) -> tuple[float | None, float | None]:
    """(DP generation's ε, the voice adapter's ε) from --target-epsilon and --voice-epsilon: with
    --dp and --adapt-voice the total is split in half unless --voice-epsilon says the adapter's share."""
    voice = getattr(args, "adapt_voice", False)
    if not voice:
        if getattr(args, "voice_epsilon", None) is not None or getattr(args, "voice_adapter", None) is not None:
            raise SmotextError("--voice-epsilon and --voice-adapter only apply with --adapt-voice")
        return args.target_epsilon, None
    total, share = args.target_epsilon, args.voice_epsilon
    if not args.dp:  # generation is not DP: the whole budget is the adapter's
        if share is not None and total is not None:
            raise SmotextError("without --dp, give the voice adapter's budget once: --target-epsilon E or --voice-epsilon E")
        if (share if share is not None else total) is None:
            raise SmotextError("--adapt-voice needs a budget: --adapt-voice --target-epsilon E (e.g. 4)")
        return None, share if share is not None else total
    if total is None:
        raise SmotextError("--dp needs a budget: --dp --target-epsilon E (e.g. 4)")
    if share is None:
        return total / 2, total / 2
    if not 0 < share < total:
        raise SmotextError(f"--voice-epsilon must be between 0 and --target-epsilon ({total:g}), got {share:g}")
    return total - share, share


def voice_from_args(args):
    """The VoiceAdaptation that --adapt-voice describes, or None."""
    from smotext.synth.train import DEFAULT_ADAPTER, VoiceAdaptation

    _, epsilon = budgets(args)
    if epsilon is None:
        return None
    return VoiceAdaptation(epsilon, kind=args.voice_adapter or DEFAULT_ADAPTER, accountant=args.accountant,
                           seed=args.random_state)


def sampler_from_args(args):
    """The SMOTExT sampler the generation options describe (shared by generate, release and demo)."""
    from smotext.synth.filters import DEFAULT_ORDER, FILTERS
    from smotext.synth.private_evolution import DP_FILTERS
    from smotext.synth.smotext import SMOTExT

    dp = dp_from_args(args)
    default = DP_FILTERS if dp is not None else DEFAULT_ORDER
    enabled = [f for f in (args.filters.split(",") if args.filters else default) if f and f not in args.no_filter]
    filter_params: dict[str, dict] = {}
    for dest, value in vars(args).items():
        if dest.startswith(FILTER_DEST):
            name, param = dest[len(FILTER_DEST):].split(":")
            if name in enabled:
                filter_params.setdefault(name, {})[param] = value
            elif dp is not None and name in FILTERS and value != FILTERS.get(name).params[param].default:
                raise SmotextError(f"{FILTERS.get(name).params[param].flag} sets the {name} filter, which reads real "
                                   "records: DP generation can't run it")
    params = {name: getattr(args, name) for name, p in GENERATION_PARAMS.items() if p.flag}
    params["lambda_range"] = tuple(params["lambda_range"])
    return SMOTExT(**params, sampling_strategy=_strategy(args), encoder=args.encoder, lm=args.lm, filters=enabled,
                   filter_params=filter_params, segment_tokens=args.segment_tokens or None, progress=not args.quiet, dp=dp,
                   engine=engine_from_args(args))


def engine_from_args(args):
    """The Engine that --engine, --ray-address and --workers describe (checked: Ray installed); None
    for plain --engine local, as in Python."""
    from smotext.engine import Engine

    if args.engine == "local" and args.ray_address is None and args.workers is None:
        return None
    engine = Engine(args.engine, address=args.ray_address, workers=args.workers)
    engine.check()
    return engine


def cmd_generate(args) -> int:
    from smotext.pipeline import generate

    run = generate(args.corpus, args.out, sampler=sampler_from_args(args), provenance=args.provenance,
                   manifest=args.manifest, format=args.format, text_col=args.text_col, label_col=args.label_col)
    print(f"wrote {run.made} synthetic texts to {run.synthetic} (provenance: {run.provenance}, manifest: {run.manifest})")
    return EXIT_OK


# ---------------------------------------------------------------- fit-decoder

def cmd_fit_decoder(args) -> int:
    from smotext.outputs import check_outputs
    from smotext.synth.dp import VOICE_LR, DPConfig
    from smotext.synth.train import TrainConfig, VoiceAdaptation, check_bridge_folder, decoder_trainer, voice_trainer

    if args.dp != (args.target_epsilon is not None):
        raise SmotextError("--dp and --target-epsilon go together: --dp --target-epsilon E trains with DP-SGD")
    if not args.dp and (args.delta is not None or args.max_grad_norm is not None):
        raise SmotextError("--delta and --max-grad-norm only apply with --dp")
    if args.adapter is None and args.adapter_size:
        raise SmotextError("--adapter-size only applies with --adapter KIND")
    init_folder = None if args.init in (None, "default") else args.init
    check_outputs({"out": (args.out, "folder")}, {"corpus": args.corpus, "init": init_folder})
    check_bridge_folder(args.out)
    options = dict(public=args.public, description=args.description, encoder=args.encoder, lm=args.lm,
                   text_col=args.text_col, progress=not args.quiet)
    if args.adapter is not None:  # a voice adapter on top of a frozen bridge (the shipped one by default)
        for flag, value in (("--soft-tokens", args.soft_tokens), ("--hidden", args.hidden), ("--lora-rank", args.lora_rank or None),
                            ("--instruction", args.instruction), ("--max-grad-norm", args.max_grad_norm),
                            ("--warmup-steps", args.warmup_steps)):
            if value is not None:
                raise SmotextError(f"{flag} does not apply with --adapter: the adapted bridge keeps its shape and prompt")
        voice = VoiceAdaptation(args.target_epsilon, args.adapter, args.adapter_size, args.delta, args.steps,
                                args.batch_size, VOICE_LR if args.lr is None else args.lr, args.accountant,
                                args.micro_batch, args.seed)
        trainer, plan = voice_trainer(args.corpus, voice, init=args.init or "default", **options)
        if plan is not None:
            print(f"voice adapter: {plan.sentence()}", file=sys.stderr)
    else:
        dp = DPConfig(args.target_epsilon, args.delta, args.max_grad_norm or 1.0, args.accountant) if args.dp else None
        given = lambda value, default: default if value is None else value  # 0 is a value (refused), not "unset"
        cfg = TrainConfig(
            steps=given(args.steps, 1000), batch_size=given(args.batch_size, 16), lr=given(args.lr, 1e-3),
            warmup_steps=given(args.warmup_steps, 50), n_tokens=given(args.soft_tokens, 8), hidden=given(args.hidden, 1024),
            max_target_tokens=args.max_target_tokens,
            noise_std=args.noise_std, seed=args.seed, checkpoint_every=args.checkpoint_every, dp=dp,
            lora_rank=args.lora_rank, micro_batch=args.micro_batch)
        trainer = decoder_trainer(args.corpus, config=cfg, init=args.init, instruction=args.instruction, **options)
    if trainer.dp_plan is not None:
        plan = trainer.dp_plan
        print(f"DP-SGD: ε ≤ {plan.target_epsilon:g} at δ = {plan.delta:.3g} ({plan.accountant} accountant): noise multiplier "
              f"{plan.noise_multiplier:.4g}, clipping norm {plan.max_grad_norm:g}, Poisson sample rate {plan.sample_rate:.4g}, "
              f"{plan.planned_steps} steps", file=sys.stderr)

    try:
        card = trainer.train(args.out, progress=not args.quiet)
    except KeyboardInterrupt:
        print(f"smotext: interrupted at step {trainer.step}; checkpoint saved in {args.out}; "
              "run the same command again to resume", file=sys.stderr)
        return 130
    loss = card.training["final_loss"]
    print(f"bridge saved in {args.out} after {card.training['steps']} steps "
          f"({'final loss ' + format(loss, '.3f') if loss is not None else 'no loss: every Poisson batch was empty'})")
    if card.training["dp"]["used"]:
        print(f"differential privacy: ε = {card.training['dp']['epsilon']:.3f} at δ = {card.training['dp']['delta']:.3g}")
    return EXIT_OK


def cmd_export_bridge(args) -> int:
    import torch

    from smotext.synth.train import export_checkpoint

    card = export_checkpoint(args.folder, dtype=torch.float16 if args.half else torch.float32)
    note = card.training.get("stopped_early", f"{card.training['steps']} steps")
    print(f"bridge written to {args.folder} ({note}, loss {card.training['final_loss']:.3f})")
    return EXIT_OK


# ---------------------------------------------------------------- audit

def cmd_audit(args) -> int:
    from smotext.audit.auditor import DEFAULT_PLUGINS
    from smotext.pipeline import audit_files
    from smotext.reports.policy import read_allowlist

    plugins = [x for x in (args.attacks.split(",") if args.attacks else DEFAULT_PLUGINS) if x and x not in args.skip]
    pii = {"ignore_types": args.pii_ignore_type} if args.pii_ignore_type else {}
    if args.pii_allowlist:
        try:
            pii["allowlist"] = list(read_allowlist(Path(args.pii_allowlist)))
        except ValueError as e:
            raise SmotextError(str(e), params="pii_allowlist") from None
    if pii and "pii" not in plugins:
        raise SmotextError("--pii-ignore-type and --pii-allowlist need the pii plug-in, which is not selected")
    result = audit_files(args.members, args.holdout, args.synthetic, test=args.test, provenance=args.provenance,
                         manifest=args.manifest, out=args.out, text_col=args.text_col, label_col=args.label_col,
                         plugins=plugins, plugin_params={"pii": pii} if pii else None, encoder=args.encoder, seed=args.seed, n_boot=args.bootstrap,
                         test_fraction=args.test_fraction, allow_overlap=args.allow_overlap, progress=not args.quiet,
                         engine=engine_from_args(args), precision=args.precision, real_examples=args.real_examples)
    width = max(map(len, result.metrics), default=10)
    for name, m in sorted(result.metrics.items()):
        ci = f"  [{m.ci[0]:.3f}, {m.ci[1]:.3f}]" if m.ci else ""
        print(f"{name:<{width}}  {m.value:8.3f}{ci}  ({m.safer} is safer)")
    for name, entry in result.plugins.items():
        if entry["status"] != "ok":
            print(f"smotext: warning: audit plug-in {name} {entry['status']}: {entry['error']}", file=sys.stderr)
    print(f"results: {Path(args.out) / 'results.json'}")
    return EXIT_ERROR if result.failed else EXIT_OK


# ---------------------------------------------------------------- release, demo, gate, report, policies

def cmd_release(args) -> int:
    from smotext.pipeline import release

    sampler = sampler_from_args(args)
    run = release(args.corpus, args.out, policy=args.policy, sampler=sampler, seed=args.random_state,
                  holdout_fraction=args.holdout_fraction, test_fraction=args.test_fraction, text_col=args.text_col,
                  label_col=args.label_col, canaries=args.canaries, canary_secret=args.canary_secret,
                  canary_topic=args.canary_topic, voice=voice_from_args(args), n_boot=args.bootstrap,
                  allow_overlap=args.allow_overlap, progress=not args.quiet, engine=sampler.engine,
                  precision=args.precision, real_examples=args.real_examples)
    _print_decision(run.decision, run.report, run.out, run.results)
    return run.exit_code


def cmd_demo(args) -> int:
    from smotext.synth.demo_corpus import DEMO_EPSILON, DEMO_SYNTHETIC, DEMO_TOPIC, demo_corpus_path

    if args.path:
        print(demo_corpus_path())
        return EXIT_OK
    args.corpus, args.text_col, args.label_col = str(demo_corpus_path()), "text", None
    if args.n is None and args.strategy is None and args.counts is None:
        args.n = DEMO_SYNTHETIC  # the demo's size unless another is asked for
    if args.dp:  # one flag: the demo's budget and the corpus's public description unless others are given
        args.target_epsilon = DEMO_EPSILON if args.target_epsilon is None else args.target_epsilon
        args.dp_topic = args.dp_topic or DEMO_TOPIC
    if args.adapt_voice and args.target_epsilon is None and args.voice_epsilon is None:
        args.target_epsilon = DEMO_EPSILON  # one flag here too: the demo's budget for the voice adapter
    if args.canaries:  # canary starts in the demo corpus's register, from its public description
        args.canary_topic = args.canary_topic or args.dp_topic or DEMO_TOPIC
    return cmd_release(args)


def _details(results: dict, plugin: str) -> dict | None:
    """A plug-in's details when it ran and they are an object (results.json may come from anyone)."""
    entry = (results.get("plugins") or {}).get(plugin)
    if not isinstance(entry, dict) or entry.get("status") != "ok" or not isinstance(entry.get("details"), dict):
        return None
    return entry["details"]


def _num(v) -> str:
    if v == "inf":
        return "∞"
    return f"{v:.3g}" if isinstance(v, (int, float)) and not isinstance(v, bool) else "?"


def privacy_line(results: dict) -> str:
    """One line on the release's formal guarantee, from the generation_privacy plug-in's result."""
    d = _details(results, "generation_privacy")
    if d is None:
        entry = (results.get("plugins") or {}).get("generation_privacy")
        error = entry.get("error") if isinstance(entry, dict) else None
        return f"formal guarantee not assessed ({error or 'plug-in not run'})"
    eps, mode = _num(d.get("epsilon")), d.get("mode")
    if mode == "dp":
        return f"ε = {eps} at δ = {_num(d.get('delta'))} (DP generation; add/remove one record)"
    if mode == "non-dp":
        return f"ε = {eps}: no formal guarantee (non-DP generation; the audit's attacks are the evidence)"
    return f"ε = {eps} ({mode}: not a private release)"


def _print_decision(decision, report: Path, out: Path, results: dict) -> None:
    print(f"verdict: {decision.verdict}")
    print(f"  privacy: {privacy_line(results)}")
    d = _details(results, "canary")
    if d is not None:
        bound = d.get("epsilon_lower_bound")
        strongest = f", strongest attack: {d.get('strongest_attack')}" if isinstance(bound, (int, float)) and bound > 0 else ""
        print(f"  canaries: {d.get('sentence', '')} ({d.get('canaries', '?')} canaries{strongest}, "
              f"{d.get('secret_replay', '?')} secret(s) echoed)")
    reasons = {o.rule: o.reason for o in decision.outcomes}
    for name in decision.deciding:
        print(f"  blocked by rule: {name}" + (f" ({reasons[name]})" if name in decision.undecided else ""))
    for problem in decision.problems:
        print(f"  blocked: {problem}")
    for name in decision.warnings:
        print(f"  warning: rule {name} failed (severity warn)")
    print(f"report: {report}")
    if decision.verdict == "RELEASE":
        print(f"released files: {out / 'release'}")


def cmd_gate(args) -> int:
    from smotext.pipeline import gate_files

    run = gate_files(args.results, args.policy, out=args.out, release_files=args.release_file)
    _print_decision(run.decision, run.report, run.out, run.results)
    return run.exit_code


def cmd_report(args) -> int:
    from smotext.pipeline import report_file

    print(f"report: {report_file(args.results, args.out)}")
    return EXIT_OK


def cmd_policies(args) -> int:
    from smotext.reports.policy import load_policy, shipped_policies

    for name in shipped_policies():
        policy = load_policy(name)
        print(f"{name}: {' '.join(policy.description.split())}")
        print(f"  {len(policy.rules)} rules, sha256 {policy.sha256[:16]}…")
    return EXIT_OK


# ---------------------------------------------------------------- parser

class _Parser(argparse.ArgumentParser):
    def error(self, message):  # one line and exit 2, like every other input error
        self.exit(EXIT_ERROR, f"smotext: error: {message} (see {self.prog} --help)\n")


def build_parser() -> argparse.ArgumentParser:
    p = _Parser(prog="smotext", description="Privacy-auditing synthetic text: generate with SMOTExT, audit, gate.")
    sub = p.add_subparsers(dest="command", required=True, parser_class=_Parser)

    def column_args(sp, label=True):
        sp.add_argument("--text-col", default="text", help="text column (default: text)")
        if label:
            sp.add_argument("--label-col", default=None,
                            help="label column (default: 'label' if present; without one all texts form one class)")

    def corpus_args(sp, label=True):
        sp.add_argument("corpus", help="CSV, JSONL or Parquet file with a text column (and a label column)")
        column_args(sp, label)

    def generation_args(sp):
        # Flags, defaults and help come from the declarations (GENERATION_PARAMS and each filter's params).
        from smotext.synth.filters import DEFAULT_ORDER, FILTERS

        sp.add_argument("--n", type=int, help="total synthetic texts, split in proportion to the class sizes")
        sp.add_argument("--strategy", choices=STRATEGIES,
                        help="all: one synthetic text per real text, in the corpus's class mix (release's default); "
                             "auto: balance the classes, topping each up to the majority's size (generate's default); "
                             "minority: top up only the smallest class")
        sp.add_argument("--counts", help="JSON object of per-class counts, e.g. '{\"urgent\": 50}'")
        for name, param in GENERATION_PARAMS.items():
            if param.flag:
                param.add_to(sp, name)
        sp.add_argument("--filters", default=None, help=f"comma-separated filters to run (default: {','.join(DEFAULT_ORDER)})")
        sp.add_argument("--no-filter", action="append", default=[], metavar="NAME", help="switch one filter off (repeatable)")
        for fname, cls in FILTERS.classes().items():
            for pname, param in cls.params.items():
                if param.flag:
                    param.add_to(sp, f"{FILTER_DEST}{fname}:{pname}")
        sp.add_argument("--segment-tokens", type=int, default=GENERATION_PARAMS["segment_tokens"].default,
                        help=f"{GENERATION_PARAMS['segment_tokens'].help.replace('None', '0')} (default: {SEGMENT_TOKENS})")
        dp = sp.add_argument_group("differential privacy (DP generation: real records only vote on public candidates)")
        dp.add_argument("--dp", action="store_true",
                        help="generate with a formal (ε, δ) guarantee (Private Evolution; needs --target-epsilon)")
        dp.add_argument("--target-epsilon", type=float, default=None, help="privacy budget ε for the whole release")
        dp.add_argument("--delta", type=float, default=None, help="δ (default 1/(10·N) for N real records)")
        dp.add_argument("--iterations", type=int, default=None, help="voting rounds (default 2)")
        dp.add_argument("--population", type=int, default=None, help="public candidates per class and round (default 64)")
        dp.add_argument("--dp-topic", default=None, metavar="TEXT",
                        help="a public description of the corpus the start candidates are written from, e.g. "
                             "'patient portal message' (default: 'short text')")
        dp.add_argument("--dp-threshold", type=float, default=None, metavar="K",
                        help="candidates survive a round with at least K·σ noisy votes (default 2)")
        dp.add_argument("--elite-share", type=float, default=None,
                        help="share of the next population that is survivors kept unchanged (default 0.25)")
        dp.add_argument("--public-class-counts", action="store_true",
                        help="the class sizes are public: spend no budget on them (the manifest records this)")
        dp.add_argument("--accountant", default="prv", choices=["prv", "rdp"], help="Opacus privacy accountant (default prv)")

    def precision_arg(sp):
        sp.add_argument("--precision", default="auto", choices=PRECISIONS,
                        help="the encoder's arithmetic for the audit's embeddings (default auto: bfloat16 where the "
                             "hardware computes it, else float32)")

    def real_examples_arg(sp):
        from smotext.audit.auditor import AUDITOR_PARAMS

        sp.add_argument("--real-examples", action="store_true", dest="real_examples",
                        help=AUDITOR_PARAMS["real_examples"].help + " (default: no real text in any output)")

    def engine_args(sp):
        e = sp.add_argument_group("engine (where the heavy work runs)")
        e.add_argument("--engine", default="local", choices=ENGINES,
                       help=f"local: this process (default); ray: workers on a Ray cluster ({RAY_INSTALL})")
        e.add_argument("--ray-address", default=None, metavar="ADDR",
                       help="an existing Ray cluster to use (default: start one on this machine)")
        e.add_argument("--workers", type=int, default=None, help="Ray workers (default: one per CPU core of the cluster)")

    def model_args(sp):
        sp.add_argument("--encoder", default=None, help="sentence-transformers model folder (default: all-MiniLM-L6-v2)")
        sp.add_argument("--lm", default=None, help="HF causal-LM folder or .gguf file (default: SmolLM2-135M-Instruct)")
        sp.add_argument("--quiet", action="store_true", help="no progress bars")

    g = sub.add_parser("generate", help="write synthetic texts from a labelled corpus")
    corpus_args(g)
    g.add_argument("--out", required=True, help="synthetic dataset to write (.csv, .jsonl or .parquet)")
    g.add_argument("--format", choices=("csv", "jsonl", "parquet"), help="output format (default: from --out's extension)")
    g.add_argument("--provenance", help="private provenance file (default: OUT-stem.provenance.jsonl); never release it")
    g.add_argument("--manifest", help="run manifest (default: OUT-stem.manifest.json)")
    generation_args(g)
    model_args(g)
    engine_args(g)
    g.set_defaults(func=cmd_generate, needs_models=True, default_strategy="auto")

    f = sub.add_parser("fit-decoder", help="train a bridge (autoencoding) on a corpus; resumes from its checkpoint")
    corpus_args(f, label=False)
    f.add_argument("--out", required=True, help="folder for bridge.safetensors, bridge.json and the checkpoint")
    f.add_argument("--steps", type=int, default=None, help="training steps (default 1000; with --adapter 30)")
    f.add_argument("--batch-size", type=int, default=None,
                   help="texts per step, expected size under --dp (default 16; with --adapter 1/24 of the corpus, at most 512)")
    f.add_argument("--micro-batch", type=int, default=32,
                   help="texts per forward/backward pass; larger batches are accumulated, so memory stays bounded")
    f.add_argument("--lr", type=float, default=None, help="learning rate (default 1e-3; with --adapter 0.05)")
    f.add_argument("--warmup-steps", type=int, default=None, help="steps of rising learning rate (default 50)")
    f.add_argument("--soft-tokens", type=int, default=None, help="K, soft tokens per vector (default 8)")
    f.add_argument("--hidden", type=int, default=None, help="width of the bridge's hidden layer (default 1024)")
    f.add_argument("--max-target-tokens", type=int, default=48)
    f.add_argument("--noise-std", type=float, default=0.0, help="noise on input vectors during training")
    f.add_argument("--instruction", default=None, help="prompt text before the soft tokens")
    f.add_argument("--lora-rank", type=int, default=0,
                   help="also train rank-R LoRA updates of the LM's attention q/v layers, kept in the bridge (0: none)")
    f.add_argument("--adapter", default=None, choices=sorted(ADAPTERS),
                   help="train only a small voice adapter on top of a frozen bridge (--init, default: the shipped one) "
                        "so its texts take this corpus's voice; with --dp, the tool says whether the corpus is large "
                        "enough at that ε. " + "; ".join(f"{k}: {v}" for k, v in ADAPTERS.items()))
    f.add_argument("--adapter-size", type=int, default=0, help="prefix tokens (default 4) or low-rank rank (default 4)")
    f.add_argument("--checkpoint-every", type=int, default=50)
    f.add_argument("--seed", type=int, default=0)
    f.add_argument("--description", default="", help="what the training texts are, for the model card")
    f.add_argument("--public", action="store_true",
                   help="the training texts are public or self-generated (default: treated as sensitive)")
    f.add_argument("--init", default=None, metavar="BRIDGE",
                   help="adapt this bridge (a folder, or 'default' for the shipped one) instead of training from scratch")
    g = f.add_argument_group("differential privacy (DP-SGD through Opacus)")
    g.add_argument("--dp", action="store_true", help="train with DP-SGD: Poisson batches, per-text clipping, noise")
    g.add_argument("--target-epsilon", type=float, default=None, help="privacy budget ε for the whole run")
    g.add_argument("--delta", type=float, default=None, help="δ (default 1/(10·N) for N training texts)")
    g.add_argument("--max-grad-norm", type=float, default=None, help="per-text gradient clipping norm (default 1.0)")
    g.add_argument("--accountant", default="prv", choices=["prv", "rdp"], help="Opacus privacy accountant")
    model_args(f)
    f.set_defaults(func=cmd_fit_decoder, needs_models=True)

    e = sub.add_parser("export-bridge", help="write a usable bridge from a fit-decoder folder's latest checkpoint")
    e.add_argument("folder", help="the --out folder of smotext fit-decoder")
    e.add_argument("--half", action="store_true", help="store weights as float16 (half the size)")
    e.set_defaults(func=cmd_export_bridge, needs_models=True)

    a = sub.add_parser("audit", help="measure utility and leakage of a synthetic set: members vs holdout")
    a.add_argument("--members", required=True, help="the real records generation drew from")
    a.add_argument("--holdout", required=True, help="real records from the same source that generation never saw")
    a.add_argument("--synthetic", required=True, help="the synthetic dataset")
    a.add_argument("--test", help="real test texts for utility (default: --test-fraction of the holdout)")
    a.add_argument("--provenance", help="generation provenance file: also scores members that served as parents")
    a.add_argument("--manifest", help="generation manifest (default: SYNTHETIC-stem.manifest.json beside it, if any); "
                   "without one, plug-ins about the generator (decoder_privacy) are skipped")
    a.add_argument("--out", required=True, help="folder for results.json and scores.npz")
    column_args(a)
    a.add_argument("--attacks", default=None, help="comma-separated plug-ins (default: all)")
    a.add_argument("--skip", action="append", default=[], metavar="NAME", help="leave one plug-in out (repeatable)")
    a.add_argument("--pii-ignore-type", action="append", default=[], metavar="TYPE",
                   help="an entity type never counted as replayed PII (repeatable); the gate's policy must excuse it too")
    a.add_argument("--pii-allowlist", metavar="FILE", help="values never counted as replayed PII (public figures), one per "
                   "line; the gate's policy must name the same values")
    a.add_argument("--seed", type=int, default=0)
    a.add_argument("--bootstrap", type=int, default=200, help="bootstrap resamples for the DCR share's 95%% interval (the other intervals are analytic)")
    a.add_argument("--allow-overlap", action="store_true",
                   help="audit even when members, holdout and test share texts (default: an error; counts are recorded)")
    a.add_argument("--test-fraction", type=float, default=0.3)
    real_examples_arg(a)
    a.add_argument("--encoder", default=None, help="the encoder generation used (default: the one in the synthetic file's manifest, else all-MiniLM-L6-v2)")
    a.add_argument("--quiet", action="store_true")
    precision_arg(a)
    engine_args(a)
    a.set_defaults(func=cmd_audit, needs_models=True)

    def release_args(sp):
        sp.add_argument("--policy", default="default",
                        help="a shipped policy's name (default, strict, research; see `smotext policies`) or a policy "
                             "YAML file (default: default)")
        sp.add_argument("--holdout-fraction", type=float, default=0.3, help="share of the corpus kept from generation as non-members")
        sp.add_argument("--test-fraction", type=float, default=0.2, help="share of the corpus kept as the utility test split")
        sp.add_argument("--bootstrap", type=int, default=200, help="bootstrap resamples for the DCR share's 95%% interval (the other intervals are analytic)")
        sp.add_argument("--allow-overlap", action="store_true",
                        help="go on when the splits share texts (copies of one text in different classes); "
                             "default: an error")
        precision_arg(sp)
        real_examples_arg(sp)
        c = sp.add_argument_group("canaries (the worst case: a one-run lower bound on ε)")
        c.add_argument("--canaries", type=int, default=0, metavar="M",
                       help="plant M fake records (200 or more for a useful bound), each added to the members by a "
                            "secret coin; outputs with a canary parent are held back; default 0: none")
        c.add_argument("--canary-secret", type=int, default=None, metavar="S",
                       help="seed of the canaries and their coins (default: a fresh secret, kept in private/canaries.json)")
        c.add_argument("--canary-topic", default=None, metavar="TEXT",
                       help="what the corpus's texts are, for writing canary starts (default: --dp-topic, else generic)")
        v = sp.add_argument_group("the corpus's voice (a DP voice adapter, trained on the members before generation)")
        v.add_argument("--adapt-voice", action="store_true",
                       help="first adapt the bridge to the members' voice with DP-SGD (needs a budget: --target-epsilon "
                            "E, split in half with --dp; a corpus too small for that ε is refused with the size it needs)")
        v.add_argument("--voice-epsilon", type=float, default=None, metavar="E",
                       help="with --dp: the adapter's share of --target-epsilon (default: half)")
        v.add_argument("--voice-adapter", default=None, choices=sorted(ADAPTERS),
                       help="which adapter (default: bias; see `smotext fit-decoder --help`)")
        generation_args(sp)
        model_args(sp)
        engine_args(sp)

    r = sub.add_parser("release", help="split, generate, audit, gate and report in one go; exit 0 RELEASE, 1 BLOCK, 2 error")
    r.add_argument("--corpus", required=True, help="the real labelled corpus (CSV, JSONL or Parquet)")
    r.add_argument("--out", required=True, help="folder for report.html, results.json, synthetic.csv, release/")
    column_args(r)
    release_args(r)
    r.set_defaults(func=cmd_release, needs_models=True, default_strategy="all")

    d = sub.add_parser("demo", help="`smotext release` on the shipped demo corpus (4,400 fake patient-portal messages, "
                                    "200 synthetic texts by default); --path prints where the corpus is")
    d.add_argument("--out", default="smotext-demo", help="folder for the run (default: smotext-demo)")
    d.add_argument("--path", action="store_true", help="print the demo corpus's path and exit")
    release_args(d)
    d.set_defaults(func=cmd_demo, needs_models=True, default_strategy="all")

    gt = sub.add_parser("gate", help="apply a policy to an audit's results.json; writes the report; exit 0/1/2")
    gt.add_argument("--results", required=True, help="results.json (or its folder) from smotext audit")
    gt.add_argument("--policy", default="default", help="a shipped policy's name or a policy YAML file (default: default)")
    gt.add_argument("--out", help="folder for results.json, report.html and release/ (default: the results' folder)")
    gt.add_argument("--release-file", action="append", default=[], metavar="FILE", help="file to copy to release/ on RELEASE")
    gt.set_defaults(func=cmd_gate)

    rp = sub.add_parser("report", help="re-render report.html from a results.json")
    rp.add_argument("--results", required=True, help="results.json or its folder")
    rp.add_argument("--out", help="report file (default: report.html beside the results)")
    rp.set_defaults(func=cmd_report)

    pl = sub.add_parser("policies", help="list the shipped release policies with their descriptions")
    pl.set_defaults(func=cmd_policies)
    return p


def _interrupt_on_sigterm() -> dict:
    """SIGTERM (a scheduler, `kill`) stops a run like Ctrl-C: half-made outputs are cleaned up and
    training checkpoints. Returns the handlers it replaced."""
    def stop(signum, frame):
        raise KeyboardInterrupt

    previous = {sig: signal.getsignal(sig) for sig in (signal.SIGTERM, signal.SIGINT)}
    signal.signal(signal.SIGTERM, stop)
    if previous[signal.SIGINT] is signal.SIG_IGN:  # started in the background by a shell
        signal.signal(signal.SIGINT, signal.default_int_handler)
    return previous


def main(argv=None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")  # models come from installed packages, never from a hub
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    previous = warnings.showwarning
    warnings.showwarning = _show_warning
    handlers = _interrupt_on_sigterm()
    try:
        if getattr(args, "needs_models", False):
            _quiet_libraries()
        return args.func(args)
    except SmotextError as e:
        print(f"smotext: error: {in_flags(str(e), e.params)}", file=sys.stderr)
        return EXIT_ERROR
    except KeyboardInterrupt:
        print("smotext: interrupted", file=sys.stderr)
        return 130
    finally:
        warnings.showwarning = previous
        for sig, handler in handlers.items():
            signal.signal(sig, handler)


if __name__ == "__main__":
    sys.exit(main())
