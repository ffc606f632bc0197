"""Verify that a built dataset keeps its splits patient-disjoint and, for an official-split build, that
every official MIMIC-CXR test patient is in imax's test split."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path

import polars as pl

from imax.schema.errors import ImaxError, MissingPathError

SPLIT_FILE_RE = re.compile(r"mimic-cxr-2\.\d\.\d-split\.csv(?:\.gz)?$")


@dataclass
class LeakageReport:
    """What :func:`check_leakage` found; ``ok`` is True only when nothing leaked."""

    patients: dict[str, list[int]] = field(default_factory=dict)
    """split ("train" | "val") → test patients that also appear there."""
    images: dict[str, list[str]] = field(default_factory=dict)
    """split → test images (dicom_id) that also appear there."""
    train_val_patients: list[int] = field(default_factory=list)
    """Patients in both train and val."""
    mismatched: list[str] = field(default_factory=list)
    """dicom_ids whose subject_id or split differs between entries.parquet and images.parquet."""
    split_kind: str | None = None
    """The build's split (stats.json ``split.kind``): official | hash; None for an older build."""
    official_split_file: str | None = None
    """The official split file checked against (None: not checked)."""
    official_test_outside_test: dict[str, list[int]] = field(default_factory=dict)
    """split ("train" | "val") → official-test patients the build put there."""
    notes: list[str] = field(default_factory=list)
    """What could not be checked, and why."""

    @property
    def ok(self) -> bool:
        return not (any(self.patients.values()) or any(self.images.values()) or self.mismatched
                    or self.train_val_patients or any(self.official_test_outside_test.values()))


def _recorded_split_file(root: Path) -> Path | None:
    """The official split file named in the build's manifest inputs, when it still exists."""
    manifest = root / "manifest.json"
    if not manifest.is_file():
        return None
    for item in json.loads(manifest.read_text()).get("inputs", []):
        path = Path(item.get("path", ""))
        if SPLIT_FILE_RE.search(path.name) and path.is_file():
            return path
    return None


def official_test_patients(path: Path) -> set[int]:
    """subject_ids with an official ``test`` row in a MIMIC-CXR split file (read independently of the
    build's reader: rows that do not parse are skipped here, the build quarantined them)."""
    try:
        df = pl.read_csv(path, infer_schema=False, columns=["subject_id", "split"])
    except Exception as exc:
        raise ImaxError(f"{path}: cannot read the official split file: {str(exc).splitlines()[0]}") from None
    test = df.filter(pl.col("split").str.strip_chars() == "test")["subject_id"]
    return set(test.str.strip_chars().str.replace(r"\.0+$", "").cast(pl.Int64, strict=False).drop_nulls().to_list())


def check_leakage(root: Path, official_split: Path | None = None) -> LeakageReport:
    """Check ``root/entries.parquet`` (and ``images.parquet`` when present) for split leakage.

    ``official_split``: a ``mimic-cxr-2.0.0-split.csv.gz`` to check against; default: the one in the
    build's manifest, for a build whose stats.json says the official split was used."""
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
    report.train_val_patients = sorted(
        set(entries.filter(pl.col("split") == "train")["subject_id"].unique().to_list())
        & set(entries.filter(pl.col("split") == "val")["subject_id"].unique().to_list())
    )
    images_path = root / "images.parquet"
    images = None
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
    stats_path = root / "stats.json"
    if stats_path.is_file():
        report.split_kind = (json.loads(stats_path.read_text()).get("split") or {}).get("kind")
    if official_split is None and report.split_kind == "official":
        official_split = _recorded_split_file(root)
        if official_split is None:
            report.notes.append("official split not re-checked: the split file named in manifest.json is gone "
                                "(pass --official-split PATH)")
    if official_split is not None:
        if not Path(official_split).is_file():
            raise MissingPathError(f"{official_split} not found: the official split file to check against")
        report.official_split_file = str(official_split)
        official = official_test_patients(Path(official_split))
        rows = entries if images is None else pl.concat([entries, images])
        for split in ("train", "val"):
            here = set(rows.filter(pl.col("split") == split)["subject_id"].unique().to_list())
            report.official_test_outside_test[split] = sorted(here & official)
    return report
