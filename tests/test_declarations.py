"""One parameter system: every flag comes from a declaration, every configuration class takes its
defaults and checks from one, and the CLI's commands are thin adapters."""

import ast
import dataclasses
import inspect
from pathlib import Path

import pytest

from smotext.params import Param, int_at_least

ROOT = Path(__file__).resolve().parents[1]


def declarations():
    """(declaration dict, the commands whose --help must show a parameter added to it)."""
    from smotext.audit.auditor import AUDITOR_PARAMS
    from smotext.audit.plugins.pii import Pii
    from smotext.engine import ENGINE_PARAMS
    from smotext.pipeline import (AUDIT_FILES_PARAMS, FIT_DECODER_PARAMS, GATE_PARAMS, GENERATE_PARAMS, GENERATOR_PARAMS,
                                  OUTSIDE_PARAMS, PREPARE_PARAMS, RELEASE_PARAMS)
    from smotext.synth.budget import BUDGET_PARAMS
    from smotext.synth.dp import DPSGD_PARAMS
    from smotext.synth.filters import FILTERS
    from smotext.synth.params import COLUMN_PARAMS, GENERATION_PARAMS, TRAIN_PARAMS, VOICE_PARAMS
    from smotext.synth.pe_privacy import DP_GENERATION_PARAMS

    release = ("release", "demo")
    return {
        "generation": (GENERATION_PARAMS, ("generate", *release)),
        "columns": (COLUMN_PARAMS, ("generate", "audit", "release")),
        "budget": (BUDGET_PARAMS, ("generate", *release)),
        "dp generation": (DP_GENERATION_PARAMS, ("generate", *release)),
        "engine": (ENGINE_PARAMS, ("generate", "audit", *release)),
        "release": (RELEASE_PARAMS, release),
        "an outside generator": (OUTSIDE_PARAMS, ("audit", "release")),
        "which generator": (GENERATOR_PARAMS, ("release",)),
        "prepare": (PREPARE_PARAMS, ("prepare",)),
        "auditor": (AUDITOR_PARAMS, ("audit", *release)),
        "generate's files": (GENERATE_PARAMS, ("generate",)),
        "audit's files": (AUDIT_FILES_PARAMS, ("audit",)),
        "gate": (GATE_PARAMS, ("gate",)),
        "fit-decoder": (FIT_DECODER_PARAMS, ("fit-decoder",)),
        "bridge training": (TRAIN_PARAMS, ("fit-decoder",)),
        "voice adapter": (VOICE_PARAMS, ("fit-decoder",)),
        "DP-SGD": (DPSGD_PARAMS, ("fit-decoder",)),
        "a filter": (FILTERS.get("label").params, ("generate", *release)),
        "an audit plug-in": (Pii.params, ("audit", *release)),
    }


def help_of(command: str) -> str:
    from smotext.cli import build_parser

    parser = build_parser()
    sub = next(a for a in parser._actions if a.dest == "command").choices[command]
    return sub.format_help()


@pytest.mark.parametrize("which", list(declarations()))
def test_a_parameter_added_to_a_declaration_appears_in_its_commands_help(which, monkeypatch):
    params, commands = declarations()[which]
    monkeypatch.setitem(params, "zz_probe", Param(7, "a probe parameter", int_at_least(1), flag="--zz-probe"))
    from smotext import cli

    monkeypatch.setattr(cli, "_FLAGS", {})
    for command in commands:
        text = help_of(command)
        assert "--zz-probe" in text and "a probe parameter (default: 7)" in " ".join(text.split()), (which, command)
    assert cli.flags()["zz_probe"] == "--zz-probe"  # and library messages naming it speak in its flag


def test_flags_parse_to_the_declared_defaults():
    from smotext.cli import build_parser
    from smotext.params import given
    from smotext.synth.params import GENERATION_PARAMS

    args = build_parser().parse_args(["generate", "c.csv", "--out", "s.csv"])
    values = given(args, GENERATION_PARAMS)
    assert values["k_neighbors"] == GENERATION_PARAMS["k_neighbors"].default
    assert values["lambda_range"] == GENERATION_PARAMS["lambda_range"].default  # a tuple again
    assert values["random_state"] == 0  # the CLI's fixed seed (cli_default), where Python's default is unseeded
    args = build_parser().parse_args(["fit-decoder", "c.csv", "--out", "b", "--steps", "3", "--lr", "0.5"])
    assert (args.steps, args.lr, args.batch_size) == (3, 0.5, None)  # a shared flag: each class applies its default


def config_classes():
    from smotext.engine import ENGINE_PARAMS, Engine
    from smotext.synth.budget import BUDGET_PARAMS, PrivacyBudget
    from smotext.synth.dp import DPSGD_PARAMS, DPConfig
    from smotext.synth.params import TRAIN_PARAMS, VOICE_PARAMS
    from smotext.synth.pe_privacy import DP_GENERATION_PARAMS, DPGeneration
    from smotext.synth.train import TrainConfig, VoiceAdaptation

    return [(TrainConfig, TRAIN_PARAMS), (VoiceAdaptation, VOICE_PARAMS), (DPConfig, DPSGD_PARAMS),
            (DPGeneration, DP_GENERATION_PARAMS), (Engine, ENGINE_PARAMS), (PrivacyBudget, BUDGET_PARAMS)]


@pytest.mark.parametrize("cls, params", config_classes(), ids=lambda x: getattr(x, "__name__", ""))
def test_every_configuration_takes_its_defaults_and_checks_from_its_declaration(cls, params):
    fields = {f.name: f for f in dataclasses.fields(cls)}
    for name, p in params.items():
        if name in fields and fields[name].default is not dataclasses.MISSING:
            assert fields[name].default == p.default, (cls.__name__, name)
    required = [f.name for f in fields.values() if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING]
    bad = [n for n, p in params.items() if n in fields and p.check is not None and p.check("not a value") is not None][-1]
    values = {n: 1.0 for n in required}
    values[bad] = "not a value"
    from smotext.errors import SmotextError

    with pytest.raises(SmotextError, match=bad):
        cls(**values).check()


def test_auditor_and_sampler_defaults_are_their_declarations():
    from smotext.audit.auditor import AUDITOR_PARAMS, Auditor
    from smotext.synth.params import GENERATION_PARAMS
    from smotext.synth.smotext import SMOTExT

    for cls, params in ((Auditor, AUDITOR_PARAMS), (SMOTExT, GENERATION_PARAMS)):
        signature = inspect.signature(cls.__init__).parameters
        for name, p in params.items():
            assert signature[name].default == p.default, (cls.__name__, name)


def test_every_command_is_a_thin_adapter():
    tree = ast.parse((ROOT / "smotext" / "cli.py").read_text())
    long = {f.name: f.end_lineno - f.lineno + 1 for f in tree.body
            if isinstance(f, ast.FunctionDef) and f.name.startswith("cmd_") and f.end_lineno - f.lineno + 1 > 15}
    assert long == {}


def test_every_imported_distribution_is_declared():
    import tomllib

    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    declared = " ".join(project["dependencies"] + [d for ds in project.get("optional-dependencies", {}).values() for d in ds])
    imported = set()
    for folder in ("smotext", "synth", "audit", "reports"):
        for f in (ROOT / folder).rglob("*.py"):
            for node in ast.walk(ast.parse(f.read_text())):
                if isinstance(node, ast.Import):
                    imported |= {a.name.split(".")[0] for a in node.names}
                elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
                    imported.add(node.module.split(".")[0])
    import sys

    third_party = imported - set(sys.stdlib_module_names) - {"smotext"}
    distribution = {"sklearn": "scikit-learn", "yaml": "pyyaml", "presidio_analyzer": "presidio-analyzer",
                    "sentence_transformers": "sentence-transformers", "safetensors": "safetensors"}
    missing = sorted(m for m in third_party if distribution.get(m, m).lower() not in declared.lower())
    assert missing == []


def test_audit_plugin_flags_reach_their_plugin_and_defaults_stay_unset(tmp_path):
    from smotext.cli import audit_options_from_args, build_parser

    allow = tmp_path / "allow.txt"
    allow.write_text("# public figures\nAda Lovelace\n")
    base = ["audit", "--members", "m.csv", "--holdout", "h.csv", "--synthetic", "s.csv", "--out", "o"]
    args = build_parser().parse_args(base + ["--reconstruction-candidates", "2", "--pii-ignore-type", "URL",
                                             "--pii-allowlist", str(allow), "--canary-level", "0.9"])
    options = audit_options_from_args(args)
    assert options["plugin_params"] == {"reconstruction": {"candidates": 2}, "canary": {"level": 0.9},
                                        "pii": {"ignore_types": ("URL",), "allowlist": ("Ada Lovelace",)}}
    assert audit_options_from_args(build_parser().parse_args(base))["plugin_params"] is None  # the policy's excuses apply
