"""Canonical records: the tables every source adapter emits and every builder consumes.

Two tables describe the image-centric store (both are polars DataFrames in memory, parquet on disk):

``IMAGES`` — one row per image (``dicom_id`` unique)::

    dicom_id     str   44-char MIMIC image id (40 hex + 4 dashes)
    subject_id   i64   8-digit patient id starting with 1
    study_id     i64   8-digit study id starting with 5
    view         str   ViewPosition as shipped ("PA", "AP", "LATERAL", "LL", ... or "" when blank)
    split        str   official split ("train" | "validate" | "test"), "" when unknown
    path         str   image path relative to the data root: files/pXX/pSUBJECT/sSTUDY/DICOM_ID.jpg
    height       i64   rows in pixels (metadata ``Rows``)
    width        i64   columns in pixels (metadata ``Columns``)

``ANNOTATIONS`` — one row per (image, task, query) annotation::

    dicom_id  str   joins IMAGES
    task      str   a task of the task table (imax.tasks.TASKS; the built-in ones are TASK_NAMES)
    source    str   adapter name that produced it (a key of ``imax.sources.SOURCES``)
    query     str   JSON object: what is asked (see QUERY/ANSWER conventions below)
    answer    str   JSON object: the ground truth
    meta      str   JSON object: provenance (file, line, label level, uncertain labels, ...)

QUERY / ANSWER payload conventions, per task (all JSON objects; keys fixed)::

    calculation  query {"measure": "ctr"|"cpar"}                 answer {"value": float}
    report       query {}                                         answer {"text": str}
    multiclass   query {"label_space": "edema_severity"}          answer {"grade": 0|1|2|3}
    multilabel   query {"label_space": "chexpert14"|"cxrlt26"}    answer {"labels": [str, ...] sorted}
    rec          query {"phrase": str}                            answer {"box": [x1,y1,x2,y2], "size": [w,h]}
    reg          query {"box": [x1,y1,x2,y2], "size": [w,h]}      answer {"phrase": str}
    vqa          query {"question": str, "content_type": str, "semantic_type": str}
                                                                  answer {"answers": [str, ...] sorted}

Boxes are pixel xyxy on the image of ``size`` (see :class:`imax.schema.box.Box`).
"""

from __future__ import annotations

from typing import Final, Literal

TaskName = str
"""A task's name: a key of the task table ``imax.tasks.TASKS`` (the seven of :data:`TASK_NAMES`, plus any
task registered with ``imax.tasks.register``): a ``str`` checked against that table where it is read
(``make_entries``, ``score_tasks``), not a closed ``Literal``, so a new task needs no edit here."""
TASK_NAMES: Final[tuple[TaskName, ...]] = (
    "calculation",
    "report",
    "multiclass",
    "multilabel",
    "rec",
    "reg",
    "vqa",
)

Split = Literal["train", "val", "test"]
SPLITS: Final[tuple[Split, ...]] = ("train", "val", "test")

# polars dtypes are named by string so this module stays import-light; builders map them with
# ``imax.schema.records.polars_schema``.
IMAGE_COLUMNS: Final[dict[str, str]] = {
    "dicom_id": "str",
    "subject_id": "i64",
    "study_id": "i64",
    "view": "str",
    "split": "str",
    "path": "str",
    "height": "i64",
    "width": "i64",
}

ANNOTATION_COLUMNS: Final[dict[str, str]] = {
    "dicom_id": "str",
    "task": "str",
    "source": "str",
    "query": "str",
    "answer": "str",
    "meta": "str",
}

ENTRY_COLUMNS: Final[dict[str, str]] = {
    "id": "str",  # stable entry id: f"{dicom_id}:{task}:{k}"
    "dicom_id": "str",
    "subject_id": "i64",
    "split": "str",  # imax split: train | val | test
    "task": "str",
    "source": "str",
    "query": "str",
    "answer": "str",
    "instruction": "str",  # user text without the image placeholder; starts with the task token
    "response": "str",  # assistant text = tasks[task].format_answer(answer)
    "image": "str",  # image path relative to the data root
    "provenance": "str",  # "real" | "pseudo"
}

QUARANTINE_COLUMNS: Final[tuple[str, ...]] = ("file", "line", "field", "reason", "value")
"""Columns of ``quarantine.csv``: the input file, 1-based line number (header = line 1), the field at
fault (or ``*`` for the whole row), a human-readable reason, and the offending raw value (truncated)."""

FRONTAL_VIEWS: Final[frozenset[str]] = frozenset({"PA", "AP", "AP AXIAL", "PA LLD", "AP LLD", "AP RLD", "PA RLD"})
"""ViewPosition values counted as frontal (sources that are frontal-only fan out to these)."""

CHEXPERT14: Final[tuple[str, ...]] = (
    "Atelectasis",
    "Cardiomegaly",
    "Consolidation",
    "Edema",
    "Enlarged Cardiomediastinum",
    "Fracture",
    "Lung Lesion",
    "Lung Opacity",
    "No Finding",
    "Pleural Effusion",
    "Pleural Other",
    "Pneumonia",
    "Pneumothorax",
    "Support Devices",
)
"""The 14 CheXpert observations in the column order of ``mimic-cxr-2.0.0-chexpert.csv``."""

CXRLT26: Final[tuple[str, ...]] = (
    "Atelectasis",
    "Calcification of the Aorta",
    "Cardiomegaly",
    "Consolidation",
    "Edema",
    "Emphysema",
    "Enlarged Cardiomediastinum",
    "Fibrosis",
    "Fracture",
    "Hernia",
    "Infiltration",
    "Lung Lesion",
    "Lung Opacity",
    "Mass",
    "No Finding",
    "Nodule",
    "Pleural Effusion",
    "Pleural Other",
    "Pleural Thickening",
    "Pneumomediastinum",
    "Pneumonia",
    "Pneumoperitoneum",
    "Pneumothorax",
    "Subcutaneous Emphysema",
    "Support Devices",
    "Tortuous Aorta",
)
"""CXR-LT 2023's 26 classes in the documented column order (see source-formats.md §4)."""

EDEMA_GRADES: Final[dict[int, str]] = {
    0: "no edema",
    1: "vascular congestion",
    2: "interstitial edema",
    3: "alveolar edema",
}

REGIONS: Final[tuple[str, ...]] = ("heart", "left lung", "right lung", "both lungs")
"""Anatomical regions with boxes from CheXmask (patient's left lung is on the image right)."""


def polars_schema(columns: dict[str, str]) -> dict[str, object]:
    """Map a column spec above to a polars schema dict."""
    import polars as pl

    kinds = {"str": pl.String, "i64": pl.Int64, "f64": pl.Float64, "bool": pl.Boolean}
    return {name: kinds[kind] for name, kind in columns.items()}
