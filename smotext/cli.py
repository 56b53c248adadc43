"""The `smotext` command, one sub-command per stage. Exit codes: 0 done (or RELEASE), 1 BLOCK, 2 bad input or error."""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import time
from pathlib import Path

from synth.decoder import SEGMENT_TOKENS
from synth.errors import SmotextError

EXIT_OK, EXIT_ERROR = 0, 2


def _quiet_libraries() -> None:
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    import transformers

    transformers.logging.set_verbosity_error()
    transformers.logging.disable_progress_bar()  # ours are enough; theirs would show on every cached load


def _versions() -> dict:
    from importlib.metadata import PackageNotFoundError, version

    out = {"python": sys.version.split()[0]}
    for pkg in ("smotext", "torch", "transformers", "sentence-transformers", "numpy", "scikit-learn"):
        try:
            out[pkg] = version(pkg)
        except PackageNotFoundError:
            out[pkg] = None
    return out


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
    return args.strategy or "auto"


def sampler_from_args(args):
    """The SMOTExT sampler the generation options describe (shared by generate and release)."""
    from synth.filters import DEFAULT_ORDER
    from synth.smotext import SMOTExT

    enabled = [f for f in (args.filters.split(",") if args.filters else DEFAULT_ORDER) if f and f not in args.no_filter]
    params = {
        "fidelity": {"min_cosine": args.min_fidelity},
        "privacy": {"max_cosine": args.max_real_cosine, "ngram": args.ngram},
        "dedupe": {"max_cosine": args.dedupe_cosine},
        "label": {"min_probability": args.min_label_probability},
    }
    return SMOTExT(
        sampling_strategy=_strategy(args), k_neighbors=args.k_neighbors, kind=args.kind, n_parents=args.n_parents,
        lambda_range=tuple(args.lambda_range), lambda_distribution=args.lambda_distribution, beta=args.beta,
        dirichlet_alpha=args.dirichlet_alpha, random_state=args.seed, encoder=args.encoder, lm=args.lm,
        bridge=args.bridge, filters=enabled, filter_params={k: v for k, v in params.items() if k in enabled},
        num_candidates=args.num_candidates, segment_tokens=args.segment_tokens or None,
        max_new_tokens=args.max_new_tokens, batch_size=args.batch_size, max_rounds=args.max_rounds, progress=not args.quiet,
    )


def generation_manifest(sampler, corpus, seed, outputs: dict, seconds: float) -> dict:
    """What a generation run did, for the manifest file and the report's provenance."""
    report, card = sampler.report_, sampler.decoder_.card
    return {
        "smotext": "generate",
        "seed": seed,
        "parameters": {k: v for k, v in sampler.__dict__.items() if not k.endswith("_") and k not in ("encoder", "lm", "bridge")},
        "corpus": {"path": corpus.source, "sha256": corpus.sha256, "texts": len(corpus), "labelled": corpus.labelled,
                   "per_class": {c: corpus.labels.count(c) for c in sorted(set(corpus.labels))}},
        "models": {
            "encoder": {"name": sampler.encoder_.name, "path": str(sampler.encoder_.path), "sha256": sampler.encoder_.fingerprint},
            "lm": {"name": sampler.lm_.name, "path": sampler.lm_.path, "sha256": sampler.lm_.fingerprint},
            "bridge": {"path": sampler.bridge_path_, "sha256": sampler.bridge_sha256_, "steps": card.training.get("steps"),
                       "n_tokens": card.config.n_tokens, "dp": card.training.get("dp", {"used": False}),
                       # what the decoder_privacy audit needs: which texts the bridge saw, and how
                       "training": {k: card.training.get(k) for k in ("data", "dp", "init") if k in card.training}},
        },
        "requested": report.requested, "made": report.made, "shortfall": report.shortfall,
        "rounds": report.rounds, "candidates_decoded": report.candidates_decoded,
        "filters": report.filters, "vectors_lost_by_filter": report.dropped_by,
        "outputs": outputs,
        "seconds": {**{k: round(v, 2) for k, v in report.seconds.items()}, "total": round(seconds, 2)},
        "versions": _versions(),
    }


def write_generation(sampler, corpus, args, out: Path, provenance: Path, manifest: Path, fmt: str | None, seconds: float) -> dict:
    from synth.corpus import write_json, write_table

    synthetic = sampler.synthetic_ if corpus.labelled else sampler.synthetic_[["text"]]
    write_table(synthetic, out, fmt)
    write_table(sampler.provenance_, provenance, "jsonl")
    data = generation_manifest(sampler, corpus, args.seed, {"synthetic": str(out), "provenance": str(provenance)}, seconds)
    write_json(data, manifest)
    return data


def cmd_generate(args) -> int:
    from synth.corpus import format_of, read_corpus

    out = Path(args.out)
    format_of(out, args.format)  # fail on a bad extension before any model loads
    provenance = Path(args.provenance) if args.provenance else out.parent / f"{out.stem}.provenance.jsonl"
    manifest = Path(args.manifest) if args.manifest else out.parent / f"{out.stem}.manifest.json"
    if len({out.resolve(), provenance.resolve(), manifest.resolve()}) < 3:
        raise SmotextError("--out, --provenance and --manifest must be three different files")
    corpus = read_corpus(args.corpus, args.text_col, args.label_col, require_label=args.label_col_given)
    sampler = sampler_from_args(args)
    t0 = time.perf_counter()
    sampler.fit_resample(corpus.texts, corpus.labels if corpus.labelled else None)
    write_generation(sampler, corpus, args, out, provenance, manifest, args.format, time.perf_counter() - t0)
    made = sum(sampler.report_.made.values())
    print(f"wrote {made} synthetic texts to {out} (provenance: {provenance}, manifest: {manifest})")
    if msg := sampler.report_.shortfall_message():
        print(f"smotext: warning: {msg}", file=sys.stderr)
    return EXIT_OK


# ---------------------------------------------------------------- fit-decoder

SENSITIVE_NO_DP_WARNING = """\
smotext: ******************************************************************************
smotext: WARNING: training a bridge on texts marked SENSITIVE without differential privacy.
smotext: The bridge can memorise them and write them back out in "synthetic" text. Its card
smotext: records no DP, and the default release policy blocks anything it generates.
smotext: Use --dp --target-epsilon E to train with DP-SGD, or --public if these texts are public.
smotext: ******************************************************************************"""


def cmd_fit_decoder(args) -> int:
    from synth.bridge import load_bridge
    from synth.corpus import read_corpus
    from synth.dp import DPConfig
    from synth.encoder import Encoder
    from synth.models import load_lm, weights_fingerprint
    from synth.smotext import default_bridge_path
    from synth.train import BridgeTrainer, TrainConfig

    if args.dp != (args.target_epsilon is not None):
        raise SmotextError("--dp and --target-epsilon go together: --dp --target-epsilon E trains with DP-SGD")
    if not args.dp and (args.delta is not None or args.max_grad_norm is not None):
        raise SmotextError("--delta and --max-grad-norm only apply with --dp")
    dp = DPConfig(args.target_epsilon, args.delta, args.max_grad_norm or 1.0, args.accountant) if args.dp else None
    init = init_sha = None
    if args.init:
        init_path = default_bridge_path() if args.init == "default" else Path(args.init)
        init = load_bridge(init_path, device="cpu")
        init_sha = weights_fingerprint(init_path / "bridge.safetensors")
    cfg = TrainConfig(
        steps=args.steps, batch_size=args.batch_size, lr=args.lr, warmup_steps=args.warmup_steps, n_tokens=args.soft_tokens,
        hidden=args.hidden, max_target_tokens=args.max_target_tokens, noise_std=args.noise_std, seed=args.seed,
        checkpoint_every=args.checkpoint_every, dp=dp, init=init_sha or "", lora_rank=args.lora_rank,
    )
    if init is not None:  # an adapted bridge keeps the shape it was trained with
        cfg.n_tokens, cfg.hidden = init[1].config.n_tokens, init[1].config.hidden
        cfg.lora_rank = args.lora_rank or init[1].config.lora_rank
    cfg.check()
    corpus = read_corpus(args.corpus, args.text_col, label_col=None)
    if not args.public and not args.dp:
        print(SENSITIVE_NO_DP_WARNING, file=sys.stderr)
    encoder = Encoder(args.encoder)
    lm = load_lm(args.lm)
    print(f"embedding {len(corpus)} training texts", file=sys.stderr)
    emb = encoder.embed(corpus.texts, progress=not args.quiet)
    data = {"path": corpus.source, "sha256": corpus.sha256, "texts": len(corpus), "description": args.description,
            "sensitive": not args.public}
    init_description = {"bridge": str(args.init), "sha256": init_sha, "card_training": {
        k: init[1].training.get(k) for k in ("steps", "data", "dp", "init")}} if init else None
    trainer = BridgeTrainer(lm, encoder.name, encoder.fingerprint, emb, corpus.texts, cfg, data, instruction=args.instruction,
                            init=init, init_description=init_description)
    if trainer.dp_plan is not None:
        plan = trainer.dp_plan
        print(f"DP-SGD: ε ≤ {plan.target_epsilon:g} at δ = {plan.delta:.3g} ({plan.accountant} accountant): noise multiplier "
              f"{plan.noise_multiplier:.4g}, clipping norm {plan.max_grad_norm:g}, Poisson sample rate {plan.sample_rate:.4g}, "
              f"{plan.planned_steps} steps", file=sys.stderr)

    def stop(signum, frame):  # SIGTERM (a scheduler, `kill`) checkpoints like Ctrl-C does
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, stop)
    if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:  # started in the background by a shell
        signal.signal(signal.SIGINT, signal.default_int_handler)
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

    from synth.train import export_checkpoint

    card = export_checkpoint(args.folder, dtype=torch.float16 if args.half else torch.float32)
    note = card.training.get("stopped_early", f"{card.training['steps']} steps")
    print(f"bridge written to {args.folder} ({note}, loss {card.training['final_loss']:.3f})")
    return EXIT_OK


# ---------------------------------------------------------------- audit

def read_parent_rows(path) -> set[int]:
    """Corpus rows that served as parents, from a generation provenance file."""
    p = Path(path)
    if not p.is_file():
        raise SmotextError(f"{p}: no such provenance file")
    rows: set[int] = set()
    for n, line in enumerate(p.read_text(encoding="utf-8").splitlines(), 1):
        try:
            rows.update(int(i) for i in json.loads(line)["parents"])
        except (json.JSONDecodeError, KeyError, TypeError, ValueError):
            raise SmotextError(f"{p}: line {n} is not a provenance record with 'parents'") from None
    return rows


def read_manifest(synthetic: Path, manifest: str | None) -> dict | None:
    """The generation manifest: ``manifest`` if given (must be readable), else the one beside the synthetic file."""
    path = Path(manifest) if manifest else synthetic.parent / f"{synthetic.stem}.manifest.json"
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        if manifest:
            raise SmotextError(f"{path}: no such manifest") from None
        return None
    except (OSError, ValueError) as e:
        raise SmotextError(f"{path}: can't read the generation manifest: {e}") from None
    if not isinstance(data, dict) or data.get("smotext") != "generate":
        raise SmotextError(f"{path}: not a smotext generation manifest")
    return data


def _encoder_from_manifest(manifest: dict | None) -> str | None:
    """The encoder generation used, if the manifest names a folder that exists here."""
    try:
        path = manifest["models"]["encoder"]["path"]
    except (KeyError, TypeError):
        return None
    return path if Path(path).is_dir() else None


def cmd_audit(args) -> int:
    from audit.auditor import DEFAULT_PLUGINS, Auditor
    from synth.corpus import read_corpus

    plugins = [x for x in (args.attacks.split(",") if args.attacks else DEFAULT_PLUGINS) if x and x not in args.skip]
    read = lambda path: read_corpus(path, args.text_col, args.label_col, require_label=args.label_col_given)
    members, holdout, synthetic = read(args.members), read(args.holdout), read(args.synthetic)
    test = read(args.test) if args.test else None
    parents = read_parent_rows(args.provenance) if args.provenance else None
    manifest = read_manifest(Path(args.synthetic), args.manifest)
    encoder = args.encoder or _encoder_from_manifest(manifest)
    auditor = Auditor(plugins, encoder=encoder, seed=args.seed, n_boot=args.bootstrap,
                      test_fraction=args.test_fraction, progress=not args.quiet)
    result = auditor.run(members, holdout, synthetic, test=test, parent_rows=parents, generation=manifest)
    path = result.save(args.out)
    width = max(map(len, result.metrics), default=10)
    for name, m in sorted(result.metrics.items()):
        ci = f"  [{m.ci[0]:.3f}, {m.ci[1]:.3f}]" if m.ci else ""
        print(f"{name:<{width}}  {m.value:8.3f}{ci}  ({m.safer} is safer)")
    for name, entry in result.plugins.items():
        if entry["status"] != "ok":
            print(f"smotext: warning: audit plug-in {name} {entry['status']}: {entry['error']}", file=sys.stderr)
    print(f"results: {path}")
    return EXIT_ERROR if result.failed else EXIT_OK


# ---------------------------------------------------------------- release, gate, report

def cmd_release(args) -> int:
    from audit.auditor import Auditor
    from reports.policy import load_policy
    import pandas as pd

    from reports.release import apply_gate, publish, split_corpus
    from synth.corpus import Corpus, file_sha256, read_corpus, write_table

    policy, policy_sha = load_policy(args.policy)  # a bad policy stops everything before work starts
    corpus = read_corpus(args.corpus, args.text_col, args.label_col, require_label=args.label_col_given)
    members, holdout, test = split_corpus(corpus, args.holdout_fraction, args.test_fraction, args.seed)
    out, private = Path(args.out), Path(args.out) / "private"
    sampler = sampler_from_args(args)
    t0 = time.perf_counter()
    sampler.fit_resample(members.texts, members.labels if members.labelled else None)
    made = len(sampler.synthetic_)
    if made < 2:
        raise SmotextError(f"generation made {made} synthetic text(s), too few to audit: {sampler.report_.shortfall_message()}")
    for split in (members, holdout, test):  # the user's own data, kept for re-auditing; never released
        name = split.source.rsplit("#", 1)[1]
        write_table(pd.DataFrame({"text": split.texts, "label": split.labels}), private / f"{name}.csv")
    syn_path, manifest_path = out / "synthetic.csv", out / "synthetic.manifest.json"
    manifest = write_generation(sampler, members, args, syn_path, private / "synthetic.provenance.jsonl",
                                manifest_path, "csv", time.perf_counter() - t0)
    if msg := sampler.report_.shortfall_message():
        print(f"smotext: warning: {msg}", file=sys.stderr)
    synthetic = Corpus(sampler.synthetic_["text"].tolist(), sampler.synthetic_["label"].tolist(), corpus.labelled,
                       str(syn_path), file_sha256(syn_path))
    parents = {int(i) for ps in sampler.provenance_["parents"] for i in ps}
    audit = Auditor(encoder=sampler.encoder_, seed=args.seed, n_boot=args.bootstrap, progress=not args.quiet).run(
        members, holdout, synthetic, test=test, parent_rows=parents, generation=manifest)
    audit.save_scores(out)
    results = {**audit.to_json(), "generation": manifest, "versions": _versions()}
    decision = apply_gate(results, policy, args.policy, policy_sha)
    report = publish(results, out, decision, [syn_path, manifest_path])
    _print_decision(decision, report, out)
    return decision.exit_code


def _print_decision(decision, report: Path, out: Path) -> None:
    print(f"verdict: {decision.verdict}")
    for name in decision.deciding:
        print(f"  blocked by rule: {name}")
    for problem in decision.problems:
        print(f"  blocked: {problem}")
    for name in decision.warnings:
        print(f"  warning: rule {name} failed (severity warn)")
    print(f"report: {report}")
    if decision.verdict == "RELEASE":
        print(f"released files: {out / 'release'}")


def _read_results(path: str) -> tuple[dict, Path]:
    p = Path(path)
    p = p / "results.json" if p.is_dir() else p
    try:
        data = json.loads(p.read_text(encoding="utf-8"))
    except (OSError, ValueError) as e:
        raise SmotextError(f"{p}: can't read results: {e}") from None
    if not isinstance(data, dict) or data.get("format") != "smotext-audit/1":
        raise SmotextError(f"{p}: not a smotext results.json")
    return data, p


def cmd_gate(args) -> int:
    from reports.policy import load_policy
    from reports.release import apply_gate, publish

    policy, sha = load_policy(args.policy)
    results, path = _read_results(args.results)
    decision = apply_gate(results, policy, args.policy, sha)
    out = Path(args.out) if args.out else path.parent
    report = publish(results, out, decision, [Path(f) for f in args.release_file])
    _print_decision(decision, report, out)
    return decision.exit_code


def cmd_report(args) -> int:
    from reports.render import render_report

    results, path = _read_results(args.results)
    report = render_report(results, args.out or path.parent / "report.html")
    print(f"report: {report}")
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
        sp.add_argument("--n", type=int, help="total synthetic texts, split in proportion to the class sizes")
        sp.add_argument("--strategy", choices=("auto", "minority", "all", "not majority"),
                        help="auto: balance classes up to the majority (default); minority; all: one per real text")
        sp.add_argument("--counts", help="JSON object of per-class counts, e.g. '{\"urgent\": 50}'")
        sp.add_argument("--k-neighbors", type=int, default=5)
        sp.add_argument("--kind", choices=("regular", "borderline", "adasyn"), default="regular")
        sp.add_argument("--n-parents", type=int, default=2, help="2 = pairwise λ mixing; more = Dirichlet mixing")
        sp.add_argument("--lambda-range", type=float, nargs=2, default=(0.2, 0.8), metavar=("LOW", "HIGH"))
        sp.add_argument("--lambda-distribution", choices=("uniform", "beta"), default="uniform")
        sp.add_argument("--beta", type=float, default=2.0, help="Beta(a, a) shape for --lambda-distribution beta")
        sp.add_argument("--dirichlet-alpha", type=float, default=1.0)
        sp.add_argument("--seed", type=int, default=0)
        sp.add_argument("--bridge", default=None, help="bridge folder from fit-decoder (default: the shipped bridge)")
        sp.add_argument("--filters", default=None, help="comma-separated filters to run (default: degenerate,fidelity,label,privacy,dedupe)")
        sp.add_argument("--no-filter", action="append", default=[], metavar="NAME", help="switch one filter off (repeatable)")
        sp.add_argument("--min-fidelity", type=float, default=0.3, help="fidelity: least cosine of output to its target vector")
        sp.add_argument("--min-label-probability", type=float, default=0.0, help="label: least probability of the intended class")
        sp.add_argument("--max-real-cosine", type=float, default=0.9, help="privacy: most cosine to any real record")
        sp.add_argument("--ngram", type=int, default=8, help="privacy: drop outputs sharing this many consecutive words with a real record")
        sp.add_argument("--dedupe-cosine", type=float, default=0.98, help="dedupe: most cosine between two outputs")
        sp.add_argument("--num-candidates", type=int, default=1, help="best-of-n: draw n per vector, keep the closest that passes the filters (1 = greedy)")
        sp.add_argument("--segment-tokens", type=int, default=SEGMENT_TOKENS,
                        help="with n > 1: sample n continuations this many tokens at a time and go on from the closest "
                             "(0 = n whole samples)")
        sp.add_argument("--max-new-tokens", type=int, default=40)
        sp.add_argument("--batch-size", type=int, default=32)
        sp.add_argument("--max-rounds", type=int, default=5, help="rounds of drawing more when filters drop outputs")

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
    g.set_defaults(func=cmd_generate)

    f = sub.add_parser("fit-decoder", help="train a bridge (autoencoding) on a corpus; resumes from its checkpoint")
    corpus_args(f, label=False)
    f.add_argument("--out", required=True, help="folder for bridge.safetensors, bridge.json and the checkpoint")
    f.add_argument("--steps", type=int, default=1000)
    f.add_argument("--batch-size", type=int, default=16)
    f.add_argument("--lr", type=float, default=1e-3)
    f.add_argument("--warmup-steps", type=int, default=50)
    f.add_argument("--soft-tokens", type=int, default=8, help="K, soft tokens per vector")
    f.add_argument("--hidden", type=int, default=1024, help="width of the bridge's hidden layer")
    f.add_argument("--max-target-tokens", type=int, default=48)
    f.add_argument("--noise-std", type=float, default=0.0, help="noise on input vectors during training")
    f.add_argument("--instruction", default=None, help="prompt text before the soft tokens")
    f.add_argument("--lora-rank", type=int, default=0,
                   help="also train rank-R LoRA updates of the LM's attention q/v layers, kept in the bridge (0: none)")
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
    f.set_defaults(func=cmd_fit_decoder)

    e = sub.add_parser("export-bridge", help="write a usable bridge from a fit-decoder folder's latest checkpoint")
    e.add_argument("folder", help="the --out folder of smotext fit-decoder")
    e.add_argument("--half", action="store_true", help="store weights as float16 (half the size)")
    e.set_defaults(func=cmd_export_bridge)

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
    a.add_argument("--seed", type=int, default=0)
    a.add_argument("--bootstrap", type=int, default=200, help="bootstrap resamples for confidence intervals")
    a.add_argument("--test-fraction", type=float, default=0.3)
    a.add_argument("--encoder", default=None, help="the encoder generation used (default: the one in the synthetic file's manifest, else all-MiniLM-L6-v2)")
    a.add_argument("--quiet", action="store_true")
    a.set_defaults(func=cmd_audit)

    r = sub.add_parser("release", help="split, generate, audit, gate and report in one go; exit 0 RELEASE, 1 BLOCK, 2 error")
    r.add_argument("--corpus", required=True, help="the real labelled corpus (CSV, JSONL or Parquet)")
    r.add_argument("--policy", required=True, help="policy YAML, e.g. policies/default.yaml")
    r.add_argument("--out", required=True, help="folder for report.html, results.json, synthetic.csv, release/")
    column_args(r)
    r.add_argument("--holdout-fraction", type=float, default=0.3, help="share of the corpus kept from generation as non-members")
    r.add_argument("--test-fraction", type=float, default=0.2, help="share of the corpus kept as the utility test split")
    r.add_argument("--bootstrap", type=int, default=200)
    generation_args(r)
    model_args(r)
    r.set_defaults(func=cmd_release)

    gt = sub.add_parser("gate", help="apply a policy to an audit's results.json; writes the report; exit 0/1/2")
    gt.add_argument("--results", required=True, help="results.json (or its folder) from smotext audit")
    gt.add_argument("--policy", required=True)
    gt.add_argument("--out", help="folder for results.json, report.html and release/ (default: the results' folder)")
    gt.add_argument("--release-file", action="append", default=[], metavar="FILE", help="file to copy to release/ on RELEASE")
    gt.set_defaults(func=cmd_gate)

    rp = sub.add_parser("report", help="re-render report.html from a results.json")
    rp.add_argument("--results", required=True, help="results.json or its folder")
    rp.add_argument("--out", help="report file (default: report.html beside the results)")
    rp.set_defaults(func=cmd_report)
    return p


def main(argv=None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if hasattr(args, "label_col"):
        args.label_col_given = args.label_col is not None
        args.label_col = args.label_col or "label"
    try:
        _quiet_libraries()
        return args.func(args)
    except SmotextError as e:
        print(f"smotext: error: {e}", file=sys.stderr)
        return EXIT_ERROR
    except KeyboardInterrupt:
        print("smotext: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
