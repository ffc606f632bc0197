"""MIMIC-Ext-MIMIC-CXR-VQA ``train.json`` / ``valid.json`` / ``test.json`` → task ``vqa``.

Each file is a JSON list of objects (source-formats.md §5): ``image_id`` (= dicom_id), ``subject_id`` and
``study_id`` as strings, ``image_path`` **without** the ``files/`` prefix (normalised: an optional
leading ``files/`` is stripped, the path must stay inside the data root and name ``image_id``),
``question``, ``semantic_type``, ``content_type`` and ``answer`` (a list of strings; may be empty).
Quarantine ``line`` for JSON is the 0-based index in the list.

Parsing: polars ``read_json`` with the needed fields typed up front (Rust; ~2 s of CPU for 377K QA);
when it fails (a non-object element, bad JSON) or an ``answer`` is not a list, a slower Python ``json``
path pinpoints the bad objects/fields for quarantine. Known tolerance of the fast path: scalars inside
an answer list or in string fields are read as their text (``1`` → ``"1"``).

query ``{"question", "content_type", "semantic_type"}``, answer ``{"answers": sorted list}``,
meta ``{"file", "line", "split", "idx"}``.
"""

from __future__ import annotations

import io
import json
import re
from pathlib import Path
from typing import Any

import polars as pl

from imax.sources.checks import SUBJECT_RE, Check, bad_dicom, id_int, json_obj, safe_rel_path, split_checks
from imax.sources.context import Context
from imax.sources.files import RawFile, load_bytes, scan_file

PATTERNS = (r"(?i:[^/]*mimic-cxr-vqa[^/]*)/(?:[^/]+/)*(?:train|valid|test)\.json(?:\.gz)?",)
STR_FIELDS = ("image_id", "image_path", "question", "semantic_type", "content_type", "split")
ID_FIELDS = ("subject_id", "study_id", "idx")
_SCHEMA: dict[str, pl.DataType] = {
    **{f: pl.String() for f in (*STR_FIELDS, *ID_FIELDS)},
    "answer": pl.List(pl.String()),
}
_LIST_ANSWER = re.compile(rb'"answer"\s*:\s*\[')


def read(files: list[Path], ctx: Context) -> None:
    """Read every VQA split file found."""
    for path in sorted(files):
        gz = path.name.endswith(".gz")
        scan = None if gz else scan_file(path, _LIST_ANSWER)
        raw = load_bytes(path) if gz else RawFile(path, b"", scan.sha256, scan.error)  # type: ignore[union-attr]
        if raw.error is not None:
            ctx.file_error(path, raw.error)
            ctx.account(path, raw.sha256, 0)
            continue
        head = (raw.data[:64] if gz else scan.head[:64]).lstrip(b"\xef\xbb\xbf \t\r\n")  # type: ignore[union-attr]
        # polars reads a top-level object as a one-row list: only a list goes to the fast path.
        # Fast path reads plain files straight from disk (no 250 MB bytes object held alongside).
        df: pl.DataFrame | str | None = None
        if head[:1] == b"[":
            df = _fast(raw.data if gz else path, None if scan is None else scan.matches)
        if df is None:
            df = _slow(raw.data if gz else path.read_bytes())
        raw.data = b""
        if isinstance(df, str):
            ctx.file_error(path, df)
            ctx.account(path, raw.sha256, 0)
            continue
        df = df.with_columns(_file=pl.lit(ctx.label(path)))
        _emit(df, ctx)
        ctx.account(path, raw.sha256, df.height)


def _fast(src: bytes | Path, list_answers: int | None) -> pl.DataFrame | None:
    """polars parse with the fields we need typed up front (nothing else is materialised).

    With a schema polars coerces instead of failing: ids written as numbers become strings (wanted),
    but a scalar ``answer`` would silently become a one-element list — so the number of ``"answer": [``
    keys in the raw text must equal the number of non-null answers, else the slow path pinpoints rows.
    """
    try:
        df = pl.read_json(io.BytesIO(src) if isinstance(src, bytes) else src, schema=_SCHEMA)
    except pl.exceptions.PolarsError:  # bad JSON or a mistyped element: the slow path names it
        return None
    if list_answers is None:
        assert isinstance(src, bytes)
        list_answers = len(_LIST_ANSWER.findall(src))
    if list_answers != df["answer"].is_not_null().sum():
        return None
    return df.select(
        *[pl.col(f) for f in (*STR_FIELDS, *ID_FIELDS)],
        pl.col("answer"),
        _line=pl.int_range(pl.len(), dtype=pl.Int64),
        _typeerr=pl.lit(None, pl.String),
    )


def _slow(data: bytes) -> pl.DataFrame | str:
    """Python parse that keeps every object and names the first mistyped field (or a reason string)."""
    try:
        items = json.loads(data.decode("utf-8", errors="replace"))
    except ValueError as exc:
        return f"not valid JSON: {exc}"
    if not isinstance(items, list):
        return "top level is not a JSON list"
    cols: dict[str, list[Any]] = {f: [] for f in (*STR_FIELDS, *ID_FIELDS, "answer", "_typeerr")}
    for item in items:  # slow path only: files that polars could not type
        obj = item if isinstance(item, dict) else {}
        err = None if isinstance(item, dict) else "*"
        for f in STR_FIELDS:
            v = obj.get(f)
            ok = v is None or isinstance(v, str)
            cols[f].append(v if ok else None)
            err = err or (None if ok else f)
        for f in ID_FIELDS:
            v = obj.get(f)
            ok = v is None or (isinstance(v, (str, int)) and not isinstance(v, bool))
            cols[f].append(str(v) if ok and v is not None else None)
            err = err or (None if ok else f)
        a = obj.get("answer")
        ok = isinstance(a, list) and all(isinstance(x, str) for x in a)
        cols["answer"].append(a if ok else None)
        err = err or (None if ok or a is None else "answer")
        cols["_typeerr"].append(err)
    schema = {f: pl.String for f in (*STR_FIELDS, *ID_FIELDS, "_typeerr")} | {"answer": pl.List(pl.String)}
    df = pl.DataFrame(cols, schema=schema)
    return df.with_columns(_line=pl.int_range(pl.len(), dtype=pl.Int64))


def _emit(df: pl.DataFrame, ctx: Context) -> None:
    p = pl.col("image_path").str.strip_chars().str.replace(r"^\./", "")
    norm = pl.when(p.str.starts_with("files/")).then(p).otherwise(pl.lit("files/") + p)
    checks = [
        Check(
            "*",
            pl.col("_typeerr") == "*",
            "list element is not a JSON object",
            pl.lit(None, pl.String),
        ),
        Check(
            pl.col("_typeerr"),
            pl.col("_typeerr").is_not_null(),
            pl.format("field {} has the wrong JSON type", pl.col("_typeerr")),
            pl.lit(None, pl.String),
        ),
        Check("image_id", bad_dicom("image_id"), "image_id is not a 44-char MIMIC image id"),
        Check("image_path", pl.col("image_path").is_null(), "image_path missing"),
        Check(
            "image_path", ~safe_rel_path("image_path"), "image_path escapes the data root (absolute or '..')"
        ),
        Check(
            "image_path",
            ~norm.str.ends_with(pl.col("image_id").str.strip_chars() + ".jpg").fill_null(False),
            "image_path does not name this image_id",
        ),
        Check(
            "subject_id",
            pl.col("subject_id").is_not_null()
            & ~pl.col("subject_id").str.contains(SUBJECT_RE).fill_null(False),
            "subject_id is not an 8-digit id starting with 1",
        ),
        Check(
            "study_id",
            pl.col("study_id").is_not_null()
            & ~pl.col("study_id").str.strip_prefix("s").str.contains(r"^5\d{7}$").fill_null(False),
            "study_id is not an 8-digit id starting with 5",
        ),
        Check(
            "question", pl.col("question").str.strip_chars().fill_null("") == "", "question missing or empty"
        ),
        Check("semantic_type", pl.col("semantic_type").is_null(), "semantic_type missing"),
        Check("content_type", pl.col("content_type").is_null(), "content_type missing"),
        Check("answer", pl.col("answer").is_null(), "answer missing or not a list of strings"),
    ]
    good, bad = split_checks(df, checks)
    ctx.reject(bad)
    good = good.with_columns(
        dicom_id=pl.col("image_id").str.strip_chars(),
        _subject=id_int("subject_id"),
        _study=id_int("study_id", "s"),
    )
    rows = ctx.join_images(good, id_field="image_id")
    ctx.emit(
        rows.select(
            "dicom_id",
            task=pl.lit("vqa"),
            source=pl.lit(ctx.source),
            query=json_obj(
                question=pl.col("question"),
                content_type=pl.col("content_type"),
                semantic_type=pl.col("semantic_type"),
            ),
            answer=json_obj(answers=pl.col("answer").list.sort()),
            meta=json_obj(
                file=pl.col("_file"), line=pl.col("_line"), split=pl.col("split"), idx=pl.col("idx")
            ),
        )
    )
