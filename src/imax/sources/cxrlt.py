"""CXR-LT image-level long-tail labels → task ``multilabel``, label space ``cxrlt26``.

* 2023: ``cxr-lt-2023/{train,development,test}.csv`` — ``dicom_id, subject_id, study_id`` (int), ``path``
  (``files/…jpg``) and the 26 classes of :data:`imax.schema.records.CXRLT26` as 0/1.
* 2024: ``cxr-lt-2024/*_labeled*.csv`` — ``study_id`` is a string with an ``s`` prefix (stripped), the
  path column is ``fpath``, and the label columns are the 40 task-1 classes or the 26 task-2 classes.
  They map onto the 26-class space by name; the only rename is ``Normal`` → ``No Finding`` (the 2024
  files replaced one by the other). 2024-only classes (Adenopathy, Azygos Lobe, Clavicle Fracture,
  Fissure, Granuloma, Hydropneumothorax, Infarction, Kyphosis, Lobar Atelectasis, Pulmonary Embolism,
  Pulmonary Hypertension, Rib Fracture, Round(ed) Atelectasis, Tuberculosis) are not in the space and
  are dropped (positive ones are listed in meta ``dropped``).

Labels are selected by name; a file missing one of the 26 (after the mapping) is a file-level error.
Paths must stay inside the data root and name the row's ``dicom_id``. One label set per image: files
are read 2023 first, then 2024 ``*task2*`` (manually annotated), then the rest; a later row for an
already-labelled image is quarantined as a duplicate naming the earlier file and line.

answer ``{"labels": sorted positives}`` (may be empty), meta ``{"file", "line", "release": "2023"|"2024",
"dropped": [...]}``.
"""

from __future__ import annotations

from pathlib import Path

import polars as pl

from imax.schema.records import CXRLT26
from imax.sources.checks import (
    SUBJECT_RE,
    Check,
    bad_dicom,
    bad_id,
    dedupe_check,
    id_int,
    json_obj,
    names_where,
    safe_rel_path,
    split_checks,
)
from imax.sources.context import Context

PATTERNS = (
    r"cxr-lt-2023/(?:train|development|test)\.csv(?:\.gz)?",
    r"cxr-lt-2024/[^/]*_labeled[^/]*\.csv(?:\.gz)?",
)
RENAME_2024 = {"Normal": "No Finding"}
"""2024 column name → 26-class name."""
LABELS = tuple(sorted(CXRLT26))
CLASSES_2024 = (
    "Adenopathy",
    "Atelectasis",
    "Azygos Lobe",
    "Calcification of the Aorta",
    "Cardiomegaly",
    "Clavicle Fracture",
    "Consolidation",
    "Edema",
    "Emphysema",
    "Enlarged Cardiomediastinum",
    "Fibrosis",
    "Fissure",
    "Fracture",
    "Granuloma",
    "Hernia",
    "Hydropneumothorax",
    "Infarction",
    "Infiltration",
    "Kyphosis",
    "Lobar Atelectasis",
    "Lung Lesion",
    "Lung Opacity",
    "Mass",
    "Nodule",
    "Normal",
    "Pleural Effusion",
    "Pleural Other",
    "Pleural Thickening",
    "Pneumomediastinum",
    "Pneumonia",
    "Pneumoperitoneum",
    "Pneumothorax",
    "Pulmonary Embolism",
    "Pulmonary Hypertension",
    "Rib Fracture",
    "Round(ed) Atelectasis",
    "Subcutaneous Emphysema",
    "Support Devices",
    "Tortuous Aorta",
    "Tuberculosis",
)
"""CXR-LT 2024 task-1 classes (source-formats.md §4.2)."""
DROPPED_2024 = tuple(c for c in CLASSES_2024 if c not in CXRLT26 and c not in RENAME_2024)


def _order(path: Path) -> tuple[int, str]:
    if path.parent.name == "cxr-lt-2023":
        return 0, path.as_posix()
    return (1 if "task2" in path.name else 2), path.as_posix()


def read(files: list[Path], ctx: Context) -> None:
    """Read all CXR-LT files found; one label set per image (see module docstring)."""
    frames = []
    raws = []
    for path in sorted(files, key=_order):
        release = "2023" if path.parent.name == "cxr-lt-2023" else "2024"
        path_col = "path" if release == "2023" else "fpath"
        rename = RENAME_2024 if release == "2024" else None
        dropped = DROPPED_2024 if release == "2024" else ()
        got = ctx.read_csv(
            path, ["dicom_id", "subject_id", "study_id", *LABELS], [path_col, *dropped], rename=rename
        )
        if got is None:
            continue
        df, raw = got
        raws.append((path, raw, df.height))
        df = df.with_columns(
            _release=pl.lit(release),
            _path=pl.col(path_col) if path_col in df.columns else pl.lit(None, pl.String),
        )
        df = names_where(df, {c: _one(c) for c in dropped if c in df.columns}, "_dropped")
        frames.append(
            df.select(
                "_file",
                "_line",
                "_release",
                "dicom_id",
                "subject_id",
                "study_id",
                "_path",
                "_dropped",
                *LABELS,
            )
        )
    if not frames:
        return
    df = pl.concat(frames, how="vertical")
    prefix = pl.when(pl.col("_release") == "2024").then(pl.lit("s")).otherwise(pl.lit(""))
    study = pl.col("study_id").str.strip_chars().str.strip_prefix("s").str.replace(r"\.0+$", "")
    # the column as the release spells it
    path_field = pl.when(pl.col("_release") == "2024").then(pl.lit("fpath")).otherwise(pl.lit("path"))
    checks = [
        Check("dicom_id", bad_dicom(), "dicom_id is not a 44-char MIMIC image id"),
        Check(
            "subject_id", bad_id("subject_id", SUBJECT_RE), "subject_id is not an 8-digit id starting with 1"
        ),
        Check(
            "study_id",
            ~study.str.contains(r"^5\d{7}$").fill_null(False)
            | ~pl.col("study_id").str.strip_chars().str.starts_with(prefix).fill_null(False),
            pl.format("study_id is not an 8-digit id starting with 5 (release {})", pl.col("_release")),
        ),
        Check(
            path_field,
            ~safe_rel_path("_path"),
            "path escapes the data root (absolute or '..')",
            pl.col("_path"),
        ),
        Check(
            path_field,
            pl.col("_path").is_not_null()
            & ~pl.col("_path").str.strip_chars().str.ends_with(pl.col("dicom_id").str.strip_chars() + ".jpg"),
            "path does not name this dicom_id",
            pl.col("_path"),
        ),
        *[
            Check(
                _spelled(c),
                ~pl.col(c).str.strip_chars().is_in(["0", "1", "0.0", "1.0"]).fill_null(False),
                "label not 0/1",
                pl.col(c),
            )
            for c in LABELS
        ],
        dedupe_check(["dicom_id"], "dicom_id"),
    ]
    good, bad = split_checks(df, checks)
    ctx.reject(bad)
    good = good.with_columns(
        pl.col("dicom_id").str.strip_chars(), _subject=id_int("subject_id"), _study=study.cast(pl.Int64)
    )
    good = names_where(good, {c: _one(c) for c in LABELS}, "_pos")
    rows = ctx.join_images(good)
    ctx.emit(
        rows.select(
            "dicom_id",
            task=pl.lit("multilabel"),
            source=pl.lit(ctx.source),
            query=json_obj(label_space=pl.lit("cxrlt26")),
            answer=json_obj(labels=pl.col("_pos")),
            meta=json_obj(
                file=pl.col("_file"),
                line=pl.col("_line"),
                release=pl.col("_release"),
                dropped=pl.col("_dropped"),
            ),
        )
    )
    for path, raw, n in raws:
        ctx.account(path, raw.sha256, n)


def _spelled(label: str) -> str | pl.Expr:
    """The label's column name as the row's release spells it (2024: ``Normal`` for ``No Finding``)."""
    alt = next((a for a, c in RENAME_2024.items() if c == label), None)
    if alt is None:
        return label
    return pl.when(pl.col("_release") == "2024").then(pl.lit(alt)).otherwise(pl.lit(label))


def _one(col: str) -> pl.Expr:
    """A label cell that says positive."""
    return pl.col(col).str.strip_chars().is_in(["1", "1.0"])
