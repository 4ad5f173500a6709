"""Analytic costs: hand-checked FLOPs, memory estimates, and a torch-free import."""

from __future__ import annotations

import subprocess
import sys

import numpy as np

from mias.space import (
    BlockChoice,
    BlockConfig,
    SearchSpace,
    block_flops,
    block_params,
    peak_activation_bytes,
    select_search_space,
)
from mias.space.cost import block_peak_bytes

GIB = 2**30


def test_hand_counted_convolution_block() -> None:
    choice = BlockChoice("conv", (3, 3, 3), 16, norm="instance", act="relu")
    config = BlockConfig("enc", choice, 3, 8, 0, 16, (16, 16, 16), (2, 2, 2), (1, 1, 1))
    assert config.out_shape == (8, 8, 8)
    assert block_flops(config) == 2 * 16 * 8 * 27 * 8**3
    assert block_params(config) == 16 * 8 * 27 + 2 * 16
    assert block_peak_bytes(config) == 4 * (8 * 16**3 + 16 * 8**3)


def test_hand_counted_heads() -> None:
    seg = BlockConfig("head", None, 2, 16, 0, 3, (32, 32), (1, 1), (1, 1))
    cls = BlockConfig("head", None, 2, 64, 0, 2, (4, 4), (4, 4), (1, 1))
    assert not seg.pooled and cls.pooled and cls.out_shape == ()
    assert block_flops(seg) == 2 * 16 * 3 * 32 * 32 and block_params(seg) == 16 * 3 + 3
    assert block_flops(cls) == 2 * 64 * 2 and block_params(cls) == 64 * 2 + 2


def test_peak_activation_is_bounded_by_the_tensors(small_space: SearchSpace) -> None:
    rng = np.random.default_rng(0)
    for _ in range(20):
        arch = small_space.sample(rng)
        configs = small_space.block_configs(arch)
        peak = peak_activation_bytes(small_space, arch)
        largest_block = max(block_peak_bytes(c) for c in configs)
        everything = sum(block_peak_bytes(c) for c in configs)
        assert largest_block <= peak <= everything
        assert peak_activation_bytes(small_space, arch, batch=2) == 2 * peak


def test_skips_count_while_the_decoder_waits(tasks) -> None:
    space = select_search_space(tasks["hippocampus"]())
    rng = np.random.default_rng(1)
    arch = next(a for a in (space.sample(rng) for _ in range(100)) if a.depth == 3)
    configs = space.block_configs(arch)
    bottleneck = configs[arch.depth + 1]
    skips = sum(4 * c.out_channels * np.prod(c.out_shape) for c in configs[1:arch.depth])
    assert peak_activation_bytes(space, arch) >= block_peak_bytes(bottleneck) + skips


def test_hippocampus_networks_fit_a_raspberry_pi(tasks) -> None:
    """The 1 GB of a Raspberry Pi 3 holds the OS, the runtime, the weights and these."""
    space = select_search_space(tasks["hippocampus"]())
    rng = np.random.default_rng(0)
    peaks = [peak_activation_bytes(space, space.sample(rng)) for _ in range(50)]
    assert max(peaks) < GIB / 4


def test_space_and_costs_import_without_torch() -> None:
    code = (
        "import sys\n"
        "from mias.records import TaskSpec\n"
        "from mias.space import select_search_space, network_flops, BlockConfig\n"
        "import numpy as np\n"
        "t = TaskSpec('segmentation', 3, 1, (16, 24, 16), 2, ('bg', 'fg'), 'MR', (1., 1., 1.))\n"
        "s = select_search_space(t)\n"
        "a = s.sample(np.random.default_rng(0))\n"
        "assert network_flops(s, a) > 0\n"
        "assert all(BlockConfig.from_key(c.key) == c for c in s.all_block_configs())\n"
        "assert 'torch' not in sys.modules, 'torch was imported'\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
