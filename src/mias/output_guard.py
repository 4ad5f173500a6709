"""Refuse, before any work starts, an output that would lose data or cannot be written.

`--overwrite` replaces only a folder that MIAS wrote itself (it carries `MARKER`), and
never the input, a folder holding the input, or a folder inside it: `mias prepare DATA
--out DATA --overwrite` must not delete the dataset. Writability and free space are
checked up front, so a run does not fail at its last step after minutes of work.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Iterable
from pathlib import Path

from mias import __version__
from mias.errors import InputError

MARKER = ".mias-output"
# Room in a file name for the temporary suffixes (".partial", ".tmp-<pid>-<random>").
_SUFFIX_ROOM = 40


def write_marker(folder: Path, stage: str) -> None:
    """Mark `folder` as an output of `stage`, so a later `--overwrite` may replace it."""
    (folder / MARKER).write_text(json.dumps(
        {"written_by": f"mias {stage}", "stage": stage, "mias_version": __version__},
        sort_keys=True) + "\n", encoding="utf-8")


def output_stage(folder: str | Path) -> str | None:
    """The stage that wrote `folder`, or None when it is not a MIAS output."""
    try:
        meta = json.loads((Path(folder) / MARKER).read_bytes())
    except (OSError, ValueError):
        return None
    stage = meta.get("stage") if isinstance(meta, dict) else None
    return stage if isinstance(stage, str) else None


def check_output(final: str | Path, *, overwrite: bool = False,
                 inputs: Iterable[str | Path | None] = (), exists_fix: str | None = None) -> None:
    """Raise `InputError` unless `final` can be (re)placed without losing anything.

    `inputs` are the paths the run reads; the output may be none of them, hold none of them
    and lie inside none of them. `exists_fix` is the advice for an existing non-empty output
    (commands without `--overwrite` say how else to proceed).
    """
    final = Path(final)
    _check_apart(final, inputs)
    try:
        exists, is_dir = final.exists(), final.is_dir()
        busy = is_dir and any(final.iterdir())
    except OSError as exc:
        raise InputError(final, f"the output path cannot be inspected ({exc.strerror})",
                         "choose another --out") from exc
    if exists and not is_dir:
        raise InputError(final, "the output path exists and is not a directory",
                         "choose another --out")
    if busy and not overwrite:
        raise InputError(final, "the output directory exists and is not empty",
                         exists_fix or "choose another --out, or pass --overwrite to replace "
                                       "an earlier mias output there")
    if busy and output_stage(final) is None:
        raise InputError(final, f"the folder is not a mias output (it has no {MARKER} file), "
                                "so --overwrite will not replace it",
                         "choose another --out: mias replaces only folders it wrote itself")
    _check_writable(final)


def _resolved(path: Path) -> Path:
    return Path(os.path.realpath(path))


def _check_apart(final: Path, inputs: Iterable[str | Path | None]) -> None:
    out = _resolved(final)
    for given in inputs:
        if given is None:
            continue
        src = _resolved(Path(given))
        if out == src:
            problem = "is the input itself: replacing it would delete the input"
        elif out in src.parents:
            problem = f"contains the input {given}: replacing it would delete the input"
        elif src in out.parents:
            problem = f"lies inside the input {given}: the output would be mixed into it"
        else:
            continue
        beside = src.parent / f"{src.name}-out"
        raise InputError(final, f"the output folder {problem}",
                         f"choose an --out outside {given}, e.g. {beside}")


def _existing_ancestor(final: Path) -> Path:
    anchor = final.absolute().parent
    while not anchor.exists():
        anchor = anchor.parent
    return anchor


def _check_writable(final: Path) -> None:
    """The output's folder can be created and written to (probed: `os.access` lies to root)."""
    anchor = _existing_ancestor(final)
    if not anchor.is_dir():
        raise InputError(final, f"{anchor} is a file, so no folder can be created under it",
                         "choose an --out whose parent is a folder")
    name_max = _name_max(anchor)
    if len(os.fsencode(final.name)) + _SUFFIX_ROOM > name_max:
        raise InputError(final, f"the folder name is too long for this file system "
                                f"(at most {name_max - _SUFFIX_ROOM} bytes here)",
                         "choose a shorter --out name")
    try:
        os.rmdir(tempfile.mkdtemp(prefix=".mias-write-test-", dir=anchor))
    except OSError as exc:
        raise InputError(final, f"cannot write in {anchor} ({exc.strerror or exc})",
                         "choose an --out in a folder you can write to") from exc


def _name_max(folder: Path) -> int:
    try:
        return int(os.pathconf(folder, "PC_NAME_MAX"))
    except (OSError, ValueError, AttributeError):
        return 255


def check_free_space(final: str | Path, needed_bytes: int) -> None:
    """Refuse up front a run whose output would not fit on the disk."""
    final = Path(final)
    free = shutil.disk_usage(_existing_ancestor(final)).free
    if needed_bytes > free:
        raise InputError(final, f"the output needs about {needed_bytes / 2**30:.2f} GiB but "
                                f"only {free / 2**30:.2f} GiB are free there",
                         "free disk space, choose an --out on another disk, or prepare with a "
                         "smaller --input-shape")
