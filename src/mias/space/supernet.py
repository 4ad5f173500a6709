"""The U-Net-like supernetwork (paper Fig. 3): one module per candidate, one path per call.

`Supernet(space)` holds one module per candidate of every layer, built for the widest input
the layer can receive; `supernet(x, arch)` runs the path of `arch`, slicing each candidate's
input channels to the incoming width (there is no mutable "active subnet" state).
`enc{k}` is the same layer at every depth ≥ k, so a candidate's weights are shared by all
paths through it. `materialize(supernet, arch)` copies those slices into a standalone
`Network` whose output equals the supernet path.
"""

from __future__ import annotations

from collections.abc import Iterator

import torch
from torch import nn

from mias.space.architecture import Architecture
from mias.space.elastic import Sel, sliced_state
from mias.space.modules import build_block
from mias.space.network import Network, build_network
from mias.space.search_space import SearchSpace


class Supernet(nn.Module):
    """All candidates of `space`; `forward(x, arch)` runs one path."""

    def __init__(self, space: SearchSpace, seed: int = 0) -> None:
        super().__init__()
        self.space = space
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            self.stem = build_block(space.stem_config())
            self.encoder = nn.ModuleList(self._layer(f"enc{k}") for k in range(len(space.encoder)))
            self.decoder = nn.ModuleList(self._layer(f"dec{k}") for k in range(len(space.decoder)))
            self.head = build_block(space.elastic_head_config(), elastic=True)
        self._reserved = [space.elastic_config(f"dec{k}", cands[0]).in_channels
                          for k, cands in enumerate(space.decoder)]
        for name in space.layer_names():
            self.register_buffer(f"alive_{name}",
                                 torch.ones(len(space.candidates(name)), dtype=torch.bool))

    def prune(self, layer: str, key: str) -> None:
        """Mask a candidate out: no path may run it again; no weight changes (pruning is a
        mask, not a rebuild, so the survivors keep exactly what they learnt)."""
        keys = [c.key for c in self.space.candidates(layer)]
        getattr(self, f"alive_{layer}")[keys.index(key)] = False

    def alive(self, layer: str) -> list[str]:
        """Keys of the candidates of `layer` that are not pruned."""
        flags = getattr(self, f"alive_{layer}").tolist()
        return [c.key for c, a in zip(self.space.candidates(layer), flags, strict=True) if a]

    def _check_alive(self, arch: Architecture) -> None:
        for name, choice in arch.layers.items():
            i = self.space.candidates(name).index(choice)
            if not bool(getattr(self, f"alive_{name}")[i]):
                raise ValueError(f"{name}: candidate {choice.key} was pruned")

    def _layer(self, name: str) -> nn.ModuleDict:
        return nn.ModuleDict({c.key: build_block(self.space.elastic_config(name, c), elastic=True)
                              for c in self.space.candidates(name)})

    def forward(self, x: torch.Tensor, arch: Architecture) -> torch.Tensor:
        self.space.check(arch)
        self._check_alive(arch)
        h = self.stem(x)
        skips = []
        for k, choice in enumerate(arch.encoder):
            h = self.encoder[k][choice.key](h, ((0, h.shape[1]),))
            skips.append(h)
        for k in reversed(range(len(arch.decoder))):
            reserved, skip = self._reserved[k], skips[k]
            sel = ((0, h.shape[1]), (reserved, reserved + skip.shape[1]))
            h = self.decoder[k][arch.decoder[k].key](h, skip, sel)
        return self.head(h, ((0, h.shape[1]),))

    def path(self, arch: Architecture) -> Iterator[tuple[nn.Module, Sel | None]]:
        """The supernet modules `arch` runs, in `Network` order, with their selections."""
        configs = self.space.block_configs(arch)
        yield self.stem, None
        for k, choice in enumerate(arch.encoder):
            yield self.encoder[k][choice.key], ((0, configs[k + 1].in_channels),)
        for k in range(len(arch.decoder)):
            config = configs[-2 - k]
            reserved = self._reserved[k]
            yield (self.decoder[k][arch.decoder[k].key],
                   ((0, config.in_channels), (reserved, reserved + config.skip_channels)))
        yield self.head, ((0, configs[-1].in_channels),)

    def materialize(self, arch: Architecture) -> Network:
        """A standalone `Network` for `arch` carrying this supernet's (sliced) weights."""
        net = build_network(self.space, arch)
        targets = [net.stem, *net.encoder, *net.decoder, net.head]
        for dst, (src, sel) in zip(targets, self.path(arch), strict=True):
            dst.load_state_dict(sliced_state(src, dst, sel))
        ref = next(self.parameters())
        return net.to(device=ref.device, dtype=ref.dtype).train(self.training)


def materialize(supernet: Supernet, arch: Architecture) -> Network:
    """Module-level alias of `Supernet.materialize`."""
    return supernet.materialize(arch)
