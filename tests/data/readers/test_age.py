"""DICOM Age String (AS) and date-derived ages."""

from __future__ import annotations

import pytest

from mias.data.age import age_from_dates
from mias.data.readers import parse_dicom_age


@pytest.mark.parametrize(("value", "years"), [
    ("045Y", 45.0), ("018M", 1.5), ("003W", 21 / 365.25), ("010D", 10 / 365.25),
    ("45Y", 45.0), ("090y", 90.0),
])
def test_age_strings(value, years):
    assert parse_dicom_age(value) == pytest.approx(years)


@pytest.mark.parametrize("junk", [None, "", "045", "Y045", "45 years", "0x5Y", "1234Y", "-5Y"])
def test_junk_ages_are_none(junk):
    assert parse_dicom_age(junk) is None


def test_age_from_dates():
    assert age_from_dates("20200301", "19900301") == pytest.approx(30.0, abs=0.01)
    assert age_from_dates("20200301", None) is None
    assert age_from_dates("20200301", "20210101") is None
    assert age_from_dates("2020-03-01", "19900301") is None
