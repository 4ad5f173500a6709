"""`mias train RUN`: outputs, inherited weights, resume after a crash, bad input."""

from __future__ import annotations

import pytest
import torch

from mias.atomic import read_json
from mias.cli.main import main
from mias.errors import InputError
from mias.space import build_supernet
from mias.train.final import train_final
from mias.train.model_file import ModelFile

from .conftest import write_search_result


class _Crash(RuntimeError):
    pass


def _same(a: dict, b: dict) -> bool:
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def test_cli_writes_the_final_folder(hippo_prep, small_arch, tmp_path):
    run = write_search_result(tmp_path / "run", hippo_prep, small_arch)
    assert main(["train", str(run)]) == 0
    final = run / "final"
    assert sorted(p.name for p in final.iterdir() if not p.name.startswith(".")) == [
        "augmentations.jsonl", "metrics.json", "model.pt", "progress.png"]
    metrics = read_json(final / "metrics.json")
    assert metrics["schema_version"] == 1 and metrics["arch_id"] == small_arch.id
    assert metrics["steps"] == 4 and len(metrics["epochs"]) == 2 and metrics["init"] == "scratch"
    model = ModelFile.load(final / "model.pt")
    assert model.arch == small_arch and model.meta["val_score"] == metrics["val_score"]
    assert "hippocampus_" not in str(torch.load(final / "model.pt", weights_only=True)["meta"])
    assert main(["train", str(run)]) == 2


def _crash_at_step_3(run) -> None:
    def crash(stage: str, done: int, total: int) -> None:
        if done == 3:
            raise _Crash

    with pytest.raises(_Crash):
        train_final(run, progress=crash)


def test_resume_after_simulated_crash_gives_identical_weights(hippo_prep, small_arch, tmp_path):
    ref = train_final(write_search_result(tmp_path / "ref", hippo_prep, small_arch))
    run = write_search_result(tmp_path / "run", hippo_prep, small_arch)

    _crash_at_step_3(run)
    assert not (run / "final").exists()
    out = train_final(run)
    assert read_json(out / "metrics.json")["resumed_at"] == 2
    assert _same(ModelFile.load(out / "model.pt").state_dict,
                 ModelFile.load(ref / "model.pt").state_dict)


def test_restart_discards_the_interrupted_training(hippo_prep, small_arch, tmp_path):
    run = write_search_result(tmp_path / "run", hippo_prep, small_arch)

    _crash_at_step_3(run)
    out = train_final(run, restart=True)
    assert read_json(out / "metrics.json").get("resumed_at") is None


@pytest.mark.parametrize("few_shot", [False, True])
def test_inherited_init_starts_from_the_supernet(hippo_prep, small_arch, tmp_path, few_shot):
    run = write_search_result(tmp_path / "run", hippo_prep, small_arch, supernet_seed=7,
                              train={"epochs": 1, "steps_per_epoch": 1, "lr": 1e-12,
                                     "momentum": 0.0, "weight_decay": 0.0},
                              few_shot=few_shot)
    out = train_final(run, init="inherited")
    trained = ModelFile.load(out / "model.pt").state_dict
    inherited = build_supernet(ModelFile.load(out / "model.pt").space, seed=7,
                               few_shot=few_shot).materialize(small_arch).state_dict()
    assert all(torch.allclose(trained[k].float(), inherited[k].float(), atol=1e-6)
               for k in inherited if not k.endswith("num_batches_tracked")
               and "running" not in k)


def test_missing_search_or_supernet_is_bad_input(hippo_prep, small_arch, tmp_path):
    with pytest.raises(InputError, match="mias search"):
        train_final(tmp_path / "nothing")
    run = write_search_result(tmp_path / "run", hippo_prep, small_arch)
    with pytest.raises(InputError, match="supernet"):
        train_final(run, init="inherited")


@pytest.mark.parametrize("version", [99, None])
def test_a_result_of_another_schema_is_bad_input(hippo_prep, small_arch, tmp_path, capsys,
                                                 version):
    import json

    run = write_search_result(tmp_path / "run", hippo_prep, small_arch)
    path = run / "search" / "result.json"
    raw = json.loads(path.read_text())
    raw["schema_version"] = version
    path.write_text(json.dumps(raw))
    assert main(["train", str(run)]) == 2
    err = capsys.readouterr().err
    assert "result.json" in err and f"schema_version {version!r}" in err
    assert not (run / "final").exists()
