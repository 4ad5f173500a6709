"""Demographic analysis: who and what the dataset covers, and how general it is.

`analyse` turns the case records (and per-case label statistics) into a JSON-ready report;
`render_html` turns that report, and nothing else, into a self-contained HTML page whose
plain-language findings come first. The report carries no case or subject id: only counts,
and for the figures per-case ages rounded to whole years beside sex and label size.
"""

from __future__ import annotations

import base64
import io
import math
import os
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np

from mias.data.label_stats import structure_names
from mias.data.planning import normalization_for
from mias.records import TASK_KINDS, CaseRecord

SCHEMA_VERSION = 1
AGE_BINS: tuple[str, ...] = ("<18", "18-39", "40-64", ">=65")
UNKNOWN = "unknown"
ACQUISITION_ATTRIBUTES = ("manufacturer", "manufacturer_model", "field_strength")
DOMINANT_SHARE = 0.8
SMALL_DATASET = 30
RARE_CLASS = 0.2
_AGE_BIN_PHRASES = {
    "<18": "under 18",
    "18-39": "aged 18–39",
    "40-64": "aged 40–64",
    ">=65": "aged 65 or over",
}
_SEX_WORDS = {"M": "male", "F": "female", "O": "other"}


def age_bin(age: float | None) -> str:
    """The age group of a case: <18, 18-39, 40-64, >=65, or "unknown"."""
    if age is None or not math.isfinite(age):
        return UNKNOWN
    if age < 18:
        return "<18"
    if age < 40:
        return "18-39"
    return "40-64" if age < 65 else ">=65"


def _value(record: CaseRecord, attr: str) -> Any:
    if attr == "age":
        return record.age
    if attr == "sex":
        return None if record.sex == UNKNOWN else record.sex
    value = record.attributes.get(attr)
    return None if value in (None, "", UNKNOWN) else value


def _counts(values: Sequence[Any]) -> dict[str, int]:
    counted = Counter(UNKNOWN if v is None else str(v) for v in values)
    return dict(sorted(counted.items(), key=lambda kv: (kv[0] == UNKNOWN, -kv[1], kv[0])))


def _summary(values: Sequence[float]) -> dict[str, float | None]:
    arr = np.asarray([v for v in values if v is not None and math.isfinite(v)], dtype=float)
    if arr.size == 0:
        return {"n": 0, "min": None, "median": None, "mean": None, "max": None}
    return {
        "n": int(arr.size),
        "min": float(arr.min()),
        "median": float(np.median(arr)),
        "mean": float(arr.mean()),
        "max": float(arr.max()),
    }


def _normalised_entropy(counts: Mapping[str, int], categories: int) -> float:
    known = np.array([c for k, c in counts.items() if k != UNKNOWN and c > 0], dtype=float)
    if categories < 2 or known.sum() == 0:
        return 0.0
    p = known / known.sum()
    return float(-(p * np.log(p)).sum() / math.log(categories))


def _age_section(records: Sequence[CaseRecord]) -> dict[str, Any]:
    ages = [r.age for r in records]
    known = [a for a in ages if a is not None and math.isfinite(a)]
    top = max(known) if known else 0.0
    edges = np.arange(0.0, 10.0 * (math.floor(top / 10) + 2), 10.0)
    counts, _ = np.histogram(known, bins=edges)
    return {
        **_summary(known),
        "bins": {b: sum(age_bin(a) == b for a in ages) for b in (*AGE_BINS, UNKNOWN)},
        "histogram": {"edges": edges.tolist(), "counts": counts.tolist()},
    }


def _missing_section(records: Sequence[CaseRecord]) -> dict[str, dict[str, Any]]:
    attrs = ["age", "sex", *ACQUISITION_ATTRIBUTES]
    extra = sorted({k for r in records for k in (*r.attributes, *r.imputed)} - set(attrs))
    n = len(records)
    out = {}
    for attr in attrs + extra:
        rules = Counter(r.imputed[attr] for r in records if attr in r.imputed)
        missing = sum(_value(r, attr) is None or attr in r.imputed for r in records)
        imputed = sum(rules.values())
        out[attr] = {
            "missing": missing,
            "missing_rate": missing / n,
            "imputed": imputed,
            "imputed_rate": imputed / n,
            "rules": dict(rules),
        }
    return out


def _group_keys(record: CaseRecord) -> dict[str, str]:
    return {"sex": record.sex, "age_bin": age_bin(record.age)}


def _class_name(label: Any, names: Sequence[str]) -> str:
    if isinstance(label, int | np.integer) and 0 <= int(label) < len(names):
        return names[int(label)]
    return UNKNOWN if label is None else str(label)


def _fractions(counter: Counter) -> dict[str, float]:
    total = sum(counter.values())
    return {k: v / total for k, v in sorted(counter.items())} if total else {}


def _labels_section(
    records: Sequence[CaseRecord],
    kind: str,
    label_names: Sequence[str],
    label_stats: Mapping[str, dict],
) -> dict[str, Any]:
    if kind == "classification":
        classes = [_class_name(r.label, label_names) for r in records]
        by: dict[str, dict[str, dict[str, float]]] = {"sex": {}, "age_bin": {}}
        for group in by:
            per: dict[str, Counter] = {}
            for r, c in zip(records, classes, strict=True):
                per.setdefault(_group_keys(r)[group], Counter())[c] += 1
            by[group] = {g: _fractions(cnt) for g, cnt in sorted(per.items())}
        return {
            "kind": kind,
            "counts": _counts(classes),
            "fractions": _fractions(Counter(classes)),
            "by_sex": by["sex"],
            "by_age_bin": by["age_bin"],
        }
    values = _label_values(records, kind, label_names, label_stats)
    out: dict[str, Any] = {
        "kind": kind,
        "unit": values.pop("_unit"),
        "overall": {},
        "by_sex": {},
        "by_age_bin": {},
    }
    for name, vals in values.items():
        out["overall"][name] = _summary(vals)
        for group in ("sex", "age_bin"):
            per: dict[str, list[float]] = {}
            for r, v in zip(records, vals, strict=True):
                per.setdefault(_group_keys(r)[group], []).append(v)
            for g, vs in sorted(per.items()):
                out[f"by_{group}"].setdefault(g, {})[name] = _summary(vs)["mean"]
    return out


def _label_values(
    records: Sequence[CaseRecord],
    kind: str,
    label_names: Sequence[str],
    label_stats: Mapping[str, dict],
) -> dict[str, Any]:
    """Per-case numbers to group: the regression target, or each structure's size."""
    if kind == "regression":
        name = label_names[0] if label_names else "value"
        return {"_unit": "", name: [None if r.label is None else float(r.label) for r in records]}
    size_key = next((s.get("size_key") for s in label_stats.values() if s), "volume_ml")
    values: dict[str, Any] = {"_unit": "ml" if size_key == "volume_ml" else "cm²"}
    for name in structure_names(label_names):
        values[name] = [
            label_stats.get(r.case_id, {}).get("structures", {}).get(name, {}).get(size_key)
            for r in records
        ]
    return values


def _generality(
    records: Sequence[CaseRecord],
    sex: dict[str, int],
    age: dict[str, Any],
    acquisition: Mapping[str, dict[str, int]],
) -> dict[str, dict[str, float]]:
    """Coverage (share known) and normalised Shannon entropy (1 = evenly spread) per attribute.

    Age is measured over the four age groups and sex over M/F (and O when present), so a
    dataset missing a group scores below 1; other attributes over the values observed.
    """
    n = len(records)
    age_counts = {b: c for b, c in age["bins"].items()}
    table = {"age": (age_counts, len(AGE_BINS)), "sex": (sex, 3 if sex.get("O") else 2)}
    for attr, counts in acquisition.items():
        table[attr] = (counts, sum(1 for k in counts if k != UNKNOWN))
    out = {}
    for attr, (counts, k) in table.items():
        known = sum(c for key, c in counts.items() if key != UNKNOWN)
        out[attr] = {
            "coverage": known / n if n else 0.0,
            "categories": k,
            "entropy": _normalised_entropy(counts, k),
        }
    return out


def _split_section(
    records: Sequence[CaseRecord],
    split: Mapping[str, Sequence[str]],
    kind: str,
    label_names: Sequence[str],
) -> dict[str, Any]:
    by_id = {r.case_id: r for r in records}
    unknown = [c for ids in split.values() for c in ids if c not in by_id]
    if unknown:
        raise ValueError(f"split names cases not in the records: {unknown[:5]}")
    out = {}
    for name, ids in split.items():
        recs = [by_id[c] for c in ids]
        entry: dict[str, Any] = {
            "cases": len(recs),
            "subjects": len({r.subject_id for r in recs}),
            "sex": _counts([r.sex for r in recs]),
            "age_bin": _counts([age_bin(r.age) for r in recs]),
        }
        if kind == "classification":
            entry["label"] = _counts([_class_name(r.label, label_names) for r in recs])
        out[name] = entry
    return out


def _percent(x: float) -> str:
    return f"{100 * x:.0f}%"


def _findings(report: dict[str, Any]) -> list[str]:
    """Plain-language statements of where the dataset is narrow or incomplete."""
    n = report["n_cases"]
    out: list[str] = []
    if n < SMALL_DATASET:
        out.append(
            f"Only {n} cases from {report['n_subjects']} patients: subgroup figures "
            "are indicative only."
        )
    age, missing = report["age"], report["missing"]
    if age["n"] == 0:
        out.append(
            "Age is unknown for every case: the age range the model is valid for cannot be stated."
        )
    else:
        for b in AGE_BINS:
            if age["bins"][b] == 0:
                out.append(f"No patient {_AGE_BIN_PHRASES[b]}.")
        out.append(
            f"Ages range from {age['min']:.0f} to {age['max']:.0f} years "
            f"(median {age['median']:.0f})."
        )
    for attr, what in (("age", "Age"), ("sex", "Sex"), ("manufacturer", "Manufacturer")):
        m = missing[attr]
        if m["missing"]:
            verb = "unknown" if attr != "age" else "missing"
            how = ""
            if m["rules"]:
                how = " (imputed by " + ", ".join(sorted(m["rules"])) + ")"
            out.append(f"{what} {verb} for {_percent(m['missing_rate'])} of cases{how}.")
    sex = {k: v for k, v in report["sex"]["counts"].items() if k != UNKNOWN}
    if len(sex) == 1:
        out.append(f"Only {_SEX_WORDS.get(next(iter(sex)), next(iter(sex)))} patients.")
    elif sex:
        top, count = max(sex.items(), key=lambda kv: kv[1])
        share = count / sum(sex.values())
        if share >= 0.7:
            out.append(f"{_percent(share)} of cases with known sex are {_SEX_WORDS.get(top, top)}.")
    out += _acquisition_findings(report)
    labels = report["labels"]
    if labels["kind"] == "classification" and len(labels["fractions"]) > 1:
        rare = [(c, f) for c, f in labels["fractions"].items() if f <= RARE_CLASS]
        out += [f"Class '{c}' is only {_percent(f)} of cases." for c, f in rare]
    nonfinite = report["nonfinite"]
    if nonfinite["voxels"]:
        out.append(
            f"{nonfinite['voxels']} non-finite voxels imputed in {nonfinite['cases']} cases."
        )
    return out


def _acquisition_findings(report: dict[str, Any]) -> list[str]:
    out = []
    acq = report["acquisition"]
    makers = {k: v for k, v in acq["manufacturer"].items() if k != UNKNOWN}
    if makers:
        top, count = max(makers.items(), key=lambda kv: kv[1])
        share = count / report["n_cases"]
        if len(makers) == 1:
            out.append(f"All scans with a known manufacturer come from one ({top}).")
        elif share >= DOMINANT_SHARE:
            out.append(f"{_percent(share)} of scans from one manufacturer ({top}).")
    fields = {k: v for k, v in acq["field_strength"].items() if k != UNKNOWN}
    is_mri = any(normalization_for(m) == "mri" for m in report["modality"])
    if len(fields) == 1:
        out.append(f"Only one field strength ({next(iter(fields))} T).")
    elif is_mri and not fields:
        out.append("Field strength is not recorded: the scanners it works with cannot be stated.")
    return out


def analyse(
    records: Sequence[CaseRecord],
    *,
    kind: str,
    label_names: Sequence[str],
    label_stats: Mapping[str, dict],
    split: Mapping[str, list[str]] | None = None,
) -> dict[str, Any]:
    """The demographic report of a dataset as a JSON-ready dict (see the module docstring).

    `label_stats` maps case id → `label_statistics(...)` (empty for non-segmentation).
    """
    if not records:
        raise ValueError("no records to analyse")
    if kind not in TASK_KINDS:
        raise ValueError(f"kind must be one of {TASK_KINDS}, got {kind!r}")
    sex = _counts([r.sex for r in records])
    acquisition = {a: _counts([_value(r, a) for r in records]) for a in ACQUISITION_ATTRIBUTES}
    spacings = (
        np.array([r.spacing for r in records], dtype=float)
        if len({len(r.spacing) for r in records}) == 1
        else None
    )
    shapes = (
        np.array([r.shape for r in records], dtype=float)
        if len({len(r.shape) for r in records}) == 1
        else None
    )
    age = _age_section(records)
    report: dict[str, Any] = {
        "schema_version": SCHEMA_VERSION,
        "kind": kind,
        "n_cases": len(records),
        "n_subjects": len({r.subject_id for r in records}),
        "modality": _counts([r.modality for r in records]),
        "age": age,
        "sex": {"counts": sex, "fractions": _fractions(Counter(r.sex for r in records))},
        "acquisition": acquisition,
        "geometry": {
            name: None
            if arr is None
            else {s: getattr(np, s)(arr, axis=0).tolist() for s in ("min", "median", "max")}
            for name, arr in (("spacing", spacings), ("shape", shapes))
        },
        "missing": _missing_section(records),
        "nonfinite": {
            "cases": sum(r.nonfinite_voxels > 0 for r in records),
            "voxels": int(sum(r.nonfinite_voxels for r in records)),
        },
        "labels": _labels_section(records, kind, label_names, label_stats),
        "generality": _generality(records, sex, age, acquisition),
        "split": None if split is None else _split_section(records, split, kind, label_names),
        "points": _points(records, kind, label_names, label_stats),
    }
    report["findings"] = _findings(report)
    return report


def _points(
    records: Sequence[CaseRecord],
    kind: str,
    label_names: Sequence[str],
    label_stats: Mapping[str, dict],
) -> dict[str, Any]:
    """Unlinked per-case values for the figures: age in whole years, sex, label sizes."""
    values = (
        {} if kind == "classification" else _label_values(records, kind, label_names, label_stats)
    )
    unit = values.pop("_unit", "")
    return {
        "age": [None if r.age is None else round(r.age) for r in records],
        "sex": [r.sex for r in records],
        "spacing": [list(r.spacing) for r in records],
        "values": values,
        "unit": unit,
    }


# ---- HTML rendering ---------------------------------------------------------------------

_SEX_COLOURS = {"M": "#1f77b4", "F": "#d62728", "O": "#2ca02c", UNKNOWN: "#7f7f7f"}


def _png(draw: Callable[[Any], None], width: float = 5.0, height: float = 3.2) -> str:
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height), dpi=100, layout="constrained")
    draw(fig)
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    return base64.b64encode(buf.getvalue()).decode("ascii")


def _bar(counts: Mapping[str, int], title: str, xlabel: str) -> Callable[[Any], None]:
    def draw(fig: Any) -> None:
        ax = fig.add_subplot()
        items = list(counts.items())[:12]
        ax.bar([k for k, _ in items], [v for _, v in items], color="#4c72b0")
        ax.set_title(title)
        ax.set_xlabel(xlabel)
        ax.set_ylabel("cases")
        ax.tick_params(axis="x", labelrotation=30)

    return draw


def _age_histogram(age: Mapping[str, Any]) -> Callable[[Any], None]:
    def draw(fig: Any) -> None:
        ax = fig.add_subplot()
        edges, counts = age["histogram"]["edges"], age["histogram"]["counts"]
        ax.bar(
            edges[:-1],
            counts,
            width=np.diff(edges),
            align="edge",
            color="#4c72b0",
            edgecolor="white",
        )
        ax.set_title("Age distribution")
        ax.set_xlabel("age (years)")
        ax.set_ylabel("cases")

    return draw


def _value_vs_age(points: Mapping[str, Any]) -> Callable[[Any], None]:
    names = list(points["values"])[:4]

    def draw(fig: Any) -> None:
        axes = fig.subplots(1, len(names), squeeze=False)[0]
        for ax, name in zip(axes, names, strict=True):
            for sex, colour in _SEX_COLOURS.items():
                pts = [
                    (a, v)
                    for a, s, v in zip(
                        points["age"], points["sex"], points["values"][name], strict=True
                    )
                    if s == sex and a is not None and v is not None
                ]
                if pts:
                    ax.scatter(*zip(*pts, strict=True), s=14, color=colour, label=sex, alpha=0.8)
            ax.set_title(name)
            ax.set_xlabel("age (years)")
            ax.set_ylabel(points["unit"] or "value")
        axes[0].legend(title="sex", fontsize="small")

    return draw


def _class_balance(labels: Mapping[str, Any]) -> Callable[[Any], None]:
    def draw(fig: Any) -> None:
        axes = fig.subplots(1, 2)
        for ax, group in zip(axes, ("by_sex", "by_age_bin"), strict=True):
            table = labels[group]
            classes = sorted({c for fr in table.values() for c in fr})
            bottom = np.zeros(len(table))
            for c in classes:
                vals = np.array([table[g].get(c, 0.0) for g in table])
                ax.bar(list(table), vals, bottom=bottom, label=c)
                bottom += vals
            ax.set_title(f"class balance {group.replace('_', ' ')}")
            ax.set_ylim(0, 1)
        axes[0].legend(fontsize="small")

    return draw


def _spacing_box(points: Mapping[str, Any]) -> Callable[[Any], None]:
    def draw(fig: Any) -> None:
        ax = fig.add_subplot()
        spacing = points["spacing"]
        dims = min(len(s) for s in spacing)
        ax.boxplot([[s[d] for s in spacing] for d in range(dims)])
        ax.set_xticks(range(1, dims + 1), [f"axis {d}" for d in range(dims)])
        ax.set_title("Voxel spacing")
        ax.set_ylabel("mm")

    return draw


def _figure_specs(report: Mapping[str, Any]) -> list[tuple[str, Callable[[Any], None], float]]:
    labels, points = report["labels"], report["points"]
    figs = [
        ("Age", _age_histogram(report["age"]), 5.0),
        ("Sex", _bar(report["sex"]["counts"], "Sex", "sex"), 5.0),
        ("Manufacturer", _bar(report["acquisition"]["manufacturer"], "Manufacturer", ""), 5.0),
        ("Spacing", _spacing_box(points), 5.0),
    ]
    if labels["kind"] == "classification":
        figs.append(("Class balance by sex and age group", _class_balance(labels), 9.0))
    elif points["values"]:
        what = "Structure size" if labels["kind"] == "segmentation" else "Target"
        figs.append((f"{what} vs age, by sex", _value_vs_age(points), 9.0))
    return figs


def render_figure(report: Mapping[str, Any], index: int) -> dict[str, str]:
    """Figure `index` of the report as {"title", "png" (base64)}: a picklable unit of work."""
    title, draw, width = _figure_specs(report)[index]
    return {"title": title, "png": _png(draw, width=width)}


def render_html(report: Mapping[str, Any], path: str | Path, *,
                map_fn: Callable[..., Iterable[Any]] = map) -> Path:
    """Write the report as one self-contained HTML page (figures inlined as PNG).

    `map_fn` renders the figures; pass a process pool's `map` to draw them in parallel.
    """
    from jinja2 import Environment, PackageLoader, select_autoescape

    indices = range(len(_figure_specs(report)))
    figures = list(map_fn(partial(render_figure, report), indices))

    env = Environment(
        loader=PackageLoader("mias.data", "templates"), autoescape=select_autoescape(["html", "j2"])
    )
    env.filters["pct"] = lambda x: "–" if x is None else _percent(x)
    env.filters["num"] = lambda x: "–" if x is None else f"{x:.3g}"
    html = env.get_template("demographics.html.j2").render(
        r=report, figures=figures, age_bins=AGE_BINS
    )
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        tmp.write_text(html, encoding="utf-8")
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return path
