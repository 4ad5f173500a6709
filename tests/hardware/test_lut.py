"""The latency table: file round-trip, overhead-corrected sums, the linear correction."""

import json

import pytest

from mias.errors import InputError
from mias.hardware import Correction, LatencyTable, lut_path
from mias.hardware.lut import LUT_SCHEMA_VERSION, CalibrationPoint

from .conftest import timing


def test_file_round_trip_keeps_versions_threads_dtype_and_entries(tmp_path, hand_table):
    table = hand_table.with_correction(Correction.fit([
        CalibrationPoint(arch_id="x", predicted_ms=3.0, measured=timing(3.3)),
        CalibrationPoint(arch_id="y", predicted_ms=5.0, measured=timing(5.5))]))
    path = table.save(tmp_path / "lut.json")
    raw = json.loads(path.read_text())
    assert raw["schema_version"] == LUT_SCHEMA_VERSION
    assert (raw["threads"], raw["dtype"], raw["batch"]) == (4, "float32", 1)
    assert raw["runtime"] == "onnxruntime 1.32.0 CPU" and raw["device"]["name"] == "rpi3"
    assert raw["entries"]["b"]["iqr_ms"] == pytest.approx(0.4)
    assert LatencyTable.load(path) == table


def test_sum_subtracts_the_per_call_overhead_of_each_separately_timed_block(hand_table):
    # Three calls timed separately, one call in the network: 7 − 2 × 0.1.
    assert hand_table.sum_ms(["a", "b", "c"]) == pytest.approx(6.8)
    assert hand_table.sum_ms(["b"]) == pytest.approx(2.0)


def test_a_missing_key_tells_to_re_profile(hand_table):
    with pytest.raises(InputError, match="mias profile"):
        hand_table.median_ms("zzz")


def test_correction_is_the_least_squares_line_applied_only_when_validated():
    points = [CalibrationPoint(arch_id=str(x), predicted_ms=x, measured=timing(1.5 * x + 0.2))
              for x in (1.0, 2.0, 4.0)]
    fit = Correction.fit(points)
    assert (fit.slope, fit.intercept_ms) == (pytest.approx(1.5), pytest.approx(0.2))
    assert fit.applied and fit.loo_mape_line == pytest.approx(0.0, abs=1e-9)
    assert fit.apply(10.0) == pytest.approx(15.2)
    exact = Correction.fit([CalibrationPoint(arch_id=str(x), predicted_ms=x,
                                             measured=timing(x)) for x in (1.0, 2.0, 4.0)])
    assert not exact.applied and exact.apply(10.0) == 10.0  # the line cannot beat the sum
    single = Correction.fit(points[:1])
    assert (single.slope, single.intercept_ms) == (pytest.approx(1.7), 0.0)
    assert not single.applied and single.loo_mape_line is None


def test_wrong_schema_and_corrupt_files_are_input_errors(tmp_path, hand_table):
    path = hand_table.save(tmp_path / "lut.json")
    raw = json.loads(path.read_text())
    raw["schema_version"] = 99
    path.write_text(json.dumps(raw))
    with pytest.raises(InputError, match="schema_version"):
        LatencyTable.load(path)
    raw["schema_version"] = LUT_SCHEMA_VERSION
    del raw["threads"]
    path.write_text(json.dumps(raw))
    with pytest.raises(InputError, match="threads"):
        LatencyTable.load(path)


def test_default_path_is_named_after_the_device(tmp_path):
    assert lut_path(tmp_path, "rpi3") == tmp_path / "lut-rpi3.json"
