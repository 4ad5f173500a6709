"""Final-or-absent items of a resumable output, each tied to a fingerprint of its inputs.

A resumed run reuses an item only when its record says it was made from the same inputs
and settings (file sizes and modification times, plus whatever the caller hashes in);
anything else is redone. The record is dropped before an item is rewritten and written
after it, so a crash in between can never pair an old record with new data, or a new
record with old data.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mias.atomic import jsonable, write_json


def fingerprint(*parts: Any) -> str:
    """A stable hash of JSON-able parts (paths, tuples and numpy values included)."""
    blob = json.dumps(parts, sort_keys=True, default=jsonable, separators=(",", ":"))
    return hashlib.sha256(blob.encode()).hexdigest()


def file_stamp(path: str | Path) -> list[Any]:
    """Identity of a file's content as `make` and `rsync` judge it: path, size, mtime (ns).

    A folder (e.g. a DICOM series) is stamped by every file in it.
    """
    path = Path(path)
    if path.is_dir():
        return [str(path), [file_stamp(p) for p in sorted(path.rglob("*")) if p.is_file()]]
    try:
        st = path.stat()
    except OSError:
        return [str(path), None]
    return [str(path), st.st_size, st.st_mtime_ns]


@dataclass(frozen=True)
class Ledger:
    """Records of finished items under `folder` (one small JSON each: safe across workers)."""

    folder: Path

    def _record(self, item: str) -> Path:
        return self.folder / f"{item}.json"

    def finished(self, item: str, key: str, *outputs: Path) -> dict[str, Any] | None:
        """The stored result of `item` if it was finished from inputs with fingerprint
        `key` and its `outputs` still exist; otherwise None (redo it)."""
        try:
            entry = json.loads(self._record(item).read_bytes())
        except (OSError, ValueError):
            return None
        if not isinstance(entry, dict) or entry.get("fingerprint") != key:
            return None
        if not all(Path(p).is_file() for p in outputs):
            return None
        return entry.get("result", {})

    def forget(self, item: str) -> None:
        """Drop the record before `item` is rewritten."""
        self._record(item).unlink(missing_ok=True)

    def finish(self, item: str, key: str, result: dict[str, Any]) -> None:
        """Record `item` as final, made from inputs with fingerprint `key`."""
        write_json(self._record(item), {"fingerprint": key, "result": result})
