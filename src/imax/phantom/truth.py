"""``truth.parquet``: the latent truth, one row per image, that every phantom file was derived from.

Columns (boxes are pixel xyxy ``[x1, y1, x2, y2]`` on the ``width`` × ``height`` image, null when absent;
sides are the patient's, so "left" is on the image right):

* ids and image: ``dicom_id, subject_id, study_id, view, path, height, width, split`` (official split:
  train/validate/test), ``cxrlt_split`` (train/development/test), ``study_order`` (0 = first study),
  ``frontal`` (bool).
* patient: ``sex`` ("M"/"F"), ``age``, ``chf_cohort`` (in the edema-severity sub-cohort).
* findings (study level, identical for the images of a study): ``heart_ratio`` (target PA CTR),
  ``cardiomegaly, enlarged_cm, effusion_left, effusion_right`` (0-3), ``pneumothorax_side, pneumothorax_size``,
  ``consolidation_side, consolidation_zone, pneumonia, nodule_side, nodule_zone, nodule_mm, mass_side,
  mass_zone, mass_mm, atelectasis_side`` ("left"/"right"/"bilateral"/""), ``edema_grade`` (0-3),
  ``ett, ngt, cvc, pacemaker, sternotomy, fracture_side, fracture_rib, aortic_calcification,
  tortuous_aorta, emphysema, fibrosis, hernia, infiltration_side, pleural_thickening_side,
  pneumomediastinum, pneumoperitoneum, subcutaneous_emphysema_side``.
* ``labels``: sorted CheXpert-14 ∪ CXR-LT-26 class names that are true (noise-free), ``no_finding``.
* measured on the rendered masks (frontal only, else null): ``ctr`` (heart box width / lung-union box
  width), ``cpar`` (heart area / lung area), ``heart_box, left_lung_box, right_lung_box``,
  ``heart_area, left_lung_area, right_lung_area`` (pixels).
* ``finding_boxes``: JSON object finding phrase -> box, where the finding is drawn (frontal only).
* source bookkeeping: ``chexmask_row`` / ``chexmask_bad`` (row written / degraded mask with RCA < 0.7),
  ``ctr_row`` / ``ctr_failure`` (row written / failure code 0, 2, 3, 4), ``report_has_findings``,
  ``report_addendum``, ``report_edema_grade`` (grade the text states, null if unmentioned),
  ``edema_regex`` / ``edema_expert`` / ``edema_consensus`` (grade written to that file, null if no row),
  ``vqa_questions`` (number of VQA items on this image).
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

import pandas as pd

from imax.phantom.cohort import Findings, ImageSpec, Patient

FINDING_FIELDS: tuple[str, ...] = tuple(f.name for f in dataclasses.fields(Findings))


def truth_rows(patients: list[Patient], results: dict[int, dict[str, Any]],
               extra: dict[int, dict[str, Any]]) -> pd.DataFrame:
    """One row per image; ``results``/``extra`` are keyed by image index."""
    rows = []
    for p in patients:
        for s in p.studies:
            for im in s.images:
                rows.append(_row(p, s.index, im, results[im.index], extra.get(im.index, {})))
    return pd.DataFrame(rows)


def _row(p: Patient, order: int, im: ImageSpec, res: dict[str, Any], ext: dict[str, Any]) -> dict[str, Any]:
    f = im.findings
    pos = f.positives()
    row: dict[str, Any] = {
        "dicom_id": im.dicom_id, "subject_id": im.subject_id, "study_id": im.study_id, "view": im.view,
        "path": im.path, "height": im.size, "width": im.size, "split": p.split, "cxrlt_split": p.cxrlt_split,
        "study_order": order, "frontal": im.frontal, "sex": im.sex, "age": im.age, "chf_cohort": p.chf,
    }
    row.update({k: getattr(f, k) for k in FINDING_FIELDS})
    row["labels"] = sorted(k for k, v in pos.items() if v)
    row["no_finding"] = pos["No Finding"]
    for k in ("ctr", "cpar", "heart_box", "left_lung_box", "right_lung_box", "heart_area", "left_lung_area",
              "right_lung_area"):
        row[k] = res.get(k)
    row["finding_boxes"] = json.dumps(res.get("boxes", {}), sort_keys=True)
    row["chexmask_bad"] = im.chexmask_bad
    row.update(ext)
    return row


def write_truth(df: pd.DataFrame, path: Path) -> None:
    # Nullable ints keep "no row" distinct from grade 0.
    for col in ("edema_regex", "edema_expert", "edema_consensus", "report_edema_grade"):
        if col in df:
            df[col] = df[col].astype("Int64")
    df.to_parquet(path, index=False)
