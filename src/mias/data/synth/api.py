"""`synthesize`: one call from task name to a complete dataset on disk, all-or-nothing."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from mias.atomic import atomic_dir, check_output
from mias.data.synth.cohort import build_cohort
from mias.data.synth.dicom import SOP_CLASSES, DicomWriter
from mias.data.synth.layout import LayoutWriter
from mias.data.synth.nifti import MsdWriter, NnunetWriter
from mias.data.synth.registry import create_generator
from mias.data.synth.tables import write_participants, write_targets
from mias.errors import InputError
from mias.validation import MAX_SEED

DICOM_MODALITIES = frozenset(SOP_CLASSES)

LAYOUTS: dict[str, type[LayoutWriter]] = {"nifti": MsdWriter, "nnunet": NnunetWriter,
                                          "dicom": DicomWriter}
Progress = Callable[[str, int, int], None]
# Stand-ins are for demos, tests and benchmarks: the largest Decathlon task, BrainTumour, has
# 484 training cases, so ten thousand is generous and still keeps a typo from filling a disk.
MAX_CASES = 10_000


def synthesize(task: str, out: str | Path, *, cases: int, seed: int = 0, fmt: str = "nifti",
               overwrite: bool = False, progress: Progress | None = None) -> Path:
    """Write `cases` synthetic cases of `task` to `out` in layout `fmt`; returns `out`.

    `fmt` is "nifti" (original Decathlon layout), "nnunet" (v2 raw layout) or "dicom".
    The same (task, cases, seed) gives identical arrays; `out` appears only when complete.
    """
    generator = create_generator(task)
    if fmt not in LAYOUTS:
        raise InputError(None, f"unknown format {fmt!r}", f"choose one of: {', '.join(LAYOUTS)}")
    if not 1 <= cases <= MAX_CASES:
        raise InputError(None, f"cannot synthesise {cases} cases",
                         f"ask for at least 1 and at most {MAX_CASES} cases")
    if not 0 <= seed <= MAX_SEED:
        raise InputError(None, f"seed {seed} is out of range", f"give a seed in 0..{MAX_SEED}")
    if fmt == "dicom" and not set(generator.info.dicom_modality.split("/")) <= DICOM_MODALITIES:
        raise InputError(None, f"the {task} stand-in ({generator.info.dicom_modality}) has no "
                         "DICOM writer", f"use --format nifti or nnunet for {task}")
    out = Path(out)
    check_output(out, overwrite=overwrite)
    scans = build_cohort(generator, cases, seed)
    with atomic_dir(out, overwrite=overwrite, stage="synth") as root:
        writer = LAYOUTS[fmt](root, generator.info, scans, seed)
        targets: dict[str, float | int] = {}
        for done, scan in enumerate(scans, start=1):
            case = generator.generate(scan)
            writer.add(scan, case)
            targets[scan.case_id] = case.target
            if progress is not None:
                progress(f"{task} ({fmt})", done, len(scans))
        writer.close()
        write_targets(root / generator.info.target_file, targets)
        if writer.writes_participants:
            write_participants(root / "participants.tsv", scans, seed)
    return out
