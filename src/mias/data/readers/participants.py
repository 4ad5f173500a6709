"""BIDS-style `participants.tsv`: age, sex and subject per case key.

Users curate this table when headers are missing or stripped, so its values take
precedence over header values; sex spellings ("male", "f", "Woman"…) are normalised to
the record's M/F/O/unknown.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from mias.errors import InputError

PARTICIPANTS_FILE = "participants.tsv"
_SEX = {
    "M": ("m", "male", "man", "boy"),
    "F": ("f", "female", "woman", "girl"),
    "O": ("o", "other", "x", "non-binary", "nonbinary", "intersex"),
}
_SEX_LOOKUP = {spelling: code for code, spellings in _SEX.items() for spelling in spellings}
_MISSING = {"", "n/a", "na", "nan", "none", "unknown", "?"}


@dataclass(frozen=True)
class Participant:
    """One row: demographics plus the patient key used for a patient-level split."""

    age: float | None
    sex: str
    subject: str | None


def normalise_sex(value: object) -> str:
    """"male"/"M"/"man" → "M", "female"/"f" → "F", "other"/"x" → "O", else "unknown"."""
    return _SEX_LOOKUP.get(str(value).strip().lower(), "unknown")


def parse_age(value: object) -> float | None:
    """Years as a number; BIDS's "89+" (ages above 89 binned) reads as 89; else None."""
    text = str(value).strip().lower()
    if text in _MISSING:
        return None
    match = re.fullmatch(r"(\d+(?:\.\d*)?)\s*\+?", text)
    return float(match.group(1)) if match else None


def read_participants(root: Path) -> dict[str, Participant]:
    """The table at `root/participants.tsv` by `participant_id` (= case key); {} if absent."""
    path = root / PARTICIPANTS_FILE
    if not path.is_file():
        return {}
    try:
        frame = pd.read_csv(path, sep="\t", dtype=str, keep_default_na=False)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
        raise InputError(path, f"not a readable TSV table ({exc})",
                         "write a tab-separated table with a participant_id column") from exc
    frame.columns = [str(c).strip().lower() for c in frame.columns]
    if "participant_id" not in frame.columns:
        raise InputError(path, "missing column 'participant_id'",
                         "add a participant_id column holding each case key")
    table: dict[str, Participant] = {}
    for row in frame.to_dict("records"):
        key = str(row["participant_id"]).strip()
        if key in table:
            raise InputError(path, f"participant_id {key!r} appears twice",
                             "keep one row per case")
        subject = str(row.get("subject", "")).strip()
        table[key] = Participant(
            age=parse_age(row.get("age", "")), sex=normalise_sex(row.get("sex", "")),
            subject=None if subject.lower() in _MISSING else subject)
    return table
