"""The search's view of the space: candidate indices, the pruning mask, the distribution.

An architecture is seen as indices (the depth's position in `space.depths`, and per layer
the position of its block among the layer's candidates). `CandidateMask` says which
candidates and depths are still alive; `Distribution` holds the architecture logits over
them. Both are plain numpy/torch values that checkpoint and serialise; neither holds a
module, so the same search state drives a supernet or a benchmark table.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from mias.space import Architecture, SearchSpace


def all_layers(space: SearchSpace) -> list[str]:
    """Every searchable layer of the space (the deepest architecture's layers)."""
    return space.layer_names(space.max_depth)


def arch_indices(space: SearchSpace, arch: Architecture) -> tuple[int, dict[str, int]]:
    """(depth index, layer → candidate index) of `arch`."""
    space.check(arch)
    return (space.depths.index(arch.depth),
            {n: space.candidates(n).index(b) for n, b in arch.layers.items()})


def from_indices(space: SearchSpace, depth_index: int, choice: dict[str, int]) -> Architecture:
    depth = space.depths[depth_index]
    layers = {n: space.candidates(n)[choice[n]] for n in space.layer_names(depth)}
    return space._with_choices(depth, layers)


def layer_depth(layer: str) -> int:
    """The smallest depth whose architectures run `layer` (enc{k}: k, dec{k}: k + 1)."""
    k = int(layer[3:])
    return k if layer.startswith("enc") else k + 1


@dataclass(frozen=True)
class CandidateMask:
    """Alive candidates per layer and alive depths (True = still in the space)."""

    layers: dict[str, tuple[bool, ...]]
    depths: tuple[bool, ...]

    @classmethod
    def full(cls, space: SearchSpace) -> CandidateMask:
        return cls({n: (True,) * len(space.candidates(n)) for n in all_layers(space)},
                   (True,) * len(space.depths))

    def alive(self, layer: str) -> list[int]:
        return [i for i, a in enumerate(self.layers[layer]) if a]

    def alive_depths(self) -> list[int]:
        return [i for i, a in enumerate(self.depths) if a]

    def without(self, layer: str, index: int) -> CandidateMask:
        if layer == "depth":
            return CandidateMask(self.layers, _drop(self.depths, index))
        return CandidateMask({**self.layers, layer: _drop(self.layers[layer], index)},
                             self.depths)

    def allows(self, space: SearchSpace, arch: Architecture) -> bool:
        d, choice = arch_indices(space, arch)
        return self.depths[d] and all(self.layers[n][i] for n, i in choice.items())

    def to_dict(self) -> dict[str, Any]:
        return {"layers": {n: list(v) for n, v in self.layers.items()},
                "depths": list(self.depths)}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> CandidateMask:
        return cls({n: tuple(bool(x) for x in v) for n, v in d["layers"].items()},
                   tuple(bool(x) for x in d["depths"]))


def _drop(flags: tuple[bool, ...], index: int) -> tuple[bool, ...]:
    if not flags[index]:
        raise ValueError(f"candidate {index} is already pruned")
    if sum(flags) == 1:
        raise ValueError("cannot prune the last candidate of a layer")
    return tuple(f and i != index for i, f in enumerate(flags))


class Distribution(torch.nn.Module):
    """Architecture logits: one vector per layer over its candidates, one over depths.

    Pruned entries are masked to −∞, so they get probability 0 and no gradient. With
    `explore` γ > 0 every probability is the mixture (1 − γ)·softmax + γ·uniform over the
    alive entries: what is sampled, and what REINFORCE's log-probabilities and the expected
    latencies are taken under, so no alive candidate's share falls below γ / alive.
    """

    def __init__(self, space: SearchSpace, explore: float = 0.0) -> None:
        super().__init__()
        if not 0.0 <= explore <= 1.0:
            raise ValueError(f"explore must be in [0, 1], got {explore}")
        self.explore = explore
        self.names = all_layers(space)
        self.logits = torch.nn.ParameterDict(
            {n: torch.nn.Parameter(torch.zeros(len(space.candidates(n)))) for n in self.names})
        self.depth_logits = torch.nn.Parameter(torch.zeros(len(space.depths)))

    def _masked(self, logits: torch.Tensor, alive: tuple[bool, ...]) -> torch.Tensor:
        keep = torch.tensor(alive, dtype=torch.bool)
        p = torch.softmax(logits.masked_fill(~keep, float("-inf")), 0)
        if self.explore == 0.0:
            return p
        return (1.0 - self.explore) * p + self.explore * keep.to(p.dtype) / keep.sum()

    def probs(self, layer: str, mask: CandidateMask) -> torch.Tensor:
        return self._masked(self.logits[layer], mask.layers[layer])

    def depth_probs(self, mask: CandidateMask) -> torch.Tensor:
        return self._masked(self.depth_logits, mask.depths)

    def log_prob(self, space: SearchSpace, arch: Architecture,
                 mask: CandidateMask) -> torch.Tensor:
        """log p(arch): the depth's log-probability plus each used layer's."""
        d, choice = arch_indices(space, arch)
        out = torch.log(self.depth_probs(mask)[d])
        for n, i in choice.items():
            out = out + torch.log(self.probs(n, mask)[i])
        return out

    def numpy_probs(self, mask: CandidateMask) -> tuple[np.ndarray, dict[str, np.ndarray]]:
        with torch.no_grad():
            return (self.depth_probs(mask).numpy().astype(np.float64),
                    {n: self.probs(n, mask).numpy().astype(np.float64) for n in self.names})

    def most_likely(self, space: SearchSpace, mask: CandidateMask) -> Architecture:
        depth, layers = self.numpy_probs(mask)
        return from_indices(space, int(np.argmax(depth)),
                            {n: int(np.argmax(p)) for n, p in layers.items()})
