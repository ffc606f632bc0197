"""Verify that a built dataset keeps test patients (and test images) out of train and val."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import polars as pl

from imax.schema.errors import MissingPathError


@dataclass
class LeakageReport:
    """What :func:`check_leakage` found; ``ok`` is True only when nothing leaked."""

    patients: dict[str, list[int]] = field(default_factory=dict)
    """split ("train" | "val") → test patients that also appear there."""
    images: dict[str, list[str]] = field(default_factory=dict)
    """split → test images (dicom_id) that also appear there."""
    mismatched: list[str] = field(default_factory=list)
    """dicom_ids whose subject_id or split differs between entries.parquet and images.parquet."""

    @property
    def ok(self) -> bool:
        return not (any(self.patients.values()) or any(self.images.values()) or self.mismatched)


def check_leakage(root: Path) -> LeakageReport:
    """Check ``root/entries.parquet`` (and ``images.parquet`` when present) for split leakage."""
    root = Path(root)
    path = root / "entries.parquet"
    if not path.is_file():
        raise MissingPathError(f"{path} not found: not a built dataset directory (imax build --out)")
    entries = pl.read_parquet(path, columns=["dicom_id", "subject_id", "split"])
    report = LeakageReport()
    test = entries.filter(pl.col("split") == "test")
    for split in ("train", "val"):
        other = entries.filter(pl.col("split") == split)
        report.patients[split] = sorted(
            set(test["subject_id"].unique().to_list()) & set(other["subject_id"].unique().to_list())
        )
        report.images[split] = sorted(
            set(test["dicom_id"].unique().to_list()) & set(other["dicom_id"].unique().to_list())
        )
    images_path = root / "images.parquet"
    if images_path.is_file():
        images = pl.read_parquet(images_path, columns=["dicom_id", "subject_id", "split"])
        both = entries.unique(["dicom_id", "subject_id", "split"]).join(
            images, on="dicom_id", how="left", suffix="_img"
        )
        bad = both.filter(
            (pl.col("subject_id") != pl.col("subject_id_img"))
            | (pl.col("split") != pl.col("split_img"))
            | pl.col("split_img").is_null()
        )
        report.mismatched = sorted(bad["dicom_id"].unique().to_list())
    return report
