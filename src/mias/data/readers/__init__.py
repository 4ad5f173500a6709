"""Dataset readers: DICOM series, NIfTI, MSD / nnU-Net v2 layouts, label tables.

`discover(root)` reads headers into pseudonymous `CaseRecord`s; `load_case` decodes one
case into canonical-RAS arrays; `impute` applies the dataset-level imputation rules.
Importing this package registers the built-in format readers.
"""

from mias.data.age import parse_dicom_age
from mias.data.imputation import impute
from mias.data.readers import dicom, msd, nifti_folder  # noqa: F401  (registers the readers)
from mias.data.readers.detect import (
    FormatReader,
    available_readers,
    create_reader,
    detect_format,
    register_reader,
)
from mias.data.readers.discover import discover
from mias.data.readers.load import load_case
from mias.data.readers.source import UNLABELED, DatasetSource, LoadedCase, SourceCase

__all__ = [
    "UNLABELED",
    "DatasetSource",
    "FormatReader",
    "LoadedCase",
    "SourceCase",
    "available_readers",
    "create_reader",
    "detect_format",
    "discover",
    "impute",
    "load_case",
    "parse_dicom_age",
    "register_reader",
]
