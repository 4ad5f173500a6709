"""The NIfTI layouts of the Decathlon: the original MSD one and nnU-Net v2's.

MSD: `dataset.json` with `modality`, labels {"0": "background", ...} and a `training` list;
one (possibly 4D) `imagesTr/NAME.nii.gz` per case. nnU-Net v2: `channel_names`, labels
{"background": 0, ...}, `file_ending`, one `imagesTr/NAME_XXXX.nii.gz` per channel.
"""

from __future__ import annotations

from pathlib import Path

import nibabel as nib
import numpy as np

from mias.atomic import write_json
from mias.data.synth.base import Scan, SyntheticCase
from mias.data.synth.layout import LayoutWriter

SUFFIX = ".nii.gz"


def save_nifti(path: Path, array: np.ndarray, affine: np.ndarray) -> None:
    """Save with matching qform/sform (scanner space) and millimetre units."""
    image = nib.Nifti1Image(array, affine)
    image.set_qform(affine, code=1)
    image.set_sform(affine, code=1)
    image.header.set_xyzt_units("mm", "sec")
    path.parent.mkdir(parents=True, exist_ok=True)
    nib.save(image, path)


class MsdWriter(LayoutWriter):
    """The original Medical Segmentation Decathlon layout."""

    def add(self, scan: Scan, case: SyntheticCase) -> None:
        image = case.image[0] if case.image.shape[0] == 1 else np.moveaxis(case.image, 0, -1)
        save_nifti(self.root / "imagesTr" / f"{scan.case_id}{SUFFIX}", image, case.affine)
        save_nifti(self.root / "labelsTr" / f"{scan.case_id}{SUFFIX}", case.label, case.affine)

    def close(self) -> None:
        info = self.info
        multi = len(info.channels) > 1
        write_json(self.root / "dataset.json", {
            "name": info.name,
            "description": info.description,
            "reference": "synthetic (mias synth); no patient data",
            "licence": "CC-BY-SA 4.0",
            "release": f"mias synth, seed {self.seed}",
            "tensorImageSize": f"{info.spatial_dims + multi}D",
            "modality": dict(enumerate(info.channels)),
            "labels": dict(enumerate(info.labels)),
            "numTraining": len(self.scans),
            "numTest": 0,
            "training": [{"image": f"./imagesTr/{s.case_id}{SUFFIX}",
                          "label": f"./labelsTr/{s.case_id}{SUFFIX}"} for s in self.scans],
            "test": [],
        })


class NnunetWriter(LayoutWriter):
    """nnU-Net v2's raw dataset layout."""

    def add(self, scan: Scan, case: SyntheticCase) -> None:
        for channel, image in enumerate(case.image):
            save_nifti(self.root / "imagesTr" / f"{scan.case_id}_{channel:04d}{SUFFIX}",
                       image, case.affine)
        save_nifti(self.root / "labelsTr" / f"{scan.case_id}{SUFFIX}", case.label, case.affine)

    def close(self) -> None:
        info = self.info
        write_json(self.root / "dataset.json", {
            "name": info.name,
            "description": info.description,
            "channel_names": dict(enumerate(info.channels)),
            "labels": {name: value for value, name in enumerate(info.labels)},
            "numTraining": len(self.scans),
            "file_ending": SUFFIX,
        })
