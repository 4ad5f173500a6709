"""The shapes of the stage records later stages read, as pydantic models.

`result.json`, `final/metrics.json`, `eval/metrics.json` and `export/parity.json` are files a
user can copy, edit or damage. A record that is valid JSON of the wrong shape (a list where
a mapping is due, a missing figure) is refused when it is read, naming the file and the
field, instead of failing somewhere inside the report. Only the fields other stages read
are declared; the rest is kept as written (`extra="allow"`).
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict


class _Shape(BaseModel):
    model_config = ConfigDict(extra="allow", frozen=True)


class _Record(_Shape):
    schema_version: int
    arch_id: str


class LatencyFigure(_Shape):
    value: float
    label: str
    source: str


class MetricFigure(_Shape):
    name: str
    label: str
    value: float | None = None


class SearchResultRecord(_Record):
    """RUN/search/result.json as training and evaluation read it: the chosen architecture
    and what it was searched on."""

    arch: dict[str, Any]
    prep: str
    target: str
    seed: int
    config: dict[str, Any]
    latency: dict[str, Any] | None = None
    data_fingerprint: str | None = None


class ReportedSearchRecord(SearchResultRecord):
    """RUN/search/result.json as the validation plan reads it: its figures too."""

    latency: LatencyFigure
    metric: MetricFigure
    schedule: dict[str, Any] = {}
    pareto: list[dict[str, Any]] = []
    pruning_log: list[dict[str, Any]] = []
    history: list[dict[str, Any]] = []
    hpo: dict[str, Any] | None = None
    warnings: list[str] = []


class FinalMetricsRecord(_Record):
    """RUN/final/metrics.json: how the chosen network was trained."""

    init: str
    steps: int
    metric: str
    space: str
    val_score: float | None = None


class EvaluatedModel(_Shape):
    kind: str
    summary: dict[str, Any]


class EvaluationRecord(_Record):
    """RUN/eval/metrics.json: the held-out scores of the network and its baselines."""

    task: str
    n_cases: int
    confidence: float
    bootstrap: int
    splits: list[str]
    space: str
    models: dict[str, EvaluatedModel]
    notes: list[str] = []


class Parity(_Shape):
    atol: float
    max_abs_diff: float
    passed: bool


class ParityRecord(_Record):
    """RUN/export/parity.json: the exported ONNX against PyTorch (and int8, when made)."""

    fp32: Parity
    int8: dict[str, Any] | None = None
