"""PhysioNet ``mimic-cxr-pe-severity`` edema grades → task ``multiclass``, label space ``edema_severity``.

Files (source-formats.md §6): ``consensus_image_edema_severity.csv`` (image level: ``subject_id,
study_id, dicom_id, edema_severity``), ``expert_report_edema_severity.csv`` and
``regex_report_edema_severity.csv`` (study level: ``subject_id, study_id, edema_severity``; fanned out
to the study's frontal images). Grades are integers 0–3.

Priority for one image: consensus > expert > regex. A lower-priority study row whose images are all
labelled by a higher-priority file is quarantined ("superseded by ..."); when only some of its images
are, it is used for the others. Within a file the first row of an id wins, later ones are quarantined.

query ``{"label_space": "edema_severity"}``, answer ``{"grade": int}``,
meta ``{"file", "line", "labeler": "consensus"|"expert"|"regex", "level": "image"|"study"}``.
"""

from __future__ import annotations

import re
from pathlib import Path

import polars as pl

from imax.sources.checks import (
    SUBJECT_RE,
    Check,
    bad_dicom,
    bad_id,
    dedupe_check,
    id_int,
    json_obj,
    split_checks,
)
from imax.sources.context import Context

LABELERS: tuple[tuple[str, str], ...] = (
    ("consensus", r"consensus_image_edema_severity\.csv(?:\.gz)?"),
    ("expert", r"expert_report_edema_severity\.csv(?:\.gz)?"),
    ("regex", r"regex_report_edema_severity\.csv(?:\.gz)?"),
)
"""Labelers in priority order with their official file names."""
PATTERNS = tuple(p for _, p in LABELERS)


def read(files: list[Path], ctx: Context) -> None:
    """Read the three files in priority order (see module docstring)."""
    covered = pl.DataFrame(schema={"dicom_id": pl.String, "_by": pl.String})
    for labeler, pattern in LABELERS:
        for path in sorted(f for f in files if re.search(pattern + "$", f.name)):
            covered = _read_one(path, labeler, covered, ctx)


def _read_one(path: Path, labeler: str, covered: pl.DataFrame, ctx: Context) -> pl.DataFrame:
    image_level = labeler == "consensus"
    ids = ["subject_id", "study_id", "dicom_id"] if image_level else ["subject_id", "study_id"]
    got = ctx.read_csv(path, [*ids, "edema_severity"])
    if got is None:
        return covered
    df, raw = got
    grade = pl.col("edema_severity").str.strip_chars().str.replace(r"\.0+$", "")
    key = "dicom_id" if image_level else "study_id"
    checks = [
        Check(
            "subject_id", bad_id("subject_id", SUBJECT_RE), "subject_id is not an 8-digit id starting with 1"
        ),
        Check("study_id", bad_id("study_id", r"^5\d{7}$"), "study_id is not an 8-digit id starting with 5"),
        *(
            [Check("dicom_id", bad_dicom(), "dicom_id is not a 44-char MIMIC image id")]
            if image_level
            else []
        ),
        Check(
            "edema_severity", ~grade.is_in(["0", "1", "2", "3"]).fill_null(False), "grade not an integer 0-3"
        ),
        dedupe_check([key], key),
    ]
    good, bad = split_checks(df, checks)
    ctx.reject(bad)
    good = good.with_columns(
        _subject=id_int("subject_id"), _study=id_int("study_id"), _grade=grade.cast(pl.Int64)
    )
    if image_level:
        rows = ctx.join_images(good.with_columns(pl.col("dicom_id").str.strip_chars()))
    else:
        rows = ctx.fan_out(good)
        rows = rows.join(covered, on="dicom_id", how="left")
        # A study row is superseded when every one of its images already has a higher-priority grade.
        all_cov = rows.group_by("_file", "_line").agg(
            pl.col("_by").is_not_null().all().alias("_all"), pl.col("_by").drop_nulls().first().alias("_by1")
        )
        sup = all_cov.filter(pl.col("_all"))
        ctx.reject(
            good.join(sup, on=["_file", "_line"], how="inner").with_columns(
                _qfield=pl.lit("study_id"),
                _qreason=pl.format("superseded by the {} label for every image of the study", pl.col("_by1")),
                _qvalue=pl.col("_study").cast(pl.String),
            )
        )
        rows = rows.filter(pl.col("_by").is_null()).drop("_by")
    ctx.emit(
        rows.select(
            "dicom_id",
            task=pl.lit("multiclass"),
            source=pl.lit(ctx.source),
            query=json_obj(label_space=pl.lit("edema_severity")),
            answer=json_obj(grade=pl.col("_grade")),
            meta=json_obj(
                file=pl.col("_file"),
                line=pl.col("_line"),
                labeler=pl.lit(labeler),
                level=pl.lit("image" if image_level else "study"),
            ),
        )
    )
    ctx.account(path, raw.sha256, df.height)
    return pl.concat([covered, rows.select("dicom_id", _by=pl.lit(labeler))]).unique("dicom_id", keep="first")
