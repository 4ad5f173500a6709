"""The results table (shaped like the paper's) from `RUN/eval/metrics.json` alone."""

from __future__ import annotations

from typing import Any

SEG_COLUMNS = (("Dice", ("dice",)), ("precision", ("detection", "precision")),
               ("recall", ("detection", "recall")), ("F1", ("detection", "f1")),
               ("rel. volume error", ("rel_volume_error",)))
CLS_COLUMNS = (("precision", ("precision",)), ("recall", ("recall",)), ("F1", ("f1",)),
               ("F-β", ("f_beta",)), ("balanced acc.", ("balanced_accuracy",)),
               ("ROC AUC", ("roc_auc",)))
REG_COLUMNS = (("MAE", ("mae",)),)


def _get(d: dict[str, Any], path: tuple[str, ...]) -> Any:
    for key in path:
        d = (d or {}).get(key)
    return d


def fmt_figure(fig: dict[str, Any] | None) -> str:
    if not fig or fig.get("value") is None:
        return "n/a"
    ci = fig.get("ci")
    return f"{fig['value']:.3f}" + (f" [{ci[0]:.3f}, {ci[1]:.3f}]" if ci else " (no CI)")


def fmt_latency(fig: dict[str, Any] | None) -> str:
    if not fig:
        return "n/a"
    return f"{fig['value']:.1f} ms ({fig['source']})"


def columns(task: str) -> tuple[tuple[str, tuple[str, ...]], ...]:
    return {"segmentation": SEG_COLUMNS, "classification": CLS_COLUMNS}.get(task, REG_COLUMNS)


def table(metrics: dict[str, Any]) -> tuple[list[str], list[list[str]]]:
    """Header and one row per model: metrics with CIs, latency on the target and host."""
    cols = columns(metrics["task"])
    header = ["model", *[c for c, _ in cols], f"latency {metrics['target']}", "latency host",
              "params"]
    rows = []
    for name, entry in metrics["models"].items():
        lat = entry.get("latency") or {}
        params = lat.get("params")
        rows.append([name, *[fmt_figure(_get(entry["summary"], p)) for _, p in cols],
                     fmt_latency(lat.get("target")), fmt_latency(lat.get("host")),
                     f"{params:,}" if isinstance(params, int) else "n/a"])
    if metrics.get("nnunet") not in ("run", "not requested"):
        rows.append([metrics["nnunet"], *["—"] * (len(header) - 1)])
    return header, rows


def markdown(metrics: dict[str, Any]) -> str:
    header, rows = table(metrics)
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(r) + " |" for r in rows]
    return "\n".join(lines)


def table_rows(metrics: dict[str, Any]) -> list[str]:
    """Plain lines for the terminal."""
    return markdown(metrics).splitlines()
