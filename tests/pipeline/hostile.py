"""Helpers of the hostile-input tests: run `mias` as a user would, snapshot the inputs, and
a finished tiny run to attack (copied per test)."""

from __future__ import annotations

import contextlib
import hashlib
import io
from pathlib import Path

from tests.pipeline.corpus import tree_digest
from tests.report.tiny import require_weasyprint, run_args

from mias.cli import main as cli
from mias.data.synth import synthesize


def snapshot(root: Path) -> dict[str, str]:
    """Every file under `root` (hidden ones too) with the SHA-256 of its content."""
    return {p.relative_to(root).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file()}


def mias(*argv: str | Path) -> tuple[int, str]:
    """Run `mias`; return its exit code and all it printed (rich writes to the real stderr)."""
    from mias.cli import progress

    buf = io.StringIO()
    console = progress.console
    console.file = buf
    try:
        with contextlib.redirect_stdout(buf), contextlib.redirect_stderr(buf):
            try:
                rc = cli.main([str(a) for a in argv])
            except SystemExit as exc:          # argparse refuses a bad option value
                rc = int(exc.code or 0)
    finally:
        console.file = None   # back to following sys.stderr, as mias's console does
    out = buf.getvalue()
    assert "Traceback" not in out, out[-3000:]
    return rc, out


def build_finished(root: Path) -> tuple[Path, Path]:
    """A finished tiny `mias run` (RUN) under `root` and the folder it was made from (DATA)."""
    require_weasyprint()
    data = synthesize("hippocampus", root / "data", cases=8, seed=4)
    rc, out = mias(*run_args(data, root / "run", root / "tiny.yaml"))
    assert rc == 0, out[-3000:]
    return root / "run", data


def refused(root: Path, *argv: str | Path, says: str) -> str:
    """Run `mias`; assert it exits 2 naming `says` with a fix (or argparse's usage), and that
    everything under `root` is as it was: no input changed, nothing written, not even an
    empty folder. Returns what it printed."""
    before = tree_digest(root)
    rc, text = mias(*argv)
    assert rc == 2 and says in text, text[-2000:]
    assert "Fix:" in text or "usage:" in text, text[-2000:]
    assert tree_digest(root) == before
    return text
