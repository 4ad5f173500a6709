"""Write outputs all-or-nothing: into a temporary sibling, renamed into place on success.

A crash or a bad input half-way through must never leave a half-written output, nor
destroy an earlier good one, nor anything the run did not write (see `output_guard`).
Temporary names carry the writer's process id, so leftovers of a killed run are told
apart from a live run's and cleaned by the next run for the same output.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import tempfile
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any

from mias.errors import InputError
from mias.output_guard import (
    MARKER,
    check_output,
    output_stage,
    writable_fix,
    write_marker,
)

__all__ = ["MARKER", "atomic_dir", "atomic_file", "check_output", "clean_stale", "output_stage",
           "read_json", "resumable_dir", "write_json", "write_npz"]

_PARTIAL_META = ".mias-partial.json"
_TEMP_PID = re.compile(r"\.(?:tmp|old)-(\d+)(?:-|$)")

Inputs = Iterable[str | Path | None]


@contextlib.contextmanager
def atomic_dir(final: str | Path, *, overwrite: bool = False, inputs: Inputs = (),
               stage: str = "output", exists_fix: str | None = None) -> Iterator[Path]:
    """Yield a temporary directory that replaces `final` only if the block succeeds.

    An existing non-empty `final` is refused unless `overwrite` and it is a MIAS output;
    then it is kept until the new one is complete, so nothing is lost if the work fails.
    `inputs` are never replaced nor written into; `stage` is recorded in the output's
    marker. On failure nothing is left, not even the parent folders this call created.
    """
    final = Path(final)
    check_output(final, overwrite=overwrite, inputs=inputs, exists_fix=exists_fix)
    created = _make_parents(final)
    clean_stale(final)
    try:
        tmp = Path(tempfile.mkdtemp(prefix=_temp_prefix(final.name), dir=final.parent))
        tmp.chmod(0o777 & ~_umask())
    except OSError as exc:
        _remove_empty(created)
        raise InputError(final, f"cannot create the output ({exc.strerror})",
                         writable_fix(final.parent)) from exc
    try:
        yield tmp
        write_marker(tmp, stage)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        _remove_empty(created)
        raise
    _swap_into_place(tmp, final)


@contextlib.contextmanager
def resumable_dir(final: str | Path, fingerprint: str, *, overwrite: bool = False,
                  inputs: Inputs = (), stage: str = "output",
                  exists_fix: str | None = None) -> Iterator[tuple[Path, bool]]:
    """Like `atomic_dir`, but a crash keeps the partial work for the next run of the job.

    `fingerprint` hashes the run's settings: a partial directory left by a run with other
    settings is discarded, so stale partial work never accumulates. Within a resumed
    partial, each item must still be checked against its own inputs (`mias.ledger`). Bad
    input (`InputError`) discards the partial: there is nothing worth resuming from input
    that has to be fixed first. Ctrl-C keeps it, as `kill -9` does. Yields
    `(partial_dir, resumed)`.
    """
    final = Path(final)
    check_output(final, overwrite=overwrite, inputs=inputs, exists_fix=exists_fix)
    created = _make_parents(final)
    clean_stale(final)
    partial = final.with_name(f".{final.name}.partial")
    try:
        resumed = _claim(partial, fingerprint)
    except BaseException:
        _remove_empty(created)
        raise
    try:
        yield partial, resumed
        (partial / _PARTIAL_META).unlink(missing_ok=True)
        write_marker(partial, stage)
    except InputError:
        shutil.rmtree(partial, ignore_errors=True)
        _remove_empty(created)
        raise
    _swap_into_place(partial, final)


def _claim(partial: Path, fingerprint: str) -> bool:
    """Take over `partial` for this run; True when earlier work of the same job is in it."""
    meta = partial / _PARTIAL_META
    if partial.is_dir():
        try:
            info = json.loads(meta.read_bytes())
        except (OSError, ValueError):
            info = {}
        pid = info.get("pid") if isinstance(info, dict) else None
        if isinstance(pid, int) and _alive(pid) and pid != os.getpid():
            raise InputError(partial, f"another mias run (process {pid}) is writing this "
                                      "output now",
                             f"wait for it to finish; if no mias run is active, delete {partial}")
        if not isinstance(info, dict) or info.get("fingerprint") != fingerprint:
            shutil.rmtree(partial)
    resumed = partial.is_dir()
    try:
        partial.mkdir(exist_ok=True)
    except OSError as exc:
        raise InputError(partial, f"cannot create the output ({exc.strerror})",
                         writable_fix(partial.parent)) from exc
    _clean_dead_temps(partial)
    write_json(meta, {"fingerprint": fingerprint, "pid": os.getpid()})
    return resumed


def clean_stale(final: str | Path) -> None:
    """Remove what killed runs left beside `final` (temporary and legacy partial folders).

    A replaced output parked as `.<name>.old-<pid>` by a run killed mid-swap is the only
    copy left when `final` is missing, so it is moved back instead.
    """
    final = Path(final)
    if not final.parent.is_dir():
        return
    prefix = f".{final.name}."
    for entry in sorted(final.parent.iterdir()):
        rest = entry.name[len(prefix):] if entry.name.startswith(prefix) else None
        if rest is None or rest == "partial":
            continue
        if rest.startswith("partial-"):
            shutil.rmtree(entry, ignore_errors=True)
        elif (rest.startswith(("tmp-", "old-")) and not _writer_alive(entry.name)):
            if rest.startswith("old-") and not final.exists():
                entry.rename(final)
            elif entry.is_dir():
                shutil.rmtree(entry, ignore_errors=True)
            else:
                entry.unlink(missing_ok=True)


def _clean_dead_temps(folder: Path) -> None:
    """Delete temporary files of killed writers anywhere inside a partial output."""
    for path in sorted(folder.rglob(".*.tmp-*"), reverse=True):
        if not _writer_alive(path.name):
            if path.is_dir():
                shutil.rmtree(path, ignore_errors=True)
            else:
                path.unlink(missing_ok=True)


def _writer_alive(name: str) -> bool:
    match = _TEMP_PID.search(name)
    return match is not None and _alive(int(match.group(1)))


def _alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    except OSError:
        return False
    return True


def _temp_prefix(name: str) -> str:
    return f".{name}.tmp-{os.getpid()}-"


def _make_parents(final: Path) -> list[Path]:
    """Create the missing parents of `final`; return them deepest first, for clean-up."""
    missing = []
    parent = final.absolute().parent
    while not parent.exists():
        missing.append(parent)
        parent = parent.parent
    try:
        final.absolute().parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        _remove_empty(missing)
        raise InputError(final, f"cannot create the folder {final.parent} ({exc.strerror})",
                         writable_fix(final.parent)) from exc
    return missing


def _remove_empty(folders: Iterable[Path]) -> None:
    for folder in folders:
        try:
            folder.rmdir()
        except OSError:
            return


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
def atomic_file(path: str | Path) -> Iterator[Path]:
    """Yield a temporary sibling path that replaces `path` only if the block succeeds
    (checkpoints, models, Parquet tables: a `kill -9` leaves the old file or the new one)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(prefix=_temp_prefix(path.name), dir=path.parent)
    os.close(fd)
    tmp = Path(name)
    try:
        yield tmp
        os.chmod(tmp, 0o666 & ~_umask())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def write_json(path: str | Path, payload: Any) -> None:
    """Write JSON atomically (temp file + rename), sorted keys, for stable diffs."""
    with atomic_file(path) as tmp, open(tmp, "w", encoding="utf-8") as fh:
        json.dump(payload, fh, indent=2, sort_keys=True, default=jsonable)
        fh.write("\n")


def write_npz(path: str | Path, arrays: Mapping[str, Any]) -> None:
    """Write an uncompressed `.npz` atomically (numpy's fixed zip timestamps: same bytes)."""
    import numpy as np

    with atomic_file(path) as tmp, open(tmp, "wb") as fh:
        np.savez(fh, **arrays)


def _umask() -> int:
    """The process umask (mkstemp/mkdtemp create private files; outputs should not be)."""
    current = os.umask(0)
    os.umask(current)
    return current


def read_json(path: str | Path) -> Any:
    """Read JSON (UTF-8, -16 or -32, with or without a BOM); a missing, undecodable or
    corrupt file is an `InputError`."""
    path = Path(path)
    try:
        return json.loads(path.read_bytes())
    except FileNotFoundError as exc:
        raise InputError(path, "file not found", "check the path") from exc
    except IsADirectoryError as exc:
        raise InputError(path, "is a folder, not a JSON file", "check the path") from exc
    except UnicodeDecodeError as exc:
        raise InputError(path, f"not UTF-8 text (byte {exc.start}: {exc.reason})",
                         "save the file as UTF-8 (JSON files must be Unicode)") from exc
    except json.JSONDecodeError as exc:
        raise InputError(path, f"not valid JSON ({exc.msg} at line {exc.lineno})",
                         "regenerate the file or fix its syntax") from exc


def jsonable(obj: Any) -> Any:
    """`json.dump`'s `default`: serialise numpy scalars/arrays, paths and tuples-as-lists."""
    if hasattr(obj, "tolist"):
        return obj.tolist()
    if isinstance(obj, Path):
        return str(obj)
    if isinstance(obj, set | frozenset):
        return sorted(obj)
    raise TypeError(f"not JSON serialisable: {type(obj).__name__}")
