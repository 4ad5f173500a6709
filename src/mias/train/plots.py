"""`progress.png`: training loss per step and validation score per epoch."""

from __future__ import annotations

from pathlib import Path

from mias.atomic import atomic_file
from mias.train.standalone import TrainResult


def plot_progress(result: TrainResult, path: str | Path, title: str) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, loss_ax = plt.subplots(figsize=(7, 3.6), dpi=110)
    steps = [h["step"] + 1 for h in result.history]
    loss_ax.plot(steps, [h["loss"] for h in result.history], lw=1, color="tab:blue")
    loss_ax.set_xlabel("step")
    loss_ax.set_ylabel("training loss", color="tab:blue")
    if result.epochs:
        val_ax = loss_ax.twinx()
        val_ax.plot([e["step"] for e in result.epochs], [e["val_score"] for e in result.epochs],
                    "o-", color="tab:orange")
        val_ax.set_ylabel(f"validation {result.metric}", color="tab:orange")
    loss_ax.set_title(title)
    fig.tight_layout()
    with atomic_file(path) as tmp:
        fig.savefig(tmp, format="png")
    plt.close(fig)
    return Path(path)
