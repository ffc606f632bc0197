"""CheXmask ``MIMIC-CXR-JPG.csv`` (OriginalResolution): RLE masks of both lungs and the heart.

"Left Lung" is the patient's left lung (image right). Landmarks are written as the flat comma list of
the Preprocessed release (120 points: 44 right lung, 50 left lung, 26 heart).
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from imax.phantom.writers import write_csv

COLUMNS = ("dicom_id", "Dice RCA (Mean)", "Dice RCA (Max)", "Landmarks", "Left Lung", "Right Lung", "Heart",
           "Height", "Width")
PATH = "chexmask/OriginalResolution/MIMIC-CXR-JPG.csv"


def write(rows: list[tuple[object, ...]], out: Path) -> int:
    return write_csv(pd.DataFrame(rows, columns=list(COLUMNS)), out / PATH)
