"""The baselines runner sits below `mias.train.evaluate`: it never imports it, not even
inside a function, so the two modules form no cycle."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import mias.train.baselines as baselines

BASELINES = Path(baselines.__file__).parent


def _imported(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
            names.update(f"{node.module}.{a.name}" for a in node.names)
        elif isinstance(node, ast.Import):
            names.update(a.name for a in node.names)
    return names


def test_no_baseline_module_imports_evaluate():
    for path in sorted(BASELINES.glob("*.py")):
        bad = {n for n in _imported(path) if n == "mias.train.evaluate"
               or n.startswith("mias.train.evaluate.")}
        assert not bad, f"{path.name} imports {bad}"


def test_importing_the_runner_leaves_evaluate_unloaded():
    code = ("import sys, mias.train.baselines.runner; "
            "print('mias.train.evaluate' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True)
    assert out.stdout.strip() == "False"
