"""The surrogate ensemble, its trust region, and the loud log-FLOPs fallback off the table."""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from mias.bench.api import MedNasBench
from mias.bench.evaluator import TableEvaluator
from mias.bench.surrogate import (
    FALLBACK,
    LOG_FLOPS,
    SURROGATE,
    OffTablePredictor,
    Surrogate,
    SurrogateFallbackWarning,
    encode,
    first_seed,
    held_out_quality,
)
from mias.records import TaskSpec
from mias.space import Architecture, BlockChoice, SearchSpace, select_search_space

FITTED = 20


@pytest.fixture(scope="module")
def space() -> SearchSpace:
    """2D segmentation of 32×32 images: depths 1–3, a dozen candidates per encoder layer."""
    return select_search_space(TaskSpec("segmentation", 2, 1, (32, 32), 2,
                                        ("background", "lesion"), "CT", (1.0, 1.0)))


@pytest.fixture(scope="module")
def fitted(space: SearchSpace) -> list[Architecture]:
    """Depth-1 architectures only: deeper ones are off what a surrogate of these has seen."""
    rng, out = np.random.default_rng(0), []
    while len(out) < FITTED:
        arch = space.sample(rng)
        if arch.depth == 1 and arch not in out:
            out.append(arch)
    return out


def structural(arch: Architecture) -> float:
    """A metric the genotype sets and FLOPs barely rank: the first layer's operator and the
    bottleneck's shortcut."""
    return float(arch.encoder[0].op in ("conv", "resblock")) + 0.5 * arch.encoder[1].residual


def log_flops(space: SearchSpace, arch: Architecture) -> float:
    return float(encode(space, arch)[LOG_FLOPS])


@pytest.fixture(scope="module")
def far(space: SearchSpace) -> Architecture:
    """The deepest architecture, widest candidate everywhere."""
    def widest(layer: str) -> BlockChoice:
        return max(space.candidates(layer), key=lambda c: (c.width, c.expansion, c.layers))

    depth = space.max_depth
    arch = Architecture(depth, tuple(widest(f"enc{k}") for k in range(depth + 1)),
                        tuple(widest(f"dec{k}") for k in range(depth)))
    space.check(arch)
    return arch


@pytest.fixture(scope="module")
def near(space: SearchSpace, fitted: list[Architecture]) -> Architecture:
    """A depth-1 architecture the surrogate was not fitted on, inside its trust region."""
    surrogate = Surrogate.fit(space, fitted, [structural(a) for a in fitted], seed=0,
                              members=1)
    draws = (space.sample(np.random.default_rng(100 + i)) for i in range(200))
    return next(a for a in draws if a.depth == 1 and a not in fitted
                and surrogate.in_trust_region(a))


@pytest.fixture(scope="module")
def earned(space: SearchSpace, fitted: list[Architecture]) -> dict:
    """Held-out quality of a surrogate that ranks the structural metric better than FLOPs."""
    return held_out_quality(space, fitted, [structural(a) for a in fitted], seed=0)


@pytest.fixture(scope="module")
def by_flops(space: SearchSpace, fitted: list[Architecture]) -> dict:
    """Held-out quality when the metric *is* log FLOPs: a τ of 1 no surrogate beats."""
    return held_out_quality(space, fitted, [log_flops(space, a) for a in fitted], seed=0)


def test_ensemble_is_deterministic_with_a_spread(space: SearchSpace, fitted: list[Architecture],
                                                 near: Architecture, far: Architecture,
                                                 tmp_path: Path) -> None:
    y = [structural(a) for a in fitted]
    one, same, other = (Surrogate.fit(space, fitted, y, seed=s) for s in (0, 0, 1))
    assert len(one.models) == 8
    off = [near, far, *(space.sample(np.random.default_rng(50 + i)) for i in range(3))]
    mean, std = one.predict_with_uncertainty(off)
    np.testing.assert_array_equal(mean, one.predict(off))
    np.testing.assert_array_equal(mean, same.predict(off))
    assert not np.allclose(mean, other.predict(off))
    assert std.shape == (len(off),) and np.all(std > 0)
    loaded = Surrogate.load(one.save(tmp_path / "s.joblib"))
    for got, want in zip(loaded.predict_with_uncertainty(off), (mean, std), strict=True):
        np.testing.assert_array_equal(got, want)
    assert loaded.radius == one.radius and not loaded.in_trust_region(far)


def test_trust_region_holds_the_fitted_set_not_a_far_architecture(
        space: SearchSpace, fitted: list[Architecture], near: Architecture,
        far: Architecture) -> None:
    surrogate = Surrogate.fit(space, fitted, [structural(a) for a in fitted], members=1)
    assert surrogate.radius > 0
    assert all(surrogate.in_trust_region(a) for a in fitted)  # each is its own neighbour
    assert surrogate.in_trust_region(near)
    assert not surrogate.in_trust_region(far)
    assert surrogate.trust_distance([far])[0] > 2 * surrogate.radius
    deeper = [a for a in (space.sample(np.random.default_rng(300 + i)) for i in range(40))
              if a.depth > 1]
    assert deeper and not any(surrogate.in_trust_region(a) for a in deeper)


def test_held_out_quality_reports_log_flops_tau(space: SearchSpace, fitted: list[Architecture],
                                                earned: dict, by_flops: dict) -> None:
    flops = [log_flops(space, a) for a in fitted]
    assert by_flops["log_flops_tau"] == pytest.approx(1.0)
    assert by_flops["kendall_tau"] < 1.0 and by_flops["beats_log_flops"] is False
    assert earned["kendall_tau"] > earned["log_flops_tau"] and earned["beats_log_flops"]
    assert earned["log_flops_tau"] < 0.5 and "ensemble" in earned["model"]
    assert {"kendall_tau", "mae", "folds", "n", "model"} <= set(earned)
    few = held_out_quality(space, fitted[:4], flops[:4])
    assert few["log_flops_tau"] is None and few["beats_log_flops"] is False


def test_far_architecture_gets_the_fallback_loudly(space: SearchSpace, fitted: list[Architecture],
                                                   near: Architecture, far: Architecture,
                                                   earned: dict) -> None:
    y = [structural(a) for a in fitted]
    predictor = OffTablePredictor("Toy", Surrogate.fit(space, fitted, y), earned, fitted, y)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # inside the trust region: no warning
        inside = predictor.predict(near)
    assert inside.predictor == SURROGATE and inside.std is not None and inside.std > 0
    assert inside.metric == pytest.approx(predictor.surrogate.predict([near])[0])
    assert "inside the trust region" in inside.reason
    with pytest.warns(SurrogateFallbackWarning, match="Toy.*outside the trust region"):
        outside = predictor.predict(far)
    assert outside.predictor == FALLBACK and outside.std is None
    assert outside.reason.startswith("outside the trust region")
    # the deepest, widest network: the fallback answers the table's best-by-FLOPs metric
    assert outside.metric == pytest.approx(predictor.fallback.predict(
        [max(log_flops(space, a) for a in fitted)])[0])
    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")
        again = predictor.predict(far)
    assert again.predictor == FALLBACK and not seen  # once per (task, kind), not per call


def test_no_better_than_log_flops_means_every_answer_falls_back(
        space: SearchSpace, fitted: list[Architecture], near: Architecture,
        far: Architecture, by_flops: dict) -> None:
    y = [log_flops(space, a) for a in fitted]
    predictor = OffTablePredictor("Toy", Surrogate.fit(space, fitted, y, members=2), by_flops,
                                  fitted, y)
    with pytest.warns(SurrogateFallbackWarning, match="log-FLOPs τ 1.00") as caught:
        answers = [predictor.predict(a) for a in (near, fitted[0], far, *fitted[1:4])]
    assert len(caught) == 1
    for arch, answer in zip((near, fitted[0]), answers[:2], strict=True):
        assert answer.predictor == FALLBACK and answer.std is None
        assert answer.reason == (f"surrogate τ {by_flops['kendall_tau']:.2f} ≤ log-FLOPs τ "
                                 "1.00 out of fold")
        lo, hi = min(y), max(y)  # isotonic on y = log FLOPs is the identity within range
        assert answer.metric == pytest.approx(np.clip(log_flops(space, arch), lo, hi))
    assert {a.predictor for a in answers} == {FALLBACK}


def _bench(space: SearchSpace, archs: list[Architecture], metrics: list[float]) -> MedNasBench:
    """A one-task table held in memory: enough for `TableEvaluator`, no build needed."""
    frame = pd.DataFrame({"task": "Toy", "arch_id": [a.id for a in archs],
                          "arch": [json.dumps(a.to_dict()) for a in archs],
                          "metric": metrics, "metric_name": "dice"})
    meta = {"tasks": {"Toy": {"space": space.to_dict(), "task": space.task.to_dict()}},
            "seeds": {"training": [0, 1]}, "devices": {}, "surrogate": {}}
    return MedNasBench(frame, meta)


def test_table_evaluator_counts_fallbacks(space: SearchSpace, fitted: list[Architecture],
                                          near: Architecture, far: Architecture,
                                          earned: dict) -> None:
    y = [structural(a) for a in fitted]
    bench = _bench(space, fitted, y)
    np.testing.assert_array_equal(bench.surrogate("Toy").predict([near]),
                                  Surrogate.fit(space, fitted, y, seed=0).predict([near]))
    predictor = bench.off_table("Toy")  # the table records no quality: computed from rows
    assert predictor is bench.off_table("Toy") and predictor.quality == earned
    evaluator = TableEvaluator(bench, "Toy")
    assert evaluator.value(fitted[0]) == y[0]
    assert evaluator.value(near) == pytest.approx(predictor.surrogate.predict([near])[0])
    with pytest.warns(SurrogateFallbackWarning, match="outside the trust region"):
        evaluator.value(far)
    evaluator.value(far)  # cached: not counted twice
    assert (evaluator.hits, evaluator.misses, evaluator.fallbacks) == (1, 2, 1)
    assert {evaluator.source(a) for a in (near, far)} == {"surrogate"}
    state = evaluator.state_dict()
    assert state == {"hits": 1, "misses": 2, "fallbacks": 1}
    evaluator.reset()
    assert (evaluator.hits, evaluator.misses, evaluator.fallbacks) == (0, 0, 0)
    evaluator.load_state_dict(state)
    assert evaluator.fallbacks == 1
    evaluator.load_state_dict({"hits": 3, "misses": 4})  # saved before fallbacks counted
    assert (evaluator.hits, evaluator.misses, evaluator.fallbacks) == (3, 4, 0)


def test_first_seed_reads_an_int_or_a_list() -> None:
    assert first_seed(None) == 0 and first_seed(7) == 7 and first_seed([3, 1]) == 3
