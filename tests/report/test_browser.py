"""The HTML report in a real headless browser: it renders, and its console stays silent."""

from __future__ import annotations

from pathlib import Path

import pytest

from mias.report.browser import find_chromium, open_page

pytestmark = pytest.mark.skipif(find_chromium() is None, reason="no Chromium here: `make test` "
                                "installs the Debian package chromium where it can")


def test_the_checker_sees_console_errors(tmp_path: Path) -> None:
    page = tmp_path / "bad.html"
    page.write_text("<html><body><script>console.error('planted'); nope();</script>"
                    "</body></html>", encoding="utf-8")
    check = open_page(page, tmp_path / "bad.png")
    assert any("planted" in m for m in check.console)
    assert any("nope" in m for m in check.console)


def test_the_report_renders_without_console_errors(tiny_run: Path, tmp_path: Path) -> None:
    check = open_page(tiny_run / "report" / "validation_plan.html", tmp_path / "plan.png")
    assert check.console == ()
    assert check.screenshot.stat().st_size > 20_000   # a page of text and a figure, not blank
