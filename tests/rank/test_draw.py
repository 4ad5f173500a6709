"""The latency-stratified draw: seeded, distinct, one per stratum, spanning the range."""

from __future__ import annotations

import numpy as np
import pytest

from mias.errors import InputError
from mias.rank.draw import stratified_draw
from mias.search.api import load_latency
from mias.space import SearchSpace


@pytest.fixture
def space_and_predictor(rank_prep):
    _, predictor, _ = load_latency(rank_prep, "rpi3")
    return SearchSpace.load(rank_prep / "search_space.json"), predictor


def test_draw_is_seeded_and_spans_the_latency_range(space_and_predictor):
    space, predictor = space_and_predictor
    drawn, proto = stratified_draw(space, predictor, 10, seed=5, pool_per_arch=15)
    again, _ = stratified_draw(space, predictor, 10, seed=5, pool_per_arch=15)
    other, _ = stratified_draw(space, predictor, 10, seed=6, pool_per_arch=15)
    ids = [d.arch.id for d in drawn]
    assert ids == [d.arch.id for d in again]
    assert ids != [d.arch.id for d in other]
    assert len(set(ids)) == 10 and [d.stratum for d in drawn] == list(range(10))
    lat = np.array([d.latency_ms for d in drawn])
    assert np.all(np.diff(lat) >= 0)  # one per stratum, strata in latency order
    pool = np.sort([predictor.predict(space, space.sample(np.random.default_rng(s))).value
                    for s in range(400)])
    lo, hi = proto["pool_latency_ms"]
    assert proto["pool"] == 150 and lo <= lat[0] and lat[-1] <= hi
    # the drawn set reaches into both tails of the space's latency distribution
    assert lat[0] <= np.quantile(pool, 0.2) and lat[-1] >= np.quantile(pool, 0.8)
    assert proto["drawn_latency_ms"] == [lat[0], lat[-1]]


def test_more_architectures_than_the_space_holds_is_bad_input(space_and_predictor):
    space, predictor = space_and_predictor
    with pytest.raises(InputError, match="--archs"):
        stratified_draw(space, predictor, space.size() + 1, seed=0)
