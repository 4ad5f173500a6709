"""τ and ρ against SciPy and by hand, bootstrap CIs, top-k, the paired difference."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from mias.rank.stats import agreement, bootstrap_ci, paired_difference, top_k

SUPERNET = [0.1, 0.2, 0.3, 0.4, 0.5]
TRUTH = [0.1, 0.3, 0.2, 0.5, 0.4]  # two adjacent swaps: 8 concordant, 2 discordant pairs


def test_tau_and_rho_match_scipy_and_the_hand_count():
    a = agreement(SUPERNET, TRUTH, rounds=200, confidence=0.9, seed=0, k=2)
    assert a["tau"] == pytest.approx((8 - 2) / 10)
    assert a["tau"] == pytest.approx(stats.kendalltau(SUPERNET, TRUTH)[0])
    assert a["rho"] == pytest.approx(1 - 6 * 4 / (5 * 24))
    assert a["rho"] == pytest.approx(stats.spearmanr(SUPERNET, TRUTH)[0])
    for kind in ("tau", "rho"):
        lo, hi = a[f"{kind}_ci"]
        assert -1.0 <= lo <= hi <= 1.0


def test_reversed_ranking_is_minus_one_and_constant_scores_zero():
    assert agreement(SUPERNET, SUPERNET[::-1], rounds=100, confidence=0.9, seed=0,
                     k=1)["tau"] == pytest.approx(-1.0)
    assert agreement([0.2] * 5, TRUTH, rounds=100, confidence=0.9, seed=0, k=1)["tau"] == 0.0


def test_bootstrap_is_seeded_and_narrows_with_more_architectures():
    rng = np.random.default_rng(0)
    truth = rng.normal(size=60)
    noisy = truth + rng.normal(scale=0.5, size=60)
    one = bootstrap_ci("tau", noisy, truth, rounds=300, confidence=0.95, seed=3)
    assert one == bootstrap_ci("tau", noisy, truth, rounds=300, confidence=0.95, seed=3)
    few = bootstrap_ci("tau", noisy[:10], truth[:10], rounds=300, confidence=0.95, seed=3)
    assert one[1] - one[0] < few[1] - few[0]
    assert one[0] < stats.kendalltau(noisy, truth)[0] < one[1]


def test_top_k_overlap_and_true_best():
    a, t = np.array(SUPERNET), np.array(TRUTH)
    assert top_k(a, t, 2) == {"k": 2, "overlap": 1.0, "contains_best": True}
    assert top_k(a, t, 1) == {"k": 1, "overlap": 0.0, "contains_best": False}
    assert top_k(a, t, 9)["k"] == 5


def test_paired_difference_of_a_ranking_with_itself_is_zero():
    d = paired_difference(SUPERNET, SUPERNET, TRUTH, rounds=100, confidence=0.9, seed=0)
    assert d == {"delta_tau": 0.0, "ci": [0.0, 0.0]}
    better = paired_difference(TRUTH, SUPERNET[::-1], TRUTH, rounds=100, confidence=0.9, seed=0)
    assert better["delta_tau"] == pytest.approx(1.0 - (-0.6)) and better["ci"][0] > 0
