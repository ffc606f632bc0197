"""PhysioNet cxr-cardiomegaly: ``CTRs.csv`` (dicom_file, CTR) and ``CPARs.csv`` (dicom_file, CPAR).

Values come from the rendered masks (CTR = heart box width / lung-union box width, CPAR = heart area /
lung area); rows with a detection failure carry the code instead (2 heart, 3 lungs, 4 neither).
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from imax.phantom.writers import write_csv

FOLDER = "cxr-cardiomegaly"


def write(rows: list[tuple[str, float, float, int]], out: Path) -> int:
    """``rows``: (dicom_id, ctr, cpar, failure_code or 0) in image order."""
    ctr = [(d, float(code) if code else round(c, 6)) for d, c, _, code in rows]
    cpar = [(d, float(code) if code else round(a, 6)) for d, _, a, code in rows]
    write_csv(pd.DataFrame(ctr, columns=["dicom_file", "CTR"]), out / FOLDER / "CTRs.csv")
    return write_csv(pd.DataFrame(cpar, columns=["dicom_file", "CPAR"]), out / FOLDER / "CPARs.csv")
