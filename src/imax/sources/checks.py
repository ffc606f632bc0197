"""Row validation as polars expressions: MIMIC id conventions, path safety, and the :class:`Check` list.

Each :class:`Check` is a boolean expression over a frame; :func:`split_checks` splits a frame into good
rows and bad rows tagged with the first failing check's field, reason and value (the quarantine row).
Also the small expression helpers every adapter shares (ids, JSON objects, per-row name lists).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import polars as pl

from imax.schema.records import FRONTAL_VIEWS

# ---- id conventions (source-formats.md §0) ------------------------------------------------------
DICOM_RE = r"^[0-9a-fA-F]{8}(?:-[0-9a-fA-F]{8}){4}$"
"""44-char MIMIC image id: five dash-separated 8-hex groups."""
SUBJECT_RE = r"^1\d{7}$"
STUDY_RE = r"^5\d{7}$"


def bad_dicom(col: str | pl.Expr = "dicom_id") -> pl.Expr:
    """True where the column is not a 44-char dicom_id (null counts as bad)."""
    c = pl.col(col) if isinstance(col, str) else col
    return c.is_null() | ~c.str.strip_chars().str.contains(DICOM_RE).fill_null(False)


def norm_int_id(col: str, prefix: str = "") -> pl.Expr:
    """Id column as written (str) → its digits: strips spaces, an optional ``prefix`` and a ``.0`` tail
    (pandas round-trips ints through floats when a column has NaN)."""
    c = pl.col(col).str.strip_chars()
    if prefix:
        c = c.str.strip_prefix(prefix)
    return c.str.replace(r"\.0+$", "")


def bad_id(col: str, pattern: str, prefix: str = "") -> pl.Expr:
    """True where ``col`` (after :func:`norm_int_id`) does not match ``pattern`` (null counts as bad)."""
    return pl.col(col).is_null() | ~norm_int_id(col, prefix).str.contains(pattern).fill_null(False)


def id_int(col: str, prefix: str = "") -> pl.Expr:
    """The id column as Int64 (apply after the :func:`bad_id` check)."""
    return norm_int_id(col, prefix).cast(pl.Int64, strict=False)


def safe_rel_path(col: str) -> pl.Expr:
    """True where a relative path read from a source file stays inside the data root.

    Rejects absolute paths (``/x``, ``\\x``, ``C:``) and any ``..`` component, so no source file can make
    imax read or point outside the root.
    """
    c = pl.col(col)
    return ~(
        c.str.contains(r"^(?:[/\\]|[A-Za-z]:)").fill_null(False)
        | c.str.contains(r"(?:^|[/\\])\.\.(?:[/\\]|$)").fill_null(False)
    )


def json_obj(**fields: pl.Expr) -> pl.Expr:
    """A JSON object string with exactly these keys, in this order (polars ``struct.json_encode``)."""
    return pl.struct(**fields).struct.json_encode()


def names_where(df: pl.DataFrame, conds: dict[str, pl.Expr], out: str) -> pl.DataFrame:
    """Add a list[str] column ``out``: the sorted names whose condition holds on each row.

    Computed once per distinct true/false pattern (a few thousand at MIMIC scale) and joined back —
    ~10x faster than building a list per row from when/then expressions. The pattern is an integer
    bit mask (bit i = the i-th sorted name), 3x cheaper to build and join on than a string of flags.
    """
    names = sorted(conds)
    if not names or df.height == 0:
        return df.with_columns(pl.lit(None, pl.List(pl.String)).fill_null([]).alias(out))
    if len(names) > 64:  # more than one word of bits: one flag character per name instead
        flags = [pl.when(conds[n].fill_null(False)).then(pl.lit("1")).otherwise(pl.lit("0")) for n in names]
        df = df.with_columns(_names_key=pl.concat_str(flags))
        keys = df["_names_key"].unique().to_list()
        lists = [[n for n, ch in zip(names, k, strict=True) if ch == "1"] for k in keys]
        dtype: pl.DataType = pl.String()
    else:
        bits = [conds[n].fill_null(False).cast(pl.UInt64) * (1 << i) for i, n in enumerate(names)]
        df = df.with_columns(_names_key=pl.sum_horizontal(bits))
        keys = df["_names_key"].unique().to_list()
        lists = [[n for i, n in enumerate(names) if k >> i & 1] for k in keys]
        dtype = pl.UInt64()
    table = pl.DataFrame(
        {"_names_key": keys, out: lists}, schema={"_names_key": dtype, out: pl.List(pl.String)}
    )
    return df.join(table, on="_names_key", how="left", maintain_order="left").drop("_names_key")


# ---- validation ------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Check:
    """One row check: rows where ``bad`` is true are quarantined with ``field`` and ``reason``."""

    field: str | pl.Expr
    bad: pl.Expr
    reason: str | pl.Expr
    value: pl.Expr | None = None
    """Offending value shown in quarantine (default: the column named ``field`` when there is one)."""
    pre: dict[str, pl.Expr] = field(default_factory=dict)
    """Helper columns the reason/value refer to, computed over the whole frame (window results) and
    only when some row is bad; never used by ``bad`` itself."""


def _value_expr(check: Check, columns: Sequence[str]) -> pl.Expr:
    if check.value is not None:
        return check.value.cast(pl.String)
    if isinstance(check.field, str) and check.field in columns:
        return pl.col(check.field).cast(pl.String)
    return pl.lit(None, dtype=pl.String)


def split_checks(df: pl.DataFrame, checks: Sequence[Check]) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Split ``df`` into (good rows, bad rows); bad rows get ``_qfield``, ``_qreason``, ``_qvalue``.

    The first failing check (in list order) describes the row. Two vectorised passes: the conditions
    (and any ``pre`` helper columns) over the whole frame, then the messages over the bad rows only —
    at MIMIC scale bad rows are few, so reason strings cost nothing.
    """
    empty = dict(
        _qfield=pl.lit(None, pl.String), _qreason=pl.lit(None, pl.String), _qvalue=pl.lit(None, pl.String)
    )
    if not checks or df.height == 0:
        return df, df.head(0).with_columns(**empty)
    pre = {k: v for c in checks for k, v in c.pre.items()}
    conds = [pl.when(c.bad.fill_null(False)).then(pl.lit(i, pl.Int32)) for i, c in enumerate(checks)]
    tagged = df.with_columns(_qk=pl.coalesce(conds) if len(conds) > 1 else conds[0])
    good = tagged.filter(pl.col("_qk").is_null()).drop("_qk")
    if good.height == df.height:
        return good, df.head(0).with_columns(**empty)
    if pre:  # window helpers need the whole frame; computed only when some row is bad
        tagged = tagged.with_columns(**pre)
    bad = tagged.filter(pl.col("_qk").is_not_null())
    cols = df.columns

    def pick(parts: list[pl.Expr]) -> pl.Expr:
        out = pl.lit(None, pl.String)
        for i, e in reversed(list(enumerate(parts))):
            out = pl.when(pl.col("_qk") == i).then(e.cast(pl.String)).otherwise(out)
        return out

    fld = pick([c.field if isinstance(c.field, pl.Expr) else pl.lit(c.field) for c in checks])
    rsn = pick([c.reason if isinstance(c.reason, pl.Expr) else pl.lit(c.reason) for c in checks])
    val = pick([_value_expr(c, cols) for c in checks])
    bad = bad.with_columns(_qfield=fld, _qreason=rsn, _qvalue=val).drop("_qk", *pre)
    return good, bad


def dedupe_check(keys: Sequence[str], what: str) -> Check:
    """Check that keeps the first row (in file order) of each key; later ones name the first."""
    return Check(
        keys[0],
        ~(pl.col(keys[0]) if len(keys) == 1 else pl.struct(keys)).is_first_distinct(),
        pl.format("duplicate {}: first at {}:{}", pl.lit(what), pl.col("_dup_file"), pl.col("_dup_line")),
        pl.concat_str([pl.col(k).cast(pl.String) for k in keys], separator="/"),
        pre={
            "_dup_file": pl.col("_file").first().over(keys),
            "_dup_line": pl.col("_line").first().over(keys),
        },
    )


def frontal_expr(view: str = "view") -> pl.Expr:
    """True for ViewPosition values in :data:`imax.schema.records.FRONTAL_VIEWS`."""
    return pl.col(view).is_in(sorted(FRONTAL_VIEWS)).fill_null(False)
