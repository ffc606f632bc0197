"""CXR-LT 2023 (``cxr-lt-2023/{train,development,test}.csv``): 6 metadata columns, then the 26 classes."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from imax.phantom.writers import write_csv
from imax.schema.records import CXRLT26

META = ("dicom_id", "subject_id", "study_id", "ViewPosition", "ViewCodeSequence_CodeMeaning", "path")
FILES = {"train": "train.csv", "development": "development.csv", "test": "test.csv"}


def write(rows: dict[str, list[list[object]]], out: Path) -> dict[str, int]:
    """``rows[split]``: [*META values, *26 ints] per image."""
    return {f"cxr-lt-2023/{name}": write_csv(pd.DataFrame(rows.get(split, []), columns=[*META, *CXRLT26]),
                                             out / "cxr-lt-2023" / name)
            for split, name in FILES.items()}
