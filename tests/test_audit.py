"""The audit on real text: planted leaks move their metric far from the clean value; a clean set sits near chance.

Texts come from tests/data/lm_texts.jsonl (SmolLM2-written, diverse, with a coarse genre label):
members, holdout and a clean "synthetic" set are disjoint draws from the same distribution.
"""

import json
import random

import numpy as np
import pytest

from smotext.audit.auditor import AuditResult, Auditor
from smotext.cli import main
from smotext.synth.corpus import Corpus, write_table
from smotext.errors import SmotextError

from conftest import LM_TEXTS as DATA, default_bridge_manifest

N = 250  # members, holdout and clean synthetic of 250 each; the last 150 texts are the utility test split


def corpus(rows, name):
    return Corpus([t for t, _ in rows], [label for _, label in rows], True, name, name)


@pytest.fixture(scope="module")
def sets():
    rows = [(r["text"], r["label"]) for r in map(json.loads, DATA.read_text().splitlines())]
    random.Random(0).shuffle(rows)
    return rows[:N], rows[N : 2 * N], rows[2 * N : 3 * N], corpus(rows[3 * N :], "test")


class _Auditor:
    """The real Auditor, always given the fixed test split so every member is evaluated, and told the
    synthetic texts came from the shipped (public-data) bridge. No public PII reference unless
    ``reference``: it only excuses replayed values, and writing it is most of an audit's time here."""

    def __init__(self, encoder, test, reference: bool = False):
        pii = {} if reference else {"pii": {"reference_texts": 0}}
        self.auditor, self.test = Auditor(encoder=encoder, n_boot=100, seed=0, plugin_params=pii), test

    def run(self, members, holdout, synthetic):
        return self.auditor.run(members, holdout, synthetic, test=self.test, generation=default_bridge_manifest())


@pytest.fixture(scope="module")
def auditor(encoder, sets):
    return _Auditor(encoder, sets[3])


@pytest.fixture(scope="module")
def clean(auditor, sets):
    members, holdout, synthetic, _ = sets
    return auditor.run(corpus(members, "members"), corpus(holdout, "holdout"), corpus(synthetic, "clean"))


def copy_some(members, synthetic, share, seed, edit=None):
    """The clean synthetic set with ``share`` of its rows replaced by (optionally edited) member copies."""
    rng = random.Random(seed)
    k = int(share * len(synthetic))
    picks = rng.sample(range(len(members)), k)
    copies = [(edit(members[i][0], rng) if edit else members[i][0], members[i][1]) for i in picks]
    return copies + synthetic[k:]


def change_words(text, rng, n=2):
    w = text.split()
    for i in rng.sample(range(len(w)), min(n, len(w))):
        w[i] = rng.choice(["really", "quite", "also", "then"])
    return " ".join(w)


def value(result, name):
    return result.metrics[name].value


def test_clean_set_sits_near_chance(clean):
    assert not clean.failed, clean.failed
    for attack in ("mia_synthetic_embedding", "mia_synthetic_lexical", "mia_classifier_loss",
                   "mia_classifier_confidence", "mia_classifier_reference"):
        auc = value(clean, f"{attack}.auc")
        assert 0.45 <= auc <= 0.55, (attack, auc)  # seen: 0.474 to 0.522
        lo, hi = clean.metrics[f"{attack}.auc"].ci
        assert lo <= auc <= hi
    assert 0.42 <= value(clean, "reconstruction.dcr_share") <= 0.58
    lo, hi = clean.metrics["reconstruction.dcr_share"].ci
    assert lo <= value(clean, "reconstruction.dcr_share") <= hi and lo <= 0.5 <= hi
    assert value(clean, "reconstruction.near_verbatim.count") <= 2  # seen: 1 (the LM repeats itself now and then)
    assert value(clean, "pii.replay.values") == 0


def test_the_audit_embeds_at_the_precision_the_hardware_has_and_says_so(clean):
    from smotext.synth.models import native_bfloat16

    assert clean.run["encoder"]["precision"] == ("bfloat16" if native_bfloat16("cpu") else "float32")
    with pytest.raises(SmotextError, match="precision"):
        Auditor(precision="float16")


def test_verbatim_copies_are_caught(auditor, sets, clean):
    members, holdout, synthetic, _ = sets
    leaky = auditor.run(corpus(members, "members"), corpus(holdout, "holdout"),
                        corpus(copy_some(members, synthetic, 0.05, seed=1), "leaky"))
    # 12 of 250 members are copied: each is found (cosine 1) while no holdout text scores that high
    assert value(leaky, "mia_synthetic_embedding.tpr_at_fpr_0.01") >= 0.04
    assert value(clean, "mia_synthetic_embedding.tpr_at_fpr_0.01") <= 0.02
    assert value(leaky, "reconstruction.near_verbatim.count") >= 12
    assert value(leaky, "reconstruction.longest_span.max") >= 10
    heavy = auditor.run(corpus(members, "members"), corpus(holdout, "holdout"),
                        corpus(copy_some(members, synthetic, 0.5, seed=2), "heavy"))
    assert value(heavy, "mia_synthetic_embedding.tpr_at_fpr_0.01") >= 0.3
    assert value(heavy, "mia_synthetic_lexical.tpr_at_fpr_0.01") >= 0.3
    assert value(heavy, "reconstruction.dcr_share") >= 0.7
    # the synthetic-trained n-gram LM finds the copied members likelier than the holdout
    assert value(heavy, "mia_synthetic_ngram.auc") >= 0.7 > 0.58 >= value(clean, "mia_synthetic_ngram.auc") >= 0.42


def test_dcr_share_counts_members_against_the_holdout_median():
    from smotext.audit.stats import dcr_share

    holdout = np.array([0.2, 0.5, 0.9])  # median 0.5
    assert dcr_share(np.array([0.6, 0.7, 0.8, 0.1]), holdout) == 0.75
    assert dcr_share(np.array([0.5, 0.5]), holdout) == 0.5  # ties count half
    assert dcr_share(np.array([0.1, 0.3]), holdout) == 0.0


def test_synthetic_texts_crowded_in_one_spot_are_not_a_leak(auditor, sets, encoder):
    """One harmless text, repeated, that happens to sit nearer some member than any holdout text: counted
    per synthetic text that reads as DCR 1.0; counted per member (DESIGN.md) it is chance."""
    members, holdout, synthetic, _ = sets
    emb = lambda rows: encoder.embed([t for t, _ in rows])
    s, m, h = emb(synthetic), emb(members), emb(holdout)
    leaning = [i for i in range(len(s)) if (s[i] @ m.T).max() > (s[i] @ h.T).max() + 0.02]
    text = synthetic[leaning[0]][0]
    labels = sorted({label for _, label in members})
    crowd = [(text, labels[i % len(labels)]) for i in range(len(members))]
    res = auditor.run(corpus(members, "members"), corpus(holdout, "holdout"), corpus(crowd, "crowd"))
    assert 0.4 <= value(res, "reconstruction.dcr_share") <= 0.6


def test_near_copies_with_words_changed_are_caught(auditor, sets, clean):
    members, holdout, synthetic, _ = sets
    near = auditor.run(corpus(members, "members"), corpus(holdout, "holdout"),
                       corpus(copy_some(members, synthetic, 0.2, seed=3, edit=change_words), "near"))
    assert value(near, "reconstruction.near_verbatim.count") >= 40  # 50 planted
    assert value(near, "mia_synthetic_embedding.tpr_at_fpr_0.01") >= 0.15
    assert value(near, "reconstruction.dcr_share") >= value(clean, "reconstruction.dcr_share") + 0.1


def test_overfit_classifier_is_caught(auditor, sets, clean):
    members, holdout, _, _ = sets
    # "synthetic" = the members themselves: the synthetic-trained classifier is trained on the members
    overfit = auditor.run(corpus(members, "members"), corpus(holdout, "holdout"), corpus(members, "overfit"))
    for attack in ("mia_classifier_loss", "mia_classifier_reference"):
        assert value(overfit, f"{attack}.auc") >= value(clean, f"{attack}.auc") + 0.15, attack


def test_member_pii_replay_is_caught(encoder, sets):
    members, holdout, synthetic, test = sets
    auditor = _Auditor(encoder, test, reference=True)
    rng = random.Random(4)
    people = [(f"{f} {l}", f"{f.lower()}.{l.lower()}{rng.randint(100, 999)}@example.com")
              for f, l in zip(["Amelia", "Rafael", "Ingrid", "Tobias", "Leila", "Marco"], ["Quist", "Varga", "Holm", "Reyes", "Aziz", "Bianchi"])]
    members = [(f"{t} Contact {name} at {email}.", label) for (t, label), (name, email) in zip(members, people)] + members[len(people):]
    replay = [(f"Please write to {email} about the refund.", "x") for _, email in people]
    leaky = auditor.run(corpus(members, "members"), corpus(holdout, "holdout"), corpus(replay + synthetic[len(replay):], "pii"))
    assert value(leaky, "pii.replay.values") >= 6
    assert value(leaky, "pii.replay.records_rate") >= 6 / N
    details = leaky.plugins["pii"]["details"]
    assert details["entities_by_type"]["EMAIL_ADDRESS"] >= 6
    assert not any("@" in json.dumps(ex) for ex in details["replay_examples"])  # values stay out of results
    # the LM, asked for texts from the class names alone, does not write these people: still a leak
    assert details["reference"]["texts"] > 0 and details["excused"]["written_without_the_corpus"] == 0


def test_pii_excuses_ignore_named_types_and_allowlisted_values(encoder, sets):
    members, holdout, synthetic, test = sets
    people = [("Amelia Quist", "amelia.quist@example.com"), ("Rafael Varga", "rafael.varga@example.com")]
    members = [(f"{t} Contact {n} at {e}.", y) for (t, y), (n, e) in zip(members, people)] + members[2:]
    replay = [(f"Please write to {e} about the refund.", "x") for _, e in people]
    run = lambda **params: Auditor(["pii"], plugin_params={"pii": {"reference_texts": 0, **params}}, encoder=encoder).run(
        corpus(members, "members"), corpus(holdout, "holdout"), corpus(replay + synthetic[2:], "pii"), test=test)
    assert value(run(), "pii.replay.values") == 2
    allow = run(allowlist=["AMELIA.QUIST@example.com"])  # matched as words, case aside
    assert value(allow, "pii.replay.values") == 1 and allow.plugins["pii"]["details"]["excused"]["allowlisted"] == 1
    assert value(run(ignore_types=["EMAIL_ADDRESS"]), "pii.replay.values") == 0


def test_a_name_the_lm_writes_without_the_corpus_is_not_a_replay(encoder, lm, sets):
    from types import SimpleNamespace

    from smotext.audit.pii import get_scanner, value_tokens
    from smotext.audit.plugins.pii import identifying, public_reference, replay_values

    members, holdout, synthetic, test = sets
    topic = "one-sentence film news item that names a famous Hollywood actor"
    labels = sorted({y for _, y in synthetic})
    # what the audit's reference will hold: the same LM, prompts and seed, nothing from the corpus
    ref = public_reference(SimpleNamespace(synthetic=SimpleNamespace(labels=labels), seed=0, lm=lm), 16, topic)
    scanner = get_scanner()
    planted = lambda v: f"A film with {v} in it."
    # a value the reference holds that the scan also finds where it is planted below
    public = next(e.text for ents in scanner.scan(ref) for e in ents if identifying(e.type, e.text)
                  and value_tokens(e.text) in replay_values(scanner.scan([planted(e.text)])))
    members = [(f"{members[0][0]} I met {public} there.", members[0][1]),
               (f"{members[1][0]} Write to amelia.quist@example.com.", members[1][1])] + members[2:]
    syn = [(planted(public), synthetic[0][1]), ("Mail amelia.quist@example.com today.", synthetic[1][1])]
    r = Auditor(["pii"], plugin_params={"pii": {"reference_texts": 16, "topic": topic, "public_names": None}},
                encoder=encoder, lm=lm).run(
        corpus(members, "members"), corpus(holdout, "holdout"), corpus(syn + synthetic[2:], "pii"), test=test)
    details = r.plugins["pii"]["details"]
    assert details["excused"]["written_without_the_corpus"] == 1 and details["reference"]["texts"] == len(ref)
    assert value(r, "pii.replay.values") == 1  # the private email still counts


def test_realism_cannot_tell_a_clean_draw_from_real(clean):
    m = clean.metrics
    # members and the clean "synthetic" set are disjoint draws of the same texts: the judge is guessing
    assert abs(m["realism.detection_auc.tfidf"].value - 0.5) < 0.1
    assert abs(m["realism.detection_auc.embedding"].value - 0.5) < 0.1
    assert abs(m["realism.distinct_bigrams.ratio"].value - 1) < 0.1
    side = clean.plugins["realism"]["details"]["side_by_side"]
    # no real text in the results unless real examples are asked for
    assert side["real"] == [] and len(side["synthetic"]) == 10
    openings = clean.plugins["realism"]["details"]["common_openings"]
    assert openings["real"] == [] and len(openings["synthetic"]) == 5
    assert all("member_masked" not in p for p in clean.plugins["reconstruction"]["details"]["closest_pairs"])


PLANTED = {"name": "Ottoline Vandersnoot", "first name": "Brisbane Quell", "code word": "zanthoprax",
           "street": "Wrenfield Crescent", "email": "o.vandersnoot@wrenmail.org", "number": "4471 9023 5518"}


def test_planted_private_values_reach_no_public_output(encoder, sets):
    """Names, a code word, a street, an email and a number planted in members (and echoed in the
    synthetic set, so they are the closest pairs): with the default audit no real text at all reaches
    results.json; with real examples asked for, the masked texts carry none of the planted values."""
    members, holdout, synthetic, test = sets
    notes = [f"{PLANTED['name']} called about the {PLANTED['code word']} parcel.",
             f"Send it to 12 {PLANTED['street']}, attention {PLANTED['first name']}.",
             f"Reach me at {PLANTED['email']} or on {PLANTED['number']}."]
    planted = [(f"{t} {note}", label) for (t, label), note in zip(members[:3], notes)] + members[3:60]
    echo = planted[:3] + synthetic[3:60]  # copies: the reconstruction plug-in's closest pairs
    runs = {}
    for real_examples in (False, True):
        auditor = Auditor(["realism", "reconstruction"], encoder=encoder, seed=0, n_boot=20,
                          real_examples=real_examples)
        result = auditor.run(corpus(planted, "members"), corpus(holdout[:60], "holdout"), corpus(echo, "echo"), test=test)
        synthetic_texts = set(t for t, _ in echo)
        public = result.to_json()
        for plugin in public["plugins"].values():  # the synthetic texts themselves are public; drop them
            for pair in plugin.get("details", {}).get("closest_pairs", []):
                pair.pop("synthetic"), pair.pop("shared_span")
            side = plugin.get("details", {}).get("side_by_side")
            if side:
                side["synthetic"] = [t for t in side["synthetic"] if t not in synthetic_texts]
            if "common_openings" in plugin.get("details", {}):
                plugin["details"]["common_openings"]["synthetic"] = []
            if "nonwords" in plugin.get("details", {}):  # words of the synthetic texts, which echo members here
                plugin["details"]["nonwords"]["synthetic_top"] = []
        text = json.dumps(public, ensure_ascii=False).lower()
        for what, value in PLANTED.items():
            for word in value.lower().replace("@", " ").replace(".", " ").split():
                if len(word) > 3 and not word.isdigit():  # each is absent from the rest of the corpus
                    assert word not in text, (real_examples, what, word)
        assert "4471" not in text and "9023" not in text
        runs[real_examples] = result
    shown = [p["member_masked"] for p in runs[True].plugins["reconstruction"]["details"]["closest_pairs"]]
    assert shown and all("▒" in m for m in shown)  # masked real texts are there, with the rare words hidden
    assert runs[True].run["real_examples"] is True and runs[False].run["real_examples"] is False


def test_realism_finds_texts_in_another_voice(auditor, sets):
    members, holdout, synthetic, _ = sets
    rng = random.Random(3)
    # the same classes, written in one stiff template: what an LM's register looks like to a judge
    stiff = [(f"This text is about {label} and it discusses item {rng.randint(1, 99)} in detail.", label)
             for _, label in synthetic]
    r = auditor.run(corpus(members, "members"), corpus(holdout, "holdout"), corpus(stiff, "stiff"))
    m = r.metrics
    assert m["realism.detection_auc.tfidf"].value > 0.95 and m["realism.detection_auc.embedding"].value > 0.95
    assert m["realism.repeated_openings.synthetic"].value > 0.9 > m["realism.repeated_openings.real"].value
    assert m["realism.distinct_bigrams.ratio"].value < 0.5


def test_diversity_counts():
    from smotext.audit.plugins.realism import distinct_bigrams, repeated_openings

    assert distinct_bigrams(["a b c", "a b d"]) == 3 / 4  # a-b twice, b-c, b-d
    assert repeated_openings(["The cat sat.", "the cat SAT down", "A dog ran"]) == 1 / 3


def test_results_round_trip_and_cli(tmp_path, sets, capsys, clean):
    members, holdout, synthetic, _ = sets
    clean.save(tmp_path / "r")
    again = AuditResult.load(tmp_path / "r")
    assert again.metrics.keys() == clean.metrics.keys()
    np.testing.assert_array_equal(again.arrays["mia_synthetic_embedding"]["member_scores"],
                                  clean.arrays["mia_synthetic_embedding"]["member_scores"])
    paths = {}
    for name, rows in (("m", members[:60]), ("h", holdout[:60]), ("s", synthetic[:60])):
        paths[name] = write_table(__import__("pandas").DataFrame(rows, columns=["text", "label"]), tmp_path / f"{name}.csv")
    code = main([str(a) for a in ["audit", "--members", paths["m"], "--holdout", paths["h"], "--synthetic", paths["s"], "--out",
                 tmp_path / "cli", "--skip", "pii", "--bootstrap", "20", "--quiet"]])
    out = capsys.readouterr().out
    assert code == 0 and "mia_synthetic_embedding.auc" in out
    data = json.loads((tmp_path / "cli" / "results.json").read_text())
    assert data["inputs"]["evaluated"]["members"] == data["inputs"]["evaluated"]["nonmembers"] == 42  # 60 - 30% test
    assert set(data["plugins"]) == {"utility", "mia_classifier_loss", "mia_classifier_confidence", "overview", "decoder_privacy", "generation_privacy",
                                    "mia_synthetic_embedding", "mia_synthetic_lexical", "reconstruction", "mia_classifier_reference",
                                    "realism", "mia_synthetic_ngram", "canary"}
    assert data["plugins"]["canary"]["status"] == "skipped"  # `smotext audit` plants no canaries: only a release does
    # no generation manifest beside these files: the decoder's privacy can't be known, so it is skipped (not passed)
    assert data["plugins"]["decoder_privacy"]["status"] == "skipped" and "decoder_privacy.epsilon" not in data["metrics"]
    assert data["plugins"]["generation_privacy"]["status"] == "skipped"  # no manifest: nothing to read the guarantee from


def test_unknown_plugin_lists_valid_names():
    with pytest.raises(SmotextError, match="valid audit plug-ins: .*mia_synthetic_embedding"):
        Auditor(plugins=["mia_magic"])


def test_a_failing_plugin_is_recorded_not_dropped(auditor, sets, encoder):
    members, holdout, synthetic, _ = sets
    one_class = [(t, "only") for t, _ in synthetic[:50]]
    res = Auditor(plugins=["utility", "mia_synthetic_embedding"], encoder=encoder, n_boot=10).run(
        corpus(members[:50], "m"), corpus(holdout[:50], "h"), corpus(one_class, "s"))
    assert res.plugins["utility"]["status"] == "failed" and "2 classes" in res.plugins["utility"]["error"]
    assert res.failed and "mia_synthetic_embedding.auc" in res.metrics


def test_provenance_scores_the_members_that_were_parents(encoder, sets):
    members, holdout, synthetic, test = sets
    # the first 20 members were "parents": the synthetic set copies them
    leaky = [(t, label) for t, label in members[:20]] + synthetic[20:]
    res = Auditor(plugins=["mia_synthetic_embedding"], encoder=encoder, n_boot=20).run(
        corpus(members, "m"), corpus(holdout, "h"), corpus(leaky, "s"), test=test, parent_rows=set(range(20)))
    assert res.plugins["mia_synthetic_embedding"]["details"]["parents"]["members_evaluated"] == 20
    assert value(res, "mia_synthetic_embedding.parents.auc") > 0.95 > value(res, "mia_synthetic_embedding.auc")


def test_every_plugin_declares_what_it_produces(clean):
    from smotext.audit.registry import PLUGINS, metric_catalog

    catalog = metric_catalog()
    for name, metric in clean.metrics.items():
        safer, (lo, hi) = catalog[name]
        assert metric.safer == safer and lo <= metric.value <= hi, name
    assert all(cls.produces for cls in PLUGINS.classes().values() if cls.kind != "evidence")


def test_gate_releases_the_clean_set_and_blocks_planted_leaks(tmp_path, auditor, sets, clean, capsys):
    """Real audit results through `smotext gate` with the shipped policies: at 250 holdout records the
    default policy can't show a clean set is safe (it blocks, saying so), the research policy on point
    values lets it through; a planted leak blocks on a measured rule."""
    clean.save(tmp_path / "clean")
    code = main(["gate", "--results", str(tmp_path / "clean"), "--policy", "default"])
    captured = capsys.readouterr()
    out = captured.out
    assert code == 1 and "verdict: BLOCK" in out, captured.err
    blocked = [line for line in out.splitlines() if line.strip().startswith("blocked by rule:")]
    assert blocked and all("cannot tell at this size" in line and "holdout records would decide it" in line
                           for line in blocked), out
    assert main(["gate", "--results", str(tmp_path / "clean"), "--policy", "research", "--out", str(tmp_path / "r")]) == 0
    policy = "default"  # the shipped policy, by name

    members, holdout, synthetic, _ = sets
    leaky = auditor.run(corpus(members, "members"), corpus(holdout, "holdout"),
                        corpus(copy_some(members, synthetic, 0.05, seed=1), "leaky"))
    leaky.save(tmp_path / "leaky")
    code = main(["gate", "--results", str(tmp_path / "leaky"), "--policy", policy])
    out = capsys.readouterr().out
    assert code == 1 and "verdict: BLOCK" in out
    assert "blocked by rule: no-excess-near-copies" in out
    report = (tmp_path / "leaky" / "report.html").read_text()
    assert "BLOCK" in report and "no-excess-near-copies" in report


def test_a_public_figures_name_is_not_a_replay_but_an_invented_persons_is(encoder, lm, sets):
    """The base LM, which never saw the corpus, finishes "Albert" with "Einstein" but not a made-up
    patient's surname: the famous name replayed from a member is excused as a public figure's, the
    invented one still counts (and blocks)."""
    members, holdout, synthetic, test = sets
    names = ["Albert Einstein", "Amelia Quist"]
    members = [(f"{t} I saw {n} yesterday.", y) for (t, y), n in zip(members, names)] + members[2:]
    syn = [(f"Then {n} called the office about it.", synthetic[i][1]) for i, n in enumerate(names)]
    run = lambda **p: Auditor(["pii"], plugin_params={"pii": {"reference_texts": 0, **p}}, encoder=encoder, lm=lm).run(
        corpus(members, "members"), corpus(holdout, "holdout"), corpus(syn + synthetic[2:], "pii"), test=test)
    r = run()
    assert r.plugins["pii"]["details"]["excused"]["public_figure"] == 1
    assert value(r, "pii.replay.values") == 1  # Amelia Quist: a private person, still a leak
    assert value(run(public_names=None), "pii.replay.values") == 2  # switched off: both count


def test_name_familiarity_tells_public_figures_from_invented_and_planted_names(lm):
    from smotext.audit.pii import PUBLIC_NAME_LOGPROB, name_familiarity
    from smotext.synth.demo_corpus import FIRST, LAST

    public = ["Albert Einstein", "Barack Obama", "William Shakespeare", "Steven Spielberg", "Marie Curie"]
    planted = [f"{f} {l}" for f, l in zip(FIRST, LAST)]  # 20 of the demo corpus's patients' names
    pub, other = name_familiarity(lm, public), name_familiarity(lm, planted + ["Amelia Quist", "Rafael Varga"])
    assert min(pub) >= PUBLIC_NAME_LOGPROB, pub
    # a stereotypical name can pass for known (benchmarks/results/public_names.md: 3 of the demo's 400
    # first-last pairs, "Ivan Petrov" among these 20); the others must not
    assert sum(f >= PUBLIC_NAME_LOGPROB for f in other) <= 1, dict(zip(planted, other))
    assert name_familiarity(lm, ["Einstein"]) == [float("-inf")]  # one word: nothing to complete
