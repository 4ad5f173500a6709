"""`mias evaluate RUN`: the found network and every baseline, scored in the original space."""

from __future__ import annotations

import shutil

import pandas as pd
import pytest

from mias.atomic import read_json, write_json
from mias.cli.main import main
from mias.errors import InputError
from mias.train.baselines import nnunet
from mias.train.evaluate import VALIDATION_NOTE, evaluate_run
from mias.train.final import train_final

from .conftest import TINY_SHAPE, write_search_result

# nnU-Net trains for minutes: where the extra is installed its adapter is checked by the mocked
# test and benchmarks/vs_nnunet.py, and here only its absence is
EVAL = {"baselines": ["mlp", "rf", "unet", *([] if nnunet.available() else ["nnunet"]),
                      "random"], "random_control": 1,
        "bootstrap": 100, "voxel_samples": 200, "mlp_hidden": [8], "mlp_epochs": 20,
        "rf_trees": 5, "rf_depth": 6}


@pytest.fixture(scope="module")
def evaluated(hippo_prep, hippo_raw, small_arch, tmp_path_factory):
    run = write_search_result(tmp_path_factory.mktemp("ev") / "run", hippo_prep, small_arch,
                              train={"epochs": 1, "steps_per_epoch": 2}, evaluate=EVAL)
    train_final(run)
    assert main(["evaluate", str(run), "--data", str(hippo_raw)]) == 0
    return run


def test_metrics_json_holds_every_model_with_cis_and_latency(evaluated):
    m = read_json(evaluated / "eval" / "metrics.json")
    assert m["schema_version"] == 1 and m["task"] == "segmentation"
    assert m["space"].startswith("original image space")
    names = set(m["models"])
    assert {"mias", "mlp", "rf", "unet"} <= names
    assert any(n.startswith("random-") for n in names) or any(
        "random control" in note for note in m["notes"])
    for entry in m["models"].values():
        s = entry["summary"]
        assert s["n"] == m["n_cases"] == 2
        dice = s["dice"]
        assert 0 <= dice["value"] <= 1 and dice["ci"][0] <= dice["value"] <= dice["ci"][1]
        assert set(s["structures"]) == {"Anterior", "Posterior"}
        assert "bland_altman_loa_mm3" in s["structures"]["Anterior"]["volume"]
        assert {"precision", "recall", "f1", "f_beta"} <= set(s["detection"])
        assert set(s["subgroups"]) == {"sex", "age_bin", "manufacturer", "field_strength"}
        assert entry["latency"]["host"]["source"] == "measured"
        assert (evaluated / "eval" / "onnx" / entry["latency"]["onnx"]).is_file()
    assert m["models"]["mias"]["latency"]["target"]["source"] == "estimated"
    assert m["models"]["mias"]["latency"]["search_predictor"]["device"] == "rpi3"
    assert m["models"]["rf"]["latency"]["target"] is None
    unet = m["models"]["unet"]
    assert unet["architecture"]["architecture"].startswith("MONAI DynUNet")
    assert unet["architecture"]["filters"][0] == 32 and unet["architecture"]["device"] == "rpi3"
    assert unet["inference"]["window"] and "postprocessing" in unet["inference"]
    assert m["models"]["mlp"]["prior_shift_exponent"] in (0.0, 0.25, 0.5, 0.75, 1.0)
    for entry in m["models"].values():
        s = entry["summary"]
        assert s["failed"] == bool(s["failed_structures"])
        assert all(s["structures"][k]["dice"]["value"] < 0.0005 or "collapsed" in why
                   for k, why in s["failed_structures"].items())
    if not nnunet.available():
        assert m["nnunet"] == nnunet.NOT_INSTALLED
        assert nnunet.NOT_INSTALLED in m["notes"]


def test_network_baselines_are_trained_with_the_found_networks_recipe(evaluated):
    from mias.train.baselines.runner import recipe
    from mias.train.run_record import SearchRecord

    final = read_json(evaluated / "final" / "metrics.json")
    record = SearchRecord.load(evaluated)
    used = recipe(evaluated, record.preset.train)
    assert used.model_dump(mode="json").items() <= final["settings"].items()
    m = read_json(evaluated / "eval" / "metrics.json")
    note = next(n for n in m["notes"] if n.startswith("network baselines trained with"))
    assert f"lr {used.lr:.3g}" in note and "2 steps" in note
    assert m["models"]["unet"]["steps"] == m["models"]["random-1"]["steps"] == final["steps"]


def test_cases_parquet_traces_every_figure_to_cases(evaluated):
    df = pd.read_parquet(evaluated / "eval" / "cases.parquet")
    m = read_json(evaluated / "eval" / "metrics.json")
    assert set(df["model"]) == set(m["models"])
    mias = df[df["model"] == "mias"]
    assert len(mias) == 2 and set(mias["split"]) == {"val"}
    # without a test split the figures carry the validation split's decisions, and say so
    assert m["splits"] == ["val"] and VALIDATION_NOTE in m["notes"]
    per_case = mias[["dice_Anterior", "dice_Posterior"]].mean(axis=1).mean()
    assert per_case == pytest.approx(m["models"]["mias"]["summary"]["dice"]["value"])
    assert not any(c.lower().startswith(("patient", "name")) for c in df.columns)


def test_figures_come_from_the_test_split_when_prepare_made_one(hippo_raw, small_arch,
                                                               tmp_path):
    from mias.data.prepare import PrepareConfig, prepare
    from mias.train.data import PreparedData

    prep = prepare(hippo_raw, tmp_path / "prep", PrepareConfig(
        input_shape=TINY_SHAPE, workers=1, test_fraction=0.2))
    splits = PreparedData.load(prep).splits
    assert splits["test"] and splits["val"]
    run = write_search_result(tmp_path / "run", prep, small_arch,
                              train={"epochs": 1, "steps_per_epoch": 2},
                              evaluate={"baselines": [], "bootstrap": 100})
    train_final(run)
    assert main(["evaluate", str(run), "--data", str(hippo_raw)]) == 0
    m = read_json(run / "eval" / "metrics.json")
    cases = pd.read_parquet(run / "eval" / "cases.parquet")
    assert m["splits"] == ["test"] and VALIDATION_NOTE not in m["notes"]
    assert m["n_cases"] == len(splits["test"]) == m["models"]["mias"]["summary"]["n"]
    assert set(cases["case_id"]) == set(splits["test"]) and set(cases["split"]) == {"test"}


def test_evaluate_needs_a_trained_model_and_the_data(hippo_prep, small_arch, tmp_path):
    prep = tmp_path / "prep"
    shutil.copytree(hippo_prep, prep)
    manifest = read_json(prep / "manifest.json")
    write_json(prep / "manifest.json", manifest | {"data_root": str(tmp_path / "moved")})
    run = write_search_result(tmp_path / "run", prep, small_arch)
    with pytest.raises(InputError, match="mias train"):
        evaluate_run(run)
    train_final(run)
    with pytest.raises(InputError, match="--data"):
        evaluate_run(run)


def test_another_dataset_with_the_same_case_ids_is_refused(hippo_prep, hippo_raw, small_arch,
                                                           tmp_path):
    """Same case ids, same file names and shapes, other labels (another release of the
    dataset, say): scoring against them would report a Dice of other structures."""
    import nibabel as nib
    import numpy as np

    other = tmp_path / "other"
    shutil.copytree(hippo_raw, other)
    for path in (other / "labelsTr").glob("*.nii.gz"):
        img = nib.load(path)
        label = np.asarray(img.dataobj).copy()
        label[label == 2] = 0
        nib.save(nib.Nifti1Image(label, img.affine, img.header), path)
    run = write_search_result(tmp_path / "run", hippo_prep, small_arch)
    train_final(run)
    with pytest.raises(InputError, match="not the one prepared"):
        evaluate_run(run, data_root=other)
    assert not (run / "eval").exists()


def test_a_plain_evaluate_finds_the_data_prepare_was_given(hippo_prep, hippo_raw, small_arch,
                                                           tmp_path):
    """prepare → search → train → `mias evaluate RUN`, with no --data: the manifest says
    where the original scans are."""
    assert read_json(hippo_prep / "manifest.json")["data_root"] == str(hippo_raw.resolve())
    run = write_search_result(tmp_path / "run", hippo_prep, small_arch,
                              train={"epochs": 1, "steps_per_epoch": 1},
                              evaluate={"baselines": [], "bootstrap": 100})
    train_final(run)
    assert main(["evaluate", str(run)]) == 0
    assert read_json(run / "eval" / "metrics.json")["models"]["mias"]["summary"]["n"] > 0
