"""The smallest run that still exercises every stage: a few search steps on a 16×24×16
input, one pruning point, two training steps, no baselines. Seconds, not minutes."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

INPUT_SHAPE = "16x24x16"
CONFIG = {
    "search": {"epochs": 2, "steps_per_epoch": 2, "paths_per_step": 2, "val_batch": 1,
               "warmup_epochs": 0, "prune": [{"at": 0.5, "keep": 1}], "pareto_reeval": 2,
               "race_steps": 2,
               "hpo": {"enabled": False}},
    "train": {"epochs": 1, "steps_per_epoch": 2},
    "evaluate": {"baselines": [], "random_control": 0, "bootstrap": 100},
}


def run_args(data: Path, run: Path, config: Path, *extra: str) -> list[str]:
    """`mias run` argv for the tiny run (writes the config file first)."""
    config.write_text(yaml.safe_dump(CONFIG), encoding="utf-8")
    return ["run", str(data), "--out", str(run), "--input-shape", INPUT_SHAPE, "--config",
            str(config), "--device", "cpu", "--workers", "1", *extra]


def require_weasyprint() -> None:
    """Skip, saying why, where WeasyPrint's system libraries (Pango) are absent."""
    try:
        import weasyprint  # noqa: F401
    except OSError as exc:
        pytest.skip(f"WeasyPrint's system libraries are missing ({exc}): apt-get install "
                    "libpango-1.0-0 libpangoft2-1.0-0 (see the README)")
