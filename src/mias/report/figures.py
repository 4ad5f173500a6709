"""The report's figures, drawn from the records with matplotlib, returned as PNG bytes.

Deterministic: fixed sizes, resolution and style, and no metadata that changes from one
rebuild to the next (matplotlib writes its version as `Software` unless told not to), so
rebuilding a report gives byte-identical images and therefore identical HTML.
"""

from __future__ import annotations

import base64
import io
import itertools
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from mias.space import Architecture, SearchSpace

DPI = 110
NO_METADATA = {"Software": None}


@contextmanager
def _figure(width: float, height: float) -> Iterator[Any]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    with matplotlib.rc_context(matplotlib.rcParamsDefault | {"font.size": 8,
                                                            "svg.hashsalt": "mias"}):
        fig = plt.figure(figsize=(width, height))
        try:
            yield fig
        finally:
            plt.close(fig)


def png(fig: Any) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=DPI, metadata=NO_METADATA)
    return buf.getvalue()


def data_uri(image: bytes) -> str:
    return "data:image/png;base64," + base64.b64encode(image).decode("ascii")


def _shape(shape: Sequence[int]) -> str:
    return "×".join(map(str, shape))


def block_label(layer: str, choice: Any, shape: Sequence[int]) -> str:
    kernel = "×".join(map(str, choice.kernel))
    extras = [f"e{choice.expansion}" if choice.expansion > 1 else "",
              f"{choice.layers} layers" if choice.layers > 1 else "",
              "res" if choice.residual else "", "SE" if choice.se else ""]
    extra = " ".join(e for e in extras if e)
    return (f"{layer}: {choice.op}\nk{kernel}, width {choice.width}"
            + (f"\n{extra}" if extra else "") + f"\n{_shape(shape)}")


def architecture(space: SearchSpace, arch: Architecture) -> bytes:
    """The final model as the paper's Fig. 3 draws it: encoder down the left, bottleneck at
    the bottom, decoder up the right, skips across; each block's operator, kernel, width."""
    depth = arch.depth
    seg = bool(arch.decoder)
    pos: dict[str, tuple[float, float]] = {"stem": (-1.0, 0.0)}
    for k in range(depth + 1):
        pos[f"enc{k}"] = (float(k), -float(k))
    for k in range(depth if seg else 0):
        pos[f"dec{k}"] = (float(2 * depth - k), -float(k))
    pos["head"] = (float(2 * depth + 1), 0.0) if seg else (float(depth + 1), -float(depth))
    span = max(x for x, _ in pos.values()) + 2
    with _figure(min(1.45 * span, 11.0), 1.25 * (depth + 1) + 0.6) as fig:
        ax = fig.add_subplot()
        labels = {"stem": f"stem: conv\nwidth {space.stem_width}\n"
                          f"{_shape(space.task.input_shape)}",
                  "head": "head: 1×1 conv\n" + (f"{space.out_channels} classes" if seg else
                                                f"pool + linear, {space.out_channels} out")}
        for layer, choice in arch.layers.items():
            labels[layer] = block_label(layer, choice, space.stages[int(layer[3:])].shape)
        order = space.layer_names(depth)
        chain = ["stem", *order, "head"]
        for a, b in itertools.pairwise(chain):
            ax.annotate("", xy=pos[b], xytext=pos[a],
                        arrowprops={"arrowstyle": "-|>", "color": "#444", "lw": 1.0,
                                    "shrinkA": 24, "shrinkB": 24})
        for k in range(depth if seg else 0):
            ax.annotate("", xy=pos[f"dec{k}"], xytext=pos[f"enc{k}"],
                        arrowprops={"arrowstyle": "-|>", "color": "#1f77b4", "lw": 0.9,
                                    "ls": "--", "shrinkA": 38, "shrinkB": 38})
        colours = {"stem": "#eeeeee", "head": "#eeeeee", "enc": "#dbe9f6", "dec": "#fde0c5"}
        for name, (x, y) in pos.items():
            ax.text(x, y, labels[name], ha="center", va="center", fontsize=6.5,
                    bbox={"boxstyle": "round,pad=0.35", "fc": colours.get(name[:3],
                                                                         colours.get(name)),
                          "ec": "#555"})
        ax.set_xlim(-1.7, span - 1.3)
        ax.set_ylim(-depth - 0.7, 0.7)
        ax.axis("off")
        ax.set_title(f"final model {arch.id}: depth {depth}"
                     + (" (dashed: skip connections)" if seg else ""), fontsize=8)
        fig.tight_layout()
        return png(fig)


def pareto(archive: Sequence[dict[str, Any]], front: Sequence[dict[str, Any]],
           chosen: str, metric_label: str, latency_label: str,
           budget_ms: float | None) -> bytes:
    """Every evaluated path, the non-dominated front and the chosen architecture."""
    with _figure(6.4, 3.6) as fig:
        ax = fig.add_subplot()
        if archive:
            ax.scatter([a["latency_ms"] for a in archive], [a["metric"] for a in archive],
                       s=10, c="#bbbbbb", label=f"evaluated paths ({len(archive)})")
        pts = sorted(front, key=lambda p: p["latency_ms"])
        ax.plot([p["latency_ms"] for p in pts], [p["metric"] for p in pts], "o-",
                color="#1f77b4", ms=4, lw=1, label=f"Pareto front ({len(pts)})")
        for p in pts:
            if p["arch_id"] == chosen:
                ax.plot(p["latency_ms"], p["metric"], "*", color="#d62728", ms=13,
                        label=f"chosen {chosen}")
        if budget_ms is not None:
            ax.axvline(budget_ms, color="#d62728", ls=":", lw=1,
                       label=f"latency budget {budget_ms:g} ms")
        ax.set_xlabel(f"latency on the target (ms), {latency_label}")
        ax.set_ylabel(f"{metric_label} (supernet, validation)")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7, loc="best")
        fig.tight_layout()
        return png(fig)


def pruning(history: Sequence[dict[str, Any]], prune_steps: Sequence[int]) -> bytes:
    """Candidates left and the latency term T over the search, with the pruning points."""
    with _figure(6.4, 3.0) as fig:
        ax = fig.add_subplot()
        steps = [h["step"] for h in history]
        ax.step(steps, [h["candidates_left"] for h in history], where="post",
                color="#1f77b4", label="candidates left (all layers)")
        ax.set_xlabel("search step (dotted: pruning points)")
        ax.set_ylabel("candidates left")
        twin = ax.twinx()
        twin.plot(steps, [h["t_ms"] for h in history], color="#ff7f0e", lw=0.9,
                  label="T: sum of slowest sampled blocks (ms)")
        twin.set_ylabel("T (ms)")
        for s in prune_steps:
            ax.axvline(s, color="grey", ls=":", lw=0.8)
        lines = ax.get_legend_handles_labels()
        more = twin.get_legend_handles_labels()
        ax.legend(lines[0] + more[0], lines[1] + more[1], fontsize=7, loc="upper right")
        ax.grid(alpha=0.3)
        fig.tight_layout()
        return png(fig)


def demographics(demo: dict[str, Any]) -> bytes:
    """Age histogram and sex counts of the whole prepared dataset."""
    with _figure(6.4, 2.6) as fig:
        left, right = fig.subplots(1, 2, gridspec_kw={"width_ratios": [2, 1]})
        hist = (demo.get("age") or {}).get("histogram")
        if hist:
            edges, counts = hist["edges"], hist["counts"]
            left.bar(edges[:-1], counts, width=[b - a for a, b in itertools.pairwise(edges)],
                     align="edge", color="#1f77b4", ec="white")
        left.set_xlabel("age (years)")
        left.set_ylabel("cases")
        left.set_title("age", fontsize=8)
        sexes = (demo.get("sex") or {}).get("counts", {})
        right.bar(list(sexes), list(sexes.values()), color="#ff7f0e")
        right.set_title("sex", fontsize=8)
        for ax in (left, right):
            ax.grid(alpha=0.3, axis="y")
        fig.tight_layout()
        return png(fig)


def subgroups(rows: Sequence[tuple[str, str, dict[str, Any]]], metric_label: str,
              confidence: float) -> bytes:
    """The metric per subgroup with its CI (`rows`: attribute, group, figure)."""
    with _figure(6.4, 0.3 * len(rows) + 1.0) as fig:
        ax = fig.add_subplot()
        names = [f"{a}: {g}" for a, g, _ in rows]
        values = [f.get("value") or 0.0 for _, _, f in rows]
        low = [v - (f["ci"][0] if f.get("ci") else v) for v, (_, _, f) in zip(values, rows,
                                                                               strict=True)]
        high = [(f["ci"][1] if f.get("ci") else v) - v for v, (_, _, f) in zip(values, rows,
                                                                               strict=True)]
        ax.barh(range(len(rows)), values, xerr=[low, high], color="#1f77b4", capsize=2)
        ax.set_yticks(range(len(rows)), names)
        ax.invert_yaxis()
        ax.set_xlabel(f"{metric_label} ({confidence:.0%} CI bars)")
        ax.grid(alpha=0.3, axis="x")
        fig.tight_layout()
        return png(fig)
