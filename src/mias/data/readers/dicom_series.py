"""DICOM files → series: header reading (truncation caught early) and grouping by UID.

A case folder may hold several series (channels), non-image objects (SR, presentation
states) and stray files; this module decides which files form which image series and
rejects files that cannot be read, naming them.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import pydicom
from pydicom.dataset import Dataset
from pydicom.errors import InvalidDicomError

from mias.errors import InputError

PIXEL_DATA = 0x7FE00010
PIXEL_TAGS = (PIXEL_DATA, 0x7FE00008, 0x7FE00009)   # Pixel Data, Float and Double Float
UNDEFINED_LENGTH = 0xFFFFFFFF
# Values above this size are not read at discovery. Like `stop_before_pixels` this skips
# the voxels, but the pixel element's declared length and file offset stay known, so a
# truncated file is caught when the dataset is discovered, not hours into training.
DEFER_SIZE = 1024
RADIOGRAPHY = frozenset({"CR", "DX", "MG", "RG", "IO", "PX"})


@dataclass
class Series:
    """The files of one SeriesInstanceUID, in a stable (path) order."""

    uid: str
    files: list[tuple[Path, Dataset]] = field(default_factory=list)

    @property
    def first(self) -> Dataset:
        return self.files[0][1]

    @property
    def modality(self) -> str:
        return str(self.first.get("Modality", "") or "OT")

    @property
    def description(self) -> str:
        return str(self.first.get("SeriesDescription", "") or "").strip()

    @property
    def number(self) -> int:
        value = self.first.get("SeriesNumber")
        return int(value) if value not in (None, "") else 0

    @property
    def folder(self) -> Path:
        return self.files[0][0].parent

    def sort_key(self) -> tuple[str, int, str]:
        """Channel order: SeriesDescription, then SeriesNumber (UID breaks ties)."""
        return (self.description.lower(), self.number, self.uid)


def read_dicom(path: Path, *, pixels: bool = False) -> Dataset:
    """Read a DICOM file (headers only unless `pixels`); non-DICOM or truncated → InputError."""
    try:
        ds = pydicom.dcmread(path, defer_size=None if pixels else DEFER_SIZE)
    except InvalidDicomError as exc:
        raise InputError(path, "not a DICOM file (no 'DICM' file meta header)",
                         "remove it from the case folder, or re-export it as a DICOM "
                         "Part 10 file (e.g. `dcmconv +F`)") from exc
    except (OSError, EOFError, ValueError, TypeError, AttributeError) as exc:
        raise InputError(path, f"unreadable DICOM file ({exc})",
                         "re-export the series or remove the broken file") from exc
    _check_complete(path, ds)
    return ds


def _check_complete(path: Path, ds: Dataset) -> None:
    for tag in PIXEL_TAGS:
        if tag in ds:
            _check_element(path, ds, tag)


def _check_element(path: Path, ds: Dataset, tag: int) -> None:
    elem = ds.get_item(tag, keep_deferred=True)
    length = getattr(elem, "length", UNDEFINED_LENGTH)
    if length == UNDEFINED_LENGTH:
        return
    value = getattr(elem, "value", None)
    if value is None:
        available = path.stat().st_size - elem.value_tell
    elif isinstance(value, bytes):
        available = len(value)
    else:
        return
    if available < length:
        raise InputError(path, f"truncated: pixel data has {max(available, 0)} of {length} "
                               "bytes", "copy or export the file again")


def group_series(items: Iterable[tuple[Path, Dataset]]) -> tuple[list[Series], list[Path]]:
    """Group image files by SeriesInstanceUID; also return non-image objects (SR, PR…)."""
    by_uid: dict[str, Series] = {}
    skipped: list[Path] = []
    for path, ds in sorted(items, key=lambda item: str(item[0])):
        if "Rows" not in ds or not any(tag in ds for tag in PIXEL_TAGS):
            skipped.append(path)
            continue
        uid = str(ds.get("SeriesInstanceUID", "") or "")
        if not uid:
            raise InputError(path, "image without SeriesInstanceUID",
                             "re-export the series with a complete header")
        by_uid.setdefault(uid, Series(uid)).files.append((path, ds))
    for series in by_uid.values():
        _check_one_modality(series)
    return sorted(by_uid.values(), key=Series.sort_key), skipped


def _check_one_modality(series: Series) -> None:
    seen: dict[str, Path] = {}
    for path, ds in series.files:
        seen.setdefault(str(ds.get("Modality", "") or "OT"), path)
    if len(seen) > 1:
        names = ", ".join(f"{m} ({p.name})" for m, p in sorted(seen.items()))
        raise InputError(series.folder, f"mixed modalities inside one series: {names}",
                         "keep one modality per series (re-export the series, or remove "
                         "the stray files)")
