"""MIMIC-CXR-JPG tables (metadata, split, CheXpert labels, IMAGE_FILENAMES) and MIMIC-CXR reports."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from imax.phantom.cohort import Patient
from imax.phantom.ids import report_path
from imax.phantom.reports import Report
from imax.phantom.writers import write_csv
from imax.schema.records import CHEXPERT14

METADATA_COLUMNS = (
    "dicom_id", "subject_id", "study_id", "PerformedProcedureStepDescription", "ViewPosition", "Rows", "Columns",
    "StudyDate", "StudyTime", "ProcedureCodeSequence_CodeMeaning", "ViewCodeSequence_CodeMeaning",
    "PatientOrientationCodeSequence_CodeMeaning",
)
VIEW_MEANING = {"PA": "postero-anterior", "AP": "antero-posterior", "LATERAL": "lateral", "LL": "left lateral"}


def write_metadata(patients: list[Patient], out: Path) -> int:
    rows = []
    for p in patients:
        for s in p.studies:
            views = [im.view for im in s.images]
            proc = "CHEST (PORTABLE AP)" if "AP" in views else (
                "CHEST (PA AND LAT)" if len(views) > 1 else "CHEST (PA)")
            for im in s.images:
                rows.append((im.dicom_id, im.subject_id, im.study_id, proc, im.view, im.size, im.size, s.date,
                             s.time, proc, VIEW_MEANING[im.view], "Recumbent" if "AP" in views else "Erect"))
    return write_csv(pd.DataFrame(rows, columns=list(METADATA_COLUMNS)), out / "mimic-cxr-2.0.0-metadata.csv.gz")


def write_split(patients: list[Patient], out: Path) -> int:
    rows = [(im.dicom_id, im.study_id, im.subject_id, p.split) for p in patients for s in p.studies for im in s.images]
    return write_csv(pd.DataFrame(rows, columns=["dicom_id", "study_id", "subject_id", "split"]),
                     out / "mimic-cxr-2.0.0-split.csv.gz")


def write_chexpert(patients: list[Patient], labels: dict[int, list[float]], out: Path) -> int:
    """One row per study (studies the labeller could not label have no row)."""
    rows = [[s.subject_id, s.study_id, *labels[s.study_id]] for p in patients for s in p.studies
            if s.study_id in labels]
    df = pd.DataFrame(rows, columns=["subject_id", "study_id", *CHEXPERT14])
    df[list(CHEXPERT14)] = df[list(CHEXPERT14)].astype("float64")
    return write_csv(df, out / "mimic-cxr-2.0.0-chexpert.csv.gz")


def write_image_filenames(patients: list[Patient], out: Path) -> int:
    paths = [im.path for p in patients for s in p.studies for im in s.images]
    (out / "IMAGE_FILENAMES").write_text("".join(f"{x}\n" for x in paths))
    return len(paths)


def write_reports(patients: list[Patient], reports: dict[int, Report], out: Path) -> int:
    n = 0
    for p in patients:
        for s in p.studies:
            path = out / report_path(s.subject_id, s.study_id)
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(reports[s.study_id].text)
            n += 1
    return n
