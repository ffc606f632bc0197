"""``imax check-leakage DIR``: exit 1 and list the offending patients when test patients leaked."""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path


@dataclass
class Config:
    """Check one built dataset directory."""

    dir: Path = Path("data/imax")
    """Built dataset directory (``imax build --out``)."""
    official_split: Path | None = None
    """MIMIC-CXR split file (mimic-cxr-2.0.0-split.csv.gz) whose test patients must all be in the build's
    test split. Default: for an official-split build, the file named in its manifest.json."""


HELP = ("Verify that a built dataset's splits are patient-disjoint (no test patient or image in train or val) "
        "and, for an official-split build, that every official test patient is in its test split.")
POSITIONAL = ("dir",)


def _show(ids: list, n: int = 50) -> str:
    return ", ".join(map(str, ids[:n])) + (" ..." if len(ids) > n else "")


def run(cfg: Config) -> int:
    from imax.builders import check_leakage

    report = check_leakage(cfg.dir, cfg.official_split)
    for note in report.notes:
        print(f"note: {note}", file=sys.stderr)
    if report.ok:
        official = (f"; every official test patient of {report.official_split_file} is in test"
                    if report.official_split_file else "")
        print(f"{cfg.dir}: no leakage (split {report.split_kind or 'unknown'}: test patients and images are "
              f"disjoint from train and val, train and val share no patient{official})")
        return 0
    for split, patients in report.patients.items():
        if patients:
            print(f"LEAK: {len(patients)} test patients also in {split}: {_show(patients)}", file=sys.stderr)
    for split, images in report.images.items():
        if images:
            print(f"LEAK: {len(images)} test images also in {split}: {_show(images, 10)}", file=sys.stderr)
    if report.train_val_patients:
        print(f"LEAK: {len(report.train_val_patients)} patients in both train and val: "
              f"{_show(report.train_val_patients)}", file=sys.stderr)
    for split, patients in report.official_test_outside_test.items():
        if patients:
            print(f"LEAK: {len(patients)} official test patients ({report.official_split_file}) in {split}: "
                  f"{_show(patients)}", file=sys.stderr)
    if report.mismatched:
        print(f"MISMATCH: {len(report.mismatched)} images disagree between entries.parquet and images.parquet "
              f"(subject or split): {', '.join(report.mismatched[:10])}", file=sys.stderr)
    return 1
