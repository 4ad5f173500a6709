"""The evaluator interface: how a search strategy learns what a sub-network is worth.

A strategy (MIAS, FairNAS, random search, evolution, NSGA-II) proposes architectures and
asks an `Evaluator` for their validation task metric. `SupernetEvaluator` trains shared
weights on the proposed paths and scores them; MED-NAS-Bench's table evaluator looks them
up. Strategies cannot tell the two apart (DESIGN §4), so every strategy runs against the
benchmark table in seconds and against real training unchanged.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from mias.search.state import CandidateMask
from mias.space import Architecture


@dataclass(frozen=True)
class PathScore:
    """One sub-network's validation result: task metric (higher is better) and task loss."""

    arch: Architecture
    metric: float
    loss: float


class Evaluator(ABC):
    """Scores architectures; `step` may also train (one search step over K paths)."""

    metric_label: str = "metric"
    #: Whether scores come from weights still being trained (a supernet). Such scores say
    #: nothing about a candidate until the validation metric has risen, so the search takes
    #: no architecture decision before then; a table's scores are exact from the start.
    trains: bool = False

    @abstractmethod
    def step(self, archs: Sequence[Architecture], step: int,
             teacher: Architecture | None = None) -> list[PathScore]:
        """One search step on the sampled paths: train on them where training applies
        (gradients of all paths accumulated, one update; with a `teacher` among them, the
        others also learn its output), then score each on validation."""

    @abstractmethod
    def score(self, archs: Sequence[Architecture]) -> list[PathScore]:
        """Score without training, on the whole validation split (final re-ranking)."""

    def race(self, archs: Sequence[Architecture], steps: int) -> list[PathScore]:
        """Score at a higher fidelity than the search's own scores: each network trained on
        its own for `steps` steps, where training applies (default: `score`, for an
        evaluator whose scores are already those of trained networks, e.g. a table)."""
        return self.score(archs)

    def tune(self, step: int, mask: CandidateMask) -> dict[str, Any] | None:
        """Hyper-parameter tuning at this step over the paths `mask` allows, if the
        evaluator has any (default: none)."""
        return None

    def split_by_depth(self) -> None:  # noqa: B027 - optional hook
        """Told when a few-shot search splits its supernet by depth (a supernet evaluator
        continues on one sub-supernet per depth, each from the shared weights)."""

    def prune(self, layer: str, candidate: str) -> None:  # noqa: B027 - optional hook
        """Told when a candidate leaves the space (a supernet masks it)."""

    def state_dict(self) -> dict[str, Any]:
        """What a checkpoint needs to resume this evaluator exactly."""
        return {}

    def load_state_dict(self, state: dict[str, Any]) -> None:  # noqa: B027 - optional hook
        """Restore `state_dict()`."""
