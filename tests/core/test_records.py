"""The shared record types round-trip exactly and refuse impossible values."""

import json

import pytest

from mias.records import CaseRecord, TaskSpec
from mias.space.architecture import Architecture, BlockChoice


def _case() -> CaseRecord:
    return CaseRecord(
        case_id="hippocampus_001", subject_id="s1",
        image_files=("imagesTr/hippocampus_001.nii.gz",),
        modality="MR", spacing=(1.0, 1.0, 1.0), shape=(35, 50, 35), age=45.0, sex="F",
        attributes={"manufacturer": None}, imputed={"manufacturer": "unknown (no sound rule)"},
    )


def test_case_record_round_trips_through_json():
    rec = _case()
    again = CaseRecord.from_dict(json.loads(json.dumps(rec.to_dict())))
    assert again == rec


def test_case_record_rejects_unknown_sex():
    with pytest.raises(ValueError, match="sex"):
        CaseRecord(case_id="a", subject_id="a", image_files=(), modality="MR", spacing=(1.0,),
                   shape=(4,), sex="female")


def test_task_spec_round_trips_and_validates_axes():
    spec = TaskSpec(kind="segmentation", spatial_dims=3, in_channels=1, input_shape=(40, 56, 40),
                    num_classes=3, label_names=("background", "anterior", "posterior"),
                    modality="MR", spacing=(1.0, 1.0, 1.0))
    assert TaskSpec.from_dict(json.loads(json.dumps(spec.to_dict()))) == spec
    with pytest.raises(ValueError, match="one entry per spatial axis"):
        TaskSpec(kind="classification", spatial_dims=2, in_channels=1, input_shape=(64, 64, 1),
                 num_classes=2, label_names=("no", "yes"), modality="CR", spacing=(1.0, 1.0))
    with pytest.raises(ValueError, match="task kind"):
        TaskSpec(kind="detection", spatial_dims=2, in_channels=1, input_shape=(64, 64),
                 num_classes=2, label_names=("no", "yes"), modality="CR", spacing=(1.0, 1.0))


def _arch() -> Architecture:
    a = BlockChoice(op="conv", kernel=(3, 3, 3), width=16)
    b = BlockChoice(op="mbconv", kernel=(1, 3, 3), width=32, expansion=3, layers=2,
                    residual=True, se=True)
    return Architecture(depth=1, encoder=(a, b), decoder=(a,))


def test_architecture_is_hashable_and_round_trips_with_a_stable_id():
    arch = _arch()
    again = Architecture.from_dict(json.loads(json.dumps(arch.to_dict())))
    assert again == arch and hash(again) == hash(arch)
    assert again.id == arch.id and len(arch.id) == 12
    assert {arch, again} == {arch}
    assert list(arch.layers) == ["enc0", "enc1", "dec0"]


def test_architecture_id_changes_with_any_choice():
    arch = _arch()
    other = Architecture(depth=1, encoder=arch.encoder, decoder=(arch.encoder[1],))
    assert other.id != arch.id


def test_architecture_checks_layer_counts():
    a = BlockChoice(op="conv", kernel=(3, 3), width=8)
    with pytest.raises(ValueError, match="encoder needs"):
        Architecture(depth=2, encoder=(a, a))
    with pytest.raises(ValueError, match="decoder needs"):
        Architecture(depth=1, encoder=(a, a), decoder=(a, a))


def test_block_choice_key_is_canonical():
    b = BlockChoice(op="mbconv", kernel=(1, 3, 3), width=32, expansion=3, layers=2,
                    residual=True, se=True)
    assert b.key == "mbconv_k1x3x3_e3_w32_l2_res_se_instance_relu"
