"""Reading input files: whole-file bytes, one-pass scans, and CSV parsing (in one piece or streamed).

Every CSV/CSV.gz is read the same way: all columns as strings, header names stripped, a 1-based
``_line`` column (header = line 1). :func:`scan_file` hashes and counts lines in one streaming pass;
:func:`stream_csv` parses a plain CSV in batches while a thread hashes it. Nothing here quarantines:
failures come back as values (``error`` fields, ``None``) for :class:`imax.sources.context.Context` to
report.
"""

from __future__ import annotations

import csv
import gzip
import hashlib
import io
import os
import re
import zlib
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import polars as pl

EMPTY_FILE = "file is empty (0 bytes): re-download or re-export it"


@dataclass
class RawFile:
    """Bytes of one input file (decompressed) and its hash."""

    path: Path
    data: bytes
    sha256: str
    error: str | None = None
    """Why the file could not be read (then ``data`` is empty)."""


def load_bytes(path: Path) -> RawFile:
    """Read ``path`` (gunzip when it ends in ``.gz``); never raises: failures are in ``error``."""
    try:
        raw = path.read_bytes()
    except OSError as exc:
        return RawFile(path, b"", "", f"cannot read file: {exc}")
    digest = hashlib.sha256(raw).hexdigest()
    if not raw:
        return RawFile(path, b"", digest, EMPTY_FILE)
    if path.name.endswith(".gz"):
        if raw[:2] != b"\x1f\x8b":
            return RawFile(path, b"", digest, "not a gzip file (bad magic bytes)")
        try:
            raw = gzip.decompress(raw)
        except (OSError, EOFError, zlib.error) as exc:
            return RawFile(path, b"", digest, f"corrupt gzip: {exc}")
    return RawFile(path, raw, digest)


@dataclass
class FileScan:
    """One streaming pass over a plain (uncompressed) file: what readers need without holding its bytes."""

    sha256: str
    head: bytes
    """The first block (for the header line)."""
    lines: int
    """Number of lines (newlines, plus one for an unterminated last line)."""
    matches: int = 0
    """Occurrences of the ``count`` pattern, when one was given."""
    error: str | None = None


BLOCK = 16 << 20
_CSV_OPTIONS: dict = dict(
    infer_schema=False, truncate_ragged_lines=True, encoding="utf8-lossy", raise_if_empty=False
)
"""How every CSV is parsed: all columns as strings, short rows padded with nulls, bad UTF-8 replaced."""
_BATCH_ROWS = 4096
"""Rows per batch of a streamed CSV (CheXmask: ~80 MB of RLE text)."""


def scan_file(path: Path, count: re.Pattern[bytes] | None = None) -> FileScan:
    """sha256, first block, line count (and pattern count) of ``path`` in 16 MB blocks; never raises.

    One reused buffer and numpy newline counting: a fresh 16 MB bytes object per block is page-faulted
    afresh (glibc hands it back to the OS), and numpy's compare releases the GIL (this runs in a thread
    beside the CSV parse for streamed files)."""
    h, lines, matches, head, tail, last = hashlib.sha256(), 0, 0, b"", b"", b""
    try:
        with open(path, "rb", buffering=0) as f:
            size = min(BLOCK, os.fstat(f.fileno()).st_size + 1)  # small files: small buffers
            buf, newline = bytearray(size), np.empty(size, dtype=bool)
            while n := f.readinto(buf):
                block = memoryview(buf)[:n]
                h.update(block)
                lines += int(np.count_nonzero(np.equal(np.frombuffer(block, np.uint8), 10, out=newline[:n])))
                head = head or bytes(block)
                last = block[-1:].tobytes()
                if count is not None:
                    # a match may straddle blocks: count those ending in the new part
                    both = tail + block.tobytes()
                    matches += sum(1 for m in count.finditer(both) if m.end() > len(tail))
                    tail = both[-256:]
    except OSError as exc:
        return FileScan("", b"", 0, 0, f"cannot read file: {exc}")
    lines += 0 if last.endswith(b"\n") or not last else 1
    return FileScan(h.hexdigest(), head, lines, matches, None if head else EMPTY_FILE)


def csv_header(data: bytes) -> list[str]:
    """Column names of the first line (BOM and spaces stripped). Raises ``csv.Error`` when the line is
    not CSV (a lone carriage return inside it)."""
    end = data.find(b"\n")
    first = (data if end < 0 else data[:end]).decode("utf-8", errors="replace").lstrip("\ufeff")
    row = next(csv.reader([first]), [])
    return [h.strip() for h in row]


def _line_numbers(df: pl.DataFrame) -> pl.Expr:
    """File line of each row when quoted cells may hold newlines (MIT-LCP's sectioned CSV)."""
    extra = pl.sum_horizontal([pl.col(c).str.count_matches("\n").fill_null(0) for c in df.columns])
    return (2 + (extra + 1).cum_sum() - (extra + 1)).cast(pl.Int64)


def parse_csv(src: bytes | Path, header: list[str], wanted: list[str], lines: int) -> pl.DataFrame:
    """Wanted columns as strings + ``_line``. Line numbers are row + 2 unless quoted cells hold
    newlines (detected by counting newlines; then every column is read to count them per row).

    Raises ``polars.exceptions.PolarsError`` when the file does not parse (the caller quarantines it)."""
    opts = _CSV_OPTIONS
    idx = [header.index(c) for c in wanted]
    df = pl.read_csv(io.BytesIO(src) if isinstance(src, bytes) else src, columns=idx, **opts)  # type: ignore[arg-type]
    if df.width != len(wanted):  # polars may drop columns of an empty file
        df = pl.DataFrame(schema=dict.fromkeys(wanted, pl.String))
    df.columns = wanted  # polars returns the columns in the order asked for
    if lines <= df.height + 1:
        return df.with_columns(_line=pl.int_range(pl.len(), dtype=pl.Int64) + 2)
    full = pl.read_csv(io.BytesIO(src) if isinstance(src, bytes) else src, **opts)  # type: ignore[arg-type]
    return df.with_columns(_line=full.select(_line_numbers(full).alias("_line"))["_line"])


def stream_csv(
    path: Path,
    required: Sequence[str],
    optional: Sequence[str],
    rename: dict[str, str],
    batch: Callable[[pl.DataFrame], pl.DataFrame],
) -> tuple[pl.DataFrame, FileScan] | None:
    """A plain CSV parsed in batches (polars streaming) and mapped through ``batch``, hashed in a thread
    meanwhile: ``(batch(rows with _line) concatenated, scan)``, without the ``_file`` column.

    Returns None (the caller then reads the file in one piece, which reports any problem exactly as
    before) when the file is unreadable, lacks a column or does not stream cleanly, and when quoted
    cells hold newlines (line numbers then need the whole file)."""
    try:
        with open(path, "rb") as f:
            head = f.read(BLOCK)
    except OSError:
        return None
    try:
        header = [rename.get(h, h) for h in csv_header(head)]
    except csv.Error:  # the one-piece read names it
        return None
    if any(c not in header for c in required) or any(header.count(c) > 1 for c in (*required, *optional)):
        return None
    wanted = [c for c in (*required, *optional) if c in header]
    lazy = pl.scan_csv(path, **_CSV_OPTIONS).select(pl.nth([header.index(c) for c in wanted]))  # type: ignore[arg-type]
    parts, rows = [], 0
    with ThreadPoolExecutor(max_workers=1) as pool:
        scanned = pool.submit(scan_file, path)
        try:
            for part in lazy.collect_batches(chunk_size=_BATCH_ROWS):
                if part.width != len(wanted):
                    return None
                part.columns = wanted
                part = part.with_columns(_line=pl.int_range(rows, rows + part.height, dtype=pl.Int64) + 2)
                rows += part.height
                parts.append(batch(part))
        except pl.exceptions.PolarsError:  # the one-piece read names the problem
            return None
        scan = scanned.result()
    if scan.error is not None or scan.lines > rows + 1:
        return None
    if not parts:
        parts = [batch(pl.DataFrame(schema={**dict.fromkeys(wanted, pl.String), "_line": pl.Int64}))]
    return pl.concat(parts), scan
