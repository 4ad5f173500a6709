"""Path samplers (Optuna-style small plugins): which K sub-networks a step trains.

- `uniform` (SPOS): depth and every layer uniform over the alive candidates;
- `learned` (MIAS): depth and layers drawn from the architecture distribution;
- `fair` (FairNAS strict fairness): m paths per step in which every alive candidate of
  every layer is activated equally often. The space's layers have different candidate
  counts and depths vary, so fairness is kept per layer *among the paths that reach it*:
  depths are dealt out in a shuffled cycle over the alive depths, then each layer deals its
  alive candidates in shuffled cycles to the paths deep enough to run it. Counts then differ
  by at most one within every layer; m = max(K, the largest alive count), so with K below
  the largest layer every candidate still runs at least once per step.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable
from typing import Any

import numpy as np

from mias.registry import Registry
from mias.search.state import CandidateMask, Distribution, all_layers, from_indices, layer_depth
from mias.space import Architecture, SearchSpace


class Sampler(ABC):
    """Draws the paths of one search step."""

    @abstractmethod
    def sample(self, space: SearchSpace, mask: CandidateMask, dist: Distribution | None,
               k: int, rng: np.random.Generator) -> list[Architecture]:
        """K (or, for strict fairness, m ≥ K) architectures allowed by `mask`."""


SAMPLERS: Registry[type[Sampler]] = Registry("sampler")


def register_sampler(name: str) -> Callable[[type[Sampler]], type[Sampler]]:
    return SAMPLERS.register(name)


def create_sampler(name: str, **cfg: Any) -> Sampler:
    return SAMPLERS.get(name)(**cfg)


def _draw(p: np.ndarray, rng: np.random.Generator) -> int:
    p = np.asarray(p, dtype=np.float64)
    return int(rng.choice(len(p), p=p / p.sum()))


@register_sampler("uniform")
class UniformSampler(Sampler):
    def sample(self, space: SearchSpace, mask: CandidateMask, dist: Distribution | None,
               k: int, rng: np.random.Generator) -> list[Architecture]:
        out = []
        for _ in range(k):
            depths = mask.alive_depths()
            d = depths[int(rng.integers(len(depths)))]
            choice = {}
            for n in space.layer_names(space.depths[d]):
                alive = mask.alive(n)
                choice[n] = alive[int(rng.integers(len(alive)))]
            out.append(from_indices(space, d, choice))
        return out


@register_sampler("learned")
class LearnedSampler(Sampler):
    def sample(self, space: SearchSpace, mask: CandidateMask, dist: Distribution | None,
               k: int, rng: np.random.Generator) -> list[Architecture]:
        if dist is None:
            raise ValueError("the learned sampler needs an architecture distribution")
        depth_p, layer_p = dist.numpy_probs(mask)
        out = []
        for _ in range(k):
            d = _draw(depth_p, rng)
            choice = {n: _draw(layer_p[n], rng) for n in space.layer_names(space.depths[d])}
            out.append(from_indices(space, d, choice))
        return out


def _cycle(items: list[int], n: int, rng: np.random.Generator) -> list[int]:
    """`n` items dealt in shuffled rounds over `items`: each appears ⌊n/len⌋ or ⌈n/len⌉
    times."""
    out: list[int] = []
    while len(out) < n:
        out += [items[i] for i in rng.permutation(len(items))]
    return out[:n]


@register_sampler("fair")
class StrictFairSampler(Sampler):
    def sample(self, space: SearchSpace, mask: CandidateMask, dist: Distribution | None,
               k: int, rng: np.random.Generator) -> list[Architecture]:
        widest = max(len(mask.alive(n)) for n in all_layers(space))
        m = max(k, widest, len(mask.alive_depths()))
        depths = _cycle(mask.alive_depths(), m, rng)
        choices: list[dict[str, int]] = [{} for _ in range(m)]
        for n in all_layers(space):
            users = [i for i in range(m) if space.depths[depths[i]] >= layer_depth(n)]
            for i, c in zip(users, _cycle(mask.alive(n), len(users), rng), strict=True):
                choices[i][n] = c
        return [from_indices(space, d, {n: c[n] for n in space.layer_names(space.depths[d])})
                for d, c in zip(depths, choices, strict=True)]
