"""The package's shape: one namespace, a light import, the estimator contract, declared parameters,
one plug-in contract with entry points, policies by name, and the README's Python section."""

import json
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

import smotext
from smotext.errors import SmotextError
from smotext.synth.params import DEFAULT_ADAPTER, GENERATION_PARAMS, single_decoding

REPO = Path(__file__).parent.parent
HEAVY = ("torch", "transformers", "sentence_transformers", "opacus")


def run_python(code: str, cwd: Path) -> subprocess.CompletedProcess:
    """Run ``code`` in a fresh interpreter outside the repo (so only installed names import)."""
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code)], cwd=cwd, capture_output=True, text=True,
                          timeout=300, env={"PATH": "/usr/bin:/bin", "HF_HUB_OFFLINE": "1", "HOME": str(Path.home())})


# ---------------------------------------------------------------- namespace and import weight

def test_only_smotext_is_importable_and_it_loads_no_model_library(tmp_path):
    from smotext.outputs import write_marker

    described = lambda name, n: {"path": f"{name}.csv", "sha256": "0" * 64, "texts": n, "labelled": True}
    inputs = {"members": described("members", 30), "holdout": described("holdout", 30),
              "synthetic": described("synthetic", 12), "test": None,
              "evaluated": {"members": 30, "nonmembers": 30, "test": 10}}
    run = {"seed": 0, "bootstrap": 10, "encoder": {"name": "all-MiniLM-L6-v2", "sha256": "0" * 64},
           "plugins_available": [], "seconds": {"embed": 0.5, "total": 1.0}}
    results = {"format": "smotext-audit/1", "inputs": inputs, "run": run, "plugins": {},
               "metrics": {"decoder_privacy.epsilon": {"value": 0.0, "safer": "lower", "description": "ε"}}}
    (tmp_path / "run1").mkdir()
    write_marker(tmp_path / "run1", "audit")  # an audit folder smotext made: the gate decides in it
    (tmp_path / "run1" / "results.json").write_text(json.dumps(results))
    proc = run_python(f"""
        import importlib.util, sys
        from smotext.cli import main
        assert importlib.util.find_spec("smotext.synth") is not None
        print("top-level:", [n for n in ("synth", "audit", "reports", "policies") if importlib.util.find_spec(n)])
        for argv in (["--help"], ["policies"], ["gate", "--results", "run1"], ["report", "--results", "run1"],
                     ["generate", "--help"], ["release", "--help"]):
            try:
                code = main(argv)
            except SystemExit as e:
                code = e.code
            print(argv[0], code)
        import smotext
        smotext.release, smotext.Gate, smotext.load_policy, smotext.read_corpus
        print("heavy:", sorted(m for m in sys.modules if m.split(".")[0] in {HEAVY!r}))
    """, tmp_path)
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout
    assert "top-level: []" in out  # no generic top-level import names
    assert "heavy: []" in out, out
    # the gate ran for real: the default policy by name, a BLOCK on its missing metrics, a report written
    assert "gate 1" in out and "report 0" in out and "policies 0" in out
    assert (tmp_path / "run1" / "report.html").exists()
    gated = json.loads((tmp_path / "run1" / "results.json").read_text())
    assert gated["policy"]["name"] == "default" and len(gated["policy"]["sha256"]) == 64


def test_no_module_imports_the_old_top_level_names():
    """From the repo root `synth` would still import (pytest puts the root on sys.path for recipes/):
    a module that did so would load a second copy of the package beside smotext.synth."""
    old = re.compile(r"^\s*(from|import)\s+(synth|audit|reports|policies)(\.|\s|$)", re.M)
    offenders = [str(p.relative_to(REPO)) for folder in ("smotext", "synth", "audit", "reports", "policies", "recipes",
                                                         "benchmarks", "tests")
                 for p in (REPO / folder).rglob("*.py") if old.search(p.read_text(encoding="utf-8"))]
    assert offenders == []


def test_front_door_names_resolve():
    from smotext.audit.auditor import Auditor
    from smotext.synth.smotext import SMOTExT

    assert smotext.SMOTExT is SMOTExT and smotext.Auditor is Auditor
    assert set(smotext.__all__) >= {"SMOTExT", "Auditor", "Gate", "load_policy", "generate", "release"}
    with pytest.raises(AttributeError):
        smotext.no_such_name


# ---------------------------------------------------------------- policies by name

def test_policies_by_name_and_by_path(tmp_path, capsys):
    from smotext.cli import main
    from smotext.reports.policy import load_policy, shipped_policies

    assert set(shipped_policies()) == {"default", "strict", "research"}
    strict = load_policy("strict")
    assert strict.name == "strict" and strict.source == "strict"
    assert load_policy(REPO / "policies" / "strict.yaml").sha256 == strict.sha256
    with pytest.raises(SmotextError, match="no shipped policy has that name.*shipped: default, research, strict"):
        load_policy("lenient")
    assert main(["policies"]) == 0
    out = capsys.readouterr().out
    for name in ("default", "strict", "research"):
        assert re.search(rf"^{name}: \S", out, re.M), out
    assert "Public release" in out  # the description, not only the name


# ---------------------------------------------------------------- the estimator

def test_sampler_follows_the_scikit_learn_estimator_contract():
    from sklearn.base import clone

    from smotext import SMOTExT

    s = SMOTExT(sampling_strategy=12, k_neighbors=3, random_state=4, filter_params={"fidelity": {"min_cosine": 0.2}})
    params = s.get_params()
    assert list(GENERATION_PARAMS) == list(SMOTExT.__init__.__code__.co_varnames[1:len(GENERATION_PARAMS) + 1])
    assert set(params) == set(GENERATION_PARAMS)
    assert {k: v for k, v in SMOTExT().get_params().items()} == {k: p.default for k, p in GENERATION_PARAMS.items()}
    twin = clone(s)
    assert twin is not s and twin.get_params() == params
    assert twin.set_params(k_neighbors=7) is twin and twin.k_neighbors == 7 and s.k_neighbors == 3
    with pytest.raises(ValueError, match="Invalid parameter"):
        twin.set_params(k_neigbors=2)


@pytest.mark.parametrize("bad, name", [({"k_neighbors": 0}, "k_neighbors"), ({"num_candidates": 1.5}, "num_candidates"),
                                       ({"oversample": 0.5}, "oversample"), ({"segment_tokens": 0}, "segment_tokens"),
                                       ({"progress": "yes"}, "progress"), ({"sampling_strategy": True}, "sampling_strategy")])
def test_bad_sampler_parameters_name_the_parameter_before_models_load(bad, name):
    from smotext import SMOTExT

    with pytest.raises(SmotextError) as e:
        SMOTExT(encoder="/nonexistent/encoder", **bad).fit_resample(["a b c"] * 10, ["x"] * 10)
    assert e.value.params[0] == name and name in str(e.value) and "--" not in str(e.value)


def test_refit_after_set_params_uses_the_new_models_and_settings(encoder, lm, tiny_bridge_dir):
    from smotext import SMOTExT
    from smotext.synth.smotext import default_bridge_path

    s = SMOTExT(encoder=encoder, lm=lm, bridge=str(tiny_bridge_dir), max_new_tokens=9).load_models()
    first = s.decoder_
    assert s.bridge_path_ == str(tiny_bridge_dir) and first.max_new_tokens == 9 and first.card.config.n_tokens == 2
    assert s.load_models().decoder_ is first  # nothing changed: nothing reloaded
    s.set_params(bridge=str(default_bridge_path())).load_models()
    assert s.bridge_path_ == str(default_bridge_path()) and s.decoder_.card.config.n_tokens == 8
    assert s.encoder_ is encoder and s.lm_ is lm
    s.set_params(max_new_tokens=5).load_models()
    assert s.decoder_.max_new_tokens == 5
    s.set_params(bridge=None).load_models()
    assert s.bridge_path_ == str(default_bridge_path())


# ---------------------------------------------------------------- one declaration for Python and the CLI

def test_cli_generation_flags_come_from_the_declarations():
    from smotext import SMOTExT
    from smotext.cli import build_parser, sampler_from_args
    from smotext.params import dest
    from smotext.synth.filters import FILTERS

    args = build_parser().parse_args(["generate", "c.csv", "--out", "s.csv"])
    for name, p in GENERATION_PARAMS.items():
        if p.flag and name not in ("encoder", "lm"):
            expected = p.default if p.cli_default is p.__class__.__dataclass_fields__["cli_default"].default else p.cli_default
            assert getattr(args, dest(p)) == (list(expected) if isinstance(expected, tuple) else expected), name
    sampler = sampler_from_args(args)
    defaults = SMOTExT().get_params()
    got = sampler.get_params()
    assert got["random_state"] == 0 and got["progress"] is True  # the CLI's seed and bars; the rest as in Python
    for name in set(defaults) - {"random_state", "progress", "filter_params", "filters"}:
        assert got[name] == defaults[name] or tuple(got[name]) == tuple(defaults[name]), name
    for fname, params in got["filter_params"].items():
        for pname, value in params.items():
            assert value == FILTERS.get(fname).params[pname].default
    flagged = {(f, p) for f, cls in FILTERS.classes().items() for p, decl in cls.params.items() if decl.flag}
    assert {(f, p) for f, ps in got["filter_params"].items() for p in ps} == flagged


# ---------------------------------------------------------------- one plug-in contract

def test_a_duplicate_plugin_name_is_an_error():
    from smotext.audit.registry import PLUGINS, Plugin
    from smotext.synth.filters import FILTERS, Filter

    for registry, base, taken in ((FILTERS, Filter, "dedupe"), (PLUGINS, Plugin, "pii")):
        impostor = type("Impostor", (base,), {"name": taken, "params": {}})
        with pytest.raises(SmotextError, match="registered twice"):
            registry.register(impostor)
        undeclared = type("Undeclared", (base,), {"name": "undeclared-" + taken, "params": {"x": 1}})
        with pytest.raises(SmotextError, match="not declared with Param"):
            registry.register(undeclared)


PLUGIN_MODULE = '''
import numpy as np
from smotext.params import Param, int_at_least
from smotext.synth.filters import Filter, FilterResult
from smotext.audit.registry import Metric, Plugin, PluginResult
from smotext.synth.generators import Generator


class Reverse(Generator):
    name = "reverse"
    description = "writes every text's words backwards"
    params = {"times": Param(1, "outputs per input", int_at_least(1))}

    def fit_resample(self, texts, labels):
        n = self.settings["times"]
        return [" ".join(t.split()[::-1]) for t in texts for _ in range(n)], [c for c in labels for _ in range(n)]


class ShortFilter(Filter):
    name = "short"
    description = "drops outputs with more than max_words words"
    params = {"max_words": Param(12, "most words", int_at_least(1))}

    def apply(self, cand, ctx):
        n = np.array([len(t.split()) for t in cand.texts])
        return FilterResult(n <= self.settings["max_words"], {"words": n.astype(float)})


class LengthPlugin(Plugin):
    name = "mean_length"
    description = "mean words per synthetic text"
    params = {"scale": Param(1.0, "multiplier")}
    produces = {"mean_length.words": ("lower", (0.0, float("inf")))}

    def run(self, ctx):
        words = float(np.mean([len(t.split()) for t in ctx.synthetic.texts])) * self.settings["scale"]
        return PluginResult({"mean_length.words": Metric(words, "lower", "mean words")})
'''


def _fake_distribution(tmp_path, entry_points: str) -> Path:
    """An installed-looking distribution on a path entry: a module and a dist-info with entry points."""
    site = tmp_path / "site"
    site.mkdir(exist_ok=True)
    (site / "smotext_fake_plugins.py").write_text(PLUGIN_MODULE)
    info = site / "smotext_fake_plugins-0.1.dist-info"
    info.mkdir(exist_ok=True)
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: smotext-fake-plugins\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text(entry_points)
    return site


def test_third_party_plugins_join_through_entry_points(tmp_path, monkeypatch, encoder, texts):
    from smotext.audit.auditor import Auditor
    from smotext.audit.registry import PLUGINS
    from smotext.synth.corpus import Corpus
    from smotext.synth.filters import FILTERS, Candidates, FilterChain, FilterContext

    site = _fake_distribution(tmp_path, "[smotext.filters]\nshort = smotext_fake_plugins:ShortFilter\n\n"
                                        "[smotext.audit_plugins]\nmean_length = smotext_fake_plugins:LengthPlugin\n\n"
                                        "[smotext.generators]\nreverse = smotext_fake_plugins:Reverse\n")
    monkeypatch.syspath_prepend(str(site))
    from smotext.synth.generators import GENERATORS, as_generator

    for registry in (FILTERS, PLUGINS, GENERATORS):
        monkeypatch.setattr(registry, "_classes", dict(registry._classes))  # leave the real registries as they were
        registry.load_entry_points()
    assert "short" in FILTERS.names() and "mean_length" in PLUGINS.names() and "reverse" in GENERATORS.names()
    made = as_generator("reverse", times=2).fit_resample(["a b c"], ["x"])
    assert made == (["c b a", "c b a"], ["x", "x"])
    with pytest.raises(SmotextError, match="times must be an int >= 1"):
        as_generator("reverse", times=0)

    chain = FilterChain.build(["short"], {"short": {"max_words": 8}})
    emb = encoder.embed(texts)
    kept, scores, _ = chain.run(Candidates(texts, ["a"] * len(texts), emb, emb), FilterContext(texts, ["a"] * len(texts), emb))
    assert kept.tolist() == [len(t.split()) <= 8 for t in texts] and 0 < kept.sum() < len(texts)
    with pytest.raises(SmotextError, match="max_words must be an int >= 1"):
        FilterChain.build(["short"], {"short": {"max_words": 0}})

    c = lambda rows, name: Corpus([texts[i] for i in rows], ["a"] * len(rows), False, name, name)
    result = Auditor(["mean_length"], plugin_params={"mean_length": {"scale": 2.0}}, encoder=encoder).run(
        c(range(0, 3), "m"), c(range(3, 6), "h"), c(range(6, 8), "s"))
    assert result.metrics["mean_length.words"].value == pytest.approx(2.0 * sum(len(texts[i].split()) for i in (6, 7)) / 2)


def test_a_broken_entry_point_fails_loudly(tmp_path, monkeypatch):
    from smotext.synth.filters import FILTERS

    site = _fake_distribution(tmp_path, "[smotext.filters]\nmissing = smotext_fake_plugins:NoSuchFilter\n")
    monkeypatch.syspath_prepend(str(site))
    monkeypatch.setattr(FILTERS, "_classes", dict(FILTERS._classes))
    with pytest.raises(SmotextError, match="entry point 'missing'.*failed to load"):
        FILTERS.load_entry_points()


# ---------------------------------------------------------------- the whole job from Python

def test_release_from_python_decides_on_every_metric(tmp_path):
    """The whole release from Python on a small corpus, with a DP voice adapter trained on the members
    first: a verdict from real numbers, never a missing metric; the adapted bridge kept in bridge/
    without the checkpoint that holds its DP secret, and its ε counted by the audit."""
    import csv

    import pandas as pd

    from smotext import SMOTExT, release
    from smotext.synth.demo_corpus import build
    from smotext.synth.models import weights_fingerprint
    from smotext.synth.train import VoiceAdaptation

    corpus = tmp_path / "small.csv"  # the demo corpus's 220-text form: quick, and too small to decide
    with open(corpus, "w", newline="", encoding="utf-8") as f:
        csv.writer(f).writerows([("text", "label"), *build(7)])
    secret = 918_273_645_546_372
    sampler = SMOTExT(sampling_strategy=10, max_new_tokens=24, random_state=0)
    # ε = 20 with 2 steps of 40: the smallest schedule whose signal clears the plan's bar on 110 members
    run = release(corpus, tmp_path / "run", policy="default", seed=0, sampler=sampler, n_boot=50,
                  voice=VoiceAdaptation(20.0, steps=2, batch_size=40), voice_secret=secret)
    assert run.verdict == "BLOCK" and run.exit_code == 1
    gate = run.results["gate"]
    # every rule decided, but the one that applies only to releases with canaries (none were planted)
    assert not gate["problems"] and all(o["status"] in ("pass", "fail", "undecided") or
                                        (o["status"] == "skipped" and o["rule"] == "dp-claim-survives-canaries")
                                        for o in gate["outcomes"]), gate
    # 10 synthetic texts can't show the near-copy rate is under 2 points: no evidence, no release
    assert "no-excess-near-copies" in gate["undecided"]
    assert run.results["metrics"]["generation_privacy.epsilon"]["value"] == "inf"  # non-DP: no formal guarantee
    assert run.results["policy"]["name"] == "default" and run.report.is_file() and run.synthetic.is_file()
    assert (run.private / "synthetic.provenance.jsonl").is_file()
    assert (run.release_dir is not None) == (run.out / "release").is_dir()
    # the voice adapter: trained on the members only, kept, counted, its secret nowhere in the run
    bridge = run.out / "bridge"
    card = json.loads((bridge / "bridge.json").read_text())
    assert card["config"]["adapter"] == DEFAULT_ADAPTER
    assert card["training"]["data"]["texts"] == len(pd.read_csv(run.private / "members.csv"))
    dp = card["training"]["dp"]
    assert dp["used"] and 0 < dp["epsilon"] <= 20.0 + 1e-6 and dp["steps"] == 2
    assert not (bridge / "checkpoint").exists()
    assert not any(str(secret) in p.read_text(errors="ignore") for p in run.out.rglob("*") if p.is_file())
    model = run.results["generation"]["models"]["bridge"]
    assert model["path"] == str(bridge) and model["sha256"] == weights_fingerprint(bridge / "bridge.safetensors")
    decoding = run.results["generation"]["decoding"]
    assert (decoding["temperature"], decoding["top_p"]) == single_decoding(DEFAULT_ADAPTER)  # the adapter's own
    # the adapter's ε plus the shipped bridge's 0 (it saw no real records)
    assert run.results["metrics"]["decoder_privacy.epsilon"]["value"] == pytest.approx(dp["epsilon"])
    assert "decoder-trained-with-dp" in [o["rule"] for o in gate["outcomes"] if o["status"] == "fail"]  # ε 20 > 8
    assert sampler.bridge is None  # the caller's sampler keeps its own bridge setting
    assert not list(tmp_path.glob(".run.*"))  # nothing half-made left beside the run


def _guide_python() -> str:
    guide = (REPO / "docs" / "python.md").read_text(encoding="utf-8")
    blocks = re.findall(r"```python\n(.*?)```", guide, re.S)
    assert blocks, "docs/python.md has no python block"
    return blocks[0]  # generate -> audit -> gate (the release examples after it name the user's own file)


def test_the_guides_python_example_runs_as_written(tmp_path, monkeypatch, capsys):
    """generate -> audit -> gate exactly as docs/python.md shows it (the README's example: tests/test_docs.py)."""
    monkeypatch.chdir(tmp_path)
    namespace: dict = {}
    exec(compile(_guide_python(), "docs/python.md", "exec"), namespace)
    decision = namespace["decision"]
    assert decision.verdict in ("RELEASE", "BLOCK")
    assert not any(o.status == "missing" for o in decision.outcomes) and not decision.problems
    assert len(namespace["sampler"].synthetic_) >= 2
    assert decision.verdict in capsys.readouterr().out
