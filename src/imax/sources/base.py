"""What every source adapter returns, and the bookkeeping that accounts for each input row.

Besides the result types (:class:`SourceTables`, :class:`InputFile`) this module owns the shared
machinery of the adapters:

* :class:`Adapter` — one registry entry (name, official file names, reader function);
* :class:`Context` — what a reader gets: the data root, the config, the IMAGES table built so far, and
  the collectors for annotations, quarantine rows and per-file accounting (strict mode lives here);
* :func:`read_csv` — every CSV/CSV.gz is read the same way (all columns as strings, header names
  stripped, a 1-based ``_line`` column); a wholly unreadable file becomes one ``*`` quarantine row;
* :class:`Check` / :func:`split_checks` — vectorised row validation: each check is a polars boolean
  expression; the first failing check of a row names its field and reason.

Rows carry two private columns through every adapter: ``_file`` (file label) and ``_line`` (1-based file
line, header = line 1; for JSON the 0-based list index). Quarantine rows are built from them.
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
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import polars as pl

from imax.schema.errors import ImaxError, InputError, MissingPathError
from imax.schema.records import (
    ANNOTATION_COLUMNS,
    FRONTAL_VIEWS,
    IMAGE_COLUMNS,
    QUARANTINE_COLUMNS,
    polars_schema,
)

if TYPE_CHECKING:
    from imax.schema.config.sources import SourcesConfig


@dataclass
class InputFile:
    """One native input file and what became of its rows (goes into manifest.json)."""

    source: str
    """Adapter name (a key of ``imax.sources.SOURCES``)."""
    path: str
    """Path as found (absolute)."""
    sha256: str
    rows_read: int
    rows_used: int
    rows_quarantined: int


NEAR_SHOWN = 20
"""Near misses kept per missing source (a misplaced report tree would otherwise list 227K files)."""


@dataclass
class NotFound:
    """A source with no file: what was looked for, what came close, and how to point imax at it."""

    source: str
    looked_for: list[str]
    """The adapter's official names (:attr:`Adapter.globs`)."""
    near_misses: list[str] = field(default_factory=list)
    """Files under the root with an official file name in the wrong place (relative paths; the first
    :data:`NEAR_SHOWN` of ``near_total``)."""
    near_total: int = 0
    unresolved: list[str] = field(default_factory=list)
    """Paths sources.yaml gave for this source that do not exist."""

    def hint(self) -> str:
        """One line: how to map the source in ``sources.yaml``."""
        # Files, not their folder: a folder is searched with the official patterns, which these miss.
        few = 0 < self.near_total <= 4
        example = f"[{', '.join(self.near_misses)}]" if few else "<file, folder or [files]>"
        return (
            f"map it in sources.yaml (in the data root, or --sources-cfg.paths-file): "
            f"'{self.source}: {example}' (paths relative to the data root, or absolute)"
        )

    def lines(self) -> list[str]:
        """Human-readable description (for the build's accounting print)."""
        out = [f"looked for {', '.join(self.looked_for)}"]
        if self.unresolved:
            out.append(f"sources.yaml maps it to {', '.join(self.unresolved)}: no such file or folder")
        if self.near_misses:
            more = self.near_total - 3
            shown = ", ".join(self.near_misses[:3]) + (f" (+{more} more)" if more > 0 else "")
            out.append(f"same file name in another place (not read): {shown}")
        out.append(self.hint())
        return out


@dataclass
class SourceTables:
    """Canonical output of reading sources (columns: see :mod:`imax.schema.records`).

    ``images`` has one row per image (IMAGE_COLUMNS), ``annotations`` one row per annotation
    (ANNOTATION_COLUMNS), ``quarantine`` one row per rejected input row (QUARANTINE_COLUMNS).
    For every input file: ``rows_read == rows_used + rows_quarantined``.
    """

    images: pl.DataFrame
    annotations: pl.DataFrame
    quarantine: pl.DataFrame
    inputs: list[InputFile] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)
    """Sources that were not found (reported and skipped, never fatal)."""
    not_found: list[NotFound] = field(default_factory=list)
    """For each of ``missing``: the names looked for, look-alike files and the sources.yaml hint."""
    data_root: Path | None = None
    """Root that image paths are relative to (the folder holding ``files/``)."""

    def no_images_error(self) -> ImaxError:
        """Why IMAGES is empty, as one line naming the metadata file (a build cannot go on without it).

        Every annotation joins an image row, so an unreadable, column-less or wholly invalid
        ``mimic-cxr-2.0.0-metadata.csv(.gz)`` leaves nothing to build: callers raise this instead of
        building an empty dataset."""
        meta = [
            i for i in self.inputs if i.source == "mimic_metadata" and _METADATA.search(Path(i.path).name)
        ]
        if not meta:
            where = f" under {self.data_root}" if self.data_root is not None else ""
            nf = next((n for n in self.not_found if n.source == "mimic_metadata"), None)
            how = "; ".join(nf.lines()) if nf else "map it in sources.yaml as 'mimic_metadata: <path>'"
            return MissingPathError(
                f"no image metadata: mimic-cxr-2.0.0-metadata.csv(.gz) not found{where}: {how}"
            )
        m = meta[0]
        q = self.quarantine.filter(pl.col("file").str.ends_with(Path(m.path).name))
        whole = q.filter(pl.col("field") == "*")
        if whole.height:
            r = whole.row(0, named=True)
            return InputError(r["file"], r["line"], "*", f"{r['reason']} (no image rows: nothing to build)")
        first = q.sort("line", nulls_last=True).head(1).rows(named=True)
        example = "".join(f"; first: line {r['line']} field '{r['field']}': {r['reason']}" for r in first)
        return InputError(
            first[0]["file"] if first else m.path,
            None,
            "*",
            f"no valid image rows ({m.rows_read} read, {m.rows_quarantined} quarantined{example}): "
            "nothing to build",
        )


QUARANTINE_SCHEMA: dict[str, pl.DataType] = {
    "file": pl.String(),
    "line": pl.Int64(),
    "field": pl.String(),
    "reason": pl.String(),
    "value": pl.String(),
}
assert tuple(QUARANTINE_SCHEMA) == QUARANTINE_COLUMNS
IMAGE_SCHEMA = polars_schema(IMAGE_COLUMNS)
ANNOTATION_SCHEMA = polars_schema(ANNOTATION_COLUMNS)
VALUE_MAX_CHARS = 200
"""Offending values are truncated in quarantine rows (an RLE string can be megabytes)."""

# ---- id conventions (source-formats.md §0) ------------------------------------------------------
DICOM_RE = r"^[0-9a-fA-F]{8}(?:-[0-9a-fA-F]{8}){4}$"
"""44-char MIMIC image id: five dash-separated 8-hex groups."""
SUBJECT_RE = r"^1\d{7}$"
STUDY_RE = r"^5\d{7}$"
_METADATA = re.compile(r"mimic-cxr-2\.\d\.\d-metadata\.csv(?:\.gz)?$")


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


# ---- reading files -----------------------------------------------------------------------------------
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


_BLOCK = 16 << 20
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
            size = min(_BLOCK, os.fstat(f.fileno()).st_size + 1)  # small files: small buffers
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


def _header(data: bytes) -> list[str]:
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


# ---- context ----------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Adapter:
    """One native source: its official file names and its reader."""

    name: str
    patterns: tuple[str, ...]
    """Regexes matched against the end of a file's path relative to the root (``/``-separated)."""
    read: Callable[[list[Path], Context], None]
    """Reads the files found for this source; reports results through the :class:`Context`."""
    needs_images: bool = True
    """Whether rows join IMAGES (then the source cannot be read without mimic_metadata)."""
    doc: str = ""
    background: bool = False
    """Read in a thread beside the other sources once IMAGES exists (it needs nothing else from them),
    its results merged in at its place in the registry: for a slow source (CheXmask)."""
    globs: tuple[str, ...] = ()
    """The official file names as a user reads them (shell-style, relative to the data root: ``**/``
    any folders, ``{a,b}`` alternatives, ``[.gz]`` an optional suffix). Printed when the source is not
    found; their last component also spots look-alike files that miss the patterns."""


@dataclass
class Context:
    """State shared by the adapters during one :func:`imax.sources.read_sources` call."""

    root: Path
    cfg: SourcesConfig
    source: str = ""
    images: pl.DataFrame | None = None
    """Valid IMAGES rows so far (plus a boolean ``frontal`` column); None until mimic_metadata ran."""
    annotations: list[pl.DataFrame] = field(default_factory=list)
    quarantined: list[pl.DataFrame] = field(default_factory=list)
    inputs: list[InputFile] = field(default_factory=list)
    _counts: dict[str, int] = field(default_factory=dict)

    def fork(self, source: str) -> Context:
        """A context for reading ``source`` beside this one: its own collectors, the same IMAGES."""
        return Context(root=self.root, cfg=self.cfg, source=source, images=self.images)

    def merge(self, other: Context) -> None:
        """Take over what a :meth:`fork` collected (after the sources read so far)."""
        self.annotations += other.annotations
        self.quarantined += other.quarantined
        self.inputs += other.inputs
        for label, n in other._counts.items():
            self._counts[label] = self._counts.get(label, 0) + n

    # -- naming
    def label(self, path: Path) -> str:
        """How a file is named in quarantine rows and meta: relative to the root when inside it."""
        text, root = str(path), str(self.root).rstrip("/") + "/"
        if text.startswith(root) and "/../" not in text and not text.endswith("/.."):
            return text[len(root) :]  # fast path (no syscalls): 227K report files get labelled
        try:
            return path.resolve().relative_to(self.root.resolve()).as_posix()
        except ValueError:
            return str(path.resolve())

    # -- quarantine
    def reject(self, bad: pl.DataFrame) -> None:
        """Quarantine rows tagged by :func:`split_checks` (``_file, _line, _field, _reason, _value``)."""
        if bad.height == 0:
            return
        q = bad.select(
            file=pl.col("_file").cast(pl.String),
            line=pl.col("_line").cast(pl.Int64),
            field=pl.col("_qfield").cast(pl.String),
            reason=pl.col("_qreason").cast(pl.String),
            value=pl.col("_qvalue").cast(pl.String).str.slice(0, VALUE_MAX_CHARS),
        )
        if self.cfg.strict:
            r = q.sort("file", "line", maintain_order=True).row(0, named=True)
            raise InputError(r["file"], r["line"], r["field"], r["reason"])
        # A row may only be quarantined once; stages remove bad rows before the next stage.
        for f, n in q.group_by("file").len().iter_rows():
            self._counts[f] = self._counts.get(f, 0) + n
        self.quarantined.append(q)

    def reject_where(
        self, df: pl.DataFrame, bad: pl.Expr, fld: str, reason: str | pl.Expr, value: pl.Expr | None = None
    ) -> pl.DataFrame:
        """Quarantine rows where ``bad`` holds; return the others."""
        good, badrows = split_checks(df, [Check(fld, bad, reason, value)])
        self.reject(badrows)
        return good

    def file_error(
        self, path: Path | str, reason: str, line: int | None = None, value: str | None = None
    ) -> None:
        """A wholly unreadable file: one ``*`` quarantine row (not counted as a data row)."""
        label = self.label(path) if isinstance(path, Path) else path
        if self.cfg.strict:
            raise InputError(label, line, "*", reason)
        self.quarantined.append(
            pl.DataFrame(
                {"file": [label], "line": [line], "field": ["*"], "reason": [reason], "value": [value]},
                schema=QUARANTINE_SCHEMA,
            )
        )

    # -- accounting
    def account(self, path: Path, sha256: str, rows_read: int, label: str | None = None) -> None:
        """Record one input file; used = read − quarantined (each row is quarantined at most once)."""
        label = label or self.label(path)
        q = self._counts.get(label, 0)
        self.inputs.append(InputFile(self.source, str(path.resolve()), sha256, rows_read, rows_read - q, q))

    def emit(self, ann: pl.DataFrame) -> None:
        """Add annotation rows (columns exactly ANNOTATION_COLUMNS)."""
        self.annotations.append(ann.select(list(ANNOTATION_SCHEMA)).cast(ANNOTATION_SCHEMA))  # type: ignore[arg-type]

    # -- reading
    @staticmethod
    def _parse_csv(src: bytes | Path, header: list[str], wanted: list[str], lines: int) -> pl.DataFrame:
        """Wanted columns as strings + ``_line``. Line numbers are row + 2 unless quoted cells hold
        newlines (detected by counting newlines; then every column is read to count them per row)."""
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

    def read_csv(
        self,
        path: Path,
        required: Sequence[str],
        optional: Sequence[str] = (),
        *,
        rename: dict[str, str] | None = None,
        batch: Callable[[pl.DataFrame], pl.DataFrame] | None = None,
    ) -> tuple[pl.DataFrame, RawFile] | None:
        """Read a CSV(.gz): the ``required`` + present ``optional`` columns (selected by stripped header
        name; ``rename`` maps alternative header names), all as strings, plus ``_file`` and ``_line``.

        ``batch`` (optional) maps the rows (with ``_line``) to what is kept of them, keeping the row
        count: a plain file is then streamed through it in batches, so a huge file (CheXmask's RLE
        columns are GBs) is never held whole. The result is the same as ``batch(whole table)``.

        Returns None after a file-level quarantine row when the file cannot be read or lacks a required
        column. Ragged short rows read as nulls (caught by the adapters' checks).
        """
        if batch is not None and not path.name.endswith(".gz"):
            got = self._stream_csv(path, required, optional, rename or {}, batch)
            if got is not None:
                return got
        got = self._read_csv(path, required, optional, rename)
        if got is not None and batch is not None:
            return batch(got[0]).with_columns(_file=pl.lit(self.label(path))), got[1]
        return got

    def _read_csv(
        self, path: Path, required: Sequence[str], optional: Sequence[str], rename: dict[str, str] | None
    ) -> tuple[pl.DataFrame, RawFile] | None:
        """:meth:`read_csv` in one piece."""
        # Plain files are hashed in one streaming pass and parsed by polars from the path (a GB-sized
        # CheXmask CSV is never held as bytes); .gz files are decompressed in memory.
        src: bytes | Path
        if path.name.endswith(".gz"):
            raw = load_bytes(path)
            src, head = raw.data, raw.data[:_BLOCK]
            lines = raw.data.count(b"\n") + (0 if raw.data.endswith(b"\n") or not raw.data else 1)
        else:
            scan = scan_file(path)
            raw = RawFile(path, b"", scan.sha256, scan.error)
            src, head, lines = path, scan.head, scan.lines
        if raw.error is not None:
            self.file_error(path, raw.error)
            self.account(path, raw.sha256, 0)
            return None
        try:
            header = [(rename or {}).get(h, h) for h in _header(head)]
        except csv.Error as exc:
            self.file_error(path, f"header line is not CSV: {exc}", line=1)
            self.account(path, raw.sha256, 0)
            return None
        missing = [c for c in required if c not in header]
        if missing:
            # name the file's own spelling too (CXR-LT 2024 writes 'Normal' for 'No Finding')
            alt = [f"{a!r} for {c!r}" for a, c in (rename or {}).items() if c in missing]
            also = f" (also accepted: {', '.join(alt)})" if alt else ""
            self.file_error(
                path, f"missing header column(s) {missing}{also}", line=1, value=",".join(header)[:200]
            )
            self.account(path, raw.sha256, 0)
            return None
        wanted = [c for c in (*required, *optional) if c in header]
        twice = [c for c in wanted if header.count(c) > 1]
        if twice:  # which copy holds the values is anyone's guess: refuse rather than pick one
            self.file_error(path, f"header column(s) {twice} appear more than once", line=1)
            self.account(path, raw.sha256, 0)
            return None
        try:
            df = self._parse_csv(src, header, wanted, lines)
        except pl.exceptions.PolarsError as exc:  # ComputeError, NoDataError, DuplicateError...: report it
            self.file_error(path, f"cannot parse CSV: {str(exc).splitlines()[0]}")
            self.account(path, raw.sha256, 0)
            return None
        df = df.with_columns(_file=pl.lit(self.label(path)))
        return df, RawFile(path, b"", raw.sha256)  # drop the bytes early: CheXmask's can be GBs

    def _stream_csv(
        self,
        path: Path,
        required: Sequence[str],
        optional: Sequence[str],
        rename: dict[str, str],
        batch: Callable[[pl.DataFrame], pl.DataFrame],
    ) -> tuple[pl.DataFrame, RawFile] | None:
        """:meth:`read_csv` of a plain file in batches (polars streaming), hashed in a thread meanwhile.

        Returns None (the caller then reads the file in one piece, which reports any problem exactly as
        before) when the file is unreadable, lacks a column or does not stream cleanly, and when quoted
        cells hold newlines (line numbers then need the whole file)."""
        try:
            with open(path, "rb") as f:
                head = f.read(_BLOCK)
        except OSError:
            return None
        try:
            header = [rename.get(h, h) for h in _header(head)]
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
        df = pl.concat(parts).with_columns(_file=pl.lit(self.label(path)))
        return df, RawFile(path, b"", scan.sha256)

    # -- joins against IMAGES
    def frontal_only(self) -> bool:
        return self.source in self.cfg.frontal_only_sources

    def join_images(
        self, df: pl.DataFrame, *, check_ids: bool = True, id_field: str = "dicom_id"
    ) -> pl.DataFrame:
        """Image-level rows → rows of known images (``subject_id``/``study_id`` Int64 from metadata added).

        Quarantines unknown dicom_ids, subject/study ids that contradict metadata (when the row has
        ``_subject``/``_study`` Int64 columns and ``check_ids``) and, for frontal-only sources, non-frontal
        views.
        """
        assert self.images is not None
        img = self.images.select("dicom_id", "subject_id", "study_id", "frontal", "height", "width", "view")
        df = df.drop([c for c in img.columns if c != "dicom_id" and c in df.columns])  # raw id text columns
        df = df.join(img, on="dicom_id", how="left")
        df = self.reject_where(
            df,
            pl.col("subject_id").is_null(),
            id_field,
            f"{id_field} not in metadata (or its image was quarantined)",
            pl.col("dicom_id"),
        )
        if check_ids and "_subject" in df.columns:
            df = self.reject_where(
                df,
                pl.col("_subject").is_not_null() & (pl.col("_subject") != pl.col("subject_id")),
                "subject_id",
                "subject_id does not match metadata for this dicom_id",
                pl.col("_subject"),
            )
        if check_ids and "_study" in df.columns:
            df = self.reject_where(
                df,
                pl.col("_study").is_not_null() & (pl.col("_study") != pl.col("study_id")),
                "study_id",
                "study_id does not match metadata for this dicom_id",
                pl.col("_study"),
            )
        if self.frontal_only():
            df = self.reject_where(
                df, ~pl.col("frontal"), id_field, "non-frontal view (source is frontal-only)", pl.col("view")
            )
        return df

    def fan_out(self, df: pl.DataFrame) -> pl.DataFrame:
        """Study-level rows (``_study`` Int64, optional ``_subject``) → one row per image of the study
        (frontal images only for frontal-only sources). Rows with no image are quarantined."""
        assert self.images is not None
        img = self.images
        if self.frontal_only():
            img = img.filter(pl.col("frontal"))
        img = img.select(
            "dicom_id", "subject_id", pl.col("study_id").alias("_study"), "height", "width", "view"
        )
        df = df.drop(
            [c for c in (*img.columns, "subject_id", "study_id") if c in df.columns and c != "_study"]
        )
        studies = self.images.group_by("study_id").agg(pl.col("subject_id").first().alias("_study_subject"))
        df = df.join(studies.rename({"study_id": "_study"}), on="_study", how="left")
        df = self.reject_where(
            df, pl.col("_study_subject").is_null(), "study_id", "study_id not in metadata", pl.col("_study")
        )
        if "_subject" in df.columns:
            df = self.reject_where(
                df,
                pl.col("_subject") != pl.col("_study_subject"),
                "subject_id",
                "subject_id does not match metadata for this study",
                pl.col("_subject"),
            )
        has = df.join(img.select("_study").unique(), on="_study", how="semi")
        none = df.join(img.select("_study").unique(), on="_study", how="anti")
        self.reject(
            none.with_columns(
                _qfield=pl.lit("study_id"),
                _qreason=pl.lit(
                    "study has no frontal image in metadata" if self.frontal_only() else "study has no image"
                ),
                _qvalue=pl.col("_study").cast(pl.String),
            )
        )
        return has.drop("_study_subject").join(img, on="_study", how="inner")


def empty_quarantine() -> pl.DataFrame:
    return pl.DataFrame(schema=QUARANTINE_SCHEMA)


def empty_images() -> pl.DataFrame:
    return pl.DataFrame(schema=IMAGE_SCHEMA)  # type: ignore[arg-type]


def empty_annotations() -> pl.DataFrame:
    return pl.DataFrame(schema=ANNOTATION_SCHEMA)  # type: ignore[arg-type]


def frontal_expr(view: str = "view") -> pl.Expr:
    """True for ViewPosition values in :data:`imax.schema.records.FRONTAL_VIEWS`."""
    return pl.col(view).is_in(sorted(FRONTAL_VIEWS)).fill_null(False)
