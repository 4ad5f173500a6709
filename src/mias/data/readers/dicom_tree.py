"""Walk a DICOM tree: which files are DICOM (by content, not by name) and which are not.

PACS exports name files `00017`, `IM0001`, `1.2.840…` or `x.dcm`; only the Part 10 marker
('DICM' after a 128-byte preamble) tells them apart from notes, thumbnails and tables,
which are skipped and counted rather than fatal.
"""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from mias.data.readers.labels import LABELS_DIR
from mias.data.readers.participants import PARTICIPANTS_FILE

DICOM_SUFFIXES = (".dcm", ".dicom", ".dic", ".ima")
# Files of the layout itself, or that operating systems and viewers drop into folders.
_IGNORED_FILES = {"DICOMDIR", "Thumbs.db", "desktop.ini", PARTICIPANTS_FILE}


@dataclass(frozen=True)
class TreeFiles:
    """The files under a dataset folder: DICOM Part 10 files, and the others."""

    dicom: tuple[Path, ...]
    other: tuple[Path, ...]


def looks_like_dicom(path: Path) -> bool:
    """A Part 10 file: 128-byte preamble then 'DICM'."""
    try:
        with open(path, "rb") as fh:
            fh.seek(128)
            return fh.read(4) == b"DICM"
    except OSError:
        return False


def walk(container: Path) -> Iterator[Path]:
    """Every file under `container` in a stable order, except hidden files, the masks
    folder `labels/` beside the images, and directory/OS files."""
    for parent, dirs, names in os.walk(container):
        top = Path(parent) == container
        dirs[:] = sorted(d for d in dirs if not d.startswith(".")
                         and not (top and d == LABELS_DIR))
        yield from (Path(parent) / n for n in sorted(names)
                    if not n.startswith(".") and n not in _IGNORED_FILES)


def tree_files(container: Path) -> TreeFiles:
    dicom, other = [], []
    for path in walk(container):
        (dicom if looks_like_dicom(path) else other).append(path)
    return TreeFiles(tuple(dicom), tuple(other))


def dicom_stem(path: Path) -> str:
    """The file name without a DICOM extension (`00017.dcm` → `00017`); a name such as
    `1.2.840.5` keeps its dots, since they are part of the name."""
    name = path.name
    for suffix in DICOM_SUFFIXES:
        if name.lower().endswith(suffix) and len(name) > len(suffix):
            return name[:-len(suffix)]
    return name


def skipped_note(other: Sequence[Path]) -> str | None:
    """A warning counting the skipped files by extension (names may identify a patient)."""
    if not other:
        return None
    kinds = Counter(p.suffix.lower() or "(no extension)" for p in other)
    listed = ", ".join(f"{n} {kind}" for kind, n in sorted(kinds.items()))
    note = f"skipped {len(other)} file(s) that are not DICOM Part 10 files: {listed}"
    if any(kind in DICOM_SUFFIXES for kind in kinds):
        note += " (a DICOM-named file without the 'DICM' header: re-export it as Part 10, " \
                "e.g. `dcmconv +F`, if it is an image)"
    return note
