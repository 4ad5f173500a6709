"""Validate files and command-line settings against pydantic models, like every bad input.

Device profiles, latency tables and block bundles are all user-visible files; a wrong one
is an `InputError` naming the file, the first offending field, and how to fix it. Settings
are checked where they enter (the CLI), so `--beta nan` never reaches a record.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, TypeVar

from pydantic import BaseModel, Field, ValidationError

from mias.errors import InputError

M = TypeVar("M", bound=BaseModel)

# A seed every stage can hand to numpy, torch and Python's random alike (unsigned 32-bit).
MAX_SEED = 2**32 - 1
Seed = Annotated[int, Field(ge=0, le=MAX_SEED, description=f"give a seed in 0..{MAX_SEED}")]


def validate_file(model: type[M], data: Any, path: str | Path | None, what: str,
                  fix: str) -> M:
    """`model.model_validate(data)`, or an `InputError` saying where in `what` it fails."""
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "(top level)"
        given = first.get("input")
        shown = f" ({where} is {given!r})" if isinstance(given, int | float | str) else ""
        raise InputError(path, f"invalid {what} at {where}: {first['msg']}{shown}",
                         fix) from exc


def read_record(path: Path, version: int, rerun: str,
                schema: type[BaseModel] | None = None) -> dict[str, Any]:
    """A stage's JSON record, refused (`InputError`) when it is not an object, was written
    with another `schema_version` (a record of another mias version is not guessed at), or
    does not have the shape `schema` declares."""
    from mias.atomic import read_json

    data = read_json(path)
    found = data.get("schema_version") if isinstance(data, dict) else None
    if found != version:
        raise InputError(path, f"not a record this mias reads (schema_version {found!r}, "
                         f"expected {version})", f"re-run `{rerun}` to rewrite it")
    if schema is not None:
        validate_file(schema, data, path, "record", f"re-run `{rerun}` to rewrite it")
    return data


def validate_settings(model: type[M], values: dict[str, Any], flags: dict[str, str]) -> M:
    """Build command-line settings, or an `InputError` naming the offending flag.

    `flags` maps a model field to the option the user typed (`beta` → `--beta`), so the
    message speaks the command line's language rather than the model's.
    """
    try:
        return model.model_validate(values)
    except ValidationError as exc:
        first = exc.errors()[0]
        field = str(first["loc"][0]) if first["loc"] else ""
        flag = flags.get(field, field.replace("_", "-"))
        given = values.get(field) if field else None
        reason = str(first["msg"]).removeprefix("Value error, ")
        if not field:
            raise InputError(None, reason, "see `--help` for what each option accepts") from exc
        info = model.model_fields.get(field)
        fix = info.description if info is not None and info.description else (
            f"see `--help` for what {flag} accepts")
        raise InputError(None, f"{flag}: {reason} (got {given!r})", fix) from exc
