"""Screenshot of a run's validation plan for the README: `python docs/screenshot.py RUN`.

Opens RUN/report/validation_plan.html in headless Chromium (as the browser test does),
refuses a page that logged anything to its console, and writes docs/validation_plan.png.
"""

from __future__ import annotations

import sys
from pathlib import Path

from mias.report.browser import open_page

OUT = Path(__file__).resolve().parent / "validation_plan.png"


def main(run: str) -> int:
    check = open_page(Path(run) / "report" / "validation_plan.html", OUT, width=1100,
                      height=1500)
    if check.console:
        print("the page logged to its console:", *check.console, sep="\n  ", file=sys.stderr)
        return 1
    print(f"wrote {OUT}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
