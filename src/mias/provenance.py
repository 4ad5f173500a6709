"""Which prepared data a record was made from, and the refusal when PREP has changed since.

A search, a final training and an export each record the fingerprint of the PREP they read
(its manifest and splits). PREP can be prepared again at the same path, or a record edited
to name another task's PREP; the stages after it then compare before they read a voxel, so
a model is never trained, scored, exported or reported on data it was not searched on.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

from mias.errors import InputError


def prep_fingerprint(root: Path, splits: dict[str, Any] | None = None) -> str:
    """PREP's identity: its manifest's bytes and its train/val/test split (16 hex digits).

    `splits` is splits.json's content when the caller has read it already."""
    root = Path(root)
    if splits is None:
        with open(root / "splits.json", encoding="utf-8") as fh:
            splits = json.load(fh)
    digest = hashlib.sha256((root / "manifest.json").read_bytes())
    digest.update(json.dumps({k: splits[k] for k in ("train", "val", "test") if k in splits},
                             sort_keys=True).encode())
    return digest.hexdigest()[:16]


def check_same_prep(found: str, recorded: Any, *, prep: Path, record: Path,
                    rerun: str) -> None:
    """Refuse PREP when `record` was made from other prepared data than PREP holds now.

    A record without a fingerprint (`recorded` None) predates the check and is let through.
    """
    if recorded is None or recorded == found:
        return
    raise InputError(record, f"was made from other prepared data than {prep} holds now "
                             f"(fingerprint {recorded}, PREP is {found}): PREP was prepared "
                             "again, or the record names another task's PREP",
                     f"restore the PREP it was made from, or {rerun}")


def check_same_arch(found: str, recorded: Any, *, record: Path, rerun: str) -> None:
    """Refuse a stage's record that belongs to another architecture than the run's search
    chose (a folder copied in from another run, or a search re-run after training)."""
    if recorded is None or recorded == found:
        return
    raise InputError(record, f"belongs to architecture {recorded}, while this run's search "
                             f"chose {found}", rerun)
