"""Hyper-parameter tuning during supernet training (Optuna), on the task loss only.

Each trial warm-starts from the same supernet snapshot, trains `trial_steps` steps of
uniformly sampled paths with its learning rate, momentum and weight decay, and reports
the validation task loss of a fixed set of paths on a fixed validation batch to a median
pruner. The study lives in `RUN/search/hpo.db` (SQLite), so an interrupted search keeps
its finished trials. Trial t is drawn by a TPE sampler seeded with seed + t, which makes
the study a deterministic function of its finished trials: a resumed search proposes what
an uninterrupted one would have.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import optuna
import torch

from mias.presets import SearchSettings
from mias.search.evaluator import PathScore
from mias.search.samplers import create_sampler
from mias.search.state import CandidateMask
from mias.space import Architecture

STUDY = "supernet-hpo"


class Tunable(Protocol):
    """What tuning needs of a supernet evaluator: snapshots and training of given paths.

    A protocol rather than the evaluator class, so the evaluator can import this module
    without an import cycle.
    """

    settings: SearchSettings
    seed: int
    data: Any

    def snapshot(self) -> Any: ...
    def restore(self, snap: Any) -> None: ...
    def _val_batch(self) -> tuple[torch.Tensor, torch.Tensor]: ...
    def _optimizer(self, hparams: dict[str, float]) -> torch.optim.Optimizer: ...
    def train_paths(self, archs: Sequence[Architecture],
                    opt: torch.optim.Optimizer) -> Any: ...
    def evaluate_on(self, archs: Sequence[Architecture], x: torch.Tensor,
                    y: torch.Tensor) -> list[PathScore]: ...


def _distributions(hpo) -> dict[str, optuna.distributions.FloatDistribution]:
    return {name: optuna.distributions.FloatDistribution(r.low, r.high, log=r.log)
            for name, r in (("lr", hpo.lr), ("momentum", hpo.momentum),
                            ("weight_decay", hpo.weight_decay))}


def tune_supernet(ev: Tunable, storage: Path, mask: CandidateMask) -> dict[str, Any]:
    hpo = ev.settings.hpo
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(
        study_name=STUDY, storage=f"sqlite:///{storage}", load_if_exists=True,
        direction="minimize",
        pruner=optuna.pruners.MedianPruner(n_startup_trials=2, n_warmup_steps=0))
    for t in study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.RUNNING,)):
        study.tell(t.number, state=optuna.trial.TrialState.FAIL)
    snap = ev.snapshot()
    rng = np.random.default_rng(ev.seed + 7919)
    probe = create_sampler("uniform").sample(ev.data.space, mask, None,
                                             ev.settings.paths_per_step, rng)
    probe_batch = ev._val_batch()
    dists = _distributions(hpo)

    def finished() -> list[optuna.trial.FrozenTrial]:
        return study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.COMPLETE,
                                                        optuna.trial.TrialState.PRUNED))

    while len(finished()) < hpo.trials:
        index = len(finished())
        study.sampler = optuna.samplers.TPESampler(seed=ev.seed + index)
        trial = study.ask(dists)
        ev.restore(snap)
        h = {k: float(trial.params[k]) for k in dists}
        opt = ev._optimizer(h)
        paths_rng = np.random.default_rng(ev.seed * 1000 + index)
        torch.manual_seed(ev.seed + index)
        value, pruned = float("inf"), False
        for s in range(hpo.trial_steps):
            archs = create_sampler("uniform").sample(ev.data.space, mask, None,
                                                     ev.settings.paths_per_step, paths_rng)
            ev.train_paths(archs, opt)
            if (s + 1) % hpo.report_every == 0 or s + 1 == hpo.trial_steps:
                value = float(np.mean([p.loss for p in ev.evaluate_on(probe, *probe_batch)]))
                if not np.isfinite(value):
                    value = 1e6
                trial.report(value, s)
                if trial.should_prune():
                    pruned = True
                    break
        if pruned:
            study.tell(trial, state=optuna.trial.TrialState.PRUNED)
        else:
            study.tell(trial, value)
    ev.restore(snap)
    trials = [{"number": t.number, "state": t.state.name, "params": t.params,
               "value": t.value, "intermediate": dict(t.intermediate_values)}
              for t in finished()]
    complete = [t for t in finished() if t.state == optuna.trial.TrialState.COMPLETE]
    best = min(complete, key=lambda t: (t.value, t.number)) if complete else None
    chosen = ({k: float(best.params[k]) for k in dists} if best is not None else
              {"lr": ev.settings.lr, "momentum": ev.settings.momentum,
               "weight_decay": ev.settings.weight_decay})
    return {"objective": "validation task loss (TSL) of fixed probe paths",
            "storage": storage.name, "study": STUDY, "trials": trials, "chosen": chosen,
            "best_trial": None if best is None else best.number}
