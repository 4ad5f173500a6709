"""Device profiles: registry, bundled YAML boards, user YAML, host read from the machine."""

import os

import pytest

from mias.errors import InputError
from mias.hardware import create_device, list_devices, load_device, measure_peaks, resolve_device


def test_registry_holds_host_and_the_boards():
    assert {"host", "rpi3", "rpi4"} <= set(list_devices())


def test_rpi3_is_the_papers_board_with_sourced_figures():
    rpi3 = create_device("rpi3")
    assert (rpi3.cores.value, rpi3.clock_ghz.value, rpi3.ram_mib.value) == (4, 1.2, 1024)
    assert rpi3.cores.confirmed and rpi3.clock_ghz.confirmed and rpi3.ram_mib.confirmed
    assert not rpi3.flops_per_cycle.confirmed and rpi3.flops_per_cycle.range == (4, 8)
    assert rpi3.peak_gflops == pytest.approx(4 * 1.2 * 4)
    for name in ("flops_per_cycle", "memory_bandwidth_gbs", "idle_power_w", "load_power_w"):
        assert getattr(rpi3, name).source
    assert rpi3.threads == 4


def test_override_is_recorded_as_an_unconfirmed_user_figure():
    board = create_device("rpi4", ram_mib=8192)
    assert board.ram_mib.value == 8192
    assert board.ram_mib.source == "user override" and not board.ram_mib.confirmed
    with pytest.raises(InputError, match="no field"):
        create_device("rpi4", ram_gb=8)


def test_unknown_device_names_the_known_ones():
    with pytest.raises(InputError, match="rpi3"):
        create_device("pi-zero")


def test_user_yaml_profile_loads_and_a_bad_one_names_the_field(tmp_path):
    good = tmp_path / "board.yaml"
    good.write_text(create_device("rpi3").model_copy(update={"name": "myboard"})
                    .model_dump_json())
    assert resolve_device(good).name == "myboard"
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: x\ndescription: d\ncpu: c\ncores: {value: four, source: s}\n")
    with pytest.raises(InputError, match=r"bad\.yaml.*cores\.value"):
        load_device(bad)


def test_host_is_read_from_the_machine_and_peaks_stay_unknown_until_measured():
    host = create_device("host")
    assert host.cores.value == len(os.sched_getaffinity(0))
    assert host.ram_mib.value > 0
    assert host.peak_gflops is None and host.memory_bandwidth_gbs.value is None
    calibrated = measure_peaks(host, seconds=0.05)
    assert calibrated.peak_gflops > 0 and calibrated.memory_bandwidth_gbs.value > 0
    assert "micro-benchmark" in calibrated.memory_bandwidth_gbs.source
