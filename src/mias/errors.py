"""Errors that the command line turns into exit codes.

Bad input is the user's to fix, so it never shows a traceback: `InputError` carries the
file at fault, what is wrong with it and how to fix it, and the CLI exits with code 2.
"""

from __future__ import annotations

from pathlib import Path


class InputError(Exception):
    """Bad input or usage (exit code 2): names the file, the problem and the fix."""

    exit_code = 2

    def __init__(self, path: str | Path | None, problem: str, fix: str = "") -> None:
        self.path = None if path is None else str(path)
        self.problem = problem
        self.fix = fix
        super().__init__(self.message)

    def __reduce__(self) -> tuple:
        """Survive pickling, so a worker process can report bad input to the parent."""
        return (type(self), (self.path, self.problem, self.fix))

    @property
    def message(self) -> str:
        where = f"{self.path}: " if self.path else ""
        how = f" Fix: {self.fix}" if self.fix else ""
        return f"{where}{self.problem.rstrip('.')}.{how}"
