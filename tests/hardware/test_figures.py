"""Every figure says whether it was measured, predicted or estimated, and by what."""

import pytest

from mias.hardware import Figure


def test_measured_label_names_device_runtime_and_threads():
    fig = Figure(value=3.2, unit="ms", source="measured", device="host",
                 runtime="onnxruntime 1.32.0 CPU", threads=2)
    assert fig.label == "measured on host (onnxruntime 1.32.0 CPU, 2 threads)"


def test_predicted_and_estimated_labels_name_their_model():
    lut = Figure(value=3.0, unit="ms", source="predicted", device="host", model="lut-sum(host)",
                 basis="LUT sum of measured blocks")
    roof = Figure(value=1.0, unit="ms", source="estimated", device="rpi3",
                  model="roofline(rpi3)")
    assert lut.label == "predicted (LUT sum of measured blocks, host)"
    assert roof.label == "estimated (roofline(rpi3), rpi3)"


def test_an_estimate_without_a_model_and_an_unknown_source_are_refused():
    with pytest.raises(ValueError, match="model"):
        Figure(value=1.0, unit="ms", source="estimated", device="rpi3")
    with pytest.raises(ValueError, match="source"):
        Figure(value=1.0, unit="ms", source="guessed", device="rpi3", model="x")


def test_round_trip_drops_nothing():
    fig = Figure(value=2.5, unit="mJ", source="estimated", device="rpi3",
                 model="latency×power(rpi3)", basis="b")
    assert Figure.from_dict(fig.to_dict()) == fig
    assert fig.to_dict()["source"] == "estimated"
