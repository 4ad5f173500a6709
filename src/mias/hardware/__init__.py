"""Hardware model: device profiles, latency measurement, latency tables, predictors.

Importing this package needs only numpy, onnxruntime, pyyaml and pydantic (the light
install on a board); exporting blocks (`mias.hardware.export`) is the only part that
needs torch.
"""

from mias.hardware.devices import (
    DeviceProfile,
    Spec,
    create_device,
    list_devices,
    load_device,
    register_device,
    resolve_device,
)
from mias.hardware.energy import predict_energy
from mias.hardware.figures import Figure
from mias.hardware.host import host_device, measure_peaks
from mias.hardware.lut import Correction, LatencyTable, LutEntry, lut_path
from mias.hardware.machine import MachineFingerprint, Platform, this_machine
from mias.hardware.memory import MemoryEstimate, predict_memory
from mias.hardware.predictors import (
    LatencyPredictor,
    create_predictor,
    default_predictor,
    list_predictors,
    register_predictor,
)
from mias.hardware.profiler import measure_latency, profile_bundle, profile_space
from mias.hardware.timing import Timing, TimingPolicy, time_model

__all__ = [
    "Correction",
    "DeviceProfile",
    "Figure",
    "LatencyPredictor",
    "LatencyTable",
    "LutEntry",
    "MachineFingerprint",
    "MemoryEstimate",
    "Platform",
    "Spec",
    "Timing",
    "TimingPolicy",
    "create_device",
    "create_predictor",
    "default_predictor",
    "host_device",
    "list_devices",
    "list_predictors",
    "load_device",
    "lut_path",
    "measure_latency",
    "measure_peaks",
    "predict_energy",
    "predict_memory",
    "profile_bundle",
    "profile_space",
    "register_device",
    "register_predictor",
    "resolve_device",
    "this_machine",
    "time_model",
]
