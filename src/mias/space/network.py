"""Standalone networks: what is trained, timed, exported and deployed.

A `Network` runs stem → enc0…enc{d} → dec{d−1}…dec0 (segmentation) → head, keeping each
encoder output for the decoder stage of the same resolution. It is built from
`SearchSpace.block_configs(arch)`, so its blocks are exactly the latency table's keys.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from mias.space.architecture import Architecture
from mias.space.configs import BlockConfig
from mias.space.modules import build_block
from mias.space.search_space import SearchSpace


class Network(nn.Module):
    """A standalone network: stem, encoder (enc0…), decoder (dec0…, may be empty), head."""

    def __init__(self, configs: Sequence[BlockConfig]) -> None:
        super().__init__()
        roles = [c.role for c in configs]
        if roles[0] != "stem" or roles[-1] != "head":
            raise ValueError("a network starts with a stem and ends with a head")
        self.stem = build_block(configs[0])
        self.encoder = nn.ModuleList(build_block(c) for c in configs if c.role == "enc")
        self.decoder = nn.ModuleList(build_block(c) for c in reversed(configs)
                                     if c.role == "dec")
        self.head = build_block(configs[-1])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.stem(x)
        skips = []
        for block in self.encoder:
            h = block(h)
            skips.append(h)
        for k in reversed(range(len(self.decoder))):
            h = self.decoder[k](h, skips[k])
        return self.head(h)


def build_network(space: SearchSpace, arch: Architecture, seed: int = 0) -> Network:
    """A freshly initialised standalone network for `arch` (same seed, same weights)."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return Network(space.block_configs(arch))
