"""The U-Net-like supernetwork (paper Fig. 3): one module per candidate, one path per call.

`Supernet(space)` holds one module per candidate of every layer, built for the widest input
the layer can receive; `supernet(x, arch)` runs the path of `arch`, slicing each candidate's
input channels to the incoming width (there is no mutable "active subnet" state).
`enc{k}` is the same layer at every depth ≥ k, so a candidate's weights are shared by all
paths through it. `materialize(supernet, arch)` copies those slices into a standalone
`Network` whose output equals the supernet path.

`FewShotSupernet` splits the space by depth (few-shot NAS): one `Supernet` per depth,
each holding only the layers its depth runs, so a path shares weights with the paths of its
own depth and with no other. `enc{k}` is asked different things at different depths (a
bottleneck at depth k, a skip source deeper), and one-shot sharing across depths makes the
depth whose weights learn fastest look best.
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
    """All candidates of `space` (with `depth`: only the layers a path of that depth runs);
    `forward(x, arch)` runs one path."""

    def __init__(self, space: SearchSpace, seed: int = 0, depth: int | None = None) -> None:
        super().__init__()
        self.space = space
        self.depth = depth
        encoders = len(space.encoder) if depth is None else depth + 1
        decoders = len(space.decoder) if depth is None else min(depth, len(space.decoder))
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            self.stem = build_block(space.stem_config())
            self.encoder = nn.ModuleList(self._layer(f"enc{k}") for k in range(encoders))
            self.decoder = nn.ModuleList(self._layer(f"dec{k}") for k in range(decoders))
            self.head = build_block(space.elastic_head_config(), elastic=True)
        self._reserved = [space.elastic_config(f"dec{k}", space.decoder[k][0]).in_channels
                          for k in range(decoders)]
        for name in space.layer_names(depth):
            self.register_buffer(f"alive_{name}",
                                 torch.ones(len(space.candidates(name)), dtype=torch.bool))

    def holds(self, layer: str) -> bool:
        """Whether this supernet has modules for `layer`."""
        return hasattr(self, f"alive_{layer}")

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
        if self.depth is not None and arch.depth != self.depth:
            raise ValueError(f"a depth-{self.depth} supernet cannot run a depth-{arch.depth} "
                             "path")
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


class FewShotSupernet(nn.Module):
    """One depth-restricted `Supernet` per depth of `space`, all initialised from `seed` as
    copies of one supernet would be; a path runs in the supernet of its depth."""

    def __init__(self, space: SearchSpace, seed: int = 0) -> None:
        super().__init__()
        self.space = space
        self.parts = nn.ModuleDict({str(d): Supernet(space, seed=seed, depth=d)
                                    for d in space.depths})

    @classmethod
    def from_one_shot(cls, one: Supernet) -> FewShotSupernet:
        """The split of a trained one-shot supernet: each depth's sub-supernet starts from
        the one-shot weights (and pruning masks) of the layers it holds."""
        net = cls(one.space)
        state = one.state_dict()
        for part in net.parts.values():
            part.load_state_dict({k: state[k] for k in part.state_dict()})
        ref = next(one.parameters())
        return net.to(device=ref.device, dtype=ref.dtype).train(one.training)

    def part(self, arch: Architecture) -> Supernet:
        """The sub-supernet that runs `arch`."""
        return self.parts[str(arch.depth)]

    def forward(self, x: torch.Tensor, arch: Architecture) -> torch.Tensor:
        self.space.check(arch)
        return self.part(arch)(x, arch)

    def prune(self, layer: str, key: str) -> None:
        for sub in self.parts.values():
            if sub.holds(layer):
                sub.prune(layer, key)

    def alive(self, layer: str) -> list[str]:
        return next(sub for sub in self.parts.values() if sub.holds(layer)).alive(layer)

    def path(self, arch: Architecture) -> Iterator[tuple[nn.Module, Sel | None]]:
        return self.part(arch).path(arch)

    def materialize(self, arch: Architecture) -> Network:
        return self.part(arch).materialize(arch)


AnySupernet = Supernet | FewShotSupernet


def build_supernet(space: SearchSpace, seed: int = 0, few_shot: bool = False) -> AnySupernet:
    """The one-shot supernet of `space`, or its few-shot split by depth."""
    return FewShotSupernet(space, seed) if few_shot else Supernet(space, seed)


def materialize(supernet: AnySupernet, arch: Architecture) -> Network:
    """Module-level alias of `Supernet.materialize`."""
    return supernet.materialize(arch)
