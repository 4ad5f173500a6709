"""Patient age in years (float) from DICOM: the Age String (AS) or the study and birth dates.

Ages are compared across datasets and binned for the demographic report, so every source
is reduced to one unit; a value that cannot be read is `None` (then imputed and flagged),
never a guess.
"""

from __future__ import annotations

import datetime as dt
import re

DAYS_PER_YEAR = 365.25
_UNIT_YEARS = {"D": 1.0 / DAYS_PER_YEAR, "W": 7.0 / DAYS_PER_YEAR, "M": 1.0 / 12.0, "Y": 1.0}
_AGE_STRING = re.compile(r"^\s*(\d{1,3})\s*([DWMY])\s*$", re.IGNORECASE)


def parse_dicom_age(value: str | None) -> float | None:
    """DICOM AS (`nnnD`, `nnnW`, `nnnM`, `nnnY`) → years: "045Y" → 45.0, "018M" → 1.5.

    Writers often drop the zero padding ("45Y"), so 1–3 digits are accepted; anything else
    (no unit, free text, empty) gives `None`.
    """
    if value is None:
        return None
    match = _AGE_STRING.match(str(value))
    if match is None:
        return None
    return int(match.group(1)) * _UNIT_YEARS[match.group(2).upper()]


def parse_dicom_date(value: str | None) -> dt.date | None:
    """DICOM DA (`YYYYMMDD`) → date; `None` when absent or malformed."""
    if not value:
        return None
    try:
        return dt.datetime.strptime(str(value).strip(), "%Y%m%d").date()
    except ValueError:
        return None


def age_from_dates(study_date: str | None, birth_date: str | None) -> float | None:
    """Age in years on the study date, from DICOM DA strings; `None` if either is unusable.

    The caller must not keep the birth date: only the derived age may reach a record.
    """
    study, birth = parse_dicom_date(study_date), parse_dicom_date(birth_date)
    if study is None or birth is None or birth > study:
        return None
    return (study - birth).days / DAYS_PER_YEAR
