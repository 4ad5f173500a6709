"""nnU-Net v2 as a baseline, through its Python API (the optional `mias[nnunet]` extra).

The adapter writes nnU-Net's raw layout from the prepared split (canonical-RAS NIfTI of the
original scans, so its predictions come back on the grid we score on), runs its own
fingerprinting, planning and preprocessing (`plan_and_preprocess_api`), trains
`nnUNetTrainer_5epochs` (with the preset's `nnunet_epochs`) on fold 0 = our train/held-out
split (`splits_final.json`), and predicts the held-out cases with its sliding-window
predictor. The torchvision wheel that `pip` pulls beside
torch 2.13 cannot be imported, and nnU-Net's look-up of a trainer class by name imports
every trainer (timm's among them) and fails. So the trainer class is imported directly, and
the predictor is given the trained network (`manual_initialization`) instead of looking
the class up again (`initialize_from_trained_model_folder` would). Install with
`pip install "mias[nnunet]"`, then `pip uninstall -y torchvision`.

Written against nnunetv2 2.8.1 (the extra pins it); `tests/train/test_nnunet_adapter.py`
checks every call against that API's signatures and order.
"""

from __future__ import annotations

import importlib.util
import json
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from mias.errors import InputError

NOT_INSTALLED = "nnU-Net: not installed (pip install mias[nnunet])"
DATASET_ID = 990
DATASET_NAME = f"Dataset{DATASET_ID}_MIAS"
PLANS = "nnUNetPlans"
ENV = (("nnUNet_raw", "raw"), ("nnUNet_preprocessed", "preprocessed"),
       ("nnUNet_results", "results"))


def available() -> bool:
    return importlib.util.find_spec("nnunetv2") is not None


def _save(array: np.ndarray, affine: np.ndarray, path: Path) -> None:
    import nibabel as nib

    nib.save(nib.Nifti1Image(array, affine), str(path))


def write_raw(root: Path, cases: dict[str, Any], train: Sequence[str], held_out: Sequence[str],
              label_names: Sequence[str], channel_names: Sequence[str]) -> Path:
    """nnU-Net v2 raw layout: imagesTr/labelsTr (train + held out, which fold 0 validates
    on), imagesTs (held out, predicted); label 0 is named `background`, as nnU-Net
    requires."""
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
        "labels": {("background" if i == 0 else n): i for i, n in enumerate(label_names)},
        "numTraining": len(train) + len(held_out), "file_ending": ".nii.gz"}))
    return raw


def _import_api() -> dict[str, Any]:
    """nnU-Net's entry points, imported only when it runs (it is an optional extra)."""
    try:
        from nnunetv2.experiment_planning.plan_and_preprocess_api import (
            extract_fingerprints,
            plan_experiments,
            preprocess,
        )
        from nnunetv2.inference.predict_from_raw_data import nnUNetPredictor
        from nnunetv2.training.nnUNetTrainer.variants.training_length.nnUNetTrainer_Xepochs import (
            nnUNetTrainer_5epochs,
        )
    except (ImportError, RuntimeError) as exc:
        raise InputError(None, f"nnU-Net v2 cannot be imported ({exc})",
                         'pip install "mias[nnunet]", then pip uninstall -y torchvision') \
            from exc
    return {"extract_fingerprints": extract_fingerprints, "plan_experiments": plan_experiments,
            "preprocess": preprocess, "predictor": nnUNetPredictor,
            "trainer": nnUNetTrainer_5epochs}


def run_nnunet(root: Path, cases: dict[str, Any], train: Sequence[str],
               held_out: Sequence[str], label_names: Sequence[str],
               channel_names: Sequence[str], spatial_dims: int, *, epochs: int,
               seed: int) -> tuple[dict[str, np.ndarray], Any]:
    """Plan, preprocess, train and predict; returns canonical-grid label arrays per
    held-out case and the trained network (deep supervision off: for ONNX and latency)."""
    for key, sub in ENV:
        os.environ[key] = str(root / sub)
        (root / sub).mkdir(parents=True, exist_ok=True)
    raw = write_raw(root, cases, train, held_out, label_names, channel_names)
    import nibabel as nib
    import torch

    api = _import_api()
    torch.manual_seed(seed)
    np.random.seed(seed)
    config = "3d_fullres" if spatial_dims == 3 else "2d"
    cpu = torch.device("cpu")
    api["extract_fingerprints"]([DATASET_ID], num_processes=1, check_dataset_integrity=True,
                                clean=True, verbose=False)
    api["plan_experiments"]([DATASET_ID])
    api["preprocess"]([DATASET_ID], plans_identifier=PLANS, configurations=(config,),
                      num_processes=(1,), verbose=False)
    pre = root / "preprocessed" / DATASET_NAME
    (pre / "splits_final.json").write_text(json.dumps(
        [{"train": list(train), "val": list(held_out)}]))
    plans = json.loads((pre / f"{PLANS}.json").read_text())
    plans["continue_training"] = False   # the trainer pops it (run_training.py sets it too)
    dataset_json = json.loads((pre / "dataset.json").read_text())
    trainer = api["trainer"](plans=plans, configuration=config, fold=0,
                             dataset_json=dataset_json, device=cpu)
    trainer.num_epochs = epochs
    trainer.run_training()
    trainer.set_deep_supervision_enabled(False)
    trainer.network.eval()
    predictor = api["predictor"](tile_step_size=0.5, use_gaussian=True, use_mirroring=False,
                                 perform_everything_on_device=False, device=cpu,
                                 verbose=False, allow_tqdm=False)
    predictor.manual_initialization(trainer.network, trainer.plans_manager,
                                    trainer.configuration_manager,
                                    [trainer.network.state_dict()], trainer.dataset_json,
                                    type(trainer).__name__,
                                    trainer.inference_allowed_mirroring_axes)
    out = root / "predictions"
    out.mkdir(parents=True, exist_ok=True)   # the sequential predictor does not create it
    predictor.predict_from_files_sequential(str(raw / "imagesTs"), str(out),
                                            save_probabilities=False, overwrite=True)
    preds = {cid: np.asarray(nib.load(str(out / f"{cid}.nii.gz")).dataobj).astype(np.uint8)
             for cid in held_out}
    return preds, trainer.network
