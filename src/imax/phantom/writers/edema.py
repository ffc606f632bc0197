"""PhysioNet mimic-cxr-pe-severity: regex/expert study-level grades and consensus image-level grades."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from imax.phantom.writers import write_csv

FOLDER = "mimic-cxr-pe-severity"


def write(regex: list[tuple[int, int, int]], expert: list[tuple[int, int, int]],
          consensus: list[tuple[int, int, str, int]], out: Path) -> dict[str, int]:
    cols = ["subject_id", "study_id", "edema_severity"]
    return {
        "regex_report_edema_severity.csv": write_csv(pd.DataFrame(regex, columns=cols),
                                                     out / FOLDER / "regex_report_edema_severity.csv"),
        "expert_report_edema_severity.csv": write_csv(pd.DataFrame(expert, columns=cols),
                                                      out / FOLDER / "expert_report_edema_severity.csv"),
        "consensus_image_edema_severity.csv": write_csv(
            pd.DataFrame(consensus, columns=["subject_id", "study_id", "dicom_id", "edema_severity"]),
            out / FOLDER / "consensus_image_edema_severity.csv"),
    }
