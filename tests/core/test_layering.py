"""The package's import graph: lower layers never reach up, and no module imports itself back.

Every import counts, at module level, inside functions and under TYPE_CHECKING alike: a
lazy import hides a cycle from the interpreter, not from the design.
"""

from __future__ import annotations

import ast
from pathlib import Path

import mias

ROOT = Path(mias.__file__).parent


def _module_name(path: Path) -> str:
    parts = ["mias", *path.relative_to(ROOT).with_suffix("").parts]
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(path: Path, modules: set[str]) -> set[str]:
    """The mias modules `path` imports (a `from pkg import name` of a submodule counts as it)."""
    name = _module_name(path)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    out: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            out.update(a.name for a in node.names if a.name.startswith("mias"))
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, base] if base else anchor)
            if not base.startswith("mias"):
                continue
            subs = [f"{base}.{a.name}" for a in node.names if f"{base}.{a.name}" in modules]
            out.update(subs or [base])
    return {m for m in out if m in modules and m != name}


def _graph() -> dict[str, set[str]]:
    paths = sorted(ROOT.rglob("*.py"))
    modules = {_module_name(p) for p in paths}
    return {_module_name(p): _imports(p, modules) for p in paths}


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in graph[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                found.append(sorted(comp))

    for v in graph:
        if v not in index:
            visit(v)
    return found


def _is_package_edge(a: str, b: str) -> bool:
    """A package's `__init__` re-exporting its own submodules is not layering."""
    return b.startswith(a + ".") or a.startswith(b + ".")


def test_the_walk_sees_lazy_imports() -> None:
    graph = _graph()
    assert "mias.onnx_export" in graph["mias.train.latency"]
    assert len(graph) > 100


def test_no_import_cycle() -> None:
    graph = _graph()
    pruned = {a: {b for b in bs if not _is_package_edge(a, b)} for a, bs in graph.items()}
    assert _cycles(pruned) == []


def test_lower_layers_never_import_the_run_level_exporter() -> None:
    graph = _graph()
    offenders = {a: sorted(b for b in bs if b == "mias.export" or b.startswith("mias.export."))
                 for a, bs in graph.items()
                 if a.startswith(("mias.hardware", "mias.train", "mias.space"))}
    assert {a: bs for a, bs in offenders.items() if bs} == {}
