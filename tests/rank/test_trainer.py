"""Ranking supernets: strict fairness per step, no pruning, exact resume, BN recalibration."""

from __future__ import annotations

from collections import Counter

import numpy as np
import pytest
import torch
from torch import nn

from mias.rank.trainer import RankingSupernet, inherited_scores, recalibrate_batch_norm
from mias.search.api import load_latency
from mias.search.evaluator import PathScore
from mias.search.state import all_layers, arch_indices, layer_depth
from mias.train.data import PreparedData
from mias.train.scoring import Scorer


@pytest.fixture(scope="module")
def data(rank_prep):
    return PreparedData.load(rank_prep)


def _engine(data, preset, sampler, checkpoint=None):
    _, predictor, _ = load_latency(data.root, "rpi3")
    return RankingSupernet(data, preset.search, predictor, Scorer.for_task(data.task), sampler,
                           seed=0, device=torch.device("cpu"), checkpoint=checkpoint)


def test_fairnas_activates_every_candidate_of_every_layer_equally_per_step(data,
                                                                           tiny_rank_preset):
    engine = _engine(data, tiny_rank_preset, "fairnas")
    space = data.space
    assert len({len(space.candidates(n)) for n in all_layers(space)}) > 1
    steps: list[list] = []

    def record(archs, step):
        steps.append(list(archs))
        return [PathScore(a, 0.5, 1.0) for a in archs]

    engine.evaluator.step = record
    engine.train(lambda epoch, rows: None)
    assert len(steps) == engine.total_steps
    for archs in steps:
        assert len(archs) == max(len(space.candidates(n)) for n in all_layers(space))
        for n in all_layers(space):
            c = Counter(arch_indices(space, a)[1][n] for a in archs
                        if a.depth >= layer_depth(n))
            counts = [c.get(i, 0) for i in range(len(space.candidates(n)))]
            assert max(counts) - min(counts) <= 1, (n, counts)


def test_no_candidate_is_ever_pruned_and_resume_is_exact(data, tiny_rank_preset, tmp_path):
    engine = _engine(data, tiny_rank_preset, "mias", tmp_path / "a.pt")
    archs = [data.space.sample(np.random.default_rng(i)) for i in range(3)]
    seen: dict[int, list[float]] = {}

    def score(epoch, rows):
        seen[epoch] = inherited_scores(engine.supernet, archs, data, engine.evaluator.scorer,
                                       torch.device("cpu"), None)

    st = engine.train(score)
    assert sorted(seen) == [1, 2] and all(all(st.mask.layers[n]) for n in st.mask.layers)
    assert not st.pruning_log
    # the preset schedules pruning points within these steps; a ranking supernet has none
    # due, at its last step or any other (a search's gate would take them all there)
    assert tiny_rank_preset.search.prune and engine._gate(st) is None

    class Killed(Exception):
        pass

    first = _engine(data, tiny_rank_preset, "mias", tmp_path / "b.pt")

    def die_in_epoch_two(epoch, rows):
        if epoch == 2:
            raise Killed

    with pytest.raises(Killed):
        first.train(die_in_epoch_two)
    resumed = _engine(data, tiny_rank_preset, "mias", tmp_path / "b.pt")
    again: dict[int, list[float]] = {}
    resumed.train(lambda epoch, rows: again.setdefault(epoch, inherited_scores(
        resumed.supernet, archs, data, resumed.evaluator.scorer, torch.device("cpu"), None)))
    assert list(again) == [2] and again[2] == seen[2]


def test_batch_norm_statistics_are_re_estimated_on_the_given_images():
    torch.manual_seed(0)
    net = nn.Sequential(nn.Conv2d(1, 3, 3), nn.BatchNorm2d(3))
    net[1].running_mean.fill_(50.0)
    images = torch.randn(4, 1, 8, 8) * 2 + 1
    assert recalibrate_batch_norm(net, images, torch.device("cpu"))
    with torch.no_grad():
        expected = net[0](images).mean(dim=(0, 2, 3))
    assert torch.allclose(net[1].running_mean, expected, atol=1e-5)
    assert not net.training
    assert not recalibrate_batch_norm(nn.Sequential(nn.Conv2d(1, 1, 1)), images,
                                      torch.device("cpu"))
