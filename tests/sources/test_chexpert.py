"""CheXpert labels: study → frontal images, value codes, uncertainty policy, NegBio alternative."""

from __future__ import annotations

from pathlib import Path

import pytest

from imax.schema.config.sources import SourcesConfig
from imax.sources import read_sources

from ._util import A, B, C, D, E, quarantine_of, rows_of


def _labels(tables) -> dict[str, list[str]]:  # type: ignore[no-untyped-def]
    return {r["dicom_id"]: r["answer"]["labels"] for r in rows_of(tables, "chexpert")}


def test_labels_and_fan_out(mini_tables) -> None:  # type: ignore[no-untyped-def]
    rows = rows_of(mini_tables, "chexpert")
    labels = {r["dicom_id"]: r["answer"]["labels"] for r in rows}
    assert labels == {
        A: ["No Finding"],  # B (lateral) of the same study gets nothing
        C: ["Pleural Effusion"],
        D: ["Atelectasis", "Support Devices"],
        E: ["Atelectasis", "Support Devices"],
    }
    assert B not in labels
    r = next(r for r in rows if r["dicom_id"] == D)
    assert r["task"] == "multilabel" and r["query"] == {"label_space": "chexpert14"}
    assert r["meta"] == {
        "file": "mimic-cxr-jpg/2.0.0/mimic-cxr-2.0.0-chexpert.csv.gz",
        "line": 4,
        "labeler": "chexpert",
        "level": "study",
        "uncertain": ["Cardiomegaly"],
        "policy": "ignore",
    }


def test_quarantine_reasons(mini_tables) -> None:  # type: ignore[no-untyped-def]
    q = quarantine_of(mini_tables, "chexpert.csv.gz")
    assert q[5] == ("study_id", "study has no frontal image in metadata")
    assert q[6] == ("study_id", "study_id not in metadata")  # its only image was quarantined
    assert q[7][0] == "study_id" and q[8] == ("Edema", "value not in [-1.0, 0.0, 1.0] or blank")


@pytest.mark.parametrize(
    ("policy", "want_d", "want_c"),
    [
        (
            "positive",
            ["Atelectasis", "Cardiomegaly", "Support Devices"],
            ["Pleural Effusion", "Pneumothorax"],
        ),
        ("negative", ["Atelectasis", "Support Devices"], ["Pleural Effusion"]),
    ],
)
def test_uncertainty_policy(mini_root: Path, policy: str, want_d: list[str], want_c: list[str]) -> None:
    t = read_sources(mini_root, SourcesConfig(only=("chexpert",), uncertainty_policy=policy))  # type: ignore[arg-type]
    labels = _labels(t)
    assert labels[D] == want_d and labels[C] == want_c
    assert rows_of(t, "chexpert")[0]["meta"]["policy"] == policy


def test_negbio_labeler(mini_root: Path) -> None:
    t = read_sources(mini_root, SourcesConfig(only=("chexpert",), chexpert_labeler="negbio"))
    rows = rows_of(t, "chexpert")
    assert [(r["dicom_id"], r["answer"]["labels"], r["meta"]["labeler"]) for r in rows] == [
        (A, ["Edema"], "negbio")
    ]


def test_fallback_to_negbio_when_chexpert_absent(fresh_root: Path) -> None:
    (fresh_root / "mimic-cxr-jpg/2.0.0/mimic-cxr-2.0.0-chexpert.csv.gz").unlink()
    t = read_sources(fresh_root, SourcesConfig(only=("chexpert",)))
    assert {r["meta"]["labeler"] for r in rows_of(t, "chexpert")} == {"negbio"}
