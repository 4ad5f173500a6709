"""Format readers by name (a registry), and which one a dataset folder calls for.

Each layout (MSD, nnU-Net v2, plain NIfTI, DICOM) is one small reader registered here;
`detect_format` asks them in priority order, so a new layout is one new module, not an
edit to a chain of `if`s.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable
from pathlib import Path
from typing import Any, ClassVar

from mias.data.readers.source import Scan
from mias.errors import InputError


class FormatReader(ABC):
    """Recognises one dataset layout and scans it into header-level case drafts."""

    name: ClassVar[str]

    @abstractmethod
    def matches(self, root: Path) -> bool:
        """Whether `root` looks like this layout (cheap: file names, a few magic bytes)."""

    @abstractmethod
    def scan(self, root: Path) -> Scan:
        """Read every case's headers (never the voxels) and validate the layout."""


_READERS: dict[str, tuple[int, type[FormatReader]]] = {}


def register_reader(name: str, *, priority: int) -> Callable[[type[FormatReader]],
                                                              type[FormatReader]]:
    """Register a reader class; lower `priority` is asked first by `detect_format`."""

    def wrap(cls: type[FormatReader]) -> type[FormatReader]:
        if name in _READERS:
            raise ValueError(f"format reader {name!r} is already registered")
        cls.name = name
        _READERS[name] = (priority, cls)
        return cls

    return wrap


def available_readers() -> list[str]:
    return sorted(_READERS, key=lambda n: _READERS[n][0])


def create_reader(name: str, **cfg: Any) -> FormatReader:
    try:
        return _READERS[name][1](**cfg)
    except KeyError:
        raise KeyError(f"unknown format {name!r}; known: {available_readers()}") from None


def detect_format(root: Path) -> str:
    """The name of the first reader whose layout `root` matches, or an `InputError`."""
    if not root.exists():
        raise InputError(root, "dataset folder not found", "check the DATA path")
    if not root.is_dir():
        raise InputError(root, "not a folder", "pass the dataset folder, not a file in it")
    if not any(p for p in root.iterdir() if not p.name.startswith(".")):
        raise InputError(root, "the dataset folder is empty",
                         "point to the folder holding the images (dataset.json, *.nii.gz "
                         "files, or DICOM files in any folder tree)")
    for name in available_readers():
        if create_reader(name).matches(root):
            return name
    raise InputError(root, "no readable images found (no dataset.json, no *.nii/*.nii.gz "
                           "files, no DICOM Part 10 file anywhere below it)",
                     "use one of the layouts: MSD or nnU-Net v2 (dataset.json), NIfTI files "
                     "with optional labels/, or DICOM files in any folder tree (see the "
                     "README's data-preparation section)")
