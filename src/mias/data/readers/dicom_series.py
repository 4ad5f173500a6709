"""DICOM files → series: header reading (truncation caught early) and grouping by UID.

A dataset tree may hold many series (cases or channels), non-image objects (SR,
presentation states), colour screenshots and stray files; this module decides which files
form which image series, the way dcm2niix does: by SeriesInstanceUID, split further where
the orientation, image size or modality changes inside one UID. Objects that cannot be an
image of a case are counted and skipped; broken files are named (see dicom_skips).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pydicom
from pydicom.dataset import Dataset
from pydicom.errors import InvalidDicomError
from pydicom.uid import DeflatedExplicitVRLittleEndian

from mias.data.readers.dicom_skips import (
    COLOUR,
    DERIVED,
    NO_PIXELS,
    NO_SERIES_UID,
    NON_IMAGE,
    TRUNCATED,
    UNREADABLE,
    BrokenFile,
    Skips,
    header_int,
    series_uid,
)
from mias.errors import InputError

PIXEL_DATA = 0x7FE00010
PIXEL_TAGS = (PIXEL_DATA, 0x7FE00008, 0x7FE00009)   # Pixel Data, Float and Double Float
UNDEFINED_LENGTH = 0xFFFFFFFF
# Values above this size are not read at discovery. Like `stop_before_pixels` this skips
# the voxels, but the pixel element's declared length and file offset stay known, so a
# truncated file is caught when the dataset is discovered, not hours into training.
DEFER_SIZE = 1024
RADIOGRAPHY = frozenset({"CR", "DX", "MG", "RG", "IO", "PX"})
# Objects with pixels that are not acquired images: segmentations and dose grids.
DERIVED_MODALITIES = frozenset({"SEG", "RTDOSE"})
# Integer headers checked once per image at grouping: (keyword, default, minimum).
_INTEGERS = (("Rows", None, 1), ("Columns", None, 1), ("SamplesPerPixel", 1, 1),
             ("NumberOfFrames", 1, 1), ("SeriesNumber", 0, None))
_ORIENTATION_ATOL = 1e-4


@dataclass
class Series:
    """The files of one SeriesInstanceUID, in a stable (path) order.

    `part` numbers the pieces of a UID that was split (0: not split), `split_reason` says
    what changed inside it.
    """

    uid: str
    files: list[tuple[Path, Dataset]] = field(default_factory=list)
    part: int = 0
    split_reason: str | None = None

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
        return header_int(self.files[0][0], self.first, "SeriesNumber", 0)

    @property
    def folder(self) -> Path:
        return self.files[0][0].parent

    def sort_key(self) -> tuple[str, int, str, int]:
        """Channel order: SeriesDescription, then SeriesNumber (UID and part break ties)."""
        return (self.description.lower(), self.number, self.uid, self.part)


def read_dicom(path: Path, *, pixels: bool = False) -> Dataset:
    """Read a DICOM file (headers only unless `pixels`); unreadable or truncated → BrokenFile.

    pydicom raises many kinds of error on a damaged file; any of them means the file is
    broken, and must name it rather than end in a traceback. A deflated file is inflated
    into memory whole, where a deferred value cannot be read back from the file: it is
    read at once.
    """
    try:
        ds = pydicom.dcmread(path, defer_size=None if pixels else DEFER_SIZE)
        if not pixels and ds.file_meta.get("TransferSyntaxUID") == \
                DeflatedExplicitVRLittleEndian:
            ds = pydicom.dcmread(path)
    except InvalidDicomError as exc:
        raise BrokenFile(path, "not a DICOM file (no 'DICM' file meta header)", UNREADABLE,
                         "remove it from the case folder, or re-export it as a DICOM "
                         "Part 10 file (e.g. `dcmconv +F`)") from exc
    except Exception as exc:
        raise BrokenFile(path, f"unreadable DICOM file ({exc})", UNREADABLE,
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
        raise BrokenFile(path, f"truncated: pixel data has {max(available, 0)} of {length} "
                               "bytes", TRUNCATED, series_uid=series_uid(ds))


def group_series(items: Iterable[tuple[Path, Dataset]], skips: Skips) -> list[Series]:
    """Group image files into series; what cannot be one is counted in `skips`.

    A broken file (an image header without pixel data, a malformed integer) goes to
    `skips.broken_file`; a UID holding two patients' images is an error; a UID whose
    orientation, size or modality changes is split into parts, each a series of its own.
    """
    by_uid: dict[str, list[tuple[Path, Dataset]]] = {}
    for path, ds in sorted(items, key=lambda item: str(item[0])):
        try:
            reason = _unusable(path, ds)
        except BrokenFile as exc:
            skips.broken_file(exc)
            continue
        if reason:
            skips.skip(reason)
            continue
        by_uid.setdefault(str(ds.SeriesInstanceUID), []).append((path, ds))
    series = [part for uid, files in by_uid.items() for part in _split(uid, files)]
    return sorted(series, key=Series.sort_key)


def _unusable(path: Path, ds: Dataset) -> str | None:
    """Why a file cannot be an image of a case (None: it can); a broken one raises.

    Colour is read from the header, so that a colour screenshot is skipped at discovery
    rather than failing when its pixels are decoded.
    """
    if not any(tag in ds for tag in PIXEL_TAGS):
        if "Rows" in ds:
            raise BrokenFile(path, "an image header (Rows/Columns) without pixel data",
                             NO_PIXELS, "export the file again, or remove it", series_uid(ds))
        return NON_IMAGE
    if "Rows" not in ds:
        return NON_IMAGE
    values = {keyword: header_int(path, ds, keyword, default, minimum)
              for keyword, default, minimum in _INTEGERS}
    if str(ds.get("Modality", "") or "").upper() in DERIVED_MODALITIES:
        return DERIVED
    if not series_uid(ds):
        return NO_SERIES_UID
    photometric = str(ds.get("PhotometricInterpretation", "") or "").strip().upper()
    if values["SamplesPerPixel"] > 1 or photometric == "PALETTE COLOR":
        return COLOUR
    return None


def _split(uid: str, files: list[tuple[Path, Dataset]]) -> list[Series]:
    """One UID's files → one series per (modality, image size, orientation) found."""
    whole = Series(uid, files)
    patients = {str(ds.get("PatientID", "") or "") for _, ds in files}
    if len(patients) > 1:
        raise InputError(whole.folder, f"series {whole.number} holds images of "
                                       f"{len(patients)} patients under one "
                                       "SeriesInstanceUID", "export each patient's series "
                                                            "again: their UIDs collide")
    parts: list[tuple[tuple[str, int, int], np.ndarray | None, Series]] = []
    for path, ds in files:
        shape = (str(ds.get("Modality", "") or "OT"), header_int(path, ds, "Rows"),
                 header_int(path, ds, "Columns"))
        iop = _orientation(ds)
        for key, ref, part in parts:
            if key == shape and _same_orientation(ref, iop):
                part.files.append((path, ds))
                break
        else:
            parts.append((shape, iop, Series(uid, [(path, ds)])))
    if len(parts) == 1:
        return [whole]
    keys = [key for key, _, _ in parts]
    changed = [what for what, differs in (
        ("modality", len({k[0] for k in keys}) > 1),
        ("image size", len({k[1:] for k in keys}) > 1),
        ("orientation", any(not _same_orientation(parts[0][1], ref) for _, ref, _ in parts)),
    ) if differs]
    reason = f"series {whole.number} split into {len(parts)}: its {' and '.join(changed)} " \
             "changes inside one SeriesInstanceUID"
    for index, (_, _, part) in enumerate(parts, start=1):
        part.part, part.split_reason = index, reason
    return [part for _, _, part in parts]


def _orientation(ds: Dataset) -> np.ndarray | None:
    try:
        values = np.asarray([float(v) for v in ds.get("ImageOrientationPatient") or ()])
    except (TypeError, ValueError):
        return None
    return values if values.shape == (6,) else None


def _same_orientation(a: np.ndarray | None, b: np.ndarray | None) -> bool:
    if a is None or b is None:
        return a is None and b is None
    return bool(np.allclose(a, b, atol=_ORIENTATION_ATOL))
