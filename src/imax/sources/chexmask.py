"""CheXmask ``MIMIC-CXR-JPG.csv(.gz)`` → tasks ``rec`` and ``reg`` for heart, left lung, right lung, both lungs.

Columns are selected by name (their order differs between CheXmask CSVs): ``dicom_id`` (the data
dictionary's "Image ID"), ``Dice RCA (Mean)``, optional ``Dice RCA (Max)``, RLE columns ``Left Lung``
(the patient's left, on the image right), ``Right Lung``, ``Heart``, and ``Height``/``Width`` (the RLE
canvas). ``Landmarks`` is never read (it is the bulkiest column).

Boxes come straight from the RLE runs (:func:`imax.sources.rle.rle_boxes`, no mask decode) as
pixel-edge xyxy on the Height × Width canvas; ``size`` is ``[Width, Height]``. "both lungs" is the
union of the two lung boxes. A region with an empty mask yields no annotation; a row whose masks are
all empty, whose RLE is malformed, whose ``Dice RCA (Mean)`` is below ``cfg.rca_min``, or whose optional
``Dice RCA (Max)`` is there but not a number in [0, 1] is quarantined with the reason.

The RLE columns are most of the file (~4.5 GB at MIMIC size, one run per mask row), so the file is
streamed (``Context.read_csv(batch=...)``): each batch's masks become boxes and their text is dropped,
and masks of rows that a row check rejects anyway are not read.

If both ``OriginalResolution/`` and ``Preprocessed/`` copies exist only one is read
(``cfg.chexmask_variant``; auto prefers OriginalResolution, whose canvas is the image).

rec: query ``{"phrase": region}``, answer ``{"box", "size"}``; reg: query ``{"box", "size"}``, answer
``{"phrase": region}``; meta ``{"file", "line", "rca_mean", "rca_max", "canvas_is_image"}``.
"""

from __future__ import annotations

import functools
from pathlib import Path

import numpy as np
import polars as pl

from imax.schema.records import REGIONS
from imax.sources.checks import Check, bad_dicom, dedupe_check, json_obj, split_checks
from imax.sources.context import Context
from imax.sources.rle import rle_boxes
from imax.sources.tables import VALUE_MAX_CHARS

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
    """Read the chosen MIMIC-CXR-JPG.csv (streamed: boxes are taken per batch, the RLE text dropped)."""
    path = pick(files, ctx.cfg.chexmask_variant)
    row_checks = _row_checks(ctx.cfg.rca_min)
    got = ctx.read_csv(
        path,
        ["dicom_id", "Dice RCA (Mean)", "Left Lung", "Right Lung", "Heart", "Height", "Width"],
        ["Dice RCA (Max)"],
        rename={"Image ID": "dicom_id"},
        batch=functools.partial(_with_boxes, skip=row_checks),
    )
    if got is None:
        return
    df, raw = got
    if "Dice RCA (Max)" not in df.columns:
        df = df.with_columns(pl.lit(None, pl.String).alias("Dice RCA (Max)"))
    rca_max = _rca("Dice RCA (Max)")
    checks = [
        *row_checks,
        # optional, but a value that is there must be one (else meta's rca_max would silently be null)
        Check(
            "Dice RCA (Max)",
            (pl.col("Dice RCA (Max)").str.strip_chars().fill_null("") != "")
            & (rca_max.is_null() | rca_max.is_nan() | (rca_max < 0) | (rca_max > 1)),
            "not a number in [0, 1]",
        ),
        dedupe_check(["dicom_id"], "dicom_id"),
    ]
    good, bad = split_checks(df, checks)
    ctx.reject(bad)
    good = good.with_columns(
        pl.col("dicom_id").str.strip_chars(), _rca=_rca(), _rca_max=_rca("Dice RCA (Max)")
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
        _qvalue=pl.col("_err_value"),
    )
    ctx.reject(bad)
    rows = ctx.join_images(good)
    # Each JSON text once per row (meta) and per region (the box payload is rec's answer and reg's query).
    rows = rows.with_columns(
        _meta=json_obj(
            file=pl.col("_file"),
            line=pl.col("_line"),
            rca_mean=pl.col("_rca"),
            rca_max=pl.col("_rca_max"),
            canvas_is_image=(pl.col("_h") == pl.col("height")) & (pl.col("_w") == pl.col("width")),
        )
    )
    size = pl.concat_list(pl.col("_w"), pl.col("_h"))
    out = []
    for i, region in enumerate(REGIONS):
        box = pl.col(f"_box_{i}")
        part = rows.filter(box.list.first() >= 0).select(
            "dicom_id", "_meta", _box=json_obj(box=box, size=size)
        )
        phrase = json_obj(phrase=pl.lit(region))
        common = {"source": pl.lit(ctx.source), "meta": pl.col("_meta")}
        out.append(part.select("dicom_id", task=pl.lit("rec"), query=phrase, answer=pl.col("_box"), **common))
        out.append(part.select("dicom_id", task=pl.lit("reg"), query=pl.col("_box"), answer=phrase, **common))
    ctx.emit(pl.concat(out))
    ctx.account(path, raw.sha256, df.height)


def _rca(col: str = "Dice RCA (Mean)") -> pl.Expr:
    return pl.col(col).str.strip_chars().cast(pl.Float64, strict=False)


def _row_checks(rca_min: float) -> list[Check]:
    """The checks of one row on its own (the duplicate check needs the whole file)."""

    def pos_int(c: str) -> Check:
        v = pl.col(c).str.strip_chars().str.replace(r"\.0+$", "")
        return Check(c, ~v.str.contains(r"^[1-9]\d{0,5}$").fill_null(False), f"{c} is not a positive integer")

    rca = _rca()
    return [
        Check("dicom_id", bad_dicom(), "dicom_id is not a 44-char MIMIC image id"),
        pos_int("Height"),
        pos_int("Width"),
        Check(
            "Dice RCA (Mean)", rca.is_null() | rca.is_nan() | (rca < 0) | (rca > 1), "not a number in [0, 1]"
        ),
        Check("Dice RCA (Mean)", rca < rca_min, f"quality filter: Dice RCA (Mean) below rca_min={rca_min}"),
    ]


def _with_boxes(df: pl.DataFrame, skip: list[Check]) -> pl.DataFrame:
    """Rows with their boxes instead of their RLE text: ``_h``, ``_w`` (the canvas), ``_box_<i>`` per
    region of REGIONS (``[-1] * 4`` when empty), ``_empty`` (no region), ``_err_field``/``_err``/
    ``_err_value`` (the first malformed RLE column). Rows failing a ``skip`` check are quarantined by
    it before the RLE checks, so their masks are not read (boxes ``-1``, no error)."""
    size = {
        c: pl.col(c).str.strip_chars().str.replace(r"\.0+$", "").cast(pl.Int64, strict=False)
        for c in ("Height", "Width")
    }
    df = df.with_columns(_h=size["Height"], _w=size["Width"])
    bad = pl.any_horizontal([c.bad.fill_null(False) for c in skip]) if skip else pl.lit(False)
    use = df.select(~bad & pl.col("_h").is_between(1, 999_999) & pl.col("_w").is_between(1, 999_999))
    rows = np.flatnonzero(use.to_series().fill_null(False).to_numpy())
    h, w = df["_h"].to_numpy()[rows], df["_w"].to_numpy()[rows]
    boxes: dict[str, np.ndarray] = {}
    err_field = np.full(df.height, None, dtype=object)
    err_reason = np.full(df.height, None, dtype=object)
    err_value = np.full(df.height, None, dtype=object)
    for region, col in RLE_COLUMNS.items():
        # Boxes straight from the runs; the first malformed column names the row's problem.
        text = df[col].gather(rows)
        b, e = rle_boxes(text, h, w)
        boxes[region] = np.full((df.height, 4), -1, dtype=np.int64)
        boxes[region][rows] = b
        new = (err_reason[rows] == None) & (e != None)  # noqa: E711 -- elementwise on object arrays
        if new.any():
            idx = np.flatnonzero(new)
            err_field[rows[idx]], err_reason[rows[idx]] = col, e[idx]
            err_value[rows[idx]] = text.gather(idx).str.slice(0, VALUE_MAX_CHARS).to_numpy()
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
    return df.drop(*RLE_COLUMNS.values()).with_columns(
        _err_field=pl.Series(err_field.tolist(), dtype=pl.String),
        _err=pl.Series(err_reason.tolist(), dtype=pl.String),
        _err_value=pl.Series(err_value.tolist(), dtype=pl.String),
        _empty=pl.Series(all_empty),
        **box_cols,
    )
