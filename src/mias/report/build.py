"""`build_report(RUN)`: the validation plan (HTML, PDF) and model card from the records.

A pure function of the run directory: the same records give the same HTML byte for byte
(no rebuild time, fixed figure metadata, sorted JSON), so a plan can be regenerated and
compared with the filed one. The PDF is WeasyPrint's rendering of that HTML.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from mias.atomic import atomic_dir, write_json
from mias.errors import InputError
from mias.report import figures
from mias.report.change_control import change_control
from mias.report.hardware import block_table, efficiency
from mias.report.model_card import model_card
from mias.report.performance import performance
from mias.report.records import RunRecords
from mias.report.sections import (
    intended_use,
    reproducibility,
    training_data,
    validation_requirements,
)
from mias.report.standards import GMLP, MODEL_CARD, PCCP_PARTS, SECTIONS
from mias.train.postprocess import describe as describe_postprocessing

HTML_NAME, PDF_NAME, CARD_NAME = "validation_plan.html", "validation_plan.pdf", "model_card.json"
WEASYPRINT_FIX = ("install WeasyPrint's system libraries (Debian: apt-get install "
                  "libpango-1.0-0 libpangoft2-1.0-0 libharfbuzz0b fonts-dejavu-core)")


def context(rec: RunRecords) -> dict[str, Any]:
    """Everything the template shows, as plain data."""
    arch = rec.arch
    data = training_data(rec)
    data["image"] = figures.data_uri(figures.demographics(rec.demographics))
    r = rec.result
    return {
        "sections": SECTIONS, "gmlp": GMLP, "model_card_map": MODEL_CARD, "pccp": PCCP_PARTS,
        "title": f"Validation plan — {rec.task['kind']} model {r['arch_id']} for "
                 f"{r['target']}",
        "intended_use": intended_use(rec),
        "algorithm": {
            "arch_id": r["arch_id"], "depth": arch.depth,
            "image": figures.data_uri(figures.architecture(rec.space, arch)),
            "blocks": block_table(rec),
            "search": {"loss": r.get("loss", {}).get("formula"),
                       "eps_ce": r.get("loss", {}).get("eps_ce"),
                       "eps_lat": r.get("loss", {}).get("eps_lat"),
                       "evaluated_paths": r.get("evaluated_paths"),
                       "space_size": rec.space.size(), "sampler": (r.get("schedule") or {}
                                                                   ).get("sampler"),
                       "latency_source": (r.get("latency_provenance") or {}).get("source")},
            "preprocessing": rec.spec.get("plan", {}), "inference": rec.spec.get("inference",
                                                                                {}),
            "postprocessing": describe_postprocessing(
                (rec.spec.get("inference") or {}).get("postprocessing"),
                rec.task.get("label_names") or ()) if rec.task["kind"] == "segmentation"
            else None,
        },
        "training_data": data, "validation": validation_requirements(rec),
        "performance": performance(rec), "hardware": efficiency(rec),
        "reproducibility": reproducibility(rec), "change_control": change_control(rec),
    }


def render_html(ctx: dict[str, Any]) -> str:
    from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape

    env = Environment(loader=PackageLoader("mias.report", "templates"),
                      autoescape=select_autoescape(["html", "j2"]), undefined=StrictUndefined,
                      trim_blocks=True, lstrip_blocks=True, keep_trailing_newline=True)
    env.filters["num"] = _num
    return env.get_template("validation_plan.html.j2").render(**ctx)


def _num(value: Any, digits: int = 3) -> str:
    if value is None:
        return "n/a"
    if isinstance(value, int):
        return f"{value:,}"
    return f"{value:.{digits}g}" if abs(value) < 1e4 else f"{value:,.0f}"


def render_pdf(html: str) -> bytes:
    """WeasyPrint's PDF of the HTML (it stamps no creation date unless the HTML has one)."""
    try:
        from weasyprint import HTML
    except OSError as exc:
        raise InputError(None, f"WeasyPrint cannot load its system libraries ({exc})",
                         WEASYPRINT_FIX) from exc
    return HTML(string=html).write_pdf()


def build_report(run: str | Path, *, overwrite: bool = True) -> Path:
    """Write RUN/report/ (validation_plan.html, validation_plan.pdf, model_card.json)."""
    run = Path(run)
    rec = RunRecords.load(run)
    ctx = context(rec)
    html = render_html(ctx)
    pdf = render_pdf(html)
    card = json.loads(json.dumps(model_card(ctx)))
    with atomic_dir(run / "report", overwrite=overwrite, stage="report") as tmp:
        (tmp / HTML_NAME).write_text(html, encoding="utf-8")
        (tmp / PDF_NAME).write_bytes(pdf)
        write_json(tmp / CARD_NAME, card)
    return run / "report"
