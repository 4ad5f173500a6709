"""Machine fingerprints: what timed a table, and whether it is the device the table names."""

import platform

import pytest

from mias.errors import InputError
from mias.hardware import create_device, this_machine
from mias.hardware.machine import (
    available_cores,
    cpu_model,
    require_this_machine,
    resolve_threads,
)

from .conftest import PI3, WORKSTATION

ON_A_PI3 = platform.machine() in ("aarch64", "armv7l") and "Cortex-A53" in cpu_model()


def test_fingerprint_records_arch_cpu_cores_os_runtimes_and_threads():
    here = this_machine(threads=1)
    assert here.arch and here.cpu_model and here.os and here.python
    assert here.cores == available_cores() and here.threads == 1
    assert set(here.runtimes) == {"onnxruntime", "numpy"}


def test_a_pi3_is_recognised_from_its_cpuinfo(pretend_pi3):
    pi = this_machine(threads=4)
    assert (pi.arch, pi.cpu_model, pi.board) == ("aarch64", "Cortex-A53",
                                                 "Raspberry Pi 3 Model B Rev 1.2")
    assert pi.matches(create_device("rpi3").runs_on)
    assert not pi.matches(create_device("rpi4").runs_on)
    assert require_this_machine("rpi3", create_device("rpi3").runs_on).cpu_model == "Cortex-A53"


def test_boards_state_what_they_run_on_and_the_host_is_this_machine():
    assert PI3.matches(create_device("rpi3").runs_on)
    assert not WORKSTATION.matches(create_device("rpi3").runs_on)
    assert this_machine(threads=1).matches(create_device("host").runs_on)


@pytest.mark.skipif(ON_A_PI3, reason="this machine is a Raspberry Pi 3")
def test_timing_for_rpi3_elsewhere_is_refused_with_the_board_flow_as_advice():
    with pytest.raises(InputError) as err:
        require_this_machine("rpi3", create_device("rpi3").runs_on)
    message = err.value.message
    assert "is not a rpi3" in message and "Cortex-A53" in message
    assert "--export-blocks" in message and "mias profile --import DIR --target rpi3" in message
    assert "--target host" in message


def test_a_profile_without_runs_on_cannot_be_timed():
    with pytest.raises(InputError, match="runs_on"):
        require_this_machine("myboard", None)


def test_threads_default_to_the_device_but_never_exceed_this_machine():
    cores = available_cores()
    assert resolve_threads(None, cores + 4) == cores
    assert resolve_threads(1, 4) == 1
    with pytest.raises(InputError, match=f"exceeds the {cores} cores"):
        resolve_threads(cores + 1, 4)
