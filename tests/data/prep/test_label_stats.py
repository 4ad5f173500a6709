import numpy as np
import pytest

from mias.data.label_stats import label_statistics


def test_volumes_of_a_known_mask():
    label = np.zeros((10, 10, 10), np.uint8)
    label[:2, :5, :5] = 1  # 50 voxels
    label[5:, :, :2] = 2  # 100 voxels
    stats = label_statistics(label, (1.0, 2.0, 3.0), ["background", "anterior", "posterior"])
    assert stats["size_key"] == "volume_ml"
    assert stats["structures"]["anterior"] == {
        "label": 1,
        "voxels": 50,
        "volume_ml": pytest.approx(0.3),
        "fraction": pytest.approx(0.05),
    }
    assert stats["structures"]["posterior"]["volume_ml"] == pytest.approx(0.6)
    assert stats["foreground_voxels"] == 150
    assert stats["foreground_volume_ml"] == pytest.approx(0.9)
    assert stats["foreground_fraction"] == pytest.approx(0.15)
    assert stats["unnamed_labels"] == []


def test_names_without_background_and_unnamed_values():
    label = np.zeros((4, 4), np.int16)
    label[0, :2] = 1
    label[3, 3] = 7
    stats = label_statistics(label, (0.5, 0.5), ["lesion"])
    assert stats["size_key"] == "area_cm2"
    assert stats["structures"]["lesion"]["area_cm2"] == pytest.approx(2 * 0.25 / 100)
    assert stats["unnamed_labels"] == [7]
    assert stats["foreground_voxels"] == 3


def test_absent_structure_counts_zero():
    stats = label_statistics(np.zeros((3, 3, 3), np.uint8), (1, 1, 1), ["background", "tumour"])
    assert stats["structures"]["tumour"]["voxels"] == 0
    assert stats["foreground_fraction"] == 0.0
