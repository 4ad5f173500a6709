"""`tau.png`: Kendall τ over supernet training, one line per sampler (the paper's Fig. 4)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from mias.atomic import atomic_file

COLOURS = {"mias": "tab:red", "mias-eps0": "tab:purple", "fairnas": "tab:blue",
           "spos": "tab:grey"}
LABELS = {"mias": "MIAS (learned)", "mias-eps0": "MIAS, ε_lat = 0",
          "fairnas": "FairNAS (strict fairness)", "spos": "SPOS (uniform)"}


def tau_png(path: Path, tau: dict[str, Any]) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import MaxNLocator

    proto = tau["protocol"]
    fig, ax = plt.subplots(figsize=(6.4, 4.2))
    for name, entry in tau["samplers"].items():
        epochs = [e["epoch"] for e in entry["epochs"]]
        colour = COLOURS.get(name)
        ax.plot(epochs, [e["tau"] for e in entry["epochs"]], marker="o", lw=1.5, color=colour,
                label=LABELS.get(name, name))
        ax.fill_between(epochs, [e["tau_ci"][0] for e in entry["epochs"]],
                        [e["tau_ci"][1] for e in entry["epochs"]], color=colour, alpha=0.15)
    retest = tau["standalone"].get("retest")
    if retest:
        ax.axhline(retest["tau"], color="tab:green", lw=1.0, ls=":",
                   label="half the seeds vs the other half")
        top = retest.get("ceiling")
        if top:
            ax.axhline(top["tau"], color="tab:green", lw=1.2, ls="--",
                       label="ceiling: a noise-free ranking vs the truth (Spearman–Brown)")
            ax.axhspan(*top["ci"], color="tab:green", alpha=0.08)
    for name, ref in (tau.get("references") or {}).items():
        if name == "depth":
            ax.axhline(ref["tau"], color="tab:orange", lw=1.0, ls="-.",
                       label="ranking by depth alone")
    ax.axhline(0.0, color="black", lw=0.6)
    ax.set_ylim(-1.0, 1.0)
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_xlabel("supernet epoch")
    ax.set_ylabel("Kendall τ vs standalone ranking")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, loc="lower right")
    conf = round(proto["statistics"]["confidence"] * 100)
    ax.set_title(f"N = {proto['n']} architectures (latency-stratified), "
                 f"{tau['metric']}; bands: {conf}% bootstrap CI", fontsize=9)
    fig.tight_layout()
    with atomic_file(path) as tmp:
        fig.savefig(tmp, format="png", dpi=120)
    plt.close(fig)
