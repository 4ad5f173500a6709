"""Predictor arithmetic on a hand-made table; registry; provenance labels."""

import numpy as np
import pytest

from mias.errors import InputError
from mias.hardware import (
    Correction,
    create_device,
    create_predictor,
    default_predictor,
    list_predictors,
    predict_memory,
)
from mias.hardware.lut import CalibrationPoint, LutEntry, boundary_melems
from mias.hardware.machine import Platform
from mias.space import network_params, peak_activation_bytes

from .conftest import WORKSTATION, timing

ROLE_MS = {"stem": 0.5, "enc": 2.0, "dec": 3.0, "head": 0.25}


@pytest.fixture
def role_table(hand_table, tiny_space):
    entries = {c.key: LutEntry(**timing(ROLE_MS[c.role]).model_dump())
               for c in tiny_space.all_block_configs()}
    return hand_table.model_copy(update={"entries": entries})


def test_registry():
    assert {"lut", "roofline"} <= set(list_predictors())
    with pytest.raises(InputError, match="roofline"):
        create_predictor("oracle")


def test_lut_sum_covers_stem_encoder_decoder_head_minus_call_overheads(role_table, tiny_space):
    arch = tiny_space.sample(np.random.default_rng(0))
    lut = create_predictor("lut", table=role_table)
    fig = lut.predict(tiny_space, arch)
    # stem + enc0 + enc1 + dec0 + head = 0.5 + 2 + 2 + 3 + 0.25 = 7.75, five calls timed
    # separately, one in the network: − 4 × 0.1 ms.
    assert fig.value == pytest.approx(7.75 - 4 * 0.1)
    assert lut.block_ms(tiny_space.stem_config()) == pytest.approx(0.5 - 0.1)
    assert (fig.source, fig.model, fig.threads) == ("predicted", "lut-sum(rpi3)", 4)
    assert fig.label == "predicted (LUT sum of measured blocks, rpi3)"


def test_correction_is_applied_and_named_only_when_chosen(role_table, tiny_space):
    arch = tiny_space.sample(np.random.default_rng(0))
    configs = tiny_space.block_configs(arch)
    point = CalibrationPoint(arch_id="x", warm_ms=1.0, cold_ms=1.0, boundaries=1,
                             measured_ms=1.0, measured=timing(1.0))
    fit = Correction(form="line+boundaries", slope=2.0, boundary_ms_per_melem=-100.0,
                     intercept_ms=-1.0, points=(point,))
    lut = create_predictor("lut", table=role_table.with_correction(fit))
    fig = lut.predict(tiny_space, arch)
    assert fig.value == pytest.approx(2.0 * 7.35 - 100.0 * boundary_melems(configs) - 1.0)
    assert "line+boundaries correction on 1 measured networks" in fig.label
    # The search sums block_ms: it differs from predict only by the fixed part.
    assert sum(lut.block_ms(c) for c in configs) + lut.fixed_ms == pytest.approx(fig.value)
    plain = create_predictor("lut", table=role_table.with_correction(fit), corrected=False)
    assert plain.predict(tiny_space, arch).value == pytest.approx(7.35)
    rejected = fit.model_copy(update={"form": "sum"})
    fig = create_predictor("lut", table=role_table.with_correction(rejected)).predict(
        tiny_space, arch)
    assert fig.value == pytest.approx(7.35) and "correction" not in fig.label


def test_chain_boundaries_and_per_boundary_costs_stay_per_block(role_table, tiny_space):
    from mias.hardware.lut import BoundaryCost

    arch = tiny_space.sample(np.random.default_rng(0))
    configs = tiny_space.block_configs(arch)
    point = CalibrationPoint(arch_id="x", warm_ms=1.0, cold_ms=1.0, boundaries=1,
                             measured_ms=1.0, measured=timing(1.0))
    table = role_table.model_copy(update={"boundary": BoundaryCost(
        per_boundary_ms=-0.05, per_melem_ms=-10.0, chains=5, residual_ms=0.0)})
    fit = Correction(chains=True, form="line+per-boundary", slope=1.0, per_boundary_ms=0.02,
                     intercept_ms=0.1, points=(point,))
    lut = create_predictor("lut", table=table.with_correction(fit))
    chain = sum(table.boundary.ms(c) for c in configs)
    expected = 7.35 + chain + 0.02 * (len(configs) - 1) + 0.1
    assert lut.predict(tiny_space, arch).value == pytest.approx(expected)
    assert sum(lut.block_ms(c) for c in configs) + lut.fixed_ms == pytest.approx(expected)


def test_default_predictor_prefers_a_table_of_the_same_device(role_table):
    assert default_predictor(create_device("rpi3"), role_table).table is role_table
    assert type(default_predictor(create_device("rpi3"))).__name__ == "RooflinePredictor"
    with pytest.raises(InputError, match="measured on 'rpi3'"):
        default_predictor(create_device("rpi4"), role_table)


def test_a_host_table_from_another_machine_is_refused(role_table):
    other = create_device("host").model_copy(update={"runs_on": Platform(
        arch=(WORKSTATION.arch,), cpu="Some Other CPU")})
    foreign = role_table.model_copy(update={"device": other, "machine": WORKSTATION.model_copy(
        update={"cpu_model": "Some Other CPU"})})
    with pytest.raises(InputError, match="not on this host"):
        default_predictor(create_device("host"), foreign)
    with pytest.raises(InputError, match="labelled 'rpi3'"):
        default_predictor(create_device("rpi3"), role_table.model_copy(
            update={"machine": WORKSTATION}))


def test_memory_is_activations_plus_weights_against_ram(tiny_space):
    arch = tiny_space.sample(np.random.default_rng(0))
    mem = predict_memory(tiny_space, arch, create_device("rpi3"))
    expected = peak_activation_bytes(tiny_space, arch) + 4 * network_params(tiny_space, arch)
    assert mem.peak.value == pytest.approx(expected / 2**20)
    assert (mem.peak.source, mem.peak.unit, mem.ram_mib) == ("estimated", "MiB", 1024)
    assert mem.fits and mem.share_of_ram == pytest.approx(mem.peak.value / 1024)
