"""Write outputs all-or-nothing: into a temporary sibling, renamed into place on success.

A crash or a bad input half-way through must never leave a half-written output, nor
destroy an earlier good one.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from mias.errors import InputError


@contextlib.contextmanager
def atomic_dir(final: str | Path, *, overwrite: bool = False) -> Iterator[Path]:
    """Yield a temporary directory that replaces `final` only if the block succeeds.

    An existing non-empty `final` is refused unless `overwrite`; then it is kept until the
    new one is complete, so nothing is lost if the work fails.
    """
    final = Path(final)
    _check_output(final, overwrite)
    final.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{final.name}.tmp-", dir=final.parent))
    tmp.chmod(0o777 & ~_umask())
    try:
        yield tmp
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    _swap_into_place(tmp, final)


def _check_output(final: Path, overwrite: bool) -> None:
    if final.exists() and not final.is_dir():
        raise InputError(final, "the output path exists and is not a directory",
                         "choose another --out")
    if final.is_dir() and any(final.iterdir()) and not overwrite:
        raise InputError(final, "the output directory exists and is not empty",
                         "choose another --out, or pass --overwrite to replace it")


def _swap_into_place(tmp: Path, final: Path) -> None:
    """Rename `tmp` to `final`; an old `final` is removed only after the new one is in place."""
    old = None
    if final.exists():
        old = final.with_name(f".{final.name}.old-{os.getpid()}")
        final.rename(old)
    tmp.rename(final)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


@contextlib.contextmanager
def resumable_dir(final: str | Path, fingerprint: str, *,
                  overwrite: bool = False) -> Iterator[tuple[Path, bool]]:
    """Like `atomic_dir`, but a crash keeps the partial work for the next identical run.

    The partial directory is named after `fingerprint` (a hash of the inputs and settings),
    so only a re-run of the same job resumes it. Bad input (`InputError`) or an interrupt
    discards it: there is nothing worth resuming from input that has to be fixed first.
    Yields `(partial_dir, resumed)`.
    """
    final = Path(final)
    _check_output(final, overwrite)
    final.parent.mkdir(parents=True, exist_ok=True)
    partial = final.with_name(f".{final.name}.partial-{fingerprint[:12]}")
    resumed = partial.is_dir()
    partial.mkdir(exist_ok=True)
    try:
        yield partial, resumed
    except (InputError, KeyboardInterrupt):
        shutil.rmtree(partial, ignore_errors=True)
        raise
    _swap_into_place(partial, final)


def write_json(path: str | Path, payload: Any) -> None:
    """Write JSON atomically (temp file + rename), sorted keys, for stable diffs."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    os.chmod(tmp, 0o666 & ~_umask())
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            json.dump(payload, fh, indent=2, sort_keys=True, default=_jsonable)
            fh.write("\n")
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def _umask() -> int:
    """The process umask (mkstemp/mkdtemp create private files; outputs should not be)."""
    current = os.umask(0)
    os.umask(current)
    return current


def read_json(path: str | Path) -> Any:
    """Read JSON, turning a missing or corrupt file into an `InputError`."""
    path = Path(path)
    try:
        with open(path, encoding="utf-8") as fh:
            return json.load(fh)
    except FileNotFoundError as exc:
        raise InputError(path, "file not found", "check the path") from exc
    except json.JSONDecodeError as exc:
        raise InputError(path, f"not valid JSON ({exc.msg} at line {exc.lineno})",
                         "regenerate the file or fix its syntax") from exc


def _jsonable(obj: Any) -> Any:
    """Serialise numpy scalars/arrays, paths and tuples-as-lists."""
    if hasattr(obj, "tolist"):
        return obj.tolist()
    if isinstance(obj, Path):
        return str(obj)
    if isinstance(obj, set | frozenset):
        return sorted(obj)
    raise TypeError(f"not JSON serialisable: {type(obj).__name__}")


@contextlib.contextmanager
def atomic_file(path: str | Path) -> Iterator[Path]:
    """Yield a temporary sibling path that replaces `path` only if the block succeeds
    (checkpoints, models, Parquet tables: a `kill -9` leaves the old file or the new one)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    os.close(fd)
    tmp = Path(name)
    try:
        yield tmp
        os.chmod(tmp, 0o666 & ~_umask())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
