"""The 11 MED-NAS-Bench tasks and how each becomes a prepared dataset (PREP).

Ten Decathlon segmentation tasks plus brain-tumour detection (a case-level label derived
from the Task01 masks). Each task reads the user's Decathlon folder when `msd_root` holds
it (original `TaskNN_Name` or nnU-Net v2 `DatasetNNN_Name` layout; the readers handle both),
and otherwise a synthetic stand-in with the task's modality, channels, labels and
anisotropy, scaled down so hundreds of networks train on a laptop. Either way the data goes
through the normal `mias prepare`, so the benchmark's search spaces are the ones MIAS
itself would search.
"""

from __future__ import annotations

import csv
import re
from dataclasses import dataclass
from pathlib import Path

from mias.errors import InputError
from mias.registry import Registry

DETECTION_MIN_VOXELS = 3


@dataclass(frozen=True)
class BenchTask:
    """One benchmark task.

    `number` is the Decathlon task number, `standin` the synthetic generator, `standin_shape`
    the prepared input shape of the stand-in (the real data's shape is planned by `prepare`).
    `lesion` names the label whose presence per case gives detection metrics (None: any
    foreground); `detection` marks the case-level classification task built from the masks.
    """

    name: str
    number: int
    modality: str
    standin: str
    standin_shape: tuple[int, int, int]
    lesion: str | None = None
    detection: bool = False

    @property
    def kind(self) -> str:
        return "classification" if self.detection else "segmentation"

    @property
    def folder_names(self) -> tuple[str, ...]:
        """How the Decathlon folder of this task is named in the two layouts."""
        stem = "BrainTumour" if self.detection else self.name
        return (f"Task{self.number:02d}_{stem}", f"Dataset{self.number:03d}_{stem}")


TASKS: Registry[BenchTask] = Registry("benchmark task")


def _add(task: BenchTask) -> None:
    TASKS.register(task.name)(task)


for _task in (
    BenchTask("BrainTumour", 1, "MRI (FLAIR, T1w, T1gd, T2w)", "braintumour-small", (24, 24, 16),
              lesion="enhancing tumour"),
    BenchTask("Heart", 2, "MRI", "heart", (24, 24, 20)),
    BenchTask("Liver", 3, "CT", "liver", (24, 24, 16), lesion="cancer"),
    BenchTask("Hippocampus", 4, "MRI (T1w)", "hippocampus-small", (16, 24, 16)),
    BenchTask("Prostate", 5, "MRI (T2, ADC)", "prostate", (24, 24, 12)),
    BenchTask("Lung", 6, "CT", "lung", (24, 24, 16), lesion="cancer"),
    BenchTask("Pancreas", 7, "CT", "pancreas", (24, 24, 12), lesion="cancer"),
    BenchTask("HepaticVessel", 8, "CT", "hepaticvessel", (24, 24, 12), lesion="Tumour"),
    BenchTask("Spleen", 9, "CT", "spleen", (24, 24, 12)),
    BenchTask("Colon", 10, "CT", "colon", (24, 24, 12), lesion="colon cancer primaries"),
    BenchTask("BrainTumourDetection", 1, "MRI (FLAIR, T1w, T1gd, T2w)", "braintumour-small",
              (24, 24, 16), detection=True),
):
    _add(_task)


def task_names() -> list[str]:
    return TASKS.names()


def get_task(name: str) -> BenchTask:
    return TASKS.get(name)


def find_msd_folder(task: BenchTask, msd_root: Path) -> Path | None:
    """The task's folder under `msd_root` (either layout), or None if the user lacks it."""
    for name in task.folder_names:
        if (msd_root / name / "dataset.json").is_file():
            return msd_root / name
    number = re.compile(rf"(Task0*{task.number}|Dataset0*{task.number})_")
    for folder in sorted(p for p in msd_root.iterdir() if p.is_dir()):
        if number.match(folder.name) and (folder / "dataset.json").is_file():
            return folder
    return None


def detection_table(data: Path, out_csv: Path, min_voxels: int = DETECTION_MIN_VOXELS) -> Path:
    """`case,label` table for tumour detection: 1 if a case's mask has ≥ `min_voxels`
    foreground voxels. Works on both layouts: masks are `labelsTr/<case>.nii.gz`."""
    import nibabel as nib
    import numpy as np

    masks = sorted(p for p in (data / "labelsTr").glob("*.nii*") if not p.name.startswith("."))
    if not masks:
        raise InputError(data / "labelsTr", "no label masks to derive tumour detection from",
                         "point --msd-root at a Decathlon folder with labelsTr/")
    rows = []
    for path in masks:
        mask = np.asanyarray(nib.load(path).dataobj)
        rows.append((path.name.split(".nii")[0], int(np.count_nonzero(mask) >= min_voxels)))
    out_csv.parent.mkdir(parents=True, exist_ok=True)
    with out_csv.open("w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(["case", "label"])
        writer.writerows(rows)
    return out_csv
