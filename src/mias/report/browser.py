"""Open a report in headless Chromium: a screenshot, and the page's console errors.

What a reader's browser does with the HTML is the test of it (a PDF renderer forgives
what a browser does not). Chromium prints the page's console to stderr with
`--enable-logging=stderr`; errors, uncaught exceptions and failed loads are collected.
Needs the `chromium` executable (Debian: `apt-get install chromium`).
"""

from __future__ import annotations

import re
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

EXECUTABLES = ("chromium", "chromium-browser", "google-chrome", "chrome")
# Console lines Chromium logs for the page: `...:INFO:CONSOLE:1] "message", source: ...`
# (older builds: `CONSOLE(1)`). Every level is logged as INFO, so levels cannot be told
# apart; the report has no scripts, so any console message at all is a defect.
_CONSOLE = re.compile(r":[A-Z]+:CONSOLE(?::\d+|\(\d+\))\] \"(.*)\", source: ")


@dataclass(frozen=True)
class PageCheck:
    screenshot: Path
    console: tuple[str, ...]


def find_chromium() -> str | None:
    return next((path for name in EXECUTABLES if (path := shutil.which(name))), None)


def open_page(html: Path, screenshot: Path, *, width: int = 1200, height: int = 1600,
              timeout_s: float = 120.0) -> PageCheck:
    """Render `html` (a file) headless, write a PNG screenshot, return the console lines."""
    exe = find_chromium()
    if exe is None:
        raise FileNotFoundError("no Chromium executable (apt-get install chromium)")
    screenshot.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="mias-chromium-") as profile:
        proc = subprocess.run(
            [exe, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
             "--no-first-run", "--disable-extensions", "--enable-logging=stderr", "--v=0",
             f"--user-data-dir={profile}", f"--window-size={width},{height}",
             f"--screenshot={screenshot}", html.resolve().as_uri()],
            capture_output=True, text=True, timeout=timeout_s, check=False)
    if not screenshot.is_file():
        raise RuntimeError(f"Chromium wrote no screenshot (exit {proc.returncode}): "
                           f"{proc.stderr[-2000:]}")
    return PageCheck(screenshot, tuple(m.group(1) for m in _CONSOLE.finditer(proc.stderr)))
