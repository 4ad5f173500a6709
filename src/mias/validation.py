"""Validate a file's content against a pydantic model, reporting like every bad input.

Device profiles, latency tables and block bundles are all user-visible files; a wrong one
is an `InputError` naming the file, the first offending field, and how to fix it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from mias.errors import InputError

M = TypeVar("M", bound=BaseModel)


def validate_file(model: type[M], data: Any, path: str | Path | None, what: str,
                  fix: str) -> M:
    """`model.model_validate(data)`, or an `InputError` saying where in `what` it fails."""
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "(top level)"
        raise InputError(path, f"invalid {what} at {where}: {first['msg']}", fix) from exc
