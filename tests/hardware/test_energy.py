"""Energy = latency × power, measured only when both inputs were measured."""

import pytest

from mias.errors import InputError
from mias.hardware import Figure, create_device, predict_energy

MEASURED = Figure(value=10.0, unit="ms", source="measured", device="rpi3",
                  runtime="onnxruntime 1.32.0 CPU", threads=4)


def test_energy_from_the_profiles_load_power_is_an_estimate():
    energy = predict_energy(MEASURED, create_device("rpi3"))
    assert energy.value == pytest.approx(56.0) and energy.unit == "mJ"
    assert energy.source == "estimated" and energy.model == "latency×power(rpi3)"
    assert "5.6 W" in energy.basis and "measured on rpi3" in energy.basis


def test_energy_from_a_power_meter_and_a_measured_latency_is_measured():
    meter = Figure(value=3.0, unit="W", source="measured", device="rpi3")
    energy = predict_energy(MEASURED, create_device("rpi3"), power=meter)
    assert (energy.value, energy.source) == (pytest.approx(30.0), "measured")


def test_a_device_without_power_figures_says_how_to_fix_it():
    with pytest.raises(InputError, match="load_power_w"):
        predict_energy(MEASURED, create_device("host"))
