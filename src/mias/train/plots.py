"""`progress.png`: the learning curve — training loss per step, validation score per epoch.

The loss is drawn raw and as a moving average (one step's loss on a few patches is noisy);
the validation score raw and as the exponential moving average early stopping watches,
with the step whose weights were kept marked when training stopped early.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from mias.atomic import atomic_file
from mias.train.standalone import TrainResult

LOSS_WINDOW = 20


def _moving_average(values: list[float], window: int) -> np.ndarray:
    """Trailing mean over up to `window` values (fewer at the start)."""
    v = np.asarray(values, dtype=float)
    sums = np.concatenate([[0.0], np.cumsum(v)])
    ends = np.arange(1, len(v) + 1)
    starts = np.maximum(ends - window, 0)
    return (sums[ends] - sums[starts]) / (ends - starts)


def plot_progress(result: TrainResult, path: str | Path, title: str) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, loss_ax = plt.subplots(figsize=(7, 3.6), dpi=110)
    steps = [h["step"] + 1 for h in result.history]
    losses = [h["loss"] for h in result.history]
    loss_ax.plot(steps, losses, lw=0.6, color="tab:blue", alpha=0.35)
    loss_ax.plot(steps, _moving_average(losses, LOSS_WINDOW), lw=1.4, color="tab:blue",
                 label=f"training loss ({LOSS_WINDOW}-step mean)")
    loss_ax.set_xlabel("step")
    loss_ax.set_ylabel("training loss", color="tab:blue")
    if result.epochs:
        val_ax = loss_ax.twinx()
        at = [e["step"] for e in result.epochs]
        val_ax.plot(at, [e["val_score"] for e in result.epochs], "o", ms=3,
                    color="tab:orange", label=f"validation {result.metric}")
        smoothed = [e.get("val_smoothed") for e in result.epochs]
        if all(s is not None for s in smoothed):
            val_ax.plot(at, smoothed, "-", color="tab:orange", label="smoothed (EMA)")
        if result.best_step is not None:
            val_ax.axvline(result.best_step, color="tab:green", ls="--", lw=1,
                           label="weights kept (early stop)")
        val_ax.set_ylabel(f"validation {result.metric}", color="tab:orange")
        val_ax.legend(loc="lower right", fontsize=7)
    loss_ax.set_title(f"{title} — stopped by {result.stopped.replace('_', ' ')}")
    fig.tight_layout()
    with atomic_file(path) as tmp:
        fig.savefig(tmp, format="png")
    plt.close(fig)
    return Path(path)
