"""Operator selection on the three task kinds: candidates, depths, reasons."""

from __future__ import annotations

import itertools
import math

import pytest

from mias.errors import InputError
from mias.records import TaskSpec
from mias.space import SearchSpace, select_search_space
from mias.space.geometry import plan_stages


def whats(space: SearchSpace) -> list[str]:
    return [n.what for n in space.exclusions]


def reason(space: SearchSpace, what: str) -> str:
    return next(n.reason for n in space.exclusions if n.what == what)


def kernels(space: SearchSpace, layer: str) -> set[tuple[int, ...]]:
    return {c.kernel for c in space.candidates(layer)}


def test_isotropic_3d_segmentation(tasks) -> None:
    space = select_search_space(tasks["hippocampus"]())
    assert space.depths == (1, 2, 3)
    assert [s.shape for s in space.stages] == [(40, 56, 40), (20, 28, 20), (10, 14, 10),
                                               (5, 7, 5)]
    assert len(space.decoder) == 3
    for layer in space.layer_names():
        assert kernels(space, layer) <= {(3, 3, 3), (5, 5, 5)}
        assert {c.norm for c in space.candidates(layer)} == {"instance"}
        assert 4 <= len(space.candidates(layer)) <= 16
    assert {c.op for c in space.encoder[0]} == {"conv", "dwsep", "mbconv", "resblock",
                                                "dilated"}
    assert {c.width for c in space.encoder[2]} == {32, 64}
    assert "isotropic" in reason(space, "anisotropic kernels")
    assert "5×7×5" in reason(space, "depth > 3")
    assert "decoder (up-sampling path)" not in whats(space)
    assert 100 <= len(space.all_block_configs()) <= 400


def test_small_isotropic_input_drops_large_kernels_at_depth(tasks) -> None:
    space = select_search_space(tasks["hippocampus"]((16, 24, 16)))
    assert space.depths == (1, 2)
    assert kernels(space, "enc2") == {(3, 3, 3)}
    assert "dilated" not in {c.op for c in space.encoder[2]}
    assert (5, 5, 5) in kernels(space, "enc1")
    assert reason(space, "mbconv e6 k5 SE at enc2") == (
        "excluded: the 4×6×4 feature map is smaller than the kernel's 5-voxel extent")


def test_anisotropic_3d_segmentation(tasks) -> None:
    space = select_search_space(tasks["anisotropic"]())
    # RAS: the third axis (3.0 mm) is coarse; it is not halved until the others catch up.
    assert [s.stride for s in space.stages] == [(1, 1, 1), (2, 2, 1), (2, 2, 2), (2, 2, 1)]
    assert [s.shape for s in space.stages] == [(56, 56, 14), (28, 28, 14), (14, 14, 7),
                                               (7, 7, 7)]
    assert space.depths == (1, 2, 3)
    assert (3, 3, 1) in kernels(space, "enc0") and (3, 3, 1) in kernels(space, "dec0")
    assert (3, 3, 3) in kernels(space, "enc0")
    for layer in ("enc1", "enc2", "enc3", "dec1", "dec2"):
        assert all(1 not in k for k in kernels(space, layer))
    assert "within 2×" in reason(space, "anisotropic kernels at stages 1, 2, 3")
    assert len(space.all_block_configs()) <= 400


def test_2d_classification(tasks) -> None:
    space = select_search_space(tasks["xray"]())
    assert space.decoder == () and not space.has_decoder
    assert "pruned" in reason(space, "decoder (up-sampling path)")
    assert space.depths == (2, 3, 4)
    assert "capped at 4" in reason(space, "depth > 4")
    assert "128×128" in reason(space, "depth < 2")
    assert {c.norm for cands in space.encoder for c in cands} == {"batch"}
    assert "global intensity" in reason(space, "instance norm")
    assert {c.width for c in space.encoder[4]} == {256}
    assert "256 offered instead" in reason(space, "width 512 at stage 4")
    assert all(len(c.kernel) == 2 for cands in space.encoder for c in cands)
    heads = [c for c in space.all_block_configs() if c.role == "head"]
    assert heads and all(h.pooled and h.out_channels == 2 for h in heads)


def test_regression_has_one_output() -> None:
    task = TaskSpec("regression", 3, 1, (32, 32, 32), 1, ("volume",), "MR", (1.0, 1.0, 1.0),
                    target_metric="mae")
    space = select_search_space(task)
    assert space.out_channels == 1 and not space.decoder


def test_every_stage_divides_exactly(tasks) -> None:
    for task in [*(make() for make in tasks.values()), tasks["hippocampus"]((48, 64, 48))]:
        stages = plan_stages(task.input_shape, task.spacing, 8)
        for before, after in itertools.pairwise(stages):
            assert all(n == m * s for n, m, s in zip(before.shape, after.shape, after.stride,
                                                     strict=True))
            assert min(after.shape) >= 4


def test_large_volume_is_bounded_by_device_memory() -> None:
    task = TaskSpec("segmentation", 3, 4, (128, 128, 128), 4,
                    ("background", "edema", "non-enhancing", "enhancing"), "MR",
                    (1.0, 1.0, 1.0))
    space = select_search_space(task)
    assert len(space.decoder[0]) == 1
    assert any("no candidate fits" in n.reason for n in space.exclusions)
    assert all("mbconv" not in c.op for c in space.encoder[0])


def test_every_exclusion_has_a_reason(tasks) -> None:
    for make in tasks.values():
        task = make()
        d = select_search_space(task).to_dict()
        assert d["exclusions"]
        for note in d["exclusions"]:
            assert set(note) == {"what", "reason"} and note["what"]
            assert len(note["reason"]) > 20


def test_input_too_small_is_an_input_error(tasks) -> None:
    with pytest.raises(InputError, match="cannot be down-sampled"):
        select_search_space(tasks["hippocampus"]((7, 7, 7)))


def test_space_sizes_are_practical(tasks) -> None:
    for make in tasks.values():
        space = select_search_space(make())
        assert 1e4 < space.size() < 1e9
        assert math.prod(len(c) for c in space.encoder) > 1


@pytest.mark.parametrize("name", ["hippocampus", "anisotropic"])
def test_the_space_holds_an_nnunet_like_member_and_names_it(tasks, name) -> None:
    from mias.space.geometry import coarse_axes
    from mias.space.selection import nnunet_like

    space = select_search_space(tasks[name]())
    member = nnunet_like(space)
    space.check(member)
    assert member.depth == len(space.stages) - 1 == space.max_depth
    for layer, block in member.layers.items():
        coarse = coarse_axes(space.stages[int(layer[3:])])
        assert (block.op, block.layers, block.residual) == ("conv", 2, False)
        assert block.kernel == tuple(1 if a in coarse else 3 for a in range(3))
        assert block.width == max(c.width for c in space.candidates(layer))
    (note,) = [n for n in space.decisions if n.what == "nnU-Net-like member"]
    assert note.reason.startswith(member.id)
