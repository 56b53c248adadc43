"""The `smotext` command, one sub-command per stage: each maps its arguments to a library call.
Exit codes: 0 done (or RELEASE), 1 BLOCK, 2 bad input or error.

Every flag is generated from a parameter declaration (``smotext.params.Param``) of the library class
or job it configures, so a default, a check or a help text is written once. Only the standard
library and torch-free parts of smotext are imported at start-up, so `smotext --help`, `gate`,
`report` and `policies` never load torch."""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import re
import signal
import sys
import warnings
from pathlib import Path

from smotext.engine import ENGINE_PARAMS
from smotext.errors import SmotextError, SmotextWarning
from smotext.params import add_declared, flag_names, given
from smotext.pipeline import (AUDIT_FILES_PARAMS, FIT_DECODER_PARAMS, GATE_PARAMS, GENERATE_PARAMS, GENERATOR_PARAMS,
                              OUTSIDE_PARAMS, PREPARE_PARAMS, RELEASE_PARAMS)
from smotext.synth.budget import BUDGET_PARAMS, PrivacyBudget
from smotext.synth.dp import DPSGD_PARAMS
from smotext.synth.params import COLUMN_PARAMS, GENERATION_PARAMS, STRATEGIES, TRAIN_PARAMS, VOICE_PARAMS
from smotext.synth.pe_privacy import DP_GENERATION_PARAMS

EXIT_OK, EXIT_ERROR = 0, 2


def _filters():
    from smotext.synth.filters import FILTERS

    return FILTERS.classes()


def _audit_plugins() -> dict:
    """Each audit plug-in's declared parameters with a flag: its own, or --PLUGIN-PARAMETER."""
    from smotext.audit.registry import PLUGINS

    def flagged(plugin, name, p):
        if p.flag:
            return p
        if p.default is None and "type" not in p.cli:
            return None  # no type to parse a value with: Python only
        return dataclasses.replace(p, flag=f"--{plugin}-{name}".replace("_", "-"), cli={"metavar": name.upper(), **p.cli})

    out = {}
    for plugin, cls in PLUGINS.classes().items():
        params = {name: q for name, p in cls.params.items() if (q := flagged(plugin, name, p)) is not None}
        if params:
            out[plugin] = params
    return out


def _auditor_params() -> dict:
    from smotext.audit.auditor import AUDITOR_PARAMS

    return AUDITOR_PARAMS


def _declarations() -> list[dict]:
    """Every declaration a command's flags come from, in the order a parameter name is looked up."""
    return [GENERATION_PARAMS, COLUMN_PARAMS, BUDGET_PARAMS, DP_GENERATION_PARAMS, ENGINE_PARAMS, RELEASE_PARAMS,
            OUTSIDE_PARAMS, GENERATOR_PARAMS, PREPARE_PARAMS, _auditor_params(), GENERATE_PARAMS, AUDIT_FILES_PARAMS,
            GATE_PARAMS, FIT_DECODER_PARAMS, TRAIN_PARAMS,
            VOICE_PARAMS, DPSGD_PARAMS, *[cls.params for cls in _filters().values()], *_audit_plugins().values()]


# Library names that are not one declared parameter, as the CLI spells them.
SHAPES = {"sampling_strategy": "--n/--strategy/--counts", "filters": "--filters", "adapter": "--adapter",
          "adapter_size": "--adapter-size", "engine": "--engine", "ray_address": "--ray-address",
          "target_epsilon": "--target-epsilon", "n_boot": "--bootstrap"}
_FLAGS: dict[str, str] = {}


def flags() -> dict[str, str]:
    """Library parameter name -> CLI flag, from the declarations (built once)."""
    if not _FLAGS:
        _FLAGS.update({**flag_names(*_declarations()), **SHAPES})
    return _FLAGS


def in_flags(message: str, names=()) -> str:
    """``message`` with library parameter names written as CLI flags (``k_neighbors=3`` stays a value).

    A name in backquotes (`adapter`) is rewritten wherever it stands (the backquotes go); identifier-like
    names (with an underscore) too; one-word names such as ``steps`` or ``delta``, also plain English
    words, only when ``names`` lists them and they open the message ("beta must be ...")."""
    table = flags()
    message = re.sub(r"`(\w+)`", lambda m: table.get(m.group(1), m.group(1)), message)
    for name, flag in table.items():
        if "_" in name:
            message = re.sub(rf"(?<![\w-]){re.escape(name)}\b(?!=)", flag, message)
    for name in (names,) if isinstance(names, str) else names or ():
        if name in table and "_" not in name:
            message = re.sub(rf"^{re.escape(name)}(?= must | only )", table[name], message)
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
        print(f"smotext: warning: {in_flags(str(message))}", file=sys.stderr)
    else:
        _default(message, category, filename, lineno, file, line)


# ---------------------------------------------------------------- arguments -> library objects

def _strategy(args):
    chosen = [x for x in (args.n is not None, args.strategy is not None, args.counts is not None) if x]
    if len(chosen) > 1:
        raise SmotextError("give only one of --n, --strategy and --counts")
    if args.counts is not None:
        try:
            counts = json.loads(args.counts)
        except json.JSONDecodeError as e:
            raise SmotextError(f"--counts must be a JSON object like '{{\"urgent\": 50}}': {e}") from None
        if not isinstance(counts, dict):
            raise SmotextError("--counts must be a JSON object of class -> count")
        return counts
    return args.n if args.n is not None else args.strategy


def budget_from_args(args) -> PrivacyBudget:
    """The PrivacyBudget the --dp, --adapt-voice and budget flags describe."""
    budget = PrivacyBudget(**given(args, BUDGET_PARAMS))
    budget.check()
    return budget


def engine_from_args(args):
    """The Engine that --engine, --ray-address and --workers describe (checked); None for plain local."""
    from smotext.engine import Engine

    settings = given(args, ENGINE_PARAMS, changed=True)
    if not settings:
        return None
    engine = Engine(**settings)
    engine.check()
    return engine


def sampler_from_args(args, strategy=None):
    """The SMOTExT sampler the generation options describe (shared by generate, release and demo)."""
    from smotext.synth.private_evolution import DP_FILTERS
    from smotext.synth.smotext import SMOTExT

    dp = budget_from_args(args).generation_part(**{k: v for k, v in given(args, DP_GENERATION_PARAMS, changed=True).items()
                                                   if k not in BUDGET_PARAMS})
    names = args.filters.split(",") if args.filters else DP_FILTERS if dp is not None else None
    enabled = [f for f in names or GENERATION_PARAMS["filters"].default if f and f not in args.no_filter]
    filter_params = {name: given(args, cls.params, changed=name not in enabled) for name, cls in _filters().items()}
    params = given(args, GENERATION_PARAMS)
    params["segment_tokens"] = params.get("segment_tokens") or None
    strategy = next((v for v in (strategy, _strategy(args), args.default_strategy) if v is not None))
    return SMOTExT(**params, sampling_strategy=strategy, filters=enabled,
                   filter_params={k: v for k, v in filter_params.items() if v}, progress=not args.quiet, dp=dp,
                   engine=engine_from_args(args))


def plugin_params_from_args(args) -> dict:
    """Audit plug-in parameters set on the command line (only those that differ from the declared default)."""
    found = {plugin: given(args, params, changed=True) for plugin, params in _audit_plugins().items()}
    return {plugin: values for plugin, values in found.items() if values}


def audit_options_from_args(args, leave_out=()) -> dict:
    """The Auditor's options from its flags, --attacks/--skip and the plug-in flags."""
    from smotext.audit.auditor import DEFAULT_PLUGINS

    options = {k: v for k, v in given(args, _auditor_params()).items() if k not in leave_out}
    attacks = getattr(args, "attacks", None)
    options["plugins"] = [x for x in (attacks.split(",") if attacks else DEFAULT_PLUGINS) if x and x not in args.skip]
    options.update(plugin_params=plugin_params_from_args(args) or None, progress=not args.quiet, engine=engine_from_args(args))
    return {k: v for k, v in options.items() if k not in leave_out}


def release_from_args(args, strategy=None):
    """``release`` with everything the release flags describe."""
    from smotext.pipeline import release
    from smotext.synth.generators import GENERATORS

    say = (lambda line: None) if args.quiet else (lambda line: print(line, file=sys.stderr))
    name = getattr(args, "generator", "smotext")
    outside = given(args, OUTSIDE_PARAMS)
    if outside.get("prepared") is not None or name not in ("smotext", "smotext-dp"):
        if args.corpus is not None and outside.get("prepared") is not None:
            raise SmotextError("give --corpus or --prepared, not both")
        return release(args.corpus, args.out, generator=None if outside.get("prepared") else name, seed=args.seed,
                       synthetic=getattr(args, "synthetic", None), say=say, **outside, **given(args, COLUMN_PARAMS),
                       **given(args, RELEASE_PARAMS),
                       **audit_options_from_args(args, leave_out=("seed", "holdout_test_fraction")))
    if name == "smotext-dp":  # SMOTExT's DP generation: --dp, at the plug-in's ε unless --target-epsilon says
        args.dp = True
        if args.target_epsilon is None:
            args.target_epsilon = GENERATORS.get(name).params["target_epsilon"].default
    if args.corpus is None:
        raise SmotextError("release needs --corpus (or --prepared DIR --synthetic FILE)")
    sampler = sampler_from_args(args, strategy)
    voice = budget_from_args(args).voice_part(**{k: v for k, v in given(args, VOICE_PARAMS, changed=True).items()
                                                if k in ("kind", "size")})
    return release(args.corpus, args.out, sampler=sampler, seed=args.seed, voice=voice, engine=sampler.engine, say=say,
                   **given(args, COLUMN_PARAMS), **given(args, RELEASE_PARAMS),
                   **audit_options_from_args(args, leave_out=("seed", "holdout_test_fraction", "engine")))


# ---------------------------------------------------------------- commands

def cmd_generate(args) -> int:
    from smotext.pipeline import generate

    run = generate(args.corpus, sampler=sampler_from_args(args), **given(args, GENERATE_PARAMS),
                   **given(args, COLUMN_PARAMS))
    print(f"wrote {run.made} synthetic texts to {run.synthetic} (provenance: {run.provenance}, manifest: {run.manifest})")
    return EXIT_OK


def cmd_fit_decoder(args) -> int:
    from smotext.pipeline import train_bridge

    jobs = given(args, FIT_DECODER_PARAMS)
    card = train_bridge(args.corpus, jobs.pop("out"), train=given(args, TRAIN_PARAMS, changed=True), adapter=args.adapter,
                        voice={k: v for k, v in given(args, VOICE_PARAMS, changed=True).items() if k != "kind"},
                        dpsgd=given(args, DPSGD_PARAMS, changed=True),
                        encoder=args.encoder, lm=args.lm, text_col=args.text_col, progress=not args.quiet,
                        say=lambda line: print(line, file=sys.stderr), **jobs)
    loss, dp = card.training["final_loss"], card.training["dp"]
    print(f"bridge saved in {args.out} after {card.training['steps']} steps "
          f"({'final loss ' + format(loss, '.3f') if loss is not None else 'no loss: every Poisson batch was empty'})")
    if dp["used"]:
        print(f"differential privacy: ε = {dp['epsilon']:.3f} at δ = {dp['delta']:.3g}")
    return EXIT_OK


def cmd_export_bridge(args) -> int:
    from smotext.synth.train import export_bridge_folder

    card = export_bridge_folder(args.folder, half=args.half)
    note = card.training.get("stopped_early", f"{card.training['steps']} steps")
    print(f"bridge written to {args.folder} ({note}, loss {card.training['final_loss']:.3f})")
    return EXIT_OK


def cmd_prepare(args) -> int:
    from smotext.pipeline import prepare

    run = prepare(args.corpus, **given(args, PREPARE_PARAMS), **given(args, COLUMN_PARAMS), progress=not args.quiet)
    print(f"wrote {run.train} ({run.rows} texts: the members and {run.added} of {run.canaries} canaries, shuffled): "
          f"train your generator on it alone, then\n  smotext audit --prepared {run.out} --synthetic YOURS.csv --out AUDIT\n"
          f"{run.out / 'private'} holds the splits, canaries and their secret: never share it")
    return EXIT_OK


def cmd_audit(args) -> int:
    from smotext.pipeline import audit_files

    result = audit_files(**given(args, AUDIT_FILES_PARAMS), **given(args, OUTSIDE_PARAMS), **given(args, COLUMN_PARAMS),
                         encoder=args.encoder, **audit_options_from_args(args))
    print(result.summary())
    for name, entry in result.plugins.items():
        if entry["status"] != "ok":
            print(f"smotext: warning: audit plug-in {name} {entry['status']}: {entry['error']}", file=sys.stderr)
    print(f"results: {Path(args.out) / 'results.json'}")
    return EXIT_ERROR if result.failed else EXIT_OK


def cmd_release(args, strategy=None) -> int:
    run = release_from_args(args, strategy)
    print(run.summary())
    return run.exit_code


def cmd_demo(args) -> int:
    from smotext.synth.demo_corpus import demo_corpus_path, demo_options

    if args.path:
        print(demo_corpus_path())
        return EXIT_OK
    names = {"sampling_strategy": _strategy(args), "topic": args.dp_topic}
    o = demo_options({**vars(args), **names})
    args.corpus, args.text_col, args.label_col, args.target_epsilon, args.dp_topic, args.canary_topic, args.adapt_voice = \
        (o[k] for k in ("corpus", "text_col", "label_col", "target_epsilon", "topic", "canary_topic", "adapt_voice"))
    return cmd_release(args, o["sampling_strategy"])


def cmd_gate(args) -> int:
    from smotext.pipeline import gate_files

    run = gate_files(policy=args.policy, **given(args, GATE_PARAMS))
    print(run.summary())
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


def _only(params: dict, *names: str, but: tuple = ()) -> dict:
    """Some of a declaration's parameters (all but ``but`` when no names are given)."""
    return {k: p for k, p in params.items() if (k in names if names else k not in but)}


def _corpus_arg(sp, label: bool = True) -> None:
    sp.add_argument("corpus", help="CSV, JSONL or Parquet file with a text column (and a label column)")
    add_declared(sp, [("", COLUMN_PARAMS if label else _only(COLUMN_PARAMS, "text_col"))])


def _generation_args(sp, voice: bool = False) -> None:
    strategy = GENERATION_PARAMS["sampling_strategy"]
    g = sp.add_argument_group("how many (the sampler's sampling_strategy)")
    g.add_argument("--n", type=int, help="total synthetic texts, split in proportion to the class sizes")
    g.add_argument("--strategy", choices=STRATEGIES, help=f"{strategy.help} (default: all for release and demo, "
                   "auto for generate)")
    g.add_argument("--counts", help="JSON object of per-class counts, e.g. '{\"urgent\": 50}'")
    filters = GENERATION_PARAMS["filters"]
    g = sp.add_argument_group("filters")
    g.add_argument("--filters", default=None, help=f"comma-separated {filters.help} (default: {','.join(filters.default)})")
    g.add_argument("--no-filter", action="append", default=[], metavar="NAME", help="switch one filter off (repeatable)")
    budget = _only(BUDGET_PARAMS, but=() if voice else ("adapt_voice", "voice_epsilon"))
    groups = [("generation (the SMOTExT sampler)", _only(GENERATION_PARAMS, but=("sampling_strategy", "filters"))),
              *[(f"{name} filter", cls.params) for name, cls in _filters().items()],
              ("differential privacy (the release's budget; DP generation: real records only vote on public candidates)",
               budget), ("DP generation", DP_GENERATION_PARAMS), ("engine (where the heavy work runs)", ENGINE_PARAMS)]
    if voice:
        groups.append(("the corpus's voice (a DP voice adapter, trained on the members before generation)",
                       _only(VOICE_PARAMS, "kind", "size")))
    add_declared(sp, groups)
    sp.add_argument("--quiet", action="store_true", help="no progress bars")


def _audit_args(sp, release: bool) -> None:
    auditor = _only(_auditor_params(), but=("seed", "holdout_test_fraction") if release else ())
    add_declared(sp, [("audit", auditor), *[(f"audit plug-in {name}", params) for name, params in _audit_plugins().items()]])
    g = sp.add_argument_group("audit plug-ins")
    g.add_argument("--attacks", default=None, help="comma-separated plug-ins (default: all)")
    g.add_argument("--skip", action="append", default=[], metavar="NAME", help="leave one plug-in out (repeatable)")


def _release_args(sp) -> None:
    add_declared(sp, [("release", RELEASE_PARAMS)])
    _audit_args(sp, release=True)
    _generation_args(sp, voice=True)


def build_parser() -> argparse.ArgumentParser:
    p = _Parser(prog="smotext", description="Privacy-auditing synthetic text: generate with SMOTExT, audit, gate.")
    sub = p.add_subparsers(dest="command", required=True, parser_class=_Parser)

    g = sub.add_parser("generate", help="write synthetic texts from a labelled corpus")
    _corpus_arg(g)
    add_declared(g, [("outputs", GENERATE_PARAMS)])
    _generation_args(g)
    g.set_defaults(func=cmd_generate, needs_models=True, default_strategy="auto")

    f = sub.add_parser("fit-decoder", help="train a bridge (autoencoding) on a corpus; resumes from its checkpoint")
    _corpus_arg(f, label=False)
    add_declared(f, [("bridge training", {**FIT_DECODER_PARAMS, **TRAIN_PARAMS}),
                     ("voice adapter (--adapter KIND: train only a small adapter on top of a frozen bridge, --init "
                      "or the shipped one, so its texts take this corpus's voice)", _only(VOICE_PARAMS, but=("epsilon",))),
                     ("differential privacy (DP-SGD through Opacus)", DPSGD_PARAMS),
                     ("models", _only(GENERATION_PARAMS, "encoder", "lm"))])
    f.add_argument("--quiet", action="store_true", help="no progress bars")
    f.set_defaults(func=cmd_fit_decoder, needs_models=True)

    e = sub.add_parser("export-bridge", help="write a usable bridge from a fit-decoder folder's latest checkpoint")
    e.add_argument("folder", help="the --out folder of smotext fit-decoder")
    e.add_argument("--half", action="store_true", help="store weights as float16 (half the size)")
    e.set_defaults(func=cmd_export_bridge, needs_models=True)

    pp = sub.add_parser("prepare", help="split a corpus and plant canaries for a generator smotext does not run: writes "
                                        "train.csv for it, and private/ for `audit --prepared`")
    pp.add_argument("--corpus", required=True, help="the real labelled corpus (CSV, JSONL or Parquet)")
    add_declared(pp, [("", {**PREPARE_PARAMS, **COLUMN_PARAMS})])
    pp.add_argument("--quiet", action="store_true", help="no progress bars")
    pp.set_defaults(func=cmd_prepare, needs_models=True)

    a = sub.add_parser("audit", help="measure utility and leakage of a synthetic set: members vs holdout")
    add_declared(a, [("inputs and outputs", AUDIT_FILES_PARAMS),
                     ("an outside generator (after `smotext prepare`)", OUTSIDE_PARAMS), ("", COLUMN_PARAMS),
                     ("models", {"encoder": GENERATION_PARAMS["encoder"]}), ("engine (where the heavy work runs)",
                                                                             ENGINE_PARAMS)])
    _audit_args(a, release=False)
    a.add_argument("--quiet", action="store_true", help="no progress bars")
    a.set_defaults(func=cmd_audit, needs_models=True)

    r = sub.add_parser("release", help="split, generate, audit, gate and report in one go; exit 0 RELEASE, 1 BLOCK, 2 error")
    r.add_argument("--corpus", help="the real labelled corpus (CSV, JSONL or Parquet); or --prepared with --synthetic")
    r.add_argument("--out", required=True, help="folder for report.html, results.json, synthetic.csv, release/")
    add_declared(r, [("", COLUMN_PARAMS), ("which generator", GENERATOR_PARAMS),
                     ("an outside generator (after `smotext prepare`)",
                      {**OUTSIDE_PARAMS, "synthetic": dataclasses.replace(AUDIT_FILES_PARAMS["synthetic"], cli={})})])
    _release_args(r)
    r.set_defaults(func=cmd_release, needs_models=True, default_strategy="all")

    d = sub.add_parser("demo", help="`smotext release` on the shipped demo corpus (4,400 fake patient-portal messages, "
                                    "200 synthetic texts by default); --path prints where the corpus is")
    d.add_argument("--out", default="smotext-demo", help="folder for the run (default: smotext-demo)")
    d.add_argument("--path", action="store_true", help="print the demo corpus's path and exit")
    _release_args(d)
    d.set_defaults(func=cmd_demo, needs_models=True, default_strategy="all")

    gt = sub.add_parser("gate", help="apply a policy to an audit's results.json; writes the report; exit 0/1/2")
    add_declared(gt, [("", {**GATE_PARAMS, "policy": RELEASE_PARAMS["policy"]})])
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
