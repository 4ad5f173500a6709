"""DICOM series → cases, and what each case is called.

One series is one case, and a single-frame radiograph file is one case, wherever it lies.
The one exception keeps multi-channel datasets working: the series under one top-level
folder `DATA/<case>/` that come from one patient and one study, share one modality and lie
on one voxel grid (e.g. T1, T1c, T2, FLAIR) are the channels of one case. When such a
folder does not qualify, the reason is kept, so that a dataset whose other cases have
several channels reports it ("two patients") rather than a channel count. A series that
cannot form a case (no geometry) or holds a broken file left out by `--skip-broken` is
dropped here and counted.

A case is named after the highest folder that holds it alone (`case01`, or
`patient/study/T1` deep in a tree); a case sharing its folder with others (a flat export)
after its file name stem when it is one file, else its SeriesInstanceUID.
"""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from mias.data.readers.dicom_geometry import SeriesGeometry, series_geometry
from mias.data.readers.dicom_series import RADIOGRAPHY, Series
from mias.data.readers.dicom_skips import BROKEN_SERIES, NO_GEOMETRY, BrokenFile, NoGeometry, Skips
from mias.data.readers.dicom_tree import dicom_stem


@dataclass
class CaseDraft:
    """The series of one case (channel order), their geometry and the case's names."""

    series: list[Series]
    geometries: list[SeriesGeometry]
    key: str = ""
    aliases: tuple[str, ...] = ()

    @property
    def paths(self) -> list[Path]:
        return [p for s in self.series for p, _ in s.files]

    @property
    def folder(self) -> Path:
        """The deepest folder holding all the case's files."""
        return Path(os.path.commonpath([p.parent for p in self.paths]))


def assemble_cases(container: Path, series: Sequence[Series], skips: Skips,
                   ) -> tuple[list[CaseDraft], dict[Path, str]]:
    """Cases from the image series under `container`, plus, per top-level folder whose
    series could not be one multi-channel case, why not (see the module docstring)."""
    units: dict[Path | None, list[Series]] = {}
    for s in series:
        units.setdefault(_top_folder(container, s.files[0][0]), []).append(s)
    drafts: list[CaseDraft] = []
    reasons: dict[Path, str] = {}
    for unit, members in units.items():
        radiographs = [(one, g) for s in members if s.modality in RADIOGRAPHY
                       for one in _per_file(s) if (g := _geometry(one, skips)) is not None]
        placed = [(s, g) for s in members if s.modality not in RADIOGRAPHY
                  if (g := _geometry(s, skips)) is not None]
        volumes, geometries = [s for s, _ in placed], [g for _, g in placed]
        drafts += [CaseDraft([s], [g]) for s, g in radiographs]
        reason = None if unit is None else channel_conflict(volumes, geometries)
        if unit is not None and reason is None and volumes:
            drafts.append(CaseDraft(volumes, geometries))
            continue
        if unit is not None and reason is not None:
            reasons[unit] = reason
        drafts += [CaseDraft([s], [g]) for s, g in zip(volumes, geometries, strict=True)]
    _name(container, drafts)
    return drafts, reasons


def _geometry(series: Series, skips: Skips) -> SeriesGeometry | None:
    """The series' geometry, or None once the series is left out (counted in `skips`)."""
    try:
        return series_geometry(series)
    except NoGeometry:
        skips.skip(NO_GEOMETRY, len(series.files))
    except BrokenFile as exc:
        skips.broken_file(exc)
        skips.skip(BROKEN_SERIES, len(series.files) - 1)
    return None


def channel_conflict(series: Sequence[Series], geometries: Sequence[SeriesGeometry],
                     ) -> str | None:
    """Why these series cannot be the channels of one case (None: they can)."""
    if len(series) < 2:
        return None
    patients = {str(ds.get("PatientID", "") or "") for s in series for _, ds in s.files}
    if len(patients) > 1:
        return f"holds the series of {len(patients)} patients"
    studies = {str(ds.get("StudyInstanceUID", "") or "") for s in series for _, ds in s.files}
    if len(studies) > 1:
        return f"holds {len(studies)} studies"
    modalities = sorted({s.modality for s in series})
    if len(modalities) > 1:
        return f"mixes modalities {', '.join(modalities)}"
    first = geometries[0].grid
    for s, g in zip(series[1:], geometries[1:], strict=True):
        if not g.grid.matches(first):
            return (f"holds series {s.number} ({g.grid.describe()}) that is not on the grid "
                    f"of series {series[0].number} ({first.describe()})")
    return None


def _top_folder(container: Path, path: Path) -> Path | None:
    parts = path.relative_to(container).parts
    return container / parts[0] if len(parts) > 1 else None


def _per_file(series: Series) -> list[Series]:
    """A radiograph series as one series per file: each radiograph is a case."""
    if len(series.files) == 1:
        return [series]
    return [Series(series.uid, [item], part=i, split_reason=series.split_reason)
            for i, item in enumerate(series.files, start=1)]


def _name(container: Path, drafts: Sequence[CaseDraft]) -> None:
    """Set each draft's key and aliases (see the module docstring)."""
    holders: Counter[Path] = Counter()
    for draft in drafts:
        holders.update(_ancestors(container, draft.folder))
    for draft in drafts:
        own = [f for f in reversed(_ancestors(container, draft.folder)) if holders[f] == 1]
        paths = draft.paths
        aliases = []
        if own:
            draft.key = own[0].relative_to(container).as_posix()
            aliases += [own[0].name, draft.folder.name]
        elif len(paths) == 1:
            draft.key = Path(os.path.relpath(paths[0], container)).parent.joinpath(
                dicom_stem(paths[0])).as_posix()
        else:
            first = draft.series[0]
            draft.key = first.uid if not first.part else f"{first.uid}#{first.part}"
        if len(paths) == 1:
            aliases.append(dicom_stem(paths[0]))
        aliases += [s.uid for s in draft.series]
        draft.aliases = tuple(dict.fromkeys(a for a in aliases if a != draft.key))


def _ancestors(container: Path, folder: Path) -> list[Path]:
    """`folder` and its parents below `container` (deepest first)."""
    rel = folder.relative_to(container).parts
    return [container.joinpath(*rel[:n]) for n in range(len(rel), 0, -1)]
