"""The random-architecture control (Li & Talwalkar 2019; Yang et al. 2020).

N architectures of the same space whose predicted latency on the target is within ±10% of
the found one's (same predictor as the search), trained with the same recipe and budget. A
search that cannot beat them at the same cost has found nothing.

Uniform draws come first. Near the ends of a space's latency range they rarely land in
the window (4,000 draws found one network near the fastest member), so the rest are
found by a seeded random walk from fresh uniform starts: each step changes one layer to a
random candidate and is kept when it brings the latency closer to the window, then a few
further changes that stay inside it spread the draws apart. Every pick records how it
was found.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from mias.hardware.figures import Figure
from mias.space import Architecture, SearchSpace

TOLERANCE = 0.10
MAX_DRAWS = 4000
MAX_WALKS = 200
WALK_STEPS = 400
SPREAD_STEPS = 20


def target_predictor(prep, target: str):
    """The search's latency predictor for `target` (measured LUT if any, else roofline)."""
    from mias.hardware.devices import resolve_device
    from mias.hardware.lut import LatencyTable, lut_path
    from mias.hardware.predictors import default_predictor

    device = resolve_device(target)
    path = lut_path(prep, device.name)
    table = LatencyTable.load(path) if path.is_file() else None
    return default_predictor(device, table)


def draw_matched(space: SearchSpace, found: Architecture, n: int, predictor, *,
                 seed: int) -> tuple[list[tuple[Architecture, Figure]], Figure, int]:
    """Up to `n` distinct architectures within ±10% of `found`'s predicted latency:
    uniform draws first, then random walks into the window (see the module notes)."""
    ref = predictor.predict(space, found)
    rng = np.random.default_rng(seed)
    picked: list[tuple[Architecture, Figure]] = []
    seen = {found.id}
    draws = 0

    def inside(value: float) -> bool:
        return abs(value - ref.value) <= TOLERANCE * ref.value

    while len(picked) < n and draws < MAX_DRAWS:
        draws += 1
        arch = space.sample(rng)
        if arch.id in seen:
            continue
        seen.add(arch.id)
        fig = predictor.predict(space, arch)
        if inside(fig.value):
            picked.append((arch, fig))
    walks = 0
    while len(picked) < n and walks < MAX_WALKS:
        walks += 1
        arch = _walk(space, space.sample(rng), ref.value, predictor, rng)
        if arch is None or arch.id in seen:
            continue
        seen.add(arch.id)
        picked.append((arch, predictor.predict(space, arch)))
    return picked, ref, draws + walks


def _walk(space: SearchSpace, arch: Architecture, target: float, predictor,
          rng: np.random.Generator) -> Architecture | None:
    """Hill-climb one layer at a time towards `target` (ms), then wander inside ±10%."""
    def gap(a: Architecture) -> float:
        return abs(predictor.predict(space, a).value - target) / target

    current = gap(arch)
    for _ in range(WALK_STEPS):
        if current <= TOLERANCE:
            break
        step = _mutate(space, arch, rng)
        if (g := gap(step)) < current:
            arch, current = step, g
    if current > TOLERANCE:
        return None
    for _ in range(SPREAD_STEPS):
        step = _mutate(space, arch, rng)
        if gap(step) <= TOLERANCE:
            arch = step
    return arch


def _mutate(space: SearchSpace, arch: Architecture, rng: np.random.Generator) -> Architecture:
    """`arch` with one layer's candidate replaced by a random one of the same layer."""
    names = list(arch.layers)
    name = names[int(rng.integers(len(names)))]
    options = space.candidates(name)
    choice = options[int(rng.integers(len(options)))]
    k = int(name[3:])
    if name.startswith("enc"):
        return replace(arch, encoder=(*arch.encoder[:k], choice, *arch.encoder[k + 1:]))
    return replace(arch, decoder=(*arch.decoder[:k], choice, *arch.decoder[k + 1:]))
