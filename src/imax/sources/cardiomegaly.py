"""PhysioNet ``cxr-cardiomegaly`` ``CTRs.csv`` / ``CPARs.csv`` → task ``calculation``.

Columns ``dicom_file`` (= dicom_id) and ``CTR`` / ``CPAR`` (selected by name; a leading pandas index
column is ignored). The authors' pipeline writes failure codes into the value column — 2 heart not
detected, 3 lungs not detected, 4 neither — so those, and any value >= 2 (no real ratio is that large),
are quarantined with the reason; so are non-numeric and non-positive values.

query ``{"measure": "ctr"|"cpar"}``, answer ``{"value": float}``, meta ``{"file", "line"}``.
"""

from __future__ import annotations

from pathlib import Path

import polars as pl

from imax.sources.checks import Check, bad_dicom, dedupe_check, json_obj, split_checks
from imax.sources.context import Context

PATTERNS = (r"CTRs\.csv(?:\.gz)?", r"CPARs\.csv(?:\.gz)?")
FAILURE_CODES = {2: "heart not detected", 3: "lungs not detected", 4: "neither heart nor lungs detected"}


def read(files: list[Path], ctx: Context) -> None:
    """Read each of CTRs.csv / CPARs.csv found."""
    for path in sorted(files):
        measure = "ctr" if path.name.upper().startswith("CTR") else "cpar"
        col = measure.upper()
        got = ctx.read_csv(path, ["dicom_file", col], rename={"dicom_id": "dicom_file"})
        if got is None:
            continue
        df, raw = got
        v = pl.col(col).str.strip_chars().cast(pl.Float64, strict=False)
        code_reason = pl.lit(None, pl.String)
        for c, why in FAILURE_CODES.items():
            code_reason = pl.when(v == c).then(pl.lit(f"failure code {c}: {why}")).otherwise(code_reason)
        checks = [
            Check("dicom_file", bad_dicom("dicom_file"), "dicom_file is not a 44-char MIMIC image id"),
            Check(col, v.is_null() | v.is_nan(), f"{col} is not a number"),
            Check(col, v.is_in([float(c) for c in FAILURE_CODES]), code_reason),
            Check(col, v >= 2, f"{col} >= 2 is not a valid ratio (failure code or outlier)"),
            Check(col, v <= 0, f"{col} must be positive"),
            dedupe_check(["dicom_file"], "dicom_file"),
        ]
        good, bad = split_checks(df, checks)
        ctx.reject(bad)
        good = good.with_columns(dicom_id=pl.col("dicom_file").str.strip_chars(), _ratio=v)
        rows = ctx.join_images(good, id_field="dicom_file")
        ctx.emit(
            rows.select(
                "dicom_id",
                task=pl.lit("calculation"),
                source=pl.lit(ctx.source),
                query=json_obj(measure=pl.lit(measure)),
                answer=json_obj(value=pl.col("_ratio")),
                meta=json_obj(file=pl.col("_file"), line=pl.col("_line")),
            )
        )
        ctx.account(path, raw.sha256, df.height)
