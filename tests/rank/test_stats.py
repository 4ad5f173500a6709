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


def test_the_ceiling_arithmetic_spearman_brown_through_greiner():
    from mias.rank.stats import noise_free_tau, r_to_tau, tau_to_r

    # halves agreeing at τ 0.6: r 0.809, whole truth 0.894, a perfect ranking τ 0.79
    c = noise_free_tau(0.6)
    assert c["half_r"] == pytest.approx(0.8090, abs=1e-4)
    assert c["full_reliability"] == pytest.approx(0.8944, abs=1e-4)
    assert c["tau"] == pytest.approx(0.7893, abs=1e-4)
    assert noise_free_tau(1.0)["tau"] == pytest.approx(1.0)
    assert noise_free_tau(-0.2)["tau"] == 0.0
    assert r_to_tau(tau_to_r(0.37)) == pytest.approx(0.37)


def test_the_ceiling_of_identical_halves_is_one_and_its_ci_is_seeded():
    from mias.rank.stats import ceiling

    a = np.arange(20, dtype=float)
    rng = np.random.default_rng(0)
    b = a + rng.normal(0, 3, 20)
    same = ceiling((a, a), rounds=50, confidence=0.95, seed=1)
    assert same["tau"] == pytest.approx(1.0) and same["ci"][0] == pytest.approx(1.0)
    noisy = ceiling((a, b), rounds=50, confidence=0.95, seed=1)
    assert noisy == ceiling((a, b), rounds=50, confidence=0.95, seed=1)
    assert noisy["half_tau"] < noisy["tau"] < 1.0


def test_within_group_tau_skips_groups_too_small_to_order():
    from mias.rank.stats import within_groups

    truth = [1, 2, 3, 4, 5, 6, 7]
    scores = [1, 2, 3, 7, 6, 5, 0]
    groups = [1, 1, 1, 2, 2, 2, 3]
    out = within_groups(scores, truth, groups)
    assert out == {"1": {"n": 3, "tau": 1.0}, "2": {"n": 3, "tau": -1.0}}


def test_tied_counts_every_score_shared_with_another():
    from mias.rank.stats import tied

    assert tied([0.0, 0.0, 0.0, 0.5, 0.7, 0.7, 1.0]) == 5
    assert tied([0.1, 0.2, 0.3]) == 0
