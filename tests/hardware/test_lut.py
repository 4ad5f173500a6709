"""The latency table: file round-trip, fingerprint check, sums, the fitted correction."""

import json

import pytest

from mias.errors import InputError
from mias.hardware import Correction, LatencyTable, create_device, lut_path
from mias.hardware.lut import LUT_SCHEMA_VERSION, CalibrationPoint, boundary_melems

from .conftest import WORKSTATION, timing


def point(name: str, lut_ms: float, measured_ms: float, boundary: float = 0.0, *,
          cold_ms: float | None = None, chain_ms: float = 0.0, boundaries: int = 3):
    return CalibrationPoint(arch_id=name, warm_ms=lut_ms,
                            cold_ms=lut_ms if cold_ms is None else cold_ms,
                            chain_adjust_ms=chain_ms, boundaries=boundaries,
                            boundary_melems=boundary, measured_ms=measured_ms,
                            measured=timing(measured_ms))


def test_file_round_trip_keeps_machine_versions_threads_dtype_and_entries(tmp_path, hand_table):
    table = hand_table.with_correction(Correction.fit([point("x", 3.0, 3.3),
                                                       point("y", 5.0, 5.5)]))
    path = table.save(tmp_path / "lut.json")
    raw = json.loads(path.read_text())
    assert raw["schema_version"] == LUT_SCHEMA_VERSION
    assert (raw["threads"], raw["dtype"], raw["batch"]) == (4, "float32", 1)
    assert raw["runtime"] == "onnxruntime 1.32.0 CPU" and raw["device"]["name"] == "rpi3"
    assert (raw["machine"]["arch"], raw["machine"]["cpu_model"]) == ("aarch64", "Cortex-A53")
    assert raw["entries"]["b"]["iqr_ms"] == pytest.approx(0.4)
    assert LatencyTable.load(path) == table


def test_a_table_whose_fingerprint_does_not_match_its_label_is_refused_on_load(tmp_path,
                                                                               hand_table):
    mislabelled = hand_table.model_copy(update={"machine": WORKSTATION})
    path = mislabelled.save(tmp_path / "lut-rpi3.json")
    with pytest.raises(InputError) as err:
        LatencyTable.load(path)
    message = err.value.message
    assert "lut-rpi3.json" in message and "labelled 'rpi3'" in message
    assert "AMD EPYC" in message and "--import DIR --target rpi3" in message
    assert "--target host" in message
    no_runs_on = hand_table.model_copy(update={"device": create_device("rpi3").model_copy(
        update={"runs_on": None})})
    with pytest.raises(InputError, match="no runs_on"):
        LatencyTable.load(no_runs_on.save(tmp_path / "lut-board.json"))


def test_ratios_become_ms_at_the_tables_reference_level(hand_table):
    doubled = hand_table.model_copy(update={"reference_ms": 2.0})
    assert doubled.latency_ms("b") == pytest.approx(4.0)
    assert doubled.overhead_ms == pytest.approx(0.2)


def test_sum_subtracts_the_per_call_overhead_of_each_separately_timed_block(hand_table):
    # Three calls timed separately, one call in the network: 7 − 2 × 0.1.
    assert hand_table.sum_ms(["a", "b", "c"]) == pytest.approx(6.8)
    assert hand_table.sum_ms(["b"]) == pytest.approx(2.0)


def test_a_missing_key_tells_to_re_profile(hand_table):
    with pytest.raises(InputError, match="mias profile"):
        hand_table.latency_ms("zzz")


def test_correction_keeps_the_form_that_predicts_held_out_networks_best():
    line = Correction.fit([point(str(x), x, 1.5 * x + 0.2) for x in (1.0, 2.0, 4.0, 7.0)])
    assert line.form == "line" and line.applied
    assert (line.slope, line.intercept_ms) == (pytest.approx(1.5), pytest.approx(0.2))
    assert line.apply(10.0) == pytest.approx(15.2)
    assert line.loo_mape["warm:line"] == pytest.approx(0.0, abs=1e-9)
    # Standalone blocks pay 0.5 ms per million boundary elements that a network does not.
    pts = [point(str(i), x, 1.1 * x - 0.5 * b + 0.3, b)
           for i, (x, b) in enumerate([(2.0, 1.0), (4.0, 0.5), (6.0, 3.0), (9.0, 2.0),
                                       (12.0, 5.0)])]
    full = Correction.fit(pts)
    assert full.form == "line+boundaries"
    assert full.boundary_ms_per_melem == pytest.approx(-0.5)
    assert full.apply(10.0, boundary=2.0) == pytest.approx(10.3)
    # Networks 1.2× slower than their blocks, with no fixed cost: one slope, no intercept.
    scale = Correction.fit([point(str(x), x, 1.2 * x) for x in (1.0, 2.0, 4.0, 7.0)])
    assert scale.form == "scale" and scale.intercept_ms == 0.0
    assert scale.apply(10.0) == pytest.approx(12.0)
    assert scale.describe() == "1.200 × LUT sum (warm blocks)"
    exact = Correction.fit([point(str(x), x, x) for x in (1.0, 2.0, 4.0)])
    assert exact.form == "sum" and not exact.applied and exact.apply(10.0) == 10.0
    one = Correction.fit([point("x", 3.0, 3.3)])
    assert one.form == "sum" and set(one.loo_mape) == {"warm:sum", "cold:sum"}
    two = Correction.fit([point("x", 3.0, 3.3), point("y", 5.0, 5.5)])
    assert "warm:scale" in two.loo_mape and "warm:line" not in two.loo_mape
    assert two.form == "scale"  # 1 held out of 2


def test_the_basis_that_predicts_networks_is_chosen_cold_or_warm():
    """Networks equal the sum of their blocks' cold runs; warm bursts read them low."""
    pts = [point(str(x), 0.8 * x + 0.3 * (x % 3), x, cold_ms=x) for x in (2.0, 3.0, 5.0, 8.0)]
    fit = Correction.fit(pts)
    assert (fit.basis, fit.form) == ("cold", "sum") and fit.applied
    assert fit.loo_mape["cold:sum"] == pytest.approx(0.0)


def test_chain_learned_boundaries_are_used_only_when_offered_and_better():
    """Networks save what the chains measured at their boundaries, plus noise-free sums."""
    pts = [point(str(x), x + c, x, chain_ms=-c) for x, c in ((2.0, 0.5), (3.0, 1.5),
                                                            (5.0, 0.2), (8.0, 2.5))]
    assert Correction.fit(pts).chains is False
    fit = Correction.fit(pts, chains_available=True)
    assert fit.chains and fit.form == "sum" and fit.loo_mape["warm+chains:sum"] == 0.0


def test_boundary_cost_is_fitted_from_chain_samples():
    from mias.hardware.lut import BoundaryCost

    cost = BoundaryCost.fit([(e, -0.02 - 0.5 * e) for e in (0.1, 0.4, 0.9, 2.0)])
    assert cost.per_boundary_ms == pytest.approx(-0.02)
    assert cost.per_melem_ms == pytest.approx(-0.5) and cost.chains == 4
    assert BoundaryCost.fit([(0.1, 0.0), (0.2, 0.0)]) is None  # too few chains


def test_a_table_of_the_old_protocol_is_refused_with_the_command_that_re_times_it(tmp_path,
                                                                                  hand_table):
    path = hand_table.save(tmp_path / "lut-rpi3.json")
    raw = json.loads(path.read_text())
    raw["schema_version"] = 2
    path.write_text(json.dumps(raw))
    with pytest.raises(InputError) as err:
        LatencyTable.load(path)
    assert "earlier timing protocol" in err.value.message
    assert "mias profile --target rpi3 --space PREP --overwrite" in err.value.message


def test_boundary_elements_count_every_block_input_but_the_networks(tiny_space):
    import numpy as np

    configs = tiny_space.block_configs(tiny_space.sample(np.random.default_rng(0)))
    # enc 4×8×8, enc 8×8×8, dec 8×4×4 + skip 8×8×8, head 4×8×8; the stem's input is not.
    assert [c.role for c in configs] == ["stem", "enc", "enc", "dec", "head"]
    assert boundary_melems(configs) == pytest.approx((256 + 512 + 128 + 512 + 256) / 1e6)


def test_wrong_schema_and_corrupt_files_are_input_errors(tmp_path, hand_table):
    path = hand_table.save(tmp_path / "lut.json")
    raw = json.loads(path.read_text())
    raw["schema_version"] = 99
    path.write_text(json.dumps(raw))
    with pytest.raises(InputError, match="schema_version"):
        LatencyTable.load(path)
    raw["schema_version"] = LUT_SCHEMA_VERSION
    del raw["machine"]
    path.write_text(json.dumps(raw))
    with pytest.raises(InputError, match="machine"):
        LatencyTable.load(path)


def test_default_path_is_named_after_the_device(tmp_path):
    assert lut_path(tmp_path, "rpi3") == tmp_path / "lut-rpi3.json"
