"""The plug-in contract, checked on every registered filter, audit plug-in and generator (built-in or installed):
parameters declared and validated, bad parameters refused with one line naming them, declared
metrics in their declared ranges, and the same output for the same seed."""

import math

import numpy as np
import pytest

from smotext.audit.registry import PLUGINS
from smotext.errors import SmotextError
from smotext.params import Param
from smotext.synth.filters import FILTERS, Candidates, FilterContext
from test_filters import REAL  # real-looking texts of two classes

CANDIDATES = [
    ("Could you refund the second charge on my card for the visit?", "billing"),
    ("the the the the the the", "billing"),
    ("My throat hurts and I have a temperature since Monday.", "symptom"),
    ("I was charged twice for my visit, please refund the duplicate payment.", "billing"),
    ("Why does my bill show a fee I never agreed to?", "symptom"),
]
NOT_A_VALUE = object()  # no check allows it


def contract(cls):
    """What every plug-in class must declare: a name, a description, and parameters as Params with help."""
    assert cls.name and cls.description.strip(), cls
    for name, p in cls.params.items():
        assert isinstance(p, Param) and p.help.strip(), (cls.name, name)
        if p.check is not None:
            assert p.check(p.default) is None, (cls.name, name, "the default must pass its own check")


def refuses_bad_parameters(cls):
    with pytest.raises(SmotextError, match="unknown parameter"):
        cls(no_such_parameter=1)
    for name, p in cls.params.items():
        if p.check is None:
            continue
        with pytest.raises(SmotextError) as caught:
            cls(**{name: NOT_A_VALUE})
        message = str(caught.value)
        assert name in message and "\n" not in message, (cls.name, message)


@pytest.mark.parametrize("name", FILTERS.names())
def test_every_filter_keeps_the_contract(name, encoder):
    cls = FILTERS.get(name)
    contract(cls)
    refuses_bad_parameters(cls)
    texts, labels = zip(*REAL)
    runs = []
    for _ in range(2):  # a fresh context and filter each time: the same input gives the same output
        ctx = FilterContext(list(texts), list(labels), encoder.embed(list(texts)))
        emb = encoder.embed([t for t, _ in CANDIDATES])
        cand = Candidates([t for t, _ in CANDIDATES], [c for _, c in CANDIDATES], emb, emb)
        runs.append(cls().apply(cand, ctx))
    a, b = runs
    assert a.keep.dtype == bool and len(a.keep) == len(CANDIDATES)
    np.testing.assert_array_equal(a.keep, b.keep)
    assert a.scores.keys() == b.scores.keys()
    for key in a.scores:
        np.testing.assert_array_equal(a.scores[key], b.scores[key])


@pytest.mark.parametrize("name", PLUGINS.names())
def test_every_audit_plugin_declares_and_validates_its_parameters(name):
    cls = PLUGINS.get(name)
    contract(cls)
    refuses_bad_parameters(cls)
    assert cls.kind in ("attack", "metric", "evidence")
    for metric, (safer, (low, high)) in cls.produces.items():
        assert safer in ("higher", "lower") and low < high, (name, metric)


@pytest.fixture(scope="module")
def audited_twice(encoder):
    """Every plug-in run twice with one seed on a small labelled set (the shipped bridge's manifest)."""
    from conftest import default_bridge_manifest, labelled_rows
    from smotext.audit.auditor import Auditor
    from smotext.synth.corpus import Corpus

    rows = labelled_rows(seed=1)
    parts = [rows[i * 60:(i + 1) * 60] for i in range(4)]
    sets = [Corpus([t for t, _ in p], [c for _, c in p], True, n, n) for p, n in zip(parts, ("m", "h", "s", "t"))]
    results = []
    for _ in range(2):
        auditor = Auditor(encoder=encoder, seed=3, n_boot=50, cache=False, plugin_params={"pii": {"reference_texts": 0}})
        results.append(auditor.run(*sets[:3], test=sets[3], generation=default_bridge_manifest()))
    return results


@pytest.mark.parametrize("name", PLUGINS.names())
def test_every_audit_plugin_gives_the_same_metrics_for_the_same_seed_within_their_ranges(name, audited_twice):
    a, b = audited_twice
    entry = a.plugins[name]
    cls = PLUGINS.get(name)
    if entry["status"] == "skipped":  # only for a need it declares
        assert cls.needs_canaries or cls.needs_generation or cls.needs_labels, entry
        return
    assert entry["status"] == "ok", entry
    html, summary = a._repr_html_(), a.summary()  # a notebook and a terminal show every metric
    assert all(f"<td>{m}</td>" in html and m in summary for m in entry["metrics"])
    for metric in entry["metrics"]:
        x, y = a.metrics[metric], b.metrics[metric]
        assert (x.value == y.value or (math.isnan(x.value) and math.isnan(y.value))) and x.ci == y.ci, metric
        low, high = cls.produces[metric][1]
        assert low <= x.value <= high, (metric, x.value)


# SMOTExT's own generators run through test_smotext and the release tests (they load the bridge);
# the contract's behaviour check runs every other generator here.
HEAVY_GENERATORS = ("smotext", "smotext-dp")


@pytest.mark.parametrize("name", __import__("smotext.synth.generators", fromlist=["GENERATORS"]).GENERATORS.names())
def test_every_generator_keeps_the_contract(name, lm):
    from smotext.synth.generators import GENERATORS

    cls = GENERATORS.get(name)
    contract(cls)
    refuses_bad_parameters(cls)
    if name in HEAVY_GENERATORS:
        return
    texts = [t for t, _ in CANDIDATES if len(t.split()) > 3]
    labels = [c for t, c in CANDIDATES if len(t.split()) > 3]
    extra = {"lm": lm} if "lm" in cls.params else {}
    runs = [cls(**extra).fit_resample(texts, labels) for _ in range(2)]
    out_texts, out_labels = runs[0]
    assert runs[0] == runs[1], "the same seed must give the same output"
    assert len(out_texts) == len(out_labels) and all(isinstance(t, str) for t in out_texts)
    assert set(out_labels) <= set(labels)
    made = cls(**extra)
    made.fit_resample(texts, labels)
    claim = made.claim()
    assert claim["mode"] in ("dp", "non-dp") and (claim["mode"] != "dp" or claim["epsilon"] > 0)
    if made.parents_ is not None:  # parents, where a generator says them, are rows of its input
        assert len(made.parents_) == len(out_texts)
        assert all(0 <= i < len(texts) for ps in made.parents_ for i in ps)
    if "random_state" in cls.params:
        other = cls(**extra, random_state=1).fit_resample(texts, labels)
        assert other != runs[0], "another seed must change the output"
