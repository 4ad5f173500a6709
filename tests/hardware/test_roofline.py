"""The roofline model on hand-computed cases; its figures are labelled estimates."""

import numpy as np
import pytest

from mias.errors import InputError
from mias.hardware import create_device, create_predictor
from mias.hardware.roofline import block_bytes, roofline_ms
from mias.space import block_flops


def test_roofline_is_the_slower_of_compute_and_memory():
    rpi3 = create_device("rpi3")  # 4 cores × 1.2 GHz × 4 FLOP/cycle = 19.2 GFLOP/s, 1 GB/s
    assert roofline_ms(19.2e6, 0.5e6, rpi3) == pytest.approx(1.0)  # compute-bound
    assert roofline_ms(1.92e6, 2e6, rpi3) == pytest.approx(2.0)  # memory-bound


def test_stem_block_by_hand(tiny_space):
    stem = tiny_space.stem_config()  # 1 → 4 channels, 3×3 conv with bias, on 8×8
    assert block_flops(stem) == 2 * (4 * 1 * 9) * 64
    assert block_bytes(stem) == (1 * 64 + 4 * 64 + (36 + 4)) * 4
    roof = create_predictor("roofline", device=create_device("rpi3"))
    assert roof.block_ms(stem) == pytest.approx(1440 / 1e9 * 1e3)


def test_network_estimate_sums_blocks_and_says_it_is_an_estimate(tiny_space):
    arch = tiny_space.sample(np.random.default_rng(0))
    roof = create_predictor("roofline", device=create_device("rpi3"))
    fig = roof.predict(tiny_space, arch)
    assert fig.value == pytest.approx(sum(roof.block_ms(c)
                                          for c in tiny_space.block_configs(arch)))
    assert (fig.source, fig.model, fig.unit) == ("estimated", "roofline(rpi3)", "ms")


def test_roofline_needs_peak_figures():
    with pytest.raises(InputError, match="--measure-peaks"):
        create_predictor("roofline", device=create_device("host"))
