"""`mias rank` end to end on 4 tiny architectures: Ray and the process pool agree, and a
rank killed mid-way resumes with the finished trainings reused and the same result."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from mias.bench.fanout import ray_available
from mias.cli.main import main
from mias.rank.api import rank, summary_lines
from mias.rank.settings import RankSettings

from .conftest import TINY

pytestmark = pytest.mark.slow
SAMPLERS = ("mias", "fairnas")


@pytest.fixture(scope="module")
def config(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("cfg") / "tiny.yaml"
    path.write_text(yaml.safe_dump(TINY))
    return path


def _cli(prep: Path, out: Path, config: Path, *extra: str) -> list[str]:
    return ["rank", str(prep), "--out", str(out), "--archs", "4", "--samplers",
            ",".join(SAMPLERS), "--config", str(config), *extra]


@pytest.fixture(scope="module")
def pool_run(rank_prep, config, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("pool") / "rank"
    assert main(_cli(rank_prep, out, config, "--backend", "pool", "--workers", "2")) == 0
    return out


def test_pool_rank_writes_tau_json_and_png(pool_run, capsys):
    tau = json.loads((pool_run / "tau.json").read_text())
    assert tau["protocol"]["n"] == 4 and set(tau["samplers"]) == set(SAMPLERS)
    for entry in tau["samplers"].values():
        assert [e["epoch"] for e in entry["epochs"]] == [1, 2]
        for e in entry["epochs"]:
            assert e["tau_ci"][0] <= e["tau"] <= e["tau_ci"][1] and len(e["scores"]) == 4
            assert 0 <= e["hard"]["tied"] <= 4 and len(e["hard_scores"]) == 4
            assert e["diagnostics"]["paths"] == e["path_updates"]
            assert sum(e["diagnostics"]["depth_counts"].values()) == e["path_updates"]
    # equal budgets: FairNAS's steps train more paths, so it takes fewer of them
    supernet = tau["protocol"]["supernet"]
    updates = {n: e["path_updates"] for n, e in tau["samplers"].items()}
    assert supernet["path_updates_equal"] and updates == supernet["path_updates"]
    assert set(updates.values()) == {2 * supernet["path_updates_per_epoch"]}
    fair, mias = tau["samplers"]["fairnas"], tau["samplers"]["mias"]
    assert fair["natural_paths_per_step"] > mias["natural_paths_per_step"]
    assert fair["steps"] <= mias["steps"]
    assert tau["samplers"]["mias"]["epochs"][-1]["diagnostics"]["probabilities"] is not None
    assert tau["samplers"]["fairnas"]["epochs"][-1]["diagnostics"]["probabilities"] is None
    assert tau["protocol"]["validation_cases"] >= 1
    assert "mias-fairnas" in tau["comparisons"]
    assert set(tau["references"]) == {"depth", "params", "flops", "latency"}
    assert all(-1.0 <= r["tau"] <= 1.0 for r in tau["references"].values())
    assert all("within_depth" in e["final"] for e in tau["samplers"].values())
    assert (pool_run / "tau.png").read_bytes()[:4] == b"\x89PNG"
    assert json.loads((pool_run / "run.json").read_text())["backend"] == "pool"


@pytest.mark.skipif(not ray_available(), reason="the mias[ray] extra is not installed")
def test_local_ray_on_two_cpus_gives_the_same_tau_json(pool_run, rank_prep, tiny_rank_preset,
                                                        tmp_path):
    out = rank(rank_prep, tmp_path / "ray", preset=tiny_rank_preset,
               settings=RankSettings(archs=4, samplers=SAMPLERS), backend="ray", workers=2)
    assert out.run["backend"] == "ray"
    assert (tmp_path / "ray" / "tau.json").read_bytes() == (pool_run / "tau.json").read_bytes()


def test_a_killed_rank_resumes_reusing_its_finished_trainings(pool_run, rank_prep, config,
                                                               tiny_rank_preset, tmp_path):
    out = tmp_path / "killed"
    cmd = [sys.executable, "-m", "mias.cli", *_cli(rank_prep, out, config, "--backend", "pool",
                                                   "--workers", "1")]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 300
    try:
        while time.monotonic() < deadline and proc.poll() is None:
            if [p for partial in tmp_path.glob(".killed.partial*")
                    for p in (partial / "standalone").glob("*.json")]:
                break
            time.sleep(0.2)
        assert proc.poll() is None, "the rank finished before it could be killed"
    finally:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
    assert not (out / "tau.json").exists()
    outcome = rank(rank_prep, out, preset=tiny_rank_preset,
                   settings=RankSettings(archs=4, samplers=SAMPLERS), backend="pool", workers=1)
    assert outcome.run["resumed"] and outcome.run["supernets_reused"] == len(SAMPLERS)
    assert outcome.run["standalone_reused"] >= 1
    assert outcome.run["standalone_reused"] + outcome.run["standalone_trained"] == 4
    assert (out / "tau.json").read_bytes() == (pool_run / "tau.json").read_bytes()


def test_two_truth_seeds_average_the_ground_truth_and_report_its_retest(
        pool_run, rank_prep, tiny_rank_preset, tmp_path):
    out = tmp_path / "seeds"
    shutil.copytree(pool_run, out)
    outcome = rank(rank_prep, out, preset=tiny_rank_preset,
                   settings=RankSettings(archs=4, samplers=("spos",), truth_seeds=2),
                   backend="pool", workers=1, overwrite=True)
    assert outcome.run["standalone_reused"] == 4 and outcome.run["standalone_trained"] == 4
    tau = outcome.tau
    first = {a["arch_id"]: a["standalone_score"]
             for a in json.loads((pool_run / "tau.json").read_text())["architectures"]}
    assert tau["protocol"]["standalone"]["seeds"] == [0, 1]
    for a in tau["architectures"]:
        seed0, seed1 = a["standalone_scores_per_seed"]
        assert seed0 == first[a["arch_id"]]
        assert a["standalone_score"] == pytest.approx((seed0 + seed1) / 2)
    retest = tau["standalone"]["retest"]
    assert retest["tau_ci"][0] <= retest["tau"] <= retest["tau_ci"][1]
    top = retest["ceiling"]
    assert top["half_tau"] == retest["tau"] and top["ci"][0] <= top["ci"][1]
    assert top["tau"] >= retest["tau"] or retest["tau"] <= 0
    lines = summary_lines(tau, outcome.run)
    assert any("half the truth's seeds" in line for line in lines)
    assert any("ceiling (a noise-free ranking" in line for line in lines)
