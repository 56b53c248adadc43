"""The package's import graph, lazy imports and TYPE_CHECKING imports included: no cycle, and every
import goes to its own layer or one below (DESIGN.md, "Layers")."""

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = {"smotext": "smotext", "smotext.synth": "synth", "smotext.audit": "audit", "smotext.reports": "reports",
            "smotext.policies": "policies"}
GROUND = {"smotext.errors", "smotext.params", "smotext.registry", "smotext.outputs", "smotext.strict_yaml",
          "smotext.text", "smotext.neighbors"}
TOP = {"smotext", "smotext.pipeline", "smotext.prepared", "smotext.cli", "smotext.__main__"}
ORDER = ["ground", "runtime", "synth", "audit", "reports", "top"]


def modules() -> dict[str, Path]:
    found = {}
    for package, folder in PACKAGES.items():
        for f in (ROOT / folder).rglob("*.py"):
            parts = [p for p in f.relative_to(ROOT / folder).with_suffix("").parts if p != "__init__"]
            found[".".join([package, *parts])] = f
    return found


def layer(module: str) -> str:
    if module in GROUND:
        return "ground"
    if module == "smotext.engine":
        return "runtime"
    if module in TOP:
        return "top"
    for name in ("synth", "audit", "reports"):
        if module.startswith(f"smotext.{name}"):
            return name
    return "reports" if module.startswith("smotext.policies") else "unknown"


def import_graph() -> dict[str, set[str]]:
    mods = modules()

    def resolve(name: str) -> str:
        while name and name not in mods:
            name = name.rpartition(".")[0]
        return name

    graph = {}
    for name, path in mods.items():
        deps = set()
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        for node in ast.walk(ast.parse(path.read_text())):  # every import statement, at any depth
            if isinstance(node, ast.Import):
                deps |= {resolve(a.name) for a in node.names if a.name.startswith("smotext")}
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    base = ".".join(package.split(".")[: len(package.split(".")) - node.level + 1] + ([base] if base else []))
                if base.startswith("smotext"):
                    deps |= {resolve(f"{base}.{a.name}") if f"{base}.{a.name}" in mods else resolve(base)
                             for a in node.names}
        graph[name] = deps - {name, ""}
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan)."""
    index, low, stack, on, found, counter = {}, {}, [], set(), [], [0]

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in graph[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                found.append(sorted(comp))

    for v in graph:
        if v not in index:
            visit(v)
    return found


def test_the_import_graph_has_no_cycle():
    graph = import_graph()
    assert len(graph) > 50 and "smotext.synth.smotext" in graph["smotext.pipeline"]  # the walk sees lazy imports
    assert cycles(graph) == []


def test_the_checker_finds_a_cycle_and_a_lazy_import():
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def test_every_import_goes_to_its_own_layer_or_below():
    graph = import_graph()
    assert {layer(m) for m in graph} <= set(ORDER)
    upward = sorted(f"{m} ({layer(m)}) imports {d} ({layer(d)})" for m, deps in graph.items() for d in deps
                    if ORDER.index(layer(d)) > ORDER.index(layer(m)))
    assert upward == []
