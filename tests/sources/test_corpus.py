"""Corruption corpus: every source file x every corruption kind, read (and built) without a traceback.

For each case the file is corrupted in a copy of one small phantom and its source is read, lenient and
strict; where the metadata is corrupted, ``imax build`` runs too. Every case must end either with the
rows quarantined (file, line, field, reason; strict mode: one ``InputError`` line naming the file) or
with one clear error line naming the file — never a traceback, never a silent drop. A UTF-8 BOM and
CRLF line ends must read exactly like the clean file.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import polars as pl
import pytest

from imax.schema.config.sources import SourcesConfig
from imax.schema.errors import ImaxError, InputError
from imax.sources import SourceTables, read_sources

from ._util import assert_accounted
from .corpus import GARBAGE, KINDS, TARGETS, Target, columns, corrupt, original, overlay, resolve

PER_COLUMN = ("drop_column", "wrong_type_column")
"""Kinds that run once per column of the file (inside one test case)."""
NOT_FOR = {"txt": ("header_only", *PER_COLUMN), "json": ("wrong_type_column",), "csv": ()}
CASES = [(t, k) for t in TARGETS for k in KINDS if k not in NOT_FOR[t.kind]]
FREE_TEXT = {"ViewPosition", "findings", "impression", "last_paragraph"}
"""Columns any text is valid in (free text; ViewPosition is an open enumeration, unknown = not frontal)."""
RUNS: dict[str, float] = {"cases": 0, "seconds": 0.0, "cpu": 0.0}
"""What the corpus ran (printed by the last test with -s: cases, wall and CPU seconds)."""


def test_every_corpus_file_has_rows(phantom) -> None:  # type: ignore[no-untyped-def]
    root, extra = phantom
    for t in TARGETS:  # so that every corruption has rows to lose
        data = original(root, extra, t)
        assert t.kind == "txt" or len(corrupt(data, t, "header_only") or b"") < len(data), t


@pytest.fixture(scope="session")
def clean(phantom, tmp_path_factory):  # type: ignore[no-untyped-def]
    """Clean read of each target's source, on the same overlay layout the cases use."""
    root, extra = phantom
    base = tmp_path_factory.mktemp("clean")
    out: dict[Target, SourceTables] = {}
    for i, t in enumerate(TARGETS):
        case = overlay(root, base / str(i), resolve(root, t), original(root, extra, t), t.replaces)
        out[t] = read_sources(case, _cfg(t))
    return out


def _cfg(t: Target, strict: bool = False) -> SourcesConfig:
    # image files are checked where their rows come from (the metadata); elsewhere it is time spent
    return SourcesConfig(
        only=(t.source,), strict=strict, io_workers=1, check_images=t.source == "mimic_metadata"
    )


def _rows_of(tables: SourceTables, label: str) -> tuple[pl.DataFrame, pl.DataFrame]:
    """(annotations, quarantine) that came from one file (by label)."""
    ann = tables.annotations.filter(pl.col("meta").str.json_path_match("$.file") == label)
    q = tables.quarantine.filter(pl.col("file") == label)
    return ann, q


def _same(a: SourceTables, b: SourceTables) -> None:
    key = ["dicom_id", "task", "source", "query", "answer", "meta"]
    assert a.annotations.select(key).sort(key).equals(b.annotations.select(key).sort(key))
    assert a.images.sort("dicom_id").equals(b.images.sort("dicom_id"))
    qk = ["file", "line", "field", "reason"]
    qa, qb = (t.quarantine.select(qk).sort(qk, nulls_last=True) for t in (a, b))
    assert qa.equals(qb)
    assert [(i.rows_read, i.rows_used) for i in a.inputs] == [(i.rows_read, i.rows_used) for i in b.inputs]


def _one_line(exc: BaseException, name: str) -> None:
    msg = str(exc)
    assert isinstance(exc, ImaxError), repr(exc)
    assert "\n" not in msg and name in msg, msg


def _input(tables: SourceTables, root: Path, rel: str):  # type: ignore[no-untyped-def]
    want = str((root / rel).resolve()) if not rel.endswith(".txt") else None
    for i in tables.inputs:
        if want is not None and i.path == want:
            return i
    return None


@pytest.mark.parametrize(("target", "kind"), CASES, ids=[f"{t.rel.rsplit('/', 1)[-1]}-{k}" for t, k in CASES])
def test_corruption(phantom, clean, target: Target, kind: str, tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    root, extra = phantom
    data = original(root, extra, target)
    rel = resolve(root, target)
    t0, c0 = time.perf_counter(), time.process_time()
    todo = columns(data, target) if kind in PER_COLUMN else list(GARBAGE) if kind == "garbage" else [None]
    assert todo, target
    for n, column in enumerate(todo):
        bad = corrupt(data, target, kind, column)
        assert bad is not None
        case = overlay(root, tmp_path / f"case{n}", rel, bad, target.replaces)
        tables = read_sources(case, _cfg(target))  # lenient: never raises on bad input
        _check(tables, clean[target], case, target, kind, rel, column)
        qk = ["file", "line", "field", "reason"]
        new = tables.quarantine.select(qk).join(clean[target].quarantine.select(qk), on=qk, how="anti")
        if new.height:  # strict: the first bad row (or broken file) as one InputError line
            with pytest.raises(InputError) as err:
                read_sources(case, _cfg(target, strict=True))
            _one_line(err.value, err.value.file)
            assert err.value.file in set(tables.quarantine["file"]), err.value
        elif tables.quarantine.height == 0:
            read_sources(case, _cfg(target, strict=True))
        # (no new quarantine row: strict mode stops where it stops on the clean file)
        if target.source == "mimic_metadata" and (n == 0 or tables.images.height == 0):
            _build(case, tmp_path / f"out{n}", target, tables, capsys)
        RUNS["cases"] += 1
    RUNS["seconds"] += time.perf_counter() - t0
    RUNS["cpu"] += time.process_time() - c0


def _check(
    tables: SourceTables, base: SourceTables, case: Path, t: Target, kind: str, rel: str, column: str | None
) -> None:
    assert_accounted(tables)
    # Every quarantine row names file, field and reason; a line unless it is about the whole file (or
    # a report of the tree, which has no lines to name).
    for r in tables.quarantine.iter_rows(named=True):
        assert r["file"] and r["field"] and r["reason"], r
        assert r["line"] is not None or r["field"] == "*" or r["file"].endswith(".txt"), r
    inp = _input(tables, case, rel)
    ann, q = _rows_of(tables, rel)
    whole = q.filter(pl.col("field") == "*")
    if t.kind != "txt":  # never silently absent: the file is accounted for or named by a file-level row
        assert inp is not None or whole.height, (t, kind)
    if kind in ("bom", "crlf"):
        _same(tables, base)
    elif kind == "empty":
        assert whole.height == 1 and "empty" in whole["reason"][0], q
    elif kind.startswith("truncate") and (t.gz or (t.kind == "json" and not _parses(case / rel))):
        assert whole.height == 1, (t, kind, q)  # a cut compressed stream or JSON document is the whole file
    elif kind == "truncate_end" and t.kind != "txt":  # only the final newline is gone: read as before
        _same(tables, base)
    elif kind == "header_only":
        assert inp is not None and inp.rows_read == 0 and q.height == 0, (inp, q)
    elif kind == "drop_column":
        if whole.height:  # a required column: named in the one file-level row
            assert column in whole["reason"][0] and inp is not None and inp.rows_read == 0, whole
        else:  # an optional or unread one: the same rows, and any new quarantine row names it
            assert inp is not None and inp.rows_read == _input(base, base.data_root, rel).rows_read  # type: ignore[arg-type, union-attr]
            _, q0 = _rows_of(base, rel)
            new = q.join(q0, on=["line", "field", "reason"], how="anti")
            assert new.height == 0 or set(new["field"]) == {column}, (column, new)
    elif kind == "wrong_type_column":  # the row is quarantined naming that column, or the column is free
        row = q.filter(pl.col("line") == 2)
        if row.height:
            assert row["field"].to_list() == [column], (column, row)
        elif column not in FREE_TEXT:
            _same(tables, base)  # a column the reader does not use
    elif kind == "wrong_type":
        if t.kind == "txt":
            assert q.height == 1 and q["line"][0] is None, q
        else:  # the first data row (CSV line 2, JSON element 0) is quarantined, naming a field
            first = 0 if t.kind == "json" else 2
            row = q.filter(pl.col("line") == first)
            assert row.height == 1 and row["field"][0] != "*", q
            assert ann.filter(pl.col("meta").str.json_path_match("$.line") == str(first)).height == 0


def _parses(path: Path) -> bool:
    try:
        json.loads(path.read_bytes())
    except ValueError:
        return False
    return True


def _build(case: Path, out: Path, t: Target, tables: SourceTables, capsys) -> None:  # type: ignore[no-untyped-def]
    """``imax build`` on the corrupted root: exit 0, or 2 with one line naming the metadata file."""
    from imax.cli import main

    capsys.readouterr()
    rc = main(["build", "--sources", str(case), "--out", str(out), "--no-export-llava", "--no-export-hf"])
    err = capsys.readouterr().err.strip()
    if tables.images.height == 0:
        assert rc == 2 and "\n" not in err and "mimic-cxr-2.0.0-metadata.csv" in err, err
        assert err.startswith("imax build: error: ") and "Traceback" not in err, err
    else:
        assert rc == 0, err
        stats = json.loads((out / "stats.json").read_text())
        assert stats["entries"] > 0
    if tables.quarantine.height:  # --strict: the first bad row as one line, exit code 2
        rc = main(["build", "--sources", str(case), "--out", str(out), "--strict"])
        err = capsys.readouterr().err.strip()
        assert rc == 2 and "\n" not in err and err.startswith("imax build: error: "), err


def test_corpus_size_and_time() -> None:
    """Report of the corpus (run after the cases in file order): how many cases, how long."""
    if RUNS["cases"] == 0:
        pytest.skip("corpus cases not run in this session")
    n, wall, cpu = int(RUNS["cases"]), RUNS["seconds"], RUNS["cpu"]
    print(f"\ncorruption corpus: {n} cases in {wall:.1f} s ({cpu:.1f} s CPU)")
    assert RUNS["cpu"] < 60  # CPU, not wall time: the shared test machine's load must not fail it
