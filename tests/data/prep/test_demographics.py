import json

import numpy as np
import pytest

from mias.data.demographics import age_bin, analyse, render_html
from mias.data.label_stats import label_statistics

NAMES = ("background", "anterior", "posterior")


@pytest.fixture
def crafted(make_record):
    """20 MR cases: ages 40-78 (2 imputed), 1 unknown sex, 17 of 20 from one maker, one 3 T."""
    records, stats = [], {}
    for i in range(20):
        imputed = {"age": "median"} if i < 2 else {}
        maker = "SIEMENS" if i < 17 else "GE"
        sex = "unknown" if i == 19 else "MF"[i % 2]
        rec = make_record(
            f"case{i:03d}",
            age=40.0 + 2 * i,
            sex=sex,
            imputed=imputed,
            attributes={"manufacturer": maker, "field_strength": 3.0},
            nonfinite_voxels=5 if i == 3 else 0,
        )
        label = np.zeros((8, 8, 8), np.uint8)
        label[: 1 + i % 4, :2, :2] = 1
        label[6:, 6:, :2] = 2
        stats[rec.case_id] = label_statistics(label, (1.0, 1.0, 1.0), NAMES)
        records.append(rec)
    return records, stats


def test_age_bins():
    assert [age_bin(a) for a in (None, 3, 18, 39.9, 40, 64.5, 65, 90)] == [
        "unknown",
        "<18",
        "18-39",
        "18-39",
        "40-64",
        "40-64",
        ">=65",
        ">=65",
    ]


def test_counts_and_imputed_rates(crafted):
    records, stats = crafted
    report = analyse(records, kind="segmentation", label_names=NAMES, label_stats=stats)
    assert report["n_cases"] == 20 and report["n_subjects"] == 20
    assert report["sex"]["counts"] == {"M": 10, "F": 9, "unknown": 1}
    assert report["age"]["bins"] == {"<18": 0, "18-39": 0, "40-64": 13, ">=65": 7, "unknown": 0}
    assert report["age"]["min"] == 40 and report["age"]["max"] == 78
    assert sum(report["age"]["histogram"]["counts"]) == 20
    assert report["acquisition"]["manufacturer"] == {"SIEMENS": 17, "GE": 3}
    assert report["missing"]["age"] == {
        "missing": 2,
        "missing_rate": 0.1,
        "imputed": 2,
        "imputed_rate": 0.1,
        "rules": {"median": 2},
    }
    assert report["missing"]["sex"]["missing_rate"] == pytest.approx(0.05)
    assert report["nonfinite"] == {"cases": 1, "voxels": 5}
    assert report["generality"]["field_strength"]["entropy"] == 0.0
    assert 0 < report["generality"]["age"]["entropy"] < 1
    assert report["generality"]["sex"]["coverage"] == pytest.approx(0.95)
    volumes = report["labels"]["by_sex"]["F"]
    assert volumes["posterior"] == pytest.approx(8 / 1000)
    json.dumps(report)


def test_findings_in_plain_language(crafted):
    records, stats = crafted
    findings = analyse(records, kind="segmentation", label_names=NAMES, label_stats=stats)[
        "findings"
    ]
    text = "\n".join(findings)
    assert "No patient under 18." in findings
    assert "No patient aged 18–39." in findings
    assert "85% of scans from one manufacturer (SIEMENS)." in findings
    assert "Age missing for 10% of cases (imputed by median)." in findings
    assert "Sex unknown for 5% of cases." in findings
    assert "Only one field strength (3.0 T)." in findings
    assert "5 non-finite voxels imputed in 1 cases." in findings
    assert "case0" not in text


def test_classification_balance_and_split(make_record):
    records = [
        make_record(f"c{i}", age=20.0 + i, sex="MF"[i % 2], label=int(i % 5 == 0))
        for i in range(20)
    ]
    split = {"train": [r.case_id for r in records[:15]], "val": [r.case_id for r in records[15:]]}
    report = analyse(
        records,
        kind="classification",
        label_names=("normal", "tumour"),
        label_stats={},
        split=split,
    )
    assert report["labels"]["counts"] == {"normal": 16, "tumour": 4}
    assert report["labels"]["by_sex"]["F"] == {"normal": 0.8, "tumour": 0.2}
    assert report["split"]["val"]["cases"] == 5
    assert "Class 'tumour' is only 20% of cases." in report["findings"]
    assert "Field strength is not recorded" in " ".join(report["findings"])


def test_regression_means_by_group(make_record):
    records = [make_record(f"c{i}", age=70.0, sex="M", label=float(i)) for i in range(4)]
    report = analyse(records, kind="regression", label_names=("volume",), label_stats={})
    assert report["labels"]["by_age_bin"][">=65"]["volume"] == pytest.approx(1.5)
    assert "Only male patients." in report["findings"]


def test_html_is_self_contained_with_findings_and_figures(crafted, tmp_path):
    records, stats = crafted
    report = analyse(
        records,
        kind="segmentation",
        label_names=NAMES,
        label_stats=stats,
        split={
            "train": [r.case_id for r in records[:16]],
            "val": [r.case_id for r in records[16:]],
        },
    )
    path = render_html(report, tmp_path / "out" / "demographics.html")
    html = path.read_text(encoding="utf-8")
    assert html.count("<img") >= 5 and "data:image/png;base64," in html
    assert "No patient under 18." in html
    assert html.index("No patient under 18.") < html.index("<img")
    assert "case0" not in html and "sub-" not in html
    assert not [p for p in path.parent.iterdir() if p.name.startswith(".")]
