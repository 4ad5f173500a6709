"""The plain NIfTI layout: `DATA/*.nii[.gz]`, one case per file, masks in `DATA/labels/`."""

from __future__ import annotations

from pathlib import Path

from mias.data.imputation import MODALITY_UNKNOWN
from mias.data.readers.detect import FormatReader, register_reader
from mias.data.readers.labels import LABELS_DIR, match_label_folder
from mias.data.readers.nifti import channel_names_for, is_nifti, nifti_case, nifti_stem, read_info
from mias.data.readers.source import Scan


@register_reader("nifti", priority=20)
class NiftiFolderReader(FormatReader):
    """One case per file (a 4D file holds channels); NIfTI has no modality field: "OT"."""

    def matches(self, root: Path) -> bool:
        return any(is_nifti(p) for p in root.iterdir())

    def scan(self, root: Path) -> Scan:
        files = sorted(p for p in root.iterdir() if is_nifti(p))
        keys = [nifti_stem(p) for p in files]
        masks = match_label_folder(root / LABELS_DIR, keys)
        channels = read_info(files[0]).channels
        names = channel_names_for(channels)
        cases = []
        for key, path in zip(keys, files, strict=True):
            case = nifti_case(root, key, (path,), names, "OT", MODALITY_UNKNOWN)
            case.label_path = masks.get(key, root / LABELS_DIR / f"{key}.nii.gz")
            cases.append(case)
        return Scan("nifti", cases, names)
