"""MIMIC-CXR-JPG CheXpert (or NegBio) labels → task ``multilabel``, label space ``chexpert14``.

``mimic-cxr-2.0.0-chexpert.csv(.gz)`` has one row per **study** (``subject_id, study_id`` + 14
observations); rows fan out to the study's images (frontal ones by default). Cell values:
``1.0`` positive, ``0.0`` negative, ``-1.0`` uncertain, blank unmentioned; ``1``/``0``/``-1`` accepted.

Answer ``{"labels": sorted positive set}`` — an all-blank study keeps an empty list (``No Finding`` is
positive only when its own column is 1). ``uncertainty_policy``: ``ignore`` (default: uncertain is not
positive), ``positive`` (counts as positive), ``negative`` (not positive). Under every policy the
uncertain observations are listed in meta ``uncertain``.

meta: ``{"file", "line", "labeler": "chexpert"|"negbio", "level": "study", "uncertain": [...],
"policy"}``. Only one labeler file is read (``cfg.chexpert_labeler``; the other is the fallback).
"""

from __future__ import annotations

import re
from pathlib import Path

import polars as pl

from imax.schema.records import CHEXPERT14
from imax.sources.checks import (
    SUBJECT_RE,
    Check,
    bad_id,
    dedupe_check,
    id_int,
    json_obj,
    names_where,
    split_checks,
)
from imax.sources.context import Context

CHEXPERT_RE = r"mimic-cxr-2\.\d\.\d-chexpert\.csv(?:\.gz)?"
NEGBIO_RE = r"mimic-cxr-2\.\d\.\d-negbio\.csv(?:\.gz)?"
PATTERNS = (CHEXPERT_RE, NEGBIO_RE)
LABELS = tuple(sorted(CHEXPERT14))


def label_value(col: str) -> pl.Expr:
    """Cell → 1/0/-1 (Float64), null when blank or unparseable (check :func:`bad_label` first)."""
    return pl.col(col).str.strip_chars().cast(pl.Float64, strict=False)


def bad_label(col: str, allowed: tuple[float, ...]) -> Check:
    """A non-blank cell that is not one of ``allowed``."""
    raw = pl.col(col).str.strip_chars()
    bad = (raw != "") & ~label_value(col).is_in(list(allowed)).fill_null(False)
    return Check(col, bad.fill_null(False), f"value not in {sorted(allowed)} or blank")


def read(files: list[Path], ctx: Context) -> None:
    """Read the chosen labeler file (see module docstring)."""
    by = {
        "chexpert": sorted(f for f in files if re.search(CHEXPERT_RE + "$", f.name)),
        "negbio": sorted(f for f in files if re.search(NEGBIO_RE + "$", f.name)),
    }
    labeler = ctx.cfg.chexpert_labeler
    if not by[labeler]:
        labeler = "negbio" if labeler == "chexpert" else "chexpert"
    if not by[labeler]:
        return
    path = by[labeler][0]
    got = ctx.read_csv(path, ["subject_id", "study_id", *LABELS])
    if got is None:
        return
    df, raw = got
    checks = [
        Check(
            "subject_id", bad_id("subject_id", SUBJECT_RE), "subject_id is not an 8-digit id starting with 1"
        ),
        Check("study_id", bad_id("study_id", r"^5\d{7}$"), "study_id is not an 8-digit id starting with 5"),
        *[bad_label(c, (1.0, 0.0, -1.0)) for c in LABELS],
        dedupe_check(["study_id"], "study_id"),
    ]
    good, bad = split_checks(df, checks)
    ctx.reject(bad)
    policy = ctx.cfg.uncertainty_policy
    pos_values = [1.0, -1.0] if policy == "positive" else [1.0]

    good = good.with_columns(_subject=id_int("subject_id"), _study=id_int("study_id"))
    good = names_where(good, {c: label_value(c).is_in(pos_values) for c in LABELS}, "_pos")
    good = names_where(good, {c: label_value(c) == -1.0 for c in LABELS}, "_unc")
    rows = ctx.fan_out(good)
    ctx.emit(
        rows.select(
            "dicom_id",
            task=pl.lit("multilabel"),
            source=pl.lit(ctx.source),
            query=json_obj(label_space=pl.lit("chexpert14")),
            answer=json_obj(labels=pl.col("_pos")),
            meta=json_obj(
                file=pl.col("_file"),
                line=pl.col("_line"),
                labeler=pl.lit(labeler),
                level=pl.lit("study"),
                uncertain=pl.col("_unc"),
                policy=pl.lit(policy),
            ),
        )
    )
    ctx.account(path, raw.sha256, df.height)
