"""The results table (shaped like the paper's) from `RUN/eval/metrics.json` alone.

Segmentation rows carry the Dice of every structure beside the mean, and a `training`
column that marks a model with a structure at Dice 0 as failed: a mean over structures
must not pass a collapsed class off as a result.
"""

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
    """A figure with its CI; one that carries `failed` (a model card's headline) says so."""
    if not fig or fig.get("value") is None:
        return "n/a"
    ci = fig.get("ci")
    text = f"{fig['value']:.3f}" + (f" [{ci[0]:.3f}, {ci[1]:.3f}]" if ci else " (no CI)")
    return text + (f" — training {fig['failed']}, not a result" if fig.get("failed") else "")


def fmt_latency(fig: dict[str, Any] | None) -> str:
    if not fig:
        return "n/a"
    return f"{fig['value']:.1f} ms ({fig['source']})"


def columns(task: str) -> tuple[tuple[str, tuple[str, ...]], ...]:
    return {"segmentation": SEG_COLUMNS, "classification": CLS_COLUMNS}.get(task, REG_COLUMNS)


def structure_names(metrics: dict[str, Any]) -> list[str]:
    """The structures scored, in label order (segmentation only)."""
    if metrics["task"] != "segmentation":
        return []
    names: list[str] = []
    for entry in metrics["models"].values():
        names += [s for s in (entry["summary"].get("structures") or {}) if s not in names]
    return names


def failure(summary: dict[str, Any]) -> str | None:
    """Why a model's training failed (a structure at Dice 0), or None."""
    failed = summary.get("failed_structures") or {}
    if not summary.get("failed") or not failed:
        return None
    return "failed: " + "; ".join(f"{s} {why}" for s, why in failed.items())


def failed_models(metrics: dict[str, Any]) -> dict[str, str]:
    """Model → why its training failed, for every failed model."""
    return {name: why for name, entry in metrics["models"].items()
            if (why := failure(entry["summary"])) is not None}


def table(metrics: dict[str, Any]) -> tuple[list[str], list[list[str]]]:
    """Header and one row per model: metrics with CIs (per structure too), latency on the
    target and host, parameters and whether the training failed."""
    cols = columns(metrics["task"])
    structures = structure_names(metrics)
    seg = metrics["task"] == "segmentation"
    header = ["model", *[c for c, _ in cols], *[f"Dice {s}" for s in structures],
              f"latency {metrics['target']}", "latency host", "params",
              *(["training"] if seg else [])]
    rows = []
    for name, entry in metrics["models"].items():
        lat = entry.get("latency") or {}
        params = lat.get("params")
        summary = entry["summary"]
        per = summary.get("structures") or {}
        rows.append([name, *[fmt_figure(_get(summary, p)) for _, p in cols],
                     *[fmt_figure((per.get(s) or {}).get("dice")) for s in structures],
                     fmt_latency(lat.get("target")), fmt_latency(lat.get("host")),
                     f"{params:,}" if isinstance(params, int) else "n/a",
                     *([failure(summary) or "ok"] if seg else [])])
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
