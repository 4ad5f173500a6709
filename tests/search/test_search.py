"""`mias search` end to end on tiny data: contract files, T falls, pruning, the budget,
resume after a crash gives the same result.json, bad presets are exit 2."""

from __future__ import annotations

import json

import pytest

from mias.cli.main import main
from mias.search.api import search


def _result(run):
    return json.loads((run / "search" / "result.json").read_text())


def test_tiny_search_writes_the_contract(tiny_prep, tiny_preset, tmp_path):
    out = search(tiny_prep, tmp_path / "run", target="rpi3", preset=tiny_preset, device="cpu")
    for name in ("result.json", "history.parquet", "archive.parquet", "progress.png",
                 "hpo.db", "supernet.pt", "checkpoint.pt"):
        assert (out / name).is_file(), name
    r = _result(tmp_path / "run")
    assert r["schema_version"] == 1 and r["arch_id"] and r["target"] == "rpi3"
    assert "estimated" in r["latency"]["label"] and r["latency"]["source"] == "estimated"
    assert all("estimated" in p["latency_source"] for p in r["pareto"])
    pruned = [p for p in r["pruning_log"] if p["action"] == "pruned"]
    assert pruned and {"layer", "candidate", "score", "metric", "latency_ms", "samples",
                       "step"} <= set(pruned[0])
    assert len(r["history"]) == 12
    # never a decision without evidence: pruning by scores needs samples; the last point's
    # depth race trained every depth's network alone and decides with that
    assert all(p["samples"] > 0 for p in pruned if p.get("decided_by") != "race")
    race = r["race"]
    assert race["steps"] == 2 and len(race["entries"]) >= 2
    assert [e["arch_id"] for e in race["entries"] if e["chosen"]] == [r["arch_id"]]
    assert r["history"][-1]["candidates_left"] < r["history"][0]["candidates_left"]
    rank = r["latency_rank"]
    assert 0.0 <= rank["faster_share"] <= 1.0 and rank["space_fastest_ms"] <= rank["latency_ms"]
    # the references' place in the space: nnU-Net's topology inside it, the DynUNet baseline
    assert set(rank["references"]) == {"nnunet_like", "unet"}
    assert all(rank["space_fastest_ms"] <= ref["latency_ms"]
               and 0.0 <= ref["space_faster_share"] <= 1.0
               for ref in rank["references"].values())
    assert r["loss"]["latency_term"] == r["config"]["search"]["latency_term"]
    learned = r["schedule"]["learned_at"] is not None
    assert len(r["warnings"]) == rank["is_fastest"] + (not learned)
    if not learned:  # a 12-step supernet: every point waits for the last step
        assert r["schedule"]["pruned_at"] == [12]
        assert {p["gate"]["reason"] for p in r["pruning_log"]} == {"not learned"}
    # one front, one metric: every member re-scored on the whole validation split
    assert len({p["metric_basis"] for p in r["pareto"]}) == 1
    assert len(r["pareto"]) <= 1 + r["config"]["search"]["pareto_reeval"]
    assert r["search_front"] and "during the search" in r["search_front"][0]["metric_basis"]
    assert r["hpo"]["chosen"]["lr"] > 0 and len(r["hpo"]["trials"]) == 2
    assert r["config"]["search"]["paths_per_step"] == 3


def test_resume_after_a_crash_gives_the_same_result(tiny_prep, tiny_preset, tmp_path):
    clean = search(tiny_prep, tmp_path / "a", target="rpi3", preset=tiny_preset, device="cpu")

    def crash(step, row):
        if step == 6:  # mid-epoch (4 steps per epoch), after the HPO and a pruning point
            raise RuntimeError("simulated crash")

    with pytest.raises(RuntimeError, match="simulated"):
        search(tiny_prep, tmp_path / "b", target="rpi3", preset=tiny_preset, device="cpu",
               on_step=crash)
    assert not (tmp_path / "b" / "search").exists()
    resumed = search(tiny_prep, tmp_path / "b", target="rpi3", preset=tiny_preset, device="cpu")
    a, b = _result(clean.parent), _result(resumed.parent)
    a.pop("prep"), b.pop("prep")
    assert a == b

    def crash_in_race(step, row):
        if "racing" in row:  # the depth race is about to train its networks
            raise RuntimeError("simulated crash")

    with pytest.raises(RuntimeError, match="simulated"):
        search(tiny_prep, tmp_path / "c", target="rpi3", preset=tiny_preset, device="cpu",
               on_step=crash_in_race)
    again = search(tiny_prep, tmp_path / "c", target="rpi3", preset=tiny_preset, device="cpu")
    c = _result(again.parent)
    c.pop("prep")
    assert c == a and c["race"] is not None


def test_every_supernet_option_together_resumes_exactly_and_saves_its_supernet(tiny_prep,
                                                                         tiny_preset, tmp_path):
    import torch

    preset = tiny_preset.model_copy(update={"search": tiny_preset.search.model_copy(
        update={"few_shot": True, "few_shot_split": 0.4, "sandwich": True,
                "fair_paths": 1, "paths_per_step": 5})})
    clean = search(tiny_prep, tmp_path / "a", target="rpi3", preset=preset, device="cpu")

    def crash(step, row):
        if step == 8:  # after the split at step 5 (0.4 of 12), before the end
            raise RuntimeError("simulated crash")

    with pytest.raises(RuntimeError, match="simulated"):
        search(tiny_prep, tmp_path / "b", target="rpi3", preset=preset, device="cpu",
               on_step=crash)
    resumed = search(tiny_prep, tmp_path / "b", target="rpi3", preset=preset, device="cpu")
    a, b = _result(clean.parent), _result(resumed.parent)
    a.pop("prep"), b.pop("prep")
    assert a == b and a["config"]["search"]["few_shot"] and a["config"]["search"]["sandwich"]
    assert all(row["paths"] == 5 for row in a["history"][:4])
    saved = torch.load(clean / "supernet.pt", weights_only=True)
    assert saved["few_shot"] and any(k.startswith("parts.") for k in saved["state_dict"])


def test_budget_is_honoured(tiny_prep, tiny_preset, tmp_path):
    from mias.search.api import load_latency
    from mias.search.controller import MiasSearch
    from mias.train.data import PreparedData

    no_lat = tiny_preset.model_copy(update={"search": tiny_preset.search.model_copy(
        update={"eps_lat": 0.0})})
    free = _result(search(tiny_prep, tmp_path / "free", target="rpi3", preset=no_lat,
                          device="cpu").parent)
    space = PreparedData.load(tiny_prep).space
    _, predictor, _ = load_latency(tiny_prep, "rpi3")
    fastest = MiasSearch(space, None, predictor, no_lat.search, seed=0, steps_per_epoch=4)
    floor = predictor.predict(space, fastest.fastest()).value
    assert free["latency"]["value"] > floor
    budget = (floor + free["latency"]["value"]) / 2
    r = _result(search(tiny_prep, tmp_path / "tight", target="rpi3", preset=no_lat,
                       device="cpu", latency_budget_ms=budget).parent)
    assert r["latency"]["value"] <= budget
    assert r["schedule"]["latency_budget_ms"] == budget


def test_impossible_budget_and_bad_preset_field_are_exit_2(tiny_prep, tmp_path, capsys):
    cfg = tmp_path / "bad.yaml"
    cfg.write_text("search:\n  epochs: lots\n")
    assert main(["search", str(tiny_prep), "--out", str(tmp_path / "r"), "--config",
                 str(cfg)]) == 2
    err = capsys.readouterr().err
    assert "search.epochs" in err and str(cfg) in err and "Traceback" not in err
    cfg.write_text("search:\n  bogus: 1\n")
    assert main(["search", str(tiny_prep), "--out", str(tmp_path / "r"), "--config",
                 str(cfg)]) == 2
    assert "search.bogus" in capsys.readouterr().err
    assert main(["search", str(tiny_prep), "--out", str(tmp_path / "r"),
                 "--latency-budget", "0.001"]) == 2
    assert "fastest" in capsys.readouterr().err
    assert not (tmp_path / "r").exists() or not any((tmp_path / "r").iterdir())


@pytest.mark.parametrize("fixture", ["tiny_xray_prep", "tiny_brain_prep"])
def test_search_runs_on_classification_and_multichannel_tasks(fixture, tiny_preset, tmp_path,
                                                              request):
    prep = request.getfixturevalue(fixture)
    quick = tiny_preset.model_copy(update={"search": tiny_preset.search.model_copy(
        update={"epochs": 2, "hpo": tiny_preset.search.hpo.model_copy(
            update={"enabled": False})})})
    r = _result(search(prep, tmp_path / "run", target="rpi3", preset=quick,
                       device="cpu").parent)
    assert r["arch_id"] and r["pareto"] and len(r["history"]) == 8
    assert r["hpo"] is None
    kind = json.loads((prep / "manifest.json").read_text())["task"]["kind"]
    assert kind == ("classification" if fixture == "tiny_xray_prep" else "segmentation")
    assert (r["arch"]["decoder"] == []) == (kind == "classification")
    assert r["metric"]["name"] == ("f_beta" if kind == "classification" else "dice")


def test_search_never_writes_into_its_input(tiny_prep, tiny_preset, tmp_path, capsys):
    before = sorted(p.name for p in tiny_prep.iterdir())
    assert main(["search", str(tiny_prep), "--out", str(tiny_prep), "--config",
                 str(_write(tmp_path / "c.yaml", "search: {epochs: 1}\n"))]) == 2
    assert "Traceback" not in capsys.readouterr().err
    assert sorted(p.name for p in tiny_prep.iterdir()) == before


def _write(path, text):
    path.write_text(text)
    return path
