"""``imax check-leakage``: clean builds pass; an injected test patient in train is found and named."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import polars as pl
import pytest

from imax.builders import check_leakage
from imax.cli import main
from imax.schema.errors import MissingPathError


def _copy(built: dict[str, Any], tmp_path: Path) -> Path:
    dst = tmp_path / "copy"
    shutil.copytree(built["imax"].out, dst)
    return dst


def test_clean_build_passes_cli(built: dict[str, Any], capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["check-leakage", str(built["imax"].out)]) == 0
    assert "no leakage" in capsys.readouterr().out


def test_injected_leak_is_detected(built: dict[str, Any], tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    root = _copy(built, tmp_path)
    entries = pl.read_parquet(root / "entries.parquet")
    victim = entries.filter(pl.col("split") == "test").row(0, named=True)
    # a train entry of another image of the same test patient: a patient-level leak
    leak = entries.filter(pl.col("split") == "train").head(1).with_columns(
        pl.lit(victim["subject_id"], pl.Int64).alias("subject_id")
    )
    pl.concat([entries, leak]).write_parquet(root / "entries.parquet")
    report = check_leakage(root)
    assert not report.ok and report.patients["train"] == [victim["subject_id"]]
    assert main(["check-leakage", str(root)]) == 1
    assert str(victim["subject_id"]) in capsys.readouterr().err


def test_image_moved_between_splits_is_detected(built: dict[str, Any], tmp_path: Path) -> None:
    root = _copy(built, tmp_path)
    entries = pl.read_parquet(root / "entries.parquet")
    dicom = entries.filter(pl.col("split") == "test")["dicom_id"][0]
    moved = entries.with_columns(
        pl.when((pl.col("dicom_id") == dicom) & (pl.col("task") == pl.first("task").over("dicom_id")))
        .then(pl.lit("val")).otherwise(pl.col("split")).alias("split")
    )
    moved.write_parquet(root / "entries.parquet")
    report = check_leakage(root)
    assert dicom in report.images["val"] and dicom in report.mismatched


def test_missing_dir_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(MissingPathError):
        check_leakage(tmp_path / "nope")
    assert main(["check-leakage", str(tmp_path / "nope")]) == 2


def test_official_test_patient_outside_test_is_detected(built: dict[str, Any], tmp_path: Path,
                                                        capsys: pytest.CaptureFixture[str]) -> None:
    root = _copy(built, tmp_path)
    entries = pl.read_parquet(root / "entries.parquet")
    train_patient = int(entries.filter(pl.col("split") == "train")["subject_id"][0])
    test_patient = int(entries.filter(pl.col("split") == "test")["subject_id"][0])
    split_file = tmp_path / "mimic-cxr-2.0.0-split.csv"
    pl.DataFrame({"dicom_id": ["x", "y"], "study_id": [50_000_000, 50_000_001],
                  "subject_id": [train_patient, test_patient], "split": ["test", "test"]}).write_csv(split_file)
    report = check_leakage(root, official_split=split_file)
    assert not report.ok and report.official_test_outside_test["train"] == [train_patient]
    assert main(["check-leakage", str(root), "--official-split", str(split_file)]) == 1
    assert f"official test patients ({split_file}) in train: {train_patient}" in capsys.readouterr().err
    # a hash-split build is not held to the official split unless asked: the default check passes
    assert check_leakage(root).ok


def test_train_val_patient_overlap_is_detected(built: dict[str, Any], tmp_path: Path) -> None:
    root = _copy(built, tmp_path)
    entries = pl.read_parquet(root / "entries.parquet")
    val_patient = entries.filter(pl.col("split") == "val")["subject_id"][0]
    moved = entries.with_columns(
        pl.when(pl.arange(0, pl.len()) == entries.with_row_index().filter(pl.col("split") == "train")["index"][0])
        .then(pl.lit(val_patient, pl.Int64)).otherwise(pl.col("subject_id")).alias("subject_id"))
    moved.write_parquet(root / "entries.parquet")
    assert check_leakage(root).train_val_patients == [val_patient]
