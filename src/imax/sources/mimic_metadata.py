"""MIMIC-CXR-JPG ``mimic-cxr-2.0.0-metadata.csv(.gz)`` + ``-split.csv(.gz)`` → the IMAGES table.

Metadata rows give ids, ``ViewPosition`` and ``Rows``/``Columns`` (= height/width); the image path is
built from the ids (``files/pXX/pSUBJECT/sSTUDY/DICOM.jpg``) and checked on disk (see
:mod:`imax.sources.images`). The split file adds ``split`` (``train``/``validate``/``test`` as shipped;
``""`` for images without a split row). Every other adapter joins this table, so it runs first.
"""

from __future__ import annotations

from pathlib import Path

import polars as pl

from imax.sources.checks import (
    SUBJECT_RE,
    Check,
    bad_dicom,
    bad_id,
    dedupe_check,
    frontal_expr,
    id_int,
    split_checks,
)
from imax.sources.context import Context
from imax.sources.images import check_image_files

METADATA_RE = r"mimic-cxr-2\.\d\.\d-metadata\.csv(?:\.gz)?"
SPLIT_RE = r"mimic-cxr-2\.\d\.\d-split\.csv(?:\.gz)?"
PATTERNS = (METADATA_RE, SPLIT_RE)
OFFICIAL_SPLITS = ("train", "validate", "test")


def _pos_int(col: str) -> Check:
    v = pl.col(col).str.strip_chars().str.replace(r"\.0+$", "")
    return Check(col, ~v.str.contains(r"^[1-9]\d{0,5}$").fill_null(False), f"{col} is not a positive integer")


def read(files: list[Path], ctx: Context) -> None:
    """Build ``ctx.images`` from the metadata file and (optionally) the split file."""
    import re

    meta_files = sorted(f for f in files if re.search(METADATA_RE + "$", f.name))
    split_files = sorted(f for f in files if re.search(SPLIT_RE + "$", f.name))
    if not meta_files:
        for f in split_files:
            ctx.file_error(f, "mimic-cxr metadata file not found: the split cannot be joined")
        return
    _read_metadata(meta_files[0], ctx)
    if split_files and ctx.images is not None:
        _read_split(split_files[0], ctx)


def _read_metadata(path: Path, ctx: Context) -> None:
    got = ctx.read_csv(path, ["dicom_id", "subject_id", "study_id", "ViewPosition", "Rows", "Columns"])
    if got is None:
        return
    df, raw = got
    checks = [
        Check("dicom_id", bad_dicom(), "dicom_id is not a 44-char MIMIC image id"),
        Check(
            "subject_id", bad_id("subject_id", SUBJECT_RE), "subject_id is not an 8-digit id starting with 1"
        ),
        Check("study_id", bad_id("study_id", r"^5\d{7}$"), "study_id is not an 8-digit id starting with 5"),
        _pos_int("Rows"),
        _pos_int("Columns"),
        dedupe_check(["dicom_id"], "dicom_id"),
    ]
    good, bad = split_checks(df, checks)
    ctx.reject(bad)
    sub = id_int("subject_id")
    img = good.with_columns(
        subject_id=sub,
        study_id=id_int("study_id"),
        view=pl.col("ViewPosition").str.strip_chars().fill_null(""),
        height=pl.col("Rows").str.strip_chars().str.replace(r"\.0+$", "").cast(pl.Int64),
        width=pl.col("Columns").str.strip_chars().str.replace(r"\.0+$", "").cast(pl.Int64),
    ).with_columns(
        path=pl.format(
            "files/p{}/p{}/s{}/{}.jpg",
            pl.col("subject_id").cast(pl.String).str.slice(0, 2),
            pl.col("subject_id"),
            pl.col("study_id"),
            pl.col("dicom_id"),
        ),
        split=pl.lit(""),
    )
    if ctx.cfg.check_images and img.height:
        errs = check_image_files(
            ctx.root, img["path"].to_list(), deep=ctx.cfg.deep_image_check, workers=ctx.cfg.io_workers
        )
        img = img.with_columns(_imgerr=pl.Series(errs, dtype=pl.String))
        img = ctx.reject_where(
            img, pl.col("_imgerr").is_not_null(), "path", pl.col("_imgerr"), pl.col("path")
        )
    ctx.images = img.select(
        "dicom_id",
        "subject_id",
        "study_id",
        "view",
        "split",
        "path",
        "height",
        "width",
        frontal=frontal_expr("view"),
    )
    ctx.account(path, raw.sha256, df.height)


def _read_split(path: Path, ctx: Context) -> None:
    assert ctx.images is not None
    got = ctx.read_csv(path, ["dicom_id", "split"])
    if got is None:
        return
    df, raw = got
    checks = [
        Check("dicom_id", bad_dicom(), "dicom_id is not a 44-char MIMIC image id"),
        Check(
            "split",
            ~pl.col("split").str.strip_chars().is_in(OFFICIAL_SPLITS).fill_null(False),
            f"split is not one of {list(OFFICIAL_SPLITS)}",
        ),
        dedupe_check(["dicom_id"], "dicom_id"),
    ]
    good, bad = split_checks(df, checks)
    ctx.reject(bad)
    good = good.with_columns(pl.col("split").str.strip_chars()).join(
        ctx.images.select("dicom_id", _known=pl.lit(True)), on="dicom_id", how="left"
    )
    good = ctx.reject_where(
        good,
        pl.col("_known").is_null(),
        "dicom_id",
        "dicom_id not in metadata (or its image was quarantined)",
    )
    ctx.images = (
        ctx.images.drop("split")
        .join(good.select("dicom_id", "split"), on="dicom_id", how="left")
        .with_columns(pl.col("split").fill_null(""))
        .select("dicom_id", "subject_id", "study_id", "view", "split", "path", "height", "width", "frontal")
    )
    ctx.account(path, raw.sha256, df.height)
