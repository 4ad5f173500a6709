"""Pseudonymisation: keep direct identifiers out of everything MIAS writes.

A DICOM header names the patient, their ids, birth date, accession number and institution,
and its Study/Series/SOP Instance UIDs identify the examination just as well (DICOM PS3.15
Annex E treats them alike); a file or folder may be named after any of them. Records carry
only pseudonyms derived here, and `scan_for` lets tests and later stages prove that no
identifier leaked into an output.
"""

from __future__ import annotations

import hashlib
import os
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydicom.multival import MultiValue

# A fixed salt: pseudonyms must be stable across runs (splits and manifests refer to them),
# and salting stops a plain sha256 of a patient id from being looked up in a public table.
SALT = "mias-pseudonym-v1:"
REDACTED = "[redacted]"
MIN_IDENTIFIER_LENGTH = 2

# What the readers apply, recorded in every manifest (codes of DICOM CID 7050).
DEIDENTIFICATION: dict[str, Any] = {
    "standard": "DICOM PS3.15 Annex E",
    "profile": "Basic Application Level Confidentiality Profile",
    "code": "DCM 113100",
    "options": [
        {"code": "DCM 113108", "name": "Retain Patient Characteristics Option",
         "kept": ["PatientAge (or age at study from the dates)", "PatientSex"]},
        {"code": "DCM 113107", "name": "Retain Longitudinal Temporal Information Modified "
                                       "Dates Option", "kept": ["StudyDate (year only)"]},
        {"code": "DCM 113105", "name": "Clean Descriptors Option",
         "kept": ["SeriesDescription, dropped when it holds an identifier"]},
    ],
    "removed": ["names, ids, birth date, accession number, addresses, institution, "
                "physicians, operators, station and device serial number",
                "Study/Series/SOP Instance and Frame of Reference UIDs",
                "file and folder names holding any of these"],
    "pseudonyms": "case-/subj- ids: the first 10 hex digits of a salted SHA-256 of the case "
                  "key or PatientID, the same on every run",
}
# A DICOM UID: dot-separated numeric components (PS3.5 9.1); a name shaped like one is
# treated as a UID even when no header lists it (e.g. folders of a re-identified export).
UID_PATTERN = re.compile(r"(?<![\d.])[0-2](?:\.\d+){3,}")
_UNSAFE_KEY = re.compile(r"[/\\]")

_NAME_KEYWORDS = ("PatientName", "ReferringPhysicianName", "OtherPatientNames",
                  "PatientMotherBirthName", "PerformingPhysicianName", "OperatorsName",
                  "RequestingPhysician", "NameOfPhysiciansReadingStudy")
_TEXT_KEYWORDS = ("PatientID", "OtherPatientIDs", "AccessionNumber", "PatientAddress",
                  "PatientTelephoneNumbers", "InstitutionName", "InstitutionAddress",
                  "InstitutionalDepartmentName", "StationName", "DeviceSerialNumber")
_UID_KEYWORDS = ("StudyInstanceUID", "SeriesInstanceUID", "SOPInstanceUID",
                 "FrameOfReferenceUID", "IrradiationEventUID", "ConcatenationUID")
_DATE_KEYWORDS = ("PatientBirthDate",)


@dataclass(frozen=True)
class PhiHit:
    """One occurrence of an identifier in a file (byte offset, case-insensitive match)."""

    path: Path
    identifier: str
    offset: int


def direct_identifiers(ds: Any) -> set[str]:
    """The strings from a DICOM header that must never appear in any output.

    These are the Annex E basic profile's identifying values that MIAS could otherwise
    echo (names, ids, dates of birth, addresses, institution, device, instance UIDs).
    Person names are split into their components (family, given, middle…), since an
    output could hold one without the others; dates are listed in the DICOM form and the
    ISO form. Strings shorter than two characters are dropped: they cannot be told apart
    from ordinary text.
    """
    found: set[str] = set()
    for keyword in _NAME_KEYWORDS:
        for name in _values(ds, keyword):
            found.add(name)
            found.update(p for p in re.split(r"[\^=]", name) if p)
    for keyword in _TEXT_KEYWORDS:
        found.update(_values(ds, keyword))
    for item in getattr(ds, "OtherPatientIDsSequence", None) or ():
        found.update(_values(item, "PatientID"))
    for keyword in _UID_KEYWORDS:
        found.update(_values(ds, keyword))
    found.update(_values(getattr(ds, "file_meta", None), "MediaStorageSOPInstanceUID"))
    for keyword in _DATE_KEYWORDS:
        for date in _values(ds, keyword):
            found.add(date)
            if re.fullmatch(r"\d{8}", date):
                found.add(f"{date[:4]}-{date[4:6]}-{date[6:]}")
    return {s.strip() for s in found if len(s.strip()) >= MIN_IDENTIFIER_LENGTH}


def _values(ds: Any, keyword: str) -> list[str]:
    value = getattr(ds, keyword, None)
    if value is None or value == "":
        return []
    items = value if isinstance(value, MultiValue | list | tuple) else [value]
    return [str(v).strip() for v in items if str(v).strip()]


def contains_identifier(text: str, identifiers: Iterable[str]) -> bool:
    """Whether `text` holds any identifier (case-insensitive substring)."""
    low = text.lower()
    return any(i.lower() in low for i in identifiers)


def is_identifying(text: str, identifiers: Iterable[str]) -> bool:
    """Whether `text` holds an identifier of `identifiers` or anything shaped like a UID."""
    return contains_identifier(text, identifiers) or bool(UID_PATTERN.search(text))


def pseudonym(prefix: str, key: str) -> str:
    """`<prefix>-<first 10 hex digits of the salted sha256 of key>`: stable, not reversible."""
    digest = hashlib.sha256((SALT + key).encode("utf-8")).hexdigest()
    return f"{prefix}-{digest[:10]}"


def case_id(key: str, identifiers: Iterable[str]) -> str:
    """The case key itself (readable), unless it holds an identifier or a UID, or is a path
    (a case deep in a folder tree): then `case-<hash>`, the same hash on every run."""
    if _UNSAFE_KEY.search(key) or is_identifying(key, identifiers):
        return pseudonym("case", key)
    return key


def subject_id(patient_key: str) -> str:
    """`subj-<hash>` of a patient key (DICOM PatientID, or participants.tsv `subject`)."""
    return pseudonym("subj", patient_key)


def scan_for(strings: Iterable[str], paths: Iterable[str | Path], *,
             whole_word: bool = True) -> list[PhiHit]:
    """Every occurrence of any of `strings` in the files under `paths` (files or folders).

    Bytes are searched case-insensitively, so JSON, HTML, logs, Parquet and model files are
    all covered; an empty result is the evidence that an output holds no identifier.
    `whole_word` ignores matches with a letter or digit on either side: a short name such
    as "Roe" otherwise turns up by chance inside base64 figures and hashes.
    """
    patterns = []
    for needle in sorted({s for s in strings if s}, key=str.lower):
        body = re.escape(needle.encode("utf-8"))
        if whole_word:
            body = rb"(?<![A-Za-z0-9])" + body + rb"(?![A-Za-z0-9])"
        patterns.append((needle, re.compile(body, re.IGNORECASE)))
    hits: list[PhiHit] = []
    for path in _files(paths):
        data = path.read_bytes()
        for needle, pattern in patterns:
            hits += [PhiHit(path, needle, m.start()) for m in pattern.finditer(data)]
    return hits


def _files(paths: Iterable[str | Path]) -> Iterator[Path]:
    for root in map(Path, paths):
        if root.is_file():
            yield root
        elif root.is_dir():
            for folder, _, names in sorted(os.walk(root)):
                yield from (Path(folder) / n for n in sorted(names))
