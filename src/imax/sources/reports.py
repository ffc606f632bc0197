"""MIMIC-CXR free-text reports → task ``report`` (study level, fanned out to frontal images).

Two routes (``cfg.report_route``; auto = sectioned when present):

* **sectioned (fast)**: MIT-LCP's ``mimic_cxr_sectioned.csv`` (``study,impression,findings,
  last_paragraph,comparison``; ``study`` = ``"s50414267"``; cells may span lines, so quarantine lines are
  counted from the embedded newlines). Fully vectorised.
* **tree**: ``files/pXX/pSUBJECT/sSTUDY.txt`` read by a thread pool (chunks of 2048 files per task) and
  sectioned with :mod:`imax.sources.sectioning` — per-report Python, the one unavoidable row loop:
  measured ~6.5 s of CPU for 227K short reports (warm page cache, shared 2-core box) against ~1 s for
  the sectioned CSV. The whole tree is one input (``InputFile.path`` = the
  ``files`` folder, sha256 over sorted relative paths + contents, one row per report); its quarantine
  rows name the report file with line null.

Answer ``{"text": findings, else impression, else last_paragraph}`` with whitespace collapsed; a report
with none of them is quarantined. meta ``{"file", "line", "section", "route"}``.
"""

from __future__ import annotations

import hashlib
import os
import re
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import polars as pl

from imax.sources.checks import Check, dedupe_check, json_obj, split_checks
from imax.sources.context import Context
from imax.sources.files import EMPTY_FILE
from imax.sources.sectioning import report_answer

SECTIONED_RE = r"mimic_cxr_sectioned\.csv(?:\.gz)?"
TREE_RE = r"files/p\d{2}/p\d{8}/s\d{8}\.txt"
PATTERNS = (SECTIONED_RE, TREE_RE)
_TREE_FILE = re.compile(r"(?:^|/)files/p(\d{2})/p(\d{8})/s(\d{8})\.txt$")


def read(files: list[Path], ctx: Context) -> None:
    """Read the sectioned CSV or the report tree (see module docstring)."""
    names = [str(f) for f in files]  # discovery order is sorted; no Path sorting at 227K files
    sectioned = [f for f, n in zip(files, names, strict=True) if re.search(SECTIONED_RE + "$", n)]
    tree = [f for f, n in zip(files, names, strict=True) if n.endswith(".txt")]
    route = ctx.cfg.report_route
    if route == "auto":
        route = "sectioned" if sectioned else "tree"
    # An explicit route falls back to the other input when its own is absent (as chexpert_labeler does).
    if (route == "sectioned" and sectioned) or not tree:
        _read_sectioned(sectioned[0], ctx)
    else:
        _read_tree(tree, ctx)


def _emit(rows: pl.DataFrame, route: str, ctx: Context) -> None:
    ctx.emit(
        rows.select(
            "dicom_id",
            task=pl.lit("report"),
            source=pl.lit(ctx.source),
            query=pl.lit("{}"),
            answer=json_obj(text=pl.col("_text")),
            meta=json_obj(
                file=pl.col("_file"), line=pl.col("_line"), section=pl.col("_section"), route=pl.lit(route)
            ),
        )
    )


def _read_sectioned(path: Path, ctx: Context) -> None:
    got = ctx.read_csv(path, ["study", "impression", "findings", "last_paragraph"])
    if got is None:
        return
    df, raw = got
    study = pl.col("study").str.strip_chars().str.strip_prefix("s")
    clean = {
        c: pl.col(c).str.replace_all(r"\s+", " ").str.strip_chars().fill_null("")
        for c in ("findings", "impression", "last_paragraph")
    }
    section = (
        pl.when(clean["findings"] != "")
        .then(pl.lit("findings"))
        .when(clean["impression"] != "")
        .then(pl.lit("impression"))
        .when(clean["last_paragraph"] != "")
        .then(pl.lit("last_paragraph"))
    )
    text = (
        pl.when(clean["findings"] != "")
        .then(clean["findings"])
        .when(clean["impression"] != "")
        .then(clean["impression"])
        .otherwise(clean["last_paragraph"])
    )
    df = df.with_columns(_section=section, _text=text)
    checks = [
        Check(
            "study", ~study.str.contains(r"^5\d{7}$").fill_null(False), "study is not 's' + 8-digit study id"
        ),
        Check(
            "findings",
            pl.col("_section").is_null(),
            "no findings, impression or last paragraph text",
            pl.lit(None, pl.String),
        ),
        dedupe_check(["study"], "study"),
    ]
    good, bad = split_checks(df, checks)
    ctx.reject(bad)
    rows = ctx.fan_out(good.with_columns(_study=study.cast(pl.Int64)))
    _emit(rows, "sectioned", ctx)
    ctx.account(path, raw.sha256, df.height)


_CHUNK = 2048
"""Reports per thread-pool task (one future per file would cost more than reading it)."""
_BIG = 1 << 20


def _read_file(path: str) -> bytes | str:
    """Bytes of one report, or why it cannot be read (raw ``os`` calls: half the cost of Path.read_bytes)."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError as exc:
        return f"cannot read file: {exc}"
    try:
        data = os.read(fd, _BIG)
        if len(data) == _BIG:  # rare long file: read the rest
            parts = [data]
            while part := os.read(fd, _BIG):
                parts.append(part)
            data = b"".join(parts)
        return data
    except OSError as exc:
        return f"cannot read file: {exc}"
    finally:
        os.close(fd)


def _read_chunk(paths: list[str]) -> list[bytes | str]:
    return [_read_file(p) for p in paths]


def _parse(data: bytes | str) -> tuple[bytes, str | None, str | None, str | None]:
    """(raw bytes, section, text, error) of one report."""
    if isinstance(data, str):
        return b"", None, None, data
    if not data:
        return data, None, None, EMPTY_FILE
    got = report_answer(data.decode("utf-8", errors="replace"))
    if got is None:
        return data, None, None, "no findings, impression or last paragraph text"
    return data, got[0], got[1], None


def _read_tree(files: list[Path], ctx: Context) -> None:
    labels = [ctx.label(f) for f in files]
    if labels != sorted(labels):  # the tree hash is over sorted relative paths
        order = sorted(range(len(files)), key=labels.__getitem__)
        files, labels = [files[i] for i in order], [labels[i] for i in order]
    names = [str(f) for f in files]
    chunks = [names[i : i + _CHUNK] for i in range(0, len(names), _CHUNK)]
    # Threads overlap the reads (a cold cache is I/O bound); parsing stays in this thread, where it
    # does not fight the readers for the GIL.
    with ThreadPoolExecutor(max_workers=max(1, min(ctx.cfg.io_workers, 4))) as pool:
        parsed = [_parse(blob) for part in pool.map(_read_chunk, chunks) for blob in part]
    digest = hashlib.sha256()
    for lab, (blob, *_rest) in zip(labels, parsed, strict=True):
        digest.update(lab.encode() + b"\0" + blob + b"\0")
    ids = [_TREE_FILE.search(lab) for lab in labels]
    df = pl.DataFrame(
        {
            "_file": labels,
            "_line": [None] * len(labels),
            "_subject": [int(m.group(2)) if m else None for m in ids],
            "_study": [int(m.group(3)) if m else None for m in ids],
            "_section": [p[1] for p in parsed],
            "_text": [p[2] for p in parsed],
            "_error": [p[3] for p in parsed],
        },
        schema={
            "_file": pl.String,
            "_line": pl.Int64,
            "_subject": pl.Int64,
            "_study": pl.Int64,
            "_section": pl.String,
            "_text": pl.String,
            "_error": pl.String,
        },
    )
    del parsed
    # All report rows count against one logical input: relabel quarantine rows to the tree root after.
    before = len(ctx.quarantined)
    good, bad = split_checks(
        df,
        [
            Check("*", pl.col("_error").is_not_null(), pl.col("_error"), pl.lit(None, pl.String)),
            Check(
                "path",
                pl.col("_study").is_null(),
                "not a files/pXX/pSUBJECT/sSTUDY.txt path",
                pl.col("_file"),
            ),
        ],
    )
    ctx.reject(bad)
    rows = ctx.fan_out(good)
    _emit(rows, "tree", ctx)
    n_bad = sum(q.height for q in ctx.quarantined[before:])
    tree_root = _tree_root(files[0])
    label = ctx.label(tree_root)
    ctx._counts[label] = ctx._counts.get(label, 0) + n_bad
    ctx.account(tree_root, digest.hexdigest(), len(files), label=label)


def _tree_root(path: Path) -> Path:
    """The ``files`` folder above ``files/pXX/pSUBJECT/sSTUDY.txt``."""
    return path.parent.parent.parent
