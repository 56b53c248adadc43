"""The README's generated blocks: its numbers, from benchmarks/results/, and its layout, from the
modules' own docstrings. tests/test_docs.py checks that the README holds exactly these blocks.
Run: python scripts/readme_blocks.py --write (rewrites the blocks in README.md)."""

import ast
import json
import re
import statistics
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"
FOLDERS = {"smotext": "smotext", "synth": "smotext.synth", "audit": "smotext.audit", "reports": "smotext.reports",
           "policies": "smotext.policies"}


def load(name: str) -> dict:
    return json.loads((RESULTS / f"{name}.json").read_text())


def block() -> str:
    v = load("verdict_stability")
    verdicts = [r["demo"]["verdict"] for r in v["runs"]]
    seconds = [r["seconds"] for r in v["runs"]]
    rt = load("rt_benchmark")
    acc = {k: statistics.mean(s[k]["accuracy"] for s in rt["table1"]) for k in ("real only", "real + synthetic",
                                                                               "synthetic only")}
    dp = load("dp_generation")
    cells = lambda variant: [c for c in dp["cells"] if c.get("variant") == variant and c.get("pool") == 8000
                             and c.get("detection_auc_tfidf") is not None]
    eps4, finetune4 = cells("eps4"), cells("finetune4")
    lines = [
        "| what | measured | where |",
        "|---|---|---|",
        f"| the demo's verdict over seeds 0-{len(verdicts) - 1} (each a different split, generation and audit) | "
        f"{verdicts.count('RELEASE')} RELEASE, {verdicts.count('BLOCK')} BLOCK; {min(seconds):.0f}-{max(seconds):.0f} s "
        f"a release | verdict_stability ({v['meta']['date']}, {v['meta']['code_version']}) |",
        f"| Rotten Tomatoes, accuracy of a classifier trained on real / real + synthetic / synthetic only "
        f"({len(rt['table1'])} seeds, mean) | {acc['real only']:.3f} / {acc['real + synthetic']:.3f} / "
        f"{acc['synthetic only']:.3f} | rt_benchmark ({rt['date']}) |",
    ]
    for what, rows in (("DP generation", eps4), ("DP fine-tuning (`--dp-method finetune`)", finetune4)):
        if not rows:
            continue
        mean = lambda get: statistics.mean(get(c) for c in rows)
        lines.append(f"| {what} at ε = 4, 8,000 Rotten Tomatoes members ({len(rows)} seed{'s' * (len(rows) > 1)}, "
                     f"{rows[0]['texts']:,} texts a seed): synthetic-only accuracy; real-vs-synthetic detection AUC, TF-IDF "
                     f"/ embeddings (0.5 = indistinguishable) | {mean(lambda c: c['synthetic_only']['accuracy']):.3f}; "
                     f"{mean(lambda c: c['detection_auc_tfidf']):.2f} / {mean(lambda c: c['detection_auc_embedding']):.2f} "
                     f"| dp_generation ({dp['date']}) |")
    return "\n".join(lines)


def layout() -> str:
    """One row per module of the package: its path and the first sentence of its docstring."""
    rows = ["| module | what it is |", "|---|---|"]
    for folder in FOLDERS:
        for f in sorted((ROOT / folder).rglob("*.py")):
            doc = ast.get_docstring(ast.parse(f.read_text())) or ""
            first = " ".join(doc.split("\n\n")[0].split())
            first = re.split(r"(?<=\.)\s", first, maxsplit=1)[0]
            rows.append(f"| `{f.relative_to(ROOT)}` | {first.replace('|', '/')} |")
    rows += ["| `policies/*.yaml` | the shipped release policies (package data) |",
             "| `recipes/` | how the shipped artifacts (the default bridge, its training texts) are rebuilt |",
             "| `benchmarks/` | benchmark scripts; their results, with machine, date, command and code version, in "
             "`benchmarks/results/` |",
             "| `tests/` | tests on the real encoder, LM and Presidio in tiny configurations |",
             "| `docs/` | the guide |"]
    return "\n".join(rows)


def _first_run(data):
    """The first object in a results file that records a command (with its date and code version)."""
    if isinstance(data, dict):
        if isinstance(data.get("command"), str):
            return data
        for v in data.values():
            if (found := _first_run(v)) is not None:
                return found
    if isinstance(data, list):
        for v in data:
            if (found := _first_run(v)) is not None:
                return found
    return None


def benchmarks() -> str:
    """docs/benchmarks.md's list: each results file's title and the command, date and code version it records."""
    rows = []
    for md in sorted(RESULTS.glob("*.md")):
        title = md.read_text().splitlines()[0].lstrip("# ").strip()
        run = _first_run(json.loads(md.with_suffix(".json").read_text())) if md.with_suffix(".json").exists() else None
        said = f" — `{run['command']}` ({run.get('date', 'no date')}" + \
            (f", code {run['code_version']})" if run.get("code_version") else ", code version not recorded)") if run else ""
        rows.append(f"- [{title}](../benchmarks/results/{md.name}){said}")
    return "\n".join(rows)


def fill(readme: str) -> str:
    """``readme`` with both generated blocks as they are now."""
    for name, text in (("numbers", block()), ("layout", layout())):
        readme = re.sub(rf"(<!-- {name}: begin -->\n).*?(\n<!-- {name}: end -->)",
                        lambda m: m.group(1) + text + m.group(2), readme, flags=re.S)
    return readme


def fill_benchmarks(doc: str) -> str:
    return re.sub(r"(<!-- benchmarks: begin -->\n).*?(\n<!-- benchmarks: end -->)",
                  lambda m: m.group(1) + benchmarks() + m.group(2), doc, flags=re.S)


if __name__ == "__main__":
    if "--write" in sys.argv:
        readme, bench = ROOT / "README.md", ROOT / "docs" / "benchmarks.md"
        readme.write_text(fill(readme.read_text().replace("{LAYOUT}", "")))
        bench.write_text(fill_benchmarks(bench.read_text()))
    else:
        print(block(), layout(), benchmarks(), sep="\n\n")
