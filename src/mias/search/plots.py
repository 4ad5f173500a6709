"""`progress.png`: the first thing a user looks at (as nnU-Net's `progress.png`)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from mias.atomic import atomic_file


def progress_png(path: Path, history: Sequence[dict[str, Any]], prune_steps: Sequence[int],
                 metric_label: str, title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    steps = [h["step"] for h in history]
    fig, axes = plt.subplots(2, 2, figsize=(10, 6.5), sharex=True)
    panels = [
        (axes[0, 0], [("loss", "L = ε_ce·TSL + ε_lat·T/ref"), ("tsl", "TSL (validation)")],
         "loss"),
        (axes[0, 1], [("t_ms", "T (exact, ms)"), ("expected_t_ms", "E[T] (relaxed, ms)")],
         "latency term T (ms)"),
        (axes[1, 0], [("metric_mean", f"{metric_label}, mean of K paths"),
                      ("metric_best", f"{metric_label}, best of K")], metric_label),
        (axes[1, 1], [("candidates_left", "candidates left (all layers)")], "candidates"),
    ]
    for ax, series, ylabel in panels:
        for key, label in series:
            ax.plot(steps, [h[key] for h in history], label=label, lw=1.2)
        for s in prune_steps:
            ax.axvline(s, color="grey", ls=":", lw=0.8)
        ax.set_ylabel(ylabel)
        ax.legend(fontsize=7, loc="best")
        ax.grid(alpha=0.3)
    for ax in axes[1]:
        ax.set_xlabel("search step (dotted: pruning points)")
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    with atomic_file(path) as tmp:
        fig.savefig(tmp, format="png", dpi=110)
    plt.close(fig)
