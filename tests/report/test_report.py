"""The validation plan: seven sections in the PDF, every figure embedded, a rebuild from
the run directory alone gives the same HTML, and the model card has Mitchell's headings."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

from mias.atomic import read_json
from mias.cli import main as cli
from mias.report.standards import MODEL_CARD, SECTIONS


def test_pdf_has_the_seven_sections_and_every_figure(tiny_run: Path) -> None:
    from pypdf import PdfReader

    reader = PdfReader(tiny_run / "report" / "validation_plan.pdf")
    text = re.sub(r"\s+", " ", " ".join(p.extract_text() for p in reader.pages))
    for _, title in SECTIONS:
        assert title in text, title
    html = (tiny_run / "report" / "validation_plan.html").read_text(encoding="utf-8")
    figures = html.count('<img src="data:image/png;base64,')
    assert figures >= 5   # architecture, demographics, subgroups, Pareto front, pruning
    assert len(_embedded_images(reader)) == figures


def _embedded_images(reader) -> set[int]:
    """Object numbers of the distinct image XObjects (WeasyPrint shares one resource
    dictionary between pages, so a per-page count repeats every image)."""
    found = set()
    for page in reader.pages:
        xobjects = (page.get("/Resources") or {}).get("/XObject") or {}
        for ref in xobjects.get_object().values():
            if ref.get_object().get("/Subtype") == "/Image":
                found.add(ref.idnum)
    return found


def test_rebuilding_from_the_run_directory_alone_gives_the_same_html(tiny_run: Path,
                                                                    tmp_path: Path) -> None:
    before = (tiny_run / "report" / "validation_plan.html").read_bytes()
    moved = tmp_path / "elsewhere"
    shutil.copytree(tiny_run, moved, ignore=shutil.ignore_patterns("report"))
    assert cli.main(["report", str(moved)]) == 0
    assert (moved / "report" / "validation_plan.html").read_bytes() == before
    assert read_json(moved / "report" / "model_card.json") == read_json(
        tiny_run / "report" / "model_card.json")


def test_model_card_has_the_model_card_headings(tiny_run: Path) -> None:
    card = read_json(tiny_run / "report" / "model_card.json")
    for key, _, _ in MODEL_CARD:
        assert card[key], key
    head = card["quantitative_analyses"]["headline"]
    assert 0.0 <= head["value"] <= 1.0 and len(head["ci"]) == 2


def test_an_estimate_for_a_board_says_so(tiny_run: Path) -> None:
    html = (tiny_run / "report" / "validation_plan.html").read_text(encoding="utf-8")
    section = html[html.index('id="performance"'):html.index('id="reproducibility"')]
    assert "No Raspberry Pi 3 Model B" in section and "ESTIMATE" in section
    rows = re.findall(r"<tr><td>latency on rpi3[^<]*</td><td>[^<]*</td><td><strong>(\w+)",
                      section)
    assert rows and set(rows) == {"ESTIMATED"}


def test_the_plan_states_what_predict_checks(tiny_run: Path) -> None:
    """Section 4 lists the ranges stored in model.onnx, which predict warns outside."""
    from mias.export.spec import read_spec

    ranges = read_spec(tiny_run / "export" / "model.onnx").ranges
    html = (tiny_run / "report" / "validation_plan.html").read_text(encoding="utf-8")
    low, high = ranges["age"]
    assert f"{low:g}–{high:g} years" in html


def test_a_missing_stage_is_named_with_the_command_that_makes_it(tiny_run: Path,
                                                                 tmp_path: Path,
                                                                 capsys) -> None:
    partial = tmp_path / "partial"
    shutil.copytree(tiny_run, partial, ignore=shutil.ignore_patterns("eval", "report"))
    assert cli.main(["report", str(partial)]) == 2
    err = capsys.readouterr().err
    assert "eval/metrics.json" in err and "mias evaluate RUN" in err
    assert not (partial / "report").exists()


def test_a_ranking_beside_the_run_is_reported(tiny_run: Path, tmp_path: Path) -> None:
    from mias.atomic import write_json

    run = tmp_path / "ranked"
    shutil.copytree(tiny_run, run, ignore=shutil.ignore_patterns("report"))
    final = {"tau": 0.61, "tau_ci": [0.2, 0.85], "rho": 0.7, "rho_ci": [0.3, 0.9]}
    write_json(run / "rank" / "tau.json", {
        "schema_version": 1, "metric": "dice", "protocol": {
            "n": 12, "standalone": {"steps": 40}, "supernet": {"epochs": 3},
            "statistics": {"confidence": 0.95}},
        "samplers": {"mias": {"final": final}}})
    assert cli.main(["report", str(run)]) == 0
    html = (run / "report" / "validation_plan.html").read_text(encoding="utf-8")
    assert "+0.61 [+0.20, +0.85]" in html and "ranking of 12 architectures" in html


def test_the_plan_shows_the_depth_race_that_chose_the_network(tiny_run: Path) -> None:
    race = read_json(tiny_run / "search" / "result.json")["race"]
    html = (tiny_run / "report" / "validation_plan.html").read_text(encoding="utf-8")
    section = html[html.index('id="performance"'):html.index('id="reproducibility"')]
    assert f"trained alone from scratch for {race['steps']} steps" in section
    for entry in race["entries"]:
        assert f"<td>{entry['arch_id']}</td>" in section


def test_the_race_shows_grown_paths_and_reads_records_from_before_them(tiny_run: Path,
                                                                       tmp_path: Path) -> None:
    """A budget's race names each entry's path; a result.json written before grown paths
    raced (entries without `path`) still reports, without the column."""
    from mias.atomic import write_json

    for grown in (True, False):
        run = tmp_path / f"grown-{grown}"
        shutil.copytree(tiny_run, run, ignore=shutil.ignore_patterns("report"))
        result = read_json(run / "search" / "result.json")
        entries = [{k: v for k, v in e.items() if k != "path"} for e in result["race"]["entries"]]
        if grown:
            entries[-1]["path"] = "budget-filled"
        write_json(run / "search" / "result.json",
                   result | {"race": result["race"] | {"entries": entries}})
        assert cli.main(["report", str(run)]) == 0
        html = (run / "report" / "validation_plan.html").read_text(encoding="utf-8")
        section = html[html.index("Depth race"):html.index('id="reproducibility"')]
        assert ("<th>path</th>" in section) is grown
        assert ("<td>grown</td>" in section) is grown
        assert ("grown into the latency budget" in section) is grown


def test_the_plan_names_the_split_its_figures_come_from(tiny_run: Path, tmp_path: Path) -> None:
    """Figures from the validation split carry its decisions and the plan says so; a test
    split is reported as held out."""
    from mias.atomic import write_json
    from mias.train.evaluate import VALIDATION_NOTE

    for split in ("val", "test"):
        run = tmp_path / split
        shutil.copytree(tiny_run, run, ignore=shutil.ignore_patterns("report"))
        metrics = read_json(run / "eval" / "metrics.json")
        notes = [n for n in metrics["notes"] if n != VALIDATION_NOTE]
        write_json(run / "eval" / "metrics.json", metrics | {
            "splits": [split], "notes": notes + ([VALIDATION_NOTE] if split == "val" else [])})
        assert cli.main(["report", str(run)]) == 0
        html = (run / "report" / "validation_plan.html").read_text(encoding="utf-8")
        section = html[html.index('id="performance"'):html.index('id="reproducibility"')]
        assert ("Validation split," in section) is (split == "val")
        assert ("Held-out test split" in section) is (split == "test")
        assert ("this split chose the postprocessing" in section) is (split == "val")


def test_the_plan_states_the_postprocessing_decided_on_validation(tiny_run: Path) -> None:
    from mias.report.records import RunRecords
    from mias.train.postprocess import describe

    spec = RunRecords.load(tiny_run).spec
    html = (tiny_run / "report" / "validation_plan.html").read_text(encoding="utf-8")
    row = html[html.index("postprocessing (decided on validation)"):]
    expected = describe(spec["inference"]["postprocessing"], spec["task"]["label_names"])
    assert expected.replace("'", "&#39;") in row[:row.index("</tr>")]
