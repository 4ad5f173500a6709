"""Labels: NIfTI masks (segmentation) and `case,label` tables (classification, regression).

Masks must lie on their image's grid: a mask that is off by a flip or a shift trains a
network on the wrong anatomy without any error, so the grids are compared up front.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from mias.data.readers.grid import Grid
from mias.data.readers.nifti import is_nifti, load_mask, nifti_stem, read_info
from mias.errors import InputError

LABELS_DIR = "labels"
# Integer labels with at most this many distinct values are read as classes when no task is
# given; more (e.g. volumes rounded to mm³) are read as a regression target.
MAX_INFERRED_CLASSES = 20


@dataclass(frozen=True)
class LabelTable:
    """A parsed `case,label` table: the task kind, class names, and each case's target."""

    kind: str
    label_names: tuple[str, ...]
    values: dict[str, int | float]


Aliases = Mapping[str, Sequence[str]]


def case_names(keys: Sequence[str], aliases: Aliases | None = None) -> dict[str, str]:
    """Each name a case may go by → its key: the key, and every alias no other case shares."""
    aliases = aliases or {}
    owners: dict[str, set[str]] = {}
    for key in keys:
        for name in (key, *aliases.get(key, ())):
            owners.setdefault(name, set()).add(key)
    names = {name: next(iter(keys_)) for name, keys_ in owners.items() if len(keys_) == 1}
    return names | {key: key for key in keys}


def match_label_folder(folder: Path, keys: Sequence[str],
                       aliases: Aliases | None = None) -> dict[str, Path]:
    """Masks `folder/<name>.nii[.gz]` by case key, where a name is a case's key or one of
    its `aliases`; a mask without an image is an error."""
    if not folder.is_dir():
        return {}
    names = case_names(keys, aliases)
    found: dict[str, Path] = {}
    for path in sorted(p for p in folder.iterdir() if not p.name.startswith(".")):
        if not is_nifti(path):
            raise InputError(path, "not a NIfTI label mask",
                             f"keep only <case>.nii.gz masks in {folder.name}/")
        key = names.get(nifti_stem(path))
        if key is None:
            raise InputError(path, f"label mask for {nifti_stem(path)!r}, but there is no "
                                   "such case", "rename it to its image's case name, or "
                                                "remove it")
        if key in found:
            raise InputError(path, f"a second mask for case {key!r} ({found[key].name})",
                             "keep one mask per case")
        found[key] = path
    return found


def check_mask_grid(mask: Path, image_grid: Grid, image: Path) -> None:
    """The mask's header must put it on the image's voxel grid (shape and affine)."""
    info = read_info(mask)
    if info.channels != 1:
        raise InputError(mask, f"a label mask must have one channel, it has {info.channels}",
                         "store one integer label map per case")
    if not info.grid.matches(image_grid):
        raise InputError(mask, f"label grid ({info.grid.describe()}) does not match the image "
                               f"{image} ({image_grid.describe()})",
                         "write the mask on the image's grid (same shape and affine), e.g. "
                         "resample it onto the image with nearest-neighbour interpolation")


def integer_labels(data: np.ndarray, mask: Path) -> np.ndarray:
    """The mask as integers; fractional, negative or non-finite values are an error."""
    if np.issubdtype(data.dtype, np.integer):
        values = data
    else:
        if not np.all(np.isfinite(data)) or not np.all(data == np.round(data)):
            raise InputError(mask, "the mask holds non-integer values",
                             "store integer label values (0 = background)")
        values = data.astype(np.int64)
    if values.size and values.min() < 0:
        raise InputError(mask, f"the mask holds a negative label ({int(values.min())})",
                         "store labels 0..K-1 (0 = background)")
    return values


def check_label_values(values: np.ndarray, label_names: Sequence[str], mask: Path,
                       declared_in: str = "the dataset's label names") -> None:
    """Every value of the mask must name a declared label."""
    if not values.size or values.max() < len(label_names):
        return
    unknown = sorted(int(v) for v in np.unique(values) if v >= len(label_names))
    if unknown:
        raise InputError(mask, f"label value(s) {unknown} are not declared: {declared_in} "
                               f"defines 0..{len(label_names) - 1} {tuple(label_names)}",
                         "declare the label (e.g. in dataset.json 'labels') or fix the mask")


def mask_label_names(masks: Sequence[Path], folder: Path) -> tuple[str, ...]:
    """Label names for masks with no declaration: "background", "label_1"…, by value.

    The values found over all masks must be consecutive from 0, since a gap (e.g.
    {0, 1, 4}) usually means a wrong mask and would waste output channels.
    """
    found: set[int] = set()
    for path in masks:
        data, _ = load_mask(path)
        found.update(int(v) for v in np.unique(integer_labels(data, path)))
    values = sorted(found | {0})
    if values != list(range(len(values))):
        raise InputError(folder, f"mask values {values} are not consecutive",
                         f"renumber the labels to 0..{len(values) - 1} (0 = background)")
    return ("background", *(f"label_{v}" for v in values[1:]))


def read_label_table(csv: Path, keys: Sequence[str], task: str | None,
                     aliases: Aliases | None = None) -> LabelTable:
    """Parse `case,label`; every dataset case needs exactly one row and vice versa.

    A row names a case by its key or one of its `aliases` (a DICOM case: its file name
    stem, series folder name or SeriesInstanceUID). String labels are classes (sorted
    names, stored as indices); numbers are classes when integral and few
    (`MAX_INFERRED_CLASSES`), else a regression target; `task` overrides.
    """
    frame = _read_csv(csv)
    cases = frame["case"].str.strip()
    labels = frame["label"].str.strip()
    for case, count in cases.value_counts().items():
        if count > 1:
            raise InputError(csv, f"case {case!r} appears {count} times",
                             "keep one row per case")
    table = dict(zip(cases, labels, strict=True))
    for case, label in table.items():
        if not case or not label:
            raise InputError(csv, f"row for case {case!r} has an empty case or label",
                             "fill in both columns on every row")
    names = case_names(keys, aliases)
    if not any(case in names for case in table):
        raise InputError(csv, f"none of the table's {len(table)} case names matches a case "
                              f"of the dataset (first row: {next(iter(table))!r})",
                         f"name each case by {_expected(keys, aliases)}")
    rows: dict[str, str] = {}
    for case, label in table.items():
        key = names.get(case)
        if key in rows:
            raise InputError(csv, f"two rows name the same case ({case!r} and another of "
                                  "its names)", "keep one row per case")
        if key is not None:
            rows[key] = label
    for key in keys:
        if key not in rows:
            raise InputError(csv, f"case {key!r} of the dataset has no row",
                             f"add a row '{key},<label>' or remove the case from the dataset")
    for case in table:
        if case not in names:
            raise InputError(csv, f"case {case!r} is listed but the dataset has no such case "
                                  "(or several cases share that name)",
                             f"name each case by {_expected(keys, aliases)}, or remove the "
                             "row")
    return _parse_targets(csv, {k: rows[k] for k in keys}, task)


def _expected(keys: Sequence[str], aliases: Aliases | None, shown: int = 3) -> str:
    """The names the table may use, with the first cases' names as examples."""
    examples = "; ".join(" or ".join(repr(n) for n in (key, *(aliases or {}).get(key, ())))
                         for key in keys[:shown])
    more = ", …" if len(keys) > shown else ""
    return (f"the image file name without extension, the case or series folder name, or "
            f"(DICOM) the SeriesInstanceUID — expected e.g. {examples}{more}")


def _read_csv(csv: Path) -> pd.DataFrame:
    if not csv.is_file():
        raise InputError(csv, "label table not found", "check the --labels path")
    try:
        frame = pd.read_csv(csv, dtype=str, keep_default_na=False, skipinitialspace=True)
    except UnicodeDecodeError as exc:
        raise InputError(csv, f"not a readable CSV table ({exc.reason} at byte {exc.start})",
                         "save the table as UTF-8") from exc
    except (pd.errors.ParserError, pd.errors.EmptyDataError) as exc:
        raise InputError(csv, f"not a readable CSV table ({exc})",
                         "write a CSV with a header row 'case,label'") from exc
    frame.columns = [str(c).strip().lower() for c in frame.columns]
    missing = {"case", "label"} - set(frame.columns)
    if missing:
        raise InputError(csv, f"missing column(s) {sorted(missing)}",
                         "write a CSV with a header row 'case,label'")
    if frame.empty:
        raise InputError(csv, "the table has a header but no rows",
                         "add one row 'case,label' per case")
    return frame


def _parse_targets(csv: Path, raw: dict[str, str], task: str | None) -> LabelTable:
    numbers = {k: pd.to_numeric(v, errors="coerce") for k, v in raw.items()}
    numeric = all(np.isfinite(v) for v in numbers.values())
    integral = numeric and all(float(v).is_integer() for v in numbers.values())
    kind = task or ("classification" if not numeric or (
        integral and len(set(numbers.values())) <= MAX_INFERRED_CLASSES) else "regression")
    if kind == "regression":
        for key, value in numbers.items():
            if not np.isfinite(value):
                raise InputError(csv, f"case {key!r}: label {raw[key]!r} is not a number",
                                 "regression needs a finite number on every row")
        return LabelTable(kind, (), {k: float(v) for k, v in numbers.items()})
    if numeric:
        classes = sorted(set(numbers.values()))
        names = tuple(str(int(c)) if float(c).is_integer() else str(c) for c in classes)
        index = {c: i for i, c in enumerate(classes)}
        return LabelTable(kind, names, {k: index[v] for k, v in numbers.items()})
    names = tuple(sorted(set(raw.values())))
    return LabelTable(kind, names, {k: names.index(v) for k, v in raw.items()})
