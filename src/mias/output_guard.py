"""Refuse, before any work starts, an output that would lose data or cannot be written.

`--overwrite` replaces only a folder that MIAS wrote itself (it carries `MARKER`, which
names the stage that wrote it and lists the files it wrote), and never the input, a folder
holding the input, a folder inside it, another stage's output, or a file the user added
there: `mias prepare DATA --out DATA --overwrite` must not delete the dataset, and `mias
predict MODEL SCANS --out RUN --overwrite` must not delete the run. Writability and free
space are checked up front, so a run does not fail at its last step after minutes of work.

A command declares its stage and inputs once (`command`); every output written inside it,
by whichever library function, is then checked against them.
"""

from __future__ import annotations

import contextlib
import contextvars
import json
import os
import re
import shutil
import tempfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from mias import __version__
from mias.errors import InputError

MARKER = ".mias-output"
# Room in a file name for the temporary suffixes (".partial", ".tmp-<pid>-<random>").
_SUFFIX_ROOM = 40
# The stage of markers written without a declared command (library calls, older mias):
# it matches any stage, since it says nothing about which one wrote the folder.
ANY_STAGE = "output"
# Files mias itself keeps inside an output besides those the marker lists.
_OWN_FILES = re.compile(r"^(\.mias-output|\.mias-partial\.json|\..+\.(tmp|old)-\d+.*)$")
_SHOWN = 8


@dataclass(frozen=True)
class Command:
    """What the running command writes for and reads: its stage and its input paths.

    `out_option` is the option that chooses its output (None for `train`, `evaluate`,
    `export` and `report`, whose output is a fixed folder of RUN), so fix texts name an
    option the command has.
    """

    stage: str
    inputs: tuple[Path, ...] = ()
    out_option: str | None = "--out"


_COMMAND: contextvars.ContextVar[Command | None] = contextvars.ContextVar("mias_command",
                                                                          default=None)


@contextlib.contextmanager
def command(stage: str, inputs: Iterable[str | Path | None] = (),
            out_option: str | None = "--out") -> Iterator[Command]:
    """Declare the running command, so every output written inside is guarded against its
    inputs and marked with its stage (commands nest: `mias run` declares each stage)."""
    declared = Command(stage, tuple(Path(p) for p in inputs if p is not None), out_option)
    token = _COMMAND.set(declared)
    try:
        yield declared
    finally:
        _COMMAND.reset(token)


def elsewhere(final: str | Path) -> str:
    """The fix for an output that cannot be used, in the running command's terms."""
    cmd = _COMMAND.get()
    if cmd is not None and cmd.out_option is None:
        return f"move {final} out of the way (or delete it), then re-run mias {cmd.stage}"
    option = cmd.out_option if cmd is not None else "--out"
    return f"choose another {option}"


def _stage_of(stage: str | None) -> str:
    if stage is not None and stage != ANY_STAGE:
        return stage
    cmd = _COMMAND.get()
    return cmd.stage if cmd is not None else ANY_STAGE


def write_marker(folder: Path, stage: str = ANY_STAGE) -> None:
    """Mark `folder` as an output of `stage` listing the files in it now, so a later
    `--overwrite` may replace these files and refuses to delete any other."""
    _write_meta(folder, {"written_by": f"mias {_stage_of(stage)}", "stage": _stage_of(stage),
                         "mias_version": __version__, "files": sorted(_files(folder))})


def _write_meta(folder: Path, meta: dict[str, object]) -> None:
    path = folder / MARKER
    tmp = path.with_name(f"{MARKER}.tmp-{os.getpid()}")
    tmp.write_text(json.dumps(meta, sort_keys=True) + "\n", encoding="utf-8")
    os.replace(tmp, path)


def record_written(path: str | Path) -> None:
    """Add `path`, written by mias into a finished output after its marker (a latency
    table in PREP), to that output's list, so `--overwrite` may replace it later."""
    path = Path(path)
    meta = _marker(path.parent)
    if meta is None or not isinstance(meta.get("files"), list):
        return
    if path.name not in meta["files"]:
        meta["files"] = sorted([*meta["files"], path.name])
        _write_meta(path.parent, meta)


def _marker(folder: Path) -> dict | None:
    try:
        meta = json.loads((Path(folder) / MARKER).read_bytes())
    except (OSError, ValueError):
        return None
    return meta if isinstance(meta, dict) else None


def output_stage(folder: str | Path) -> str | None:
    """The stage that wrote `folder`, or None when it is not a MIAS output."""
    meta = _marker(Path(folder))
    stage = meta.get("stage") if meta is not None else None
    return stage if isinstance(stage, str) else None


def _files(folder: Path) -> set[str]:
    """Every file and link under `folder`, as POSIX paths relative to it (links not followed)."""
    found: set[str] = set()
    for root, dirs, names in os.walk(folder):
        base = Path(root).relative_to(folder)
        links = [d for d in dirs if os.path.islink(os.path.join(root, d))]
        for name in [*names, *links]:
            if not _OWN_FILES.match(name):
                found.add((base / name).as_posix())
        dirs[:] = [d for d in dirs if d not in links]
    return found


def foreign_files(folder: str | Path) -> list[str]:
    """Files under a mias output that its marker does not list: the user's, never deleted.

    A subfolder with its own marker is judged by that marker; a marker without a list
    (written by an older mias) vouches for nothing.
    """
    folder = Path(folder)
    meta = _marker(folder) or {}
    listed = meta.get("files")
    own = set(listed) if isinstance(listed, list) else set()
    foreign: list[str] = []
    for entry in sorted(folder.iterdir()):
        name = entry.name
        if _OWN_FILES.match(name) or name in own:
            continue
        if entry.is_dir() and not entry.is_symlink():
            if (entry / MARKER).is_file():
                foreign += [f"{name}/{f}" for f in foreign_files(entry)]
            else:
                foreign += [f for f in (f"{name}/{f}" for f in sorted(_files(entry)))
                            if f not in own]
        else:
            foreign.append(name)
    return foreign


def check_output(final: str | Path, *, overwrite: bool = False,
                 inputs: Iterable[str | Path | None] = (), exists_fix: str | None = None,
                 stage: str | None = None, replace: bool = True) -> None:
    """Raise `InputError` unless `final` can be (re)placed without losing anything.

    `inputs` are the paths the run reads (the declared command's are added); the output
    may be none of them, hold none of them and lie inside none of them. An existing output
    is replaced only with `overwrite`, only when the same stage wrote it (`stage`, else the
    declared command's) and, with `replace`, only when it holds no file the user added.
    `replace=False` checks a folder that is added to, never deleted (a run folder).
    `exists_fix` is the advice for an existing non-empty output.
    """
    final = Path(final)
    cmd = _COMMAND.get()
    check_not_root(final)
    _check_apart(final, [*inputs, *(cmd.inputs if cmd is not None else ())])
    try:
        exists, is_dir = final.exists(), final.is_dir()
        busy = is_dir and any(final.iterdir())
    except OSError as exc:
        raise InputError(final, f"the output path cannot be inspected ({exc.strerror})",
                         elsewhere(final)) from exc
    if exists and not is_dir:
        raise InputError(final, "the output path exists and is not a directory",
                         elsewhere(final))
    if busy and not overwrite:
        raise InputError(final, "the output directory exists and is not empty",
                         exists_fix or f"{elsewhere(final)}, or pass --overwrite to replace "
                                       "an earlier mias output there")
    if busy:
        _check_owned(final, _stage_of(stage), replace)
    _check_writable(final)


def check_output_file(path: str | Path, *, overwrite: bool = False,
                      inputs: Iterable[str | Path | None] = (), option: str = "--out",
                      example: str = "result.json") -> None:
    """Raise `InputError` unless the file `path` (a table, a JSON result) can be written:
    not a folder, not an input, not an existing file unless `overwrite`, in a writable
    folder. Checked before any work, so a long run does not fail at its last step."""
    path = Path(path)
    cmd = _COMMAND.get()
    check_not_root(path)
    target = _resolved(path)
    for given in [*inputs, *(cmd.inputs if cmd is not None else ())]:
        if given is not None and (target == _resolved(Path(given))
                                  or target in _resolved(Path(given)).parents):
            raise InputError(path, f"{option} is the input {given} (or inside it): writing "
                                   "there would replace what this command reads",
                             f"choose another {option}")
    if path.is_dir():
        raise InputError(path, f"{option} is a folder, not a file",
                         f"give a file name, e.g. {path / example}")
    if path.exists() and not overwrite:
        raise InputError(path, "the file exists", f"choose another {option}, or pass "
                                                  "--overwrite to replace it")
    anchor = _existing_ancestor(path)
    if not anchor.is_dir():
        raise InputError(path, f"{anchor} is a file, so no folder can be created under it",
                         f"choose another {option}")
    try:
        handle, probe = tempfile.mkstemp(prefix=".mias-write-test-", dir=anchor)
        os.close(handle)
        os.unlink(probe)
    except OSError as exc:
        raise InputError(path, f"cannot write in {anchor} ({exc.strerror or exc})",
                         f"choose another {option} in a folder you can write to") from exc


def check_work_folder(work: str | Path, *, inputs: Iterable[str | Path | None] = (),
                      option: str = "--work") -> None:
    """Raise `InputError` unless `work` can hold a command's resumable work files: it is
    added to across runs and never replaced, so it needs no marker, but it may neither be,
    hold nor lie inside an input, nor be a file, nor sit where nothing can be written."""
    work = Path(work)
    cmd = _COMMAND.get()
    check_not_root(work)
    _check_apart(work, [*inputs, *(cmd.inputs if cmd is not None else ())], option=option)
    if work.exists() and not work.is_dir():
        raise InputError(work, f"{option} is a file, not a folder",
                         f"choose another {option}: a folder (it is created when missing)")
    anchor = work if work.is_dir() else _existing_ancestor(work)
    if not anchor.is_dir():
        raise InputError(work, f"{anchor} is a file, so no folder can be created under it",
                         f"choose another {option}")
    try:
        os.rmdir(tempfile.mkdtemp(prefix=".mias-write-test-", dir=anchor))
    except OSError as exc:
        raise InputError(work, f"cannot write in {anchor} ({exc.strerror or exc})",
                         f"choose a {option} in a folder you can write to") from exc


def _check_owned(final: Path, stage: str, replace: bool) -> None:
    """`final` is this stage's earlier output and, if it will be replaced, holds only the
    files that stage wrote."""
    found = output_stage(final)
    if found is None:
        raise InputError(final, f"the folder is not a mias output (it has no {MARKER} file), "
                                "so --overwrite will not replace it",
                         f"{elsewhere(final)}: mias replaces only folders it wrote itself")
    if ANY_STAGE not in (found, stage) and found != stage:
        raise InputError(final, f"the folder is the output of `mias {found}`, so `mias "
                                f"{stage}` will not replace it",
                         f"{elsewhere(final)}: an output of mias {stage} may replace only an "
                         f"earlier output of mias {stage}")
    if not replace:
        return
    if not isinstance((_marker(final) or {}).get("files"), list):
        raise InputError(final, "the folder was written by an older mias that did not list "
                                "its files, so mias cannot tell a file you added from its own",
                         f"{elsewhere(final)}, or delete {final} yourself once nothing in it "
                         "is yours")
    foreign = foreign_files(final)
    if foreign:
        shown = ", ".join(foreign[:_SHOWN])
        more = f" and {len(foreign) - _SHOWN} more" if len(foreign) > _SHOWN else ""
        raise InputError(final, f"the folder holds {len(foreign)} file(s) mias did not write "
                                f"there ({shown}{more}); replacing it would delete them",
                         f"move these files out of {final}, then re-run the command"
                         + ("" if _option() == "an output" else f", or {elsewhere(final)}"))


def _resolved(path: Path) -> Path:
    return Path(os.path.realpath(path))


def check_not_root(final: str | Path) -> None:
    """Refuse `/` or the home folder as an output (or a run folder holding outputs)."""
    final = Path(final)
    out = _resolved(final)
    if out == out.parent or out == _resolved(Path.home()):
        where = "the root of the file system" if out == out.parent else "your home folder"
        raise InputError(final, f"the output is {where}, which mias never uses as an "
                                "output", f"{elsewhere(final)}, inside a folder of yours")


def _check_apart(final: Path, inputs: Iterable[str | Path | None],
                 option: str | None = None) -> None:
    """`final` is none of `inputs`, holds none and lies inside none. `option` names the
    option that chose a folder added to, never replaced (a work folder), for the message
    (default: an output of the declared command)."""
    out = _resolved(final)
    given_inputs = [Path(g) for g in inputs if g is not None]
    sources = [_resolved(g) for g in given_inputs]
    for given, src in zip(given_inputs, sources, strict=True):
        if out == src:
            problem = "is the input itself"
            why = "replacing it would delete the input"
        elif out in src.parents:
            problem = f"contains the input {given}"
            why = "replacing it would delete the input"
        elif src in out.parents:
            problem = f"lies inside the input {given}"
            why = "the output would be mixed into it"
        else:
            continue
        if option is not None:
            why = "its work files would be mixed into the input"
        base = src if src in out.parents else out
        beside = base.parent / f"{base.name}-{_stage_of(None)}"
        clear = all(not (beside == s or beside in s.parents or s in beside.parents)
                    for s in sources)
        example = f", e.g. {beside}" if clear and not beside.exists() else ""
        chosen, what = (_option(), "output") if option is None else (f"a {option}", option)
        raise InputError(final, f"the {what} folder {problem}: {why}",
                         f"choose {chosen} outside every input{example}")


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
                         f"choose {_option()} whose parent is a folder")
    name_max = _name_max(anchor)
    if len(os.fsencode(final.name)) + _SUFFIX_ROOM > name_max:
        raise InputError(final, f"the folder name is too long for this file system "
                                f"(at most {name_max - _SUFFIX_ROOM} bytes here)",
                         f"choose a shorter {_option()} name")
    try:
        os.rmdir(tempfile.mkdtemp(prefix=".mias-write-test-", dir=anchor))
    except OSError as exc:
        raise InputError(final, f"cannot write in {anchor} ({exc.strerror or exc})",
                         writable_fix(anchor)) from exc


def _option() -> str:
    cmd = _COMMAND.get()
    if cmd is None:
        return "an --out"
    return f"an {cmd.out_option}" if cmd.out_option else "an output"


def writable_fix(folder: str | Path) -> str:
    """The fix for an output folder that cannot be written, in the command's terms."""
    cmd = _COMMAND.get()
    if cmd is not None and cmd.out_option is None:
        return f"make {folder} writable (and free some space there), then re-run mias {cmd.stage}"
    return f"choose {_option()} in a folder you can write to"


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
