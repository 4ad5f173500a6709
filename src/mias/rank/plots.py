"""`tau.png`: Kendall τ over supernet training, one line per sampler (the paper's Fig. 4)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from mias.atomic import atomic_file

COLOURS = {"mias": "tab:red", "mias-eps0": "tab:purple", "mias-fewshot": "tab:cyan",
           "mias-sandwich": "darkgoldenrod", "mias-fewshot-sandwich": "tab:brown",
           "mias-explore": "tab:pink", "mias-fair": "tab:olive",
           "fairnas": "tab:blue", "spos": "tab:grey"}
LABELS = {"mias": "MIAS (learned)", "mias-eps0": "MIAS, ε_lat = 0",
          "mias-fewshot": "MIAS, few-shot by depth", "mias-sandwich": "MIAS, sandwich rule",
          "mias-fewshot-sandwich": "MIAS, few-shot + sandwich",
          "mias-explore": "MIAS, half uniform", "mias-fair": "MIAS, half strict-fair",
          "fairnas": "FairNAS (strict fairness)", "spos": "SPOS (uniform)"}


def tau_png(path: Path, tau: dict[str, Any]) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import MaxNLocator

    proto = tau["protocol"]
    fig, ax = plt.subplots(figsize=(9.0, 4.6))
    band = 0.15 if len(tau["samplers"]) <= 4 else 0.06
    for name, entry in tau["samplers"].items():
        epochs = [e["epoch"] for e in entry["epochs"]]
        colour = COLOURS.get(name)
        ax.plot(epochs, [e["tau"] for e in entry["epochs"]], marker="o", lw=1.5, color=colour,
                label=LABELS.get(name, name))
        ax.fill_between(epochs, [e["tau_ci"][0] for e in entry["epochs"]],
                        [e["tau_ci"][1] for e in entry["epochs"]], color=colour, alpha=band)
    retest = tau["standalone"].get("retest")
    if retest:
        ax.axhline(retest["tau"], color="tab:green", lw=1.0, ls=":",
                   label="half the seeds vs the other half")
        top = retest.get("ceiling")
        if top:
            ax.axhline(top["tau"], color="tab:green", lw=1.2, ls="--",
                       label="ceiling: a noise-free ranking vs the truth (Spearman–Brown)")
            ax.axhspan(*top["ci"], color="tab:green", alpha=0.08)
    refs = tau.get("references") or {}
    if refs:
        name, ref = max(refs.items(), key=lambda item: item[1]["tau"])
        ax.axhline(ref["tau"], color="tab:orange", lw=1.0, ls="-.",
                   label=f"best trivial ranking ({name} alone)")
    ax.axhline(0.0, color="black", lw=0.6)
    lows = [e["tau_ci"][0] for entry in tau["samplers"].values() for e in entry["epochs"]]
    ax.set_ylim(-1.0 if min(lows, default=0.0) < -0.45 else -0.5, 1.0)
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_xlabel("supernet epoch")
    ax.set_ylabel("Kendall τ vs standalone ranking")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    conf = round(proto["statistics"]["confidence"] * 100)
    ax.set_title(f"N = {proto['n']} architectures (latency-stratified), "
                 f"{tau['metric']}; bands: {conf}% bootstrap CI", fontsize=9)
    fig.tight_layout()
    with atomic_file(path) as tmp:
        fig.savefig(tmp, format="png", dpi=120)
    plt.close(fig)
