"""A reduced space small enough to train every architecture of it (NAS-Bench-201's choice).

On a fully tabulated space a strategy never leaves the table, so strategies are compared
without a surrogate, and a surrogate fitted on a sample of the rows can be judged on the
architectures strategies actually pick. The space keeps every depth of the task's space and,
per layer, `per_layer` candidates evenly spaced in FLOPs (the cheapest and the costliest
always among them), so the reduced space still spans the task's cost range; it may be
restricted to some operators.
"""

from __future__ import annotations

import dataclasses
import itertools
from collections.abc import Collection

import numpy as np

from mias.space import Architecture, BlockChoice, SearchSpace
from mias.space.cost import block_flops
from mias.space.search_space import Note


def _spaced(space: SearchSpace, layer: str, keep: int,
            ops: Collection[str] | None) -> tuple[BlockChoice, ...]:
    """`keep` candidates of `layer` (of `ops` only, when given and the layer has any) at
    evenly spaced ranks of their FLOPs, in space order."""
    cands = space.candidates(layer)
    if ops is not None:
        cands = tuple(c for c in cands if c.op in ops) or cands
    if len(cands) <= keep:
        return cands
    order = sorted(range(len(cands)),
                   key=lambda i: (block_flops(space.elastic_config(layer, cands[i])), i))
    picks = {order[round(float(r))] for r in np.linspace(0, len(cands) - 1, keep)}
    return tuple(c for i, c in enumerate(cands) if i in picks)


def reduce_space(space: SearchSpace, per_layer: int,
                 ops: Collection[str] | None = None) -> SearchSpace:
    """`space` with at most `per_layer` candidates in every layer (all depths kept), drawn
    from the operators `ops` when given (e.g. dense convolutions, whose training time on a
    CPU follows their FLOPs, unlike depthwise ones)."""
    if per_layer < 1:
        raise ValueError("per_layer must be at least 1")
    encoder = tuple(_spaced(space, f"enc{k}", per_layer, ops)
                    for k in range(len(space.encoder)))
    decoder = tuple(_spaced(space, f"dec{k}", per_layer, ops)
                    for k in range(len(space.decoder)))
    kinds = "" if ops is None else f" of {', '.join(sorted(ops))}"
    note = Note(f"at most {per_layer} candidates per layer{kinds}, evenly spaced in FLOPs",
                "a space small enough to train every architecture of it")
    return dataclasses.replace(space, encoder=encoder, decoder=decoder,
                               decisions=(*space.decisions, note))


def enumerate_space(space: SearchSpace) -> list[Architecture]:
    """Every architecture of `space`, depth by depth, in a fixed order."""
    out = []
    for depth in space.depths:
        names = space.layer_names(depth)
        for combo in itertools.product(*(space.candidates(n) for n in names)):
            layers = dict(zip(names, combo, strict=True))
            out.append(Architecture(
                depth=depth, encoder=tuple(layers[f"enc{k}"] for k in range(depth + 1)),
                decoder=tuple(layers[f"dec{k}"] for k in range(depth))
                if space.has_decoder else ()))
    return out
