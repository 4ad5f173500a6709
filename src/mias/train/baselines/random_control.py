"""The random-architecture control (Li & Talwalkar 2019; Yang et al. 2020).

N architectures drawn uniformly from the same space whose predicted latency on the target
is within ±10% of the found one's (same predictor as the search), trained with the same
budget. A search that cannot beat them at the same cost has found nothing.
"""

from __future__ import annotations

import numpy as np

from mias.hardware.figures import Figure
from mias.space import Architecture, SearchSpace

TOLERANCE = 0.10
MAX_DRAWS = 4000


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
    """Up to `n` distinct uniform draws within ±10% of `found`'s predicted latency."""
    ref = predictor.predict(space, found)
    rng = np.random.default_rng(seed)
    picked: list[tuple[Architecture, Figure]] = []
    seen = {found.id}
    draws = 0
    while len(picked) < n and draws < MAX_DRAWS:
        draws += 1
        arch = space.sample(rng)
        if arch.id in seen:
            continue
        seen.add(arch.id)
        fig = predictor.predict(space, arch)
        if abs(fig.value - ref.value) <= TOLERANCE * ref.value:
            picked.append((arch, fig))
    return picked, ref, draws
