"""Docs that stay true: the README is a front page with generated blocks, the guide's numbers come
from benchmarks/results/ (or are the code's own values), and the layout matches the tree."""

import importlib.util
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text()


def blocks():
    spec = importlib.util.spec_from_file_location("readme_blocks", ROOT / "scripts" / "readme_blocks.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_readme_is_a_front_page_that_links_the_guide():
    assert len(README.splitlines()) <= 300
    linked = set(re.findall(r"\]\((docs/[\w.-]+\.md)\)", README))
    assert linked == {f"docs/{p.name}" for p in (ROOT / "docs").glob("*.md")}
    for guide in ("policies", "audit", "privacy", "bridge", "scale", "benchmarks"):
        assert f"docs/{guide}.md" in linked


def test_the_readme_blocks_are_what_the_results_and_the_tree_give_now():
    assert blocks().fill(README) == README, "run: python scripts/readme_blocks.py --write"
    bench = (ROOT / "docs" / "benchmarks.md").read_text()
    assert blocks().fill_benchmarks(bench) == bench, "run: python scripts/readme_blocks.py --write"


def test_the_layout_lists_every_module_and_only_modules_that_exist():
    listed = set(re.findall(r"^\| `([\w/]+\.py)` \|", README, flags=re.M))
    tree = {str(f.relative_to(ROOT)) for folder in ("smotext", "synth", "audit", "reports", "policies")
            for f in (ROOT / folder).rglob("*.py")}
    assert listed == tree


NUMBER = re.compile(r"(?<![\w.\-/])(\d[\d,]*(?:\.\d+)?)(?![\w.]*\w)")


def test_every_number_in_the_guide_is_in_a_results_file_or_the_code():
    """A decimal, a thousands-separated count or any number of three digits or more, outside code, must
    appear in benchmarks/results/ or in the code and policies (a default, a threshold)."""
    sources = [p for p in (ROOT / "benchmarks" / "results").glob("*") if p.suffix in (".md", ".json")]
    sources += [p for d in ("smotext", "synth", "audit", "reports", "policies", "benchmarks", "recipes", "scripts")
                for p in (ROOT / d).rglob("*") if p.suffix in (".py", ".yaml", ".sh")] + [ROOT / "pyproject.toml"]
    known = " ".join(p.read_text(errors="ignore") for p in sources)
    unknown = {}
    for doc in [*(ROOT / "docs").glob("*.md"), ROOT / "README.md"]:
        text = re.sub(r"<!-- (numbers|layout|benchmarks): begin -->.*?<!-- \1: end -->", "", doc.read_text(), flags=re.S)
        text = re.sub(r"`[^`]*`", "", re.sub(r"```.*?```", "", text, flags=re.S))
        for n in (m.group(1).rstrip(",") for m in NUMBER.finditer(text)):
            if ("." in n or "," in n or len(n) >= 3) and n not in known and n.replace(",", "") not in known:
                unknown.setdefault(doc.name, []).append(n)
    assert unknown == {}


def test_the_readme_dataframe_example_runs_as_written(tmp_path, monkeypatch):
    import pandas as pd

    from smotext.synth.demo_corpus import demo_corpus_path

    code = re.search(r"<!-- example: release-dataframe -->\n```python\n(.*?)```", README, flags=re.S).group(1)
    pd.read_csv(demo_corpus_path()).sample(240, random_state=0).to_csv(tmp_path / "notes.csv", index=False)
    monkeypatch.chdir(tmp_path)
    scope: dict = {}
    exec(compile(code, "README.md", "exec"), scope)
    run = scope["run"]
    assert run.verdict in ("RELEASE", "BLOCK") and (tmp_path / "run1" / "report.html").is_file()
    assert len(run.results["metrics"]) > 10 and "verdict: " in run.summary() and "<b" in run._repr_html_()
    assert run.results["inputs"]["members"]["texts"] == 120  # 240 rows less holdout (30%) and test (20%)
    sys.modules.pop("readme_blocks", None)
