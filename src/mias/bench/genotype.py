"""Task-independent architecture genotypes: how one design is built on every task.

Each task's search space has its own candidates (kernels follow the anisotropy, widths the
input size), so an `Architecture` of one task is usually not in another's space. A
`Genotype` describes a design by choices that mean the same everywhere: the depth as a
rank among the space's depths, and per layer the operator plus ranks of width, kernel
size, expansion and repeats among that layer's candidates, and the residual/SE flags.
`project` builds the nearest architecture of a space; `lift` reads a genotype off one.
The builder trains the same genotypes on every task, and the multi-task protocol transfers
a found design to unseen tasks through them.
"""

from __future__ import annotations

import hashlib
import json
import math
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from mias.space import Architecture, BlockChoice, SearchSpace

MAX_LAYERS = 8
OP_MISMATCH = 2.0


@dataclass(frozen=True)
class Gene:
    """One layer's design: operator and ranks in [0, 1] (0 = smallest candidate)."""

    op: str
    width: float
    kernel: float
    expansion: float
    layers: float
    residual: bool
    se: bool


@dataclass(frozen=True)
class Genotype:
    depth: float
    encoder: tuple[Gene, ...]
    decoder: tuple[Gene, ...]

    @property
    def id(self) -> str:
        blob = json.dumps(self.to_dict(), sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(blob.encode()).hexdigest()[:12]

    def to_dict(self) -> dict[str, Any]:
        return {"depth": self.depth, "encoder": [asdict(g) for g in self.encoder],
                "decoder": [asdict(g) for g in self.decoder]}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Genotype:
        return cls(float(d["depth"]), tuple(Gene(**g) for g in d["encoder"]),
                   tuple(Gene(**g) for g in d["decoder"]))


def _rank(value: float, values: list[float]) -> float:
    levels = sorted(set(values))
    return 0.0 if len(levels) == 1 else levels.index(value) / (len(levels) - 1)


def _features(choice: BlockChoice) -> tuple[float, float, float, float]:
    return (choice.width, math.prod(choice.kernel), choice.expansion, choice.layers)


def _gene(choice: BlockChoice, candidates: tuple[BlockChoice, ...]) -> Gene:
    feats = [_features(c) for c in candidates]
    mine = _features(choice)
    ranks = [_rank(mine[i], [f[i] for f in feats]) for i in range(4)]
    return Gene(choice.op, *ranks, residual=choice.residual, se=choice.se)


def lift(space: SearchSpace, arch: Architecture) -> Genotype:
    """The genotype of `arch` in `space`."""
    depths = list(space.depths)
    depth = 0.0 if len(depths) == 1 else depths.index(arch.depth) / (len(depths) - 1)
    enc = tuple(_gene(c, space.candidates(f"enc{k}")) for k, c in enumerate(arch.encoder))
    dec = tuple(_gene(c, space.candidates(f"dec{k}")) for k, c in enumerate(arch.decoder))
    return Genotype(round(depth, 4), enc, dec)


def _distance(gene: Gene, cand: BlockChoice, candidates: tuple[BlockChoice, ...]) -> float:
    g = _gene(cand, candidates)
    return (OP_MISMATCH * (g.op != gene.op) + abs(g.width - gene.width)
            + abs(g.kernel - gene.kernel) + 0.5 * abs(g.expansion - gene.expansion)
            + 0.5 * abs(g.layers - gene.layers) + 0.25 * (g.residual != gene.residual)
            + 0.25 * (g.se != gene.se))


def _nearest(gene: Gene, candidates: tuple[BlockChoice, ...]) -> BlockChoice:
    return min(candidates, key=lambda c: (_distance(gene, c, candidates), c.key))


def _slot(genes: tuple[Gene, ...], k: int) -> Gene:
    """Layer k's gene; a deeper space than the genotype reuses its deepest gene."""
    return genes[min(k, len(genes) - 1)]


def project(space: SearchSpace, genotype: Genotype) -> Architecture:
    """The architecture of `space` nearest to `genotype`, layer by layer."""
    depths = list(space.depths)
    depth = depths[round(genotype.depth * (len(depths) - 1))]
    enc = tuple(_nearest(_slot(genotype.encoder, k), space.candidates(f"enc{k}"))
                for k in range(depth + 1))
    dec: tuple[BlockChoice, ...] = ()
    if space.has_decoder:
        genes = genotype.decoder or genotype.encoder
        dec = tuple(_nearest(_slot(genes, k), space.candidates(f"dec{k}")) for k in range(depth))
    return Architecture(depth=depth, encoder=enc, decoder=dec)


def sample_genotype(ops: list[str], rng: np.random.Generator) -> Genotype:
    """A random design: operators from `ops`, ranks on a 3-level grid, flags at random."""

    def gene() -> Gene:
        r = rng.integers(0, 3, 4) / 2.0
        return Gene(str(ops[rng.integers(len(ops))]), *map(float, r),
                    residual=bool(rng.random() < 0.5), se=bool(rng.random() < 0.5))

    return Genotype(float(rng.integers(0, 3) / 2.0), tuple(gene() for _ in range(MAX_LAYERS)),
                    tuple(gene() for _ in range(MAX_LAYERS - 1)))


def space_ops(spaces: list[SearchSpace]) -> list[str]:
    """Every operator any layer of any of `spaces` offers, sorted."""
    return sorted({c.op for s in spaces for n in s.layer_names() for c in s.candidates(n)})
