"""CheXmask ``MIMIC-CXR-JPG.csv(.gz)`` → tasks ``rec`` and ``reg`` for heart, left lung, right lung, both lungs.

Columns are selected by name (their order differs between CheXmask CSVs): ``dicom_id`` (the data
dictionary's "Image ID"), ``Dice RCA (Mean)``, optional ``Dice RCA (Max)``, RLE columns ``Left Lung``
(the patient's left, on the image right), ``Right Lung``, ``Heart``, and ``Height``/``Width`` (the RLE
canvas). ``Landmarks`` is never read (it is the bulkiest column).

Boxes come straight from the RLE runs (:func:`imax.sources.rle.rle_boxes`, no mask decode) as
pixel-edge xyxy on the Height × Width canvas; ``size`` is ``[Width, Height]``. "both lungs" is the
union of the two lung boxes. A region with an empty mask yields no annotation; a row whose masks are
all empty, whose RLE is malformed, or whose ``Dice RCA (Mean)`` is below ``cfg.rca_min`` is
quarantined with the reason.

If both ``OriginalResolution/`` and ``Preprocessed/`` copies exist only one is read
(``cfg.chexmask_variant``; auto prefers OriginalResolution, whose canvas is the image).

rec: query ``{"phrase": region}``, answer ``{"box", "size"}``; reg: query ``{"box", "size"}``, answer
``{"phrase": region}``; meta ``{"file", "line", "rca_mean", "rca_max", "canvas_is_image"}``.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import polars as pl

from imax.schema.records import REGIONS
from imax.sources.base import Check, Context, bad_dicom, dedupe_check, json_obj, split_checks
from imax.sources.rle import rle_boxes

PATTERNS = (r"MIMIC-CXR-JPG\.csv(?:\.gz)?",)
RLE_COLUMNS = {"heart": "Heart", "left lung": "Left Lung", "right lung": "Right Lung"}
assert set(RLE_COLUMNS) | {"both lungs"} == set(REGIONS)


def pick(files: list[Path], variant: str) -> Path:
    """The one CheXmask file to read among copies (see module docstring)."""
    order = (
        ["OriginalResolution", "Preprocessed"]
        if variant in ("auto", "OriginalResolution")
        else ["Preprocessed", "OriginalResolution"]
    )

    def rank(p: Path) -> tuple[int, str]:
        parts = set(p.parts)
        for i, name in enumerate(order):
            if name in parts:
                return i, p.as_posix()
        return len(order), p.as_posix()

    return sorted(files, key=rank)[0]


def read(files: list[Path], ctx: Context) -> None:
    """Read the chosen MIMIC-CXR-JPG.csv."""
    path = pick(files, ctx.cfg.chexmask_variant)
    got = ctx.read_csv(
        path,
        ["dicom_id", "Dice RCA (Mean)", "Left Lung", "Right Lung", "Heart", "Height", "Width"],
        ["Dice RCA (Max)"],
        rename={"Image ID": "dicom_id"},
    )
    if got is None:
        return
    df, raw = got
    if "Dice RCA (Max)" not in df.columns:
        df = df.with_columns(pl.lit(None, pl.String).alias("Dice RCA (Max)"))
    rca = pl.col("Dice RCA (Mean)").str.strip_chars().cast(pl.Float64, strict=False)
    rca_max = pl.col("Dice RCA (Max)").str.strip_chars().cast(pl.Float64, strict=False)

    def pos_int(c: str) -> Check:
        v = pl.col(c).str.strip_chars().str.replace(r"\.0+$", "")
        return Check(c, ~v.str.contains(r"^[1-9]\d{0,5}$").fill_null(False), f"{c} is not a positive integer")

    checks = [
        Check("dicom_id", bad_dicom(), "dicom_id is not a 44-char MIMIC image id"),
        pos_int("Height"),
        pos_int("Width"),
        Check(
            "Dice RCA (Mean)", rca.is_null() | rca.is_nan() | (rca < 0) | (rca > 1), "not a number in [0, 1]"
        ),
        Check(
            "Dice RCA (Mean)",
            rca < ctx.cfg.rca_min,
            f"quality filter: Dice RCA (Mean) below rca_min={ctx.cfg.rca_min}",
        ),
        dedupe_check(["dicom_id"], "dicom_id"),
    ]
    good, bad = split_checks(df, checks)
    ctx.reject(bad)
    good = good.with_columns(
        pl.col("dicom_id").str.strip_chars(),
        _h=pl.col("Height").str.strip_chars().str.replace(r"\.0+$", "").cast(pl.Int64),
        _w=pl.col("Width").str.strip_chars().str.replace(r"\.0+$", "").cast(pl.Int64),
        _rca=rca,
        _rca_max=rca_max,
    )
    # Boxes straight from the runs; the first malformed column names the row's problem.
    h, w = good["_h"].to_numpy(), good["_w"].to_numpy()
    boxes: dict[str, np.ndarray] = {}
    err_field = np.full(good.height, None, dtype=object)
    err_reason = np.full(good.height, None, dtype=object)
    for region, col in RLE_COLUMNS.items():
        b, e = rle_boxes(good[col], h, w)
        boxes[region] = b
        new = (err_reason == None) & (e != None)  # noqa: E711 -- elementwise on object arrays
        err_field[new], err_reason[new] = col, e[new]
    lb, rb = boxes["left lung"], boxes["right lung"]
    both = np.where(
        (lb[:, :1] < 0),
        rb,
        np.where(
            rb[:, :1] < 0,
            lb,
            np.concatenate([np.minimum(lb[:, :2], rb[:, :2]), np.maximum(lb[:, 2:], rb[:, 2:])], axis=1),
        ),
    )
    boxes["both lungs"] = both
    all_empty = np.all([boxes[r][:, 0] < 0 for r in RLE_COLUMNS], axis=0)
    box_cols = {f"_box_{i}": pl.Series(boxes[r]).cast(pl.List(pl.Int64)) for i, r in enumerate(REGIONS)}
    good = good.with_columns(
        _err_field=pl.Series(err_field.tolist(), dtype=pl.String),
        _err=pl.Series(err_reason.tolist(), dtype=pl.String),
        _empty=pl.Series(all_empty),
        **box_cols,
    )
    good, bad = split_checks(
        good,
        [
            Check("RLE", pl.col("_err").is_not_null(), pl.col("_err"), pl.lit(None, pl.String)),
            Check("RLE", pl.col("_empty"), "all masks empty (no region to box)", pl.lit(None, pl.String)),
        ],
    )
    bad = bad.with_columns(
        _qfield=pl.when(pl.col("_err_field").is_not_null()).then(pl.col("_err_field")).otherwise(pl.lit("*")),
        _qvalue=pl.when(pl.col("_err_field") == "Heart")
        .then(pl.col("Heart"))
        .when(pl.col("_err_field") == "Left Lung")
        .then(pl.col("Left Lung"))
        .when(pl.col("_err_field") == "Right Lung")
        .then(pl.col("Right Lung")),
    )
    ctx.reject(bad)
    rows = ctx.join_images(good.drop("Heart", "Left Lung", "Right Lung"))
    meta = json_obj(
        file=pl.col("_file"),
        line=pl.col("_line"),
        rca_mean=pl.col("_rca"),
        rca_max=pl.col("_rca_max"),
        canvas_is_image=(pl.col("_h") == pl.col("height")) & (pl.col("_w") == pl.col("width")),
    )
    size = pl.concat_list(pl.col("_w"), pl.col("_h"))
    out = []
    for i, region in enumerate(REGIONS):
        box = pl.col(f"_box_{i}")
        part = rows.filter(box.list.first() >= 0)
        phrase = pl.lit(region)
        out.append(
            part.select(
                "dicom_id",
                task=pl.lit("rec"),
                source=pl.lit(ctx.source),
                query=json_obj(phrase=phrase),
                answer=json_obj(box=box, size=size),
                meta=meta,
            )
        )
        out.append(
            part.select(
                "dicom_id",
                task=pl.lit("reg"),
                source=pl.lit(ctx.source),
                query=json_obj(box=box, size=size),
                answer=json_obj(phrase=phrase),
                meta=meta,
            )
        )
    ctx.emit(pl.concat(out))
    ctx.account(path, raw.sha256, df.height)
