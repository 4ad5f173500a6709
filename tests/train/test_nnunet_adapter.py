"""The nnU-Net adapter against a stand-in of nnU-Net v2's API.

nnU-Net is an optional extra that takes 20 minutes on this machine, so its API is replaced
by fakes with the signatures of nnunetv2 2.8.1 (copied from its source:
`experiment_planning/plan_and_preprocess_api.py`, `training/nnUNetTrainer/variants/
training_length/nnUNetTrainer_Xepochs.py`, `inference/predict_from_raw_data.py`). A call
with a wrong argument name, too many positional arguments or in the wrong order (planning
before fingerprints, training before the split file) fails as nnU-Net itself would, and so
does the name-based trainer look-up that breaks without torchvision.
"""

from __future__ import annotations

import importlib.machinery
import json
import os
import sys
import types
from pathlib import Path
from types import SimpleNamespace

import nibabel as nib
import numpy as np
import pytest
import torch
from torch import nn

from mias.train.baselines import nnunet

DEFAULT_PROCESSES = 8
CUDA = torch.device("cuda")   # nnU-Net's default device
RAW = "nnUNet_raw"


class Api:
    """The fakes and what they saw."""

    def __init__(self) -> None:
        self.calls: list[str] = []
        self.trainer_epochs: int | None = None

    def dataset_dir(self, env: str) -> Path:
        assert env in os.environ, f"{env} must be set before nnU-Net runs"
        return Path(os.environ[env]) / nnunet.DATASET_NAME

    # --- nnunetv2.experiment_planning.plan_and_preprocess_api -----------------------------
    def extract_fingerprints(self, dataset_ids: list[int],
                             fingerprint_extractor_class_name: str = "DatasetFingerprintExtractor",
                             num_processes: int = DEFAULT_PROCESSES,
                             check_dataset_integrity: bool = False, clean: bool = True,
                             verbose: bool = True, show_progress_bar: bool = True) -> None:
        raw = self.dataset_dir("nnUNet_raw")
        meta = json.loads((raw / "dataset.json").read_text())
        assert meta["labels"]["background"] == 0, "nnU-Net requires a 'background' label 0"
        assert set(meta) >= {"channel_names", "labels", "numTraining", "file_ending"}
        assert len(list((raw / "labelsTr").iterdir())) == meta["numTraining"]
        assert dataset_ids == [nnunet.DATASET_ID]
        pre = self.dataset_dir("nnUNet_preprocessed")
        pre.mkdir(parents=True, exist_ok=True)
        (pre / "dataset_fingerprint.json").write_text("{}")
        self.calls.append("fingerprint")

    def plan_experiments(self, dataset_ids: list[int],
                         experiment_planner_class_name: str = "ExperimentPlanner",
                         gpu_memory_target_in_gb: float | None = None,
                         preprocess_class_name: str = "DefaultPreprocessor",
                         overwrite_target_spacing: tuple[float, ...] | None = None,
                         overwrite_plans_name: str | None = None) -> None:
        pre = self.dataset_dir("nnUNet_preprocessed")
        assert (pre / "dataset_fingerprint.json").is_file(), "plan before fingerprint"
        (pre / "nnUNetPlans.json").write_text(json.dumps(
            {"dataset_name": nnunet.DATASET_NAME, "plans_name": "nnUNetPlans",
             "configurations": {"2d": {}, "3d_fullres": {}}}))
        self.calls.append("plan")

    def preprocess(self, dataset_ids: list[int], plans_identifier: str = "nnUNetPlans",
                   configurations: tuple[str, ...] | list[str] = ("2d", "3d_fullres",
                                                                 "3d_lowres"),
                   num_processes: int | tuple[int, ...] | list[int] = (8, 4, 8),
                   verbose: bool = False, show_progress_bar: bool = True) -> None:
        pre = self.dataset_dir("nnUNet_preprocessed")
        plans = pre / f"{plans_identifier}.json"
        assert plans.is_file(), "preprocess before plan"
        procs = [num_processes] if isinstance(num_processes, int) else list(num_processes)
        if len(procs) == 1:
            procs *= len(configurations)
        assert len(procs) == len(configurations), "one process count per configuration"
        assert set(configurations) <= set(json.loads(plans.read_text())["configurations"])
        raw = self.dataset_dir("nnUNet_raw")
        (pre / "dataset.json").write_text((raw / "dataset.json").read_text())
        self.calls.append("preprocess")


def _make_trainer(api: Api) -> type:
    class Decoder(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.deep_supervision = True
            self.conv = nn.Conv3d(1, 3, 1)

    class Net(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.decoder = Decoder()

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.decoder.conv(x)

    class nnUNetTrainer_5epochs:
        def __init__(self, plans: dict, configuration: str, fold: int, dataset_json: dict,
                     device: torch.device = CUDA) -> None:
            assert isinstance(plans, dict) and isinstance(dataset_json, dict)
            plans.pop("continue_training")   # nnU-Net's __init__ does: KeyError without it
            assert configuration in plans["configurations"]
            assert fold == 0
            assert api.calls[-1] == "preprocess", "trainer built before preprocessing"
            self.num_epochs = 5
            self.fold = fold
            self.device = device
            self.dataset_json = dataset_json
            self.plans_manager = SimpleNamespace(plans=plans)
            self.configuration_manager = SimpleNamespace(name=configuration)
            self.inference_allowed_mirroring_axes = None
            self.network: nn.Module | None = None
            api.calls.append("trainer")

        def run_training(self) -> None:
            pre = api.dataset_dir("nnUNet_preprocessed")
            splits = json.loads((pre / "splits_final.json").read_text())
            assert set(splits[self.fold]) == {"train", "val"}
            self.network = Net()
            api.trainer_epochs = self.num_epochs
            out = api.dataset_dir("nnUNet_results") / f"{type(self).__name__}__nnUNetPlans__3d"
            (out / f"fold_{self.fold}").mkdir(parents=True, exist_ok=True)
            api.calls.append("train")

        def set_deep_supervision_enabled(self, enabled: bool) -> None:
            assert self.network is not None, "no network before run_training"
            self.network.decoder.deep_supervision = enabled

    return nnUNetTrainer_5epochs


def _make_predictor(api: Api) -> type:
    class nnUNetPredictor:
        def __init__(self, tile_step_size: float = 0.5, use_gaussian: bool = True,
                     use_mirroring: bool = True, perform_everything_on_device: bool = True,
                     device: torch.device = CUDA, verbose: bool = False,
                     verbose_preprocessing: bool = False, allow_tqdm: bool = True) -> None:
            assert api.calls[-1] == "train", "predictor made before training"
            self.network: nn.Module | None = None
            self.parameters: list[dict] | None = None

        def initialize_from_trained_model_folder(self, model_training_output_dir: str,
                                                 use_folds: tuple | None,
                                                 checkpoint_name: str = "checkpoint_final.pth"):
            raise RuntimeError("looks the trainer class up by name, which imports timm and "
                               "torchvision: broken beside torch 2.13")

        def manual_initialization(self, network: nn.Module, plans_manager, configuration_manager,
                                  parameters: list[dict] | None, dataset_json: dict,
                                  trainer_name: str,
                                  inference_allowed_mirroring_axes: tuple[int, ...] | None):
            assert isinstance(parameters, list) and parameters, "nnU-Net iterates parameters"
            assert not network.decoder.deep_supervision, "predict with deep supervision off"
            assert trainer_name == "nnUNetTrainer_5epochs"
            self.network, self.parameters = network, parameters
            api.calls.append("init_predictor")

        def predict_from_files_sequential(
                self, list_of_lists_or_source_folder: str | list[list[str]],
                output_folder_or_list_of_truncated_output_files: str | list[str] | None,
                save_probabilities: bool = False, overwrite: bool = True,
                folder_with_segs_from_prev_stage: str | None = None) -> None:
            assert self.network is not None, "predict before initialisation"
            src = Path(list_of_lists_or_source_folder)
            out = Path(output_folder_or_list_of_truncated_output_files)
            assert out.is_dir(), "nnU-Net writes its arguments there first: it must exist"
            for f in sorted(src.glob("*_0000.nii.gz")):
                img = nib.load(str(f))
                label = (np.asarray(img.dataobj) > 0.5).astype(np.uint8)
                nib.save(nib.Nifti1Image(label, img.affine),
                         str(out / f.name.replace("_0000.nii.gz", ".nii.gz")))
            api.calls.append("predict")

    return nnUNetPredictor


@pytest.fixture
def fake_nnunet(monkeypatch, tmp_path) -> Api:
    """nnunetv2's modules, replaced for this test only."""
    api = Api()
    for key in ("nnUNet_raw", "nnUNet_preprocessed", "nnUNet_results"):
        monkeypatch.setenv(key, str(tmp_path / "elsewhere" / key))
    trainer_module = "nnunetv2.training.nnUNetTrainer.variants.training_length." \
                     "nnUNetTrainer_Xepochs"
    attrs = {
        "nnunetv2.experiment_planning.plan_and_preprocess_api": {
            "extract_fingerprints": api.extract_fingerprints,
            "plan_experiments": api.plan_experiments, "preprocess": api.preprocess},
        "nnunetv2.inference.predict_from_raw_data": {"nnUNetPredictor": _make_predictor(api)},
        trainer_module: {"nnUNetTrainer_5epochs": _make_trainer(api)},
    }
    names = {".".join(leaf.split(".")[:i]) for leaf in attrs
             for i in range(1, leaf.count(".") + 2)}
    for name in sorted(names):
        module = types.ModuleType(name)
        module.__spec__ = importlib.machinery.ModuleSpec(name, None, is_package=True)
        module.__path__ = []
        for key, value in attrs.get(name, {}).items():
            setattr(module, key, value)
        monkeypatch.setitem(sys.modules, name, module)
    return api


def _cases(ids: list[str]) -> dict[str, SimpleNamespace]:
    rng = np.random.default_rng(0)
    out = {}
    for cid in ids:
        label = np.zeros((6, 8, 5), dtype=np.uint8)
        label[2:4, 3:6, 1:4] = 1
        image = (label + rng.normal(0, 0.1, label.shape)).astype(np.float32)[None]
        out[cid] = SimpleNamespace(image=image, label=label, affine=np.eye(4))
    return out


def test_adapter_calls_nnunet_in_order_with_its_real_signatures(fake_nnunet, tmp_path):
    train, held = ["a", "b", "c"], ["d", "e"]
    preds, net = nnunet.run_nnunet(tmp_path / "work", _cases(train + held), train, held,
                                   ["bg", "hippocampus"], ["MRI"], 3, epochs=2, seed=0)
    assert fake_nnunet.calls == ["fingerprint", "plan", "preprocess", "trainer", "train",
                                 "init_predictor", "predict"]
    assert fake_nnunet.trainer_epochs == 2
    assert set(preds) == set(held)
    for cid in held:
        assert preds[cid].shape == (6, 8, 5) and preds[cid].dtype == np.uint8
        assert preds[cid].sum() == 2 * 3 * 3
    assert not net.decoder.deep_supervision
    assert os.environ[RAW] == str(tmp_path / "work" / "raw")
    split = json.loads((tmp_path / "work" / "preprocessed" / nnunet.DATASET_NAME /
                        "splits_final.json").read_text())
    assert split == [{"train": train, "val": held}]
    test_images = sorted(p.name for p in (tmp_path / "work" / "raw" / nnunet.DATASET_NAME /
                                          "imagesTs").iterdir())
    assert test_images == ["d_0000.nii.gz", "e_0000.nii.gz"]


def test_fakes_reject_what_nnunet_rejects(fake_nnunet, tmp_path, monkeypatch):
    """The stand-in is strict: a wrong keyword or order fails, so the test above can fail."""
    from nnunetv2.experiment_planning.plan_and_preprocess_api import (
        extract_fingerprints,
        plan_experiments,
    )

    with pytest.raises(TypeError):
        extract_fingerprints([nnunet.DATASET_ID], check_integrity=True)
    with pytest.raises(TypeError):
        plan_experiments([nnunet.DATASET_ID], "ExperimentPlanner", None, "DefaultPreprocessor",
                         None, None, "extra")
    monkeypatch.setenv("nnUNet_preprocessed", str(tmp_path / "pre"))
    with pytest.raises(AssertionError, match="plan before fingerprint"):
        plan_experiments([nnunet.DATASET_ID])


def test_a_broken_nnunet_import_names_the_fix(monkeypatch):
    monkeypatch.setitem(sys.modules, "nnunetv2", None)
    from mias.errors import InputError

    with pytest.raises(InputError, match="uninstall -y torchvision"):
        nnunet._import_api()
