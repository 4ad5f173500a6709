"""nnU-Net v2 as a baseline, through its Python API (the optional `mias[nnunet]` extra).

The adapter writes nnU-Net's raw layout from the prepared split (canonical-RAS NIfTI of the
original scans, so its predictions come back on the grid we score on), runs its own
fingerprinting, planning and preprocessing, trains `nnUNetTrainer` for the preset's
`nnunet_epochs` on fold 0 = our train/val split (`splits_final.json`), and predicts the
held-out cases with its sliding-window predictor. As shared/FIELD-NOTES.md records, the
torchvision wheel here cannot be imported, and `nnUNetv2_train` fails while scanning trainer
classes; importing `nnUNetTrainer` directly, as done here, avoids both.
"""

from __future__ import annotations

import importlib.util
import json
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

NOT_INSTALLED = "nnU-Net: not installed (pip install mias[nnunet])"
DATASET_ID = 990
DATASET_NAME = f"Dataset{DATASET_ID}_MIAS"


def available() -> bool:
    return importlib.util.find_spec("nnunetv2") is not None


def _save(array: np.ndarray, affine: np.ndarray, path: Path) -> None:
    import nibabel as nib

    nib.save(nib.Nifti1Image(array, affine), str(path))


def write_raw(root: Path, cases: dict[str, Any], train: Sequence[str], held_out: Sequence[str],
              label_names: Sequence[str], channel_names: Sequence[str]) -> Path:
    """nnU-Net v2 raw layout: imagesTr/labelsTr (train + val), imagesTs (held out)."""
    raw = root / "raw" / DATASET_NAME
    for sub in ("imagesTr", "labelsTr", "imagesTs"):
        (raw / sub).mkdir(parents=True, exist_ok=True)
    for cid in [*train, *held_out]:
        case = cases[cid]
        for c, channel in enumerate(case.image):
            name = f"{cid}_{c:04d}.nii.gz"
            for sub in ("imagesTr", "imagesTs") if cid in held_out else ("imagesTr",):
                _save(channel.astype(np.float32), case.affine, raw / sub / name)
        _save(case.label.astype(np.uint8), case.affine, raw / "labelsTr" / f"{cid}.nii.gz")
    (raw / "dataset.json").write_text(json.dumps({
        "channel_names": {str(i): n for i, n in enumerate(channel_names)},
        "labels": {n: i for i, n in enumerate(label_names)},
        "numTraining": len(train) + len(held_out), "file_ending": ".nii.gz"}))
    return raw


def run_nnunet(root: Path, cases: dict[str, Any], train: Sequence[str],
               held_out: Sequence[str], label_names: Sequence[str],
               channel_names: Sequence[str], spatial_dims: int, *, epochs: int,
               seed: int) -> tuple[dict[str, np.ndarray], Any]:
    """Train and predict; returns canonical-grid label arrays per held-out case and the
    trained network (for ONNX export and latency)."""
    for key, sub in (("nnUNet_raw", "raw"), ("nnUNet_preprocessed", "preprocessed"),
                     ("nnUNet_results", "results")):
        os.environ[key] = str(root / sub)
        (root / sub).mkdir(parents=True, exist_ok=True)
    write_raw(root, cases, train, held_out, label_names, channel_names)
    import nibabel as nib
    import torch
    from nnunetv2.experiment_planning.plan_and_preprocess_api import (
        extract_fingerprints,
        plan_experiments,
        preprocess,
    )
    from nnunetv2.inference.predict_from_raw_data import nnUNetPredictor
    from nnunetv2.training.nnUNetTrainer.nnUNetTrainer import nnUNetTrainer

    torch.manual_seed(seed)
    config = "3d_fullres" if spatial_dims == 3 else "2d"
    extract_fingerprints([DATASET_ID], check_dataset_integrity=True, clean=True, verbose=False)
    plan_experiments([DATASET_ID])
    preprocess([DATASET_ID], configurations=(config,), num_processes=(1,), verbose=False)
    pre = root / "preprocessed" / DATASET_NAME
    (pre / "splits_final.json").write_text(json.dumps(
        [{"train": list(train), "val": list(held_out)}]))
    plans = json.loads((pre / "nnUNetPlans.json").read_text())
    dataset_json = json.loads((pre / "dataset.json").read_text())
    trainer = nnUNetTrainer(plans, config, 0, dataset_json, device=torch.device("cpu"))
    trainer.num_epochs = epochs
    trainer.run_training()
    predictor = nnUNetPredictor(tile_step_size=0.5, use_gaussian=True, use_mirroring=False,
                                device=torch.device("cpu"), verbose=False)
    predictor.initialize_from_trained_model_folder(trainer.output_folder_base, use_folds=(0,),
                                                   checkpoint_name="checkpoint_final.pth")
    out = root / "predictions"
    predictor.predict_from_files(str(root / "raw" / DATASET_NAME / "imagesTs"), str(out),
                                 save_probabilities=False, overwrite=True,
                                 num_processes_preprocessing=1,
                                 num_processes_segmentation_export=1)
    preds = {cid: np.asarray(nib.load(str(out / f"{cid}.nii.gz")).dataobj).astype(np.uint8)
             for cid in held_out}
    return preds, trainer.network
