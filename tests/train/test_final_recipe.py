"""Final training takes the search's tuned hyper-parameters, the budget options, and
records the plan, the hyper-parameters and every augmentation draw."""

from __future__ import annotations

import json

import pytest

from mias.atomic import read_json, write_json
from mias.cli.main import main
from mias.train.final import final_settings, train_final
from mias.train.run_record import SearchRecord

from .conftest import write_search_result

TUNED = {"lr": 0.0123, "momentum": 0.93, "weight_decay": 2e-4}


def _with_hpo(run, chosen=TUNED):
    path = run / "search" / "result.json"
    write_json(path, read_json(path) | {"hpo": {"chosen": chosen, "trials": []}})
    return run


def test_tuned_hyperparameters_reach_training(hippo_prep, small_arch, tmp_path):
    run = _with_hpo(write_search_result(tmp_path / "run", hippo_prep, small_arch,
                                        train={"epochs": 1}))
    metrics = read_json(train_final(run) / "metrics.json")
    assert metrics["hparams"]["source"] == "search"
    assert metrics["hparams"]["used"] == TUNED
    assert metrics["settings"]["lr"] == TUNED["lr"]
    assert metrics["history"][0]["lr"] == TUNED["lr"]
    assert metrics["plan"]["patch"] and metrics["plan"]["reason"]


def test_tuned_sgd_values_are_not_given_to_adamw(hippo_prep, small_arch, tmp_path):
    run = _with_hpo(write_search_result(tmp_path / "run", hippo_prep, small_arch,
                                        train={"optimizer": "adamw", "lr": 1e-3}))
    settings, record = final_settings(SearchRecord.load(run))
    assert settings.lr == 1e-3 and record["source"] == "preset"
    assert "adamw" in record["reason"] and record["tuned"] == TUNED


def test_without_tuning_the_preset_is_used(hippo_prep, small_arch, tmp_path):
    run = write_search_result(tmp_path / "run", hippo_prep, small_arch)
    settings, record = final_settings(SearchRecord.load(run), steps=7)
    assert record["source"] == "preset" and settings.steps == 7


def test_cli_budget_options_and_draws(hippo_prep, small_arch, tmp_path):
    run = write_search_result(tmp_path / "run", hippo_prep, small_arch,
                              train={"augment": True})
    assert main(["train", str(run), "--steps", "3"]) == 0
    final = run / "final"
    metrics = read_json(final / "metrics.json")
    assert metrics["steps"] == 3 and metrics["settings"]["steps"] == 3
    lines = (final / "augmentations.jsonl").read_text().splitlines()
    draws = [json.loads(line) for line in lines]
    assert len(draws) == 3 * metrics["plan"]["batch"]
    assert {"step", "case", "start", "augment"} <= set(draws[0])
    for bad in (["--steps", "0"], ["--time-budget", "-1"], ["--steps", "2", "--time-budget", "1"]):
        with pytest.raises(SystemExit) as exit_:
            main(["train", str(run), "--overwrite", *bad])
        assert exit_.value.code == 2
