"""What a DICOM export holds besides cases: objects that cannot be one, and broken files.

A PACS export mixes images with reports, colour screenshots, dose grids and the odd damaged
file; like dcm2niix, discovery converts what it can and reports the rest, so that one
unusable object does not make the user fix files one at a time. An object that simply is
not a case (no pixels, colour, no geometry) is skipped and counted by reason. A BROKEN file
(unreadable, truncated, malformed header values, undecodable pixels) stops the run naming
it, unless `--skip-broken` asks to leave it out; then the rest of its series is left out
too, since a series missing a slice is no longer the volume that was acquired. The
manifest gets counts per reason only: file names may hold UIDs or patient names, so paths
are listed on the console alone.
"""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol, TypeVar

from pydicom.dataset import Dataset

from mias.errors import InputError


class _SeriesLike(Protocol):
    """What `Skips.intact` needs of a series (dicom_series.Series, which imports this module)."""

    uid: str
    files: list[tuple[Path, Dataset]]


T = TypeVar("T")
S = TypeVar("S", bound=_SeriesLike)

# Why an object is not a case (skipped whatever the options).
NON_IMAGE = "non-image object (report, presentation state…)"
LOCALIZER = "localizer image"
DERIVED = "segmentation or dose object (not an acquired image)"
NO_SERIES_UID = "image without SeriesInstanceUID"
COLOUR = "colour image (MIAS reads greyscale images)"
NO_GEOMETRY = "image without the geometry to form a case"
BROKEN_SERIES = "image of a series holding a broken file"
# Why a file is broken (fatal unless --skip-broken).
UNREADABLE = "unreadable file"
TRUNCATED = "truncated pixel data"
MALFORMED = "malformed header value"
NO_PIXELS = "image header without pixel data"
UNDECODABLE = "pixel data cannot be decoded"


class BrokenFile(InputError):
    """A damaged or malformed file: exit 2 naming it, unless `--skip-broken`.

    `reason` is one of the fixed categories above (what the manifest may count);
    `series_uid` lets the rest of the file's series be left out with it.
    """

    def __init__(self, path: str | Path | None, problem: str, reason: str,
                 fix: str = "copy or export the file again",
                 series_uid: str | None = None) -> None:
        super().__init__(path, problem, f"{fix}, or run `mias prepare` with --skip-broken "
                                        "to leave it out")
        self.reason, self.base_fix, self.series_uid = reason, fix, series_uid

    def __reduce__(self) -> tuple:
        """Survive pickling, so a worker process can report the file to the parent."""
        return (type(self), (self.path, self.problem, self.reason, self.base_fix,
                             self.series_uid))


class NoGeometry(InputError):
    """An image that cannot form a case for want of geometry (e.g. a cine run): skipped."""


def series_uid(ds: Dataset) -> str | None:
    return str(ds.get("SeriesInstanceUID", "") or "") or None


def header_int(path: Path, ds: Dataset, keyword: str, default: int | None = None,
               minimum: int | None = None) -> int:
    """An integer header value, or `BrokenFile` naming the file for a malformed one.

    Every integer MIAS reads from a header goes through here, so a value such as
    NumberOfFrames '1A' stops (or is skipped) with the file named, never a traceback.
    """
    value = ds.get(keyword)
    if value is None or value == "":
        if default is None:
            raise BrokenFile(path, f"no {keyword} in an image header", MALFORMED,
                             series_uid=series_uid(ds))
        return default
    try:
        number = int(value)
        if number != float(value):
            raise ValueError(value)
    except (TypeError, ValueError):
        raise BrokenFile(path, f"{keyword} {value!r} is not an integer", MALFORMED,
                         "fix the header or export the file again",
                         series_uid(ds)) from None
    if minimum is not None and number < minimum:
        raise BrokenFile(path, f"{keyword} {number} is below {minimum}", MALFORMED,
                         "fix the header or export the file again", series_uid(ds))
    return number


@dataclass
class Skips:
    """The tally of one scan: skipped objects and broken files by reason.

    `listing` names each broken file relative to `root`, for the console only.
    """

    skip_broken: bool = False
    root: Path | None = None
    objects: Counter[str] = field(default_factory=Counter)
    broken: Counter[str] = field(default_factory=Counter)
    listing: list[str] = field(default_factory=list)
    _broken_paths: set[str] = field(default_factory=set, init=False, repr=False)
    _broken_series: set[str] = field(default_factory=set, init=False, repr=False)

    def skip(self, reason: str, count: int = 1) -> None:
        if count > 0:
            self.objects[reason] += count

    def broken_file(self, error: BrokenFile) -> None:
        """Leave a broken file out with `--skip-broken`; otherwise stop naming it."""
        if not self.skip_broken:
            raise error
        self.broken[error.reason] += 1
        where = Path(os.path.relpath(error.path, self.root or ".")).as_posix()
        problem = " ".join(error.problem.split())   # decoders' messages span lines
        self.listing.append(f"skipped broken file {where}: {problem}")
        self._broken_paths.add(str(error.path))
        if error.series_uid:
            self._broken_series.add(error.series_uid)

    def attempt(self, action: Callable[..., T], *args: object) -> T | None:
        """`action(*args)`, or None once a `BrokenFile` it raised is left out."""
        try:
            return action(*args)
        except BrokenFile as exc:
            self.broken_file(exc)
            return None

    def intact(self, series: Sequence[S]) -> list[S]:
        """The series holding no broken file; the other files of the rest are counted."""
        kept = []
        for s in series:
            if s.uid in self._broken_series:
                self.skip(BROKEN_SERIES, sum(str(p) not in self._broken_paths
                                             for p, _ in s.files))
            else:
                kept.append(s)
        return kept

    def summary(self) -> str:
        """One line of counts per reason (no names), e.g. for an error message."""
        parts = [f"{n} {reason}" for reason, n in sorted(self.objects.items())]
        parts += [f"{n} broken: {reason}" for reason, n in sorted(self.broken.items())]
        return "; ".join(parts) or "nothing"

    def warnings(self) -> list[str]:
        """A warning per reason with its count (safe for the manifest: no names)."""
        lines = [f"skipped {n} DICOM object(s): {reason}"
                 for reason, n in sorted(self.objects.items())]
        lines += [f"skipped {n} broken DICOM file(s) (--skip-broken): {reason}"
                  for reason, n in sorted(self.broken.items())]
        return lines
