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


HELP = "Verify that no test patient or test image of a built dataset appears in train or val."
POSITIONAL = ("dir",)


def run(cfg: Config) -> int:
    from imax.builders import check_leakage

    report = check_leakage(cfg.dir)
    if report.ok:
        print(f"{cfg.dir}: no leakage (test patients and images are disjoint from train and val)")
        return 0
    for split, patients in report.patients.items():
        if patients:
            shown = ", ".join(map(str, patients[:50])) + (" ..." if len(patients) > 50 else "")
            print(f"LEAK: {len(patients)} test patients also in {split}: {shown}", file=sys.stderr)
    for split, images in report.images.items():
        if images:
            print(f"LEAK: {len(images)} test images also in {split}: {', '.join(images[:10])}", file=sys.stderr)
    if report.mismatched:
        print(f"MISMATCH: {len(report.mismatched)} images disagree between entries.parquet and images.parquet "
              f"(subject or split): {', '.join(report.mismatched[:10])}", file=sys.stderr)
    return 1
