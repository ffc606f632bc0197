"""The reading context every adapter gets: registry entries, quarantine, per-file accounting, IMAGES joins.

* :class:`Adapter` — one registry entry (name, official file names, reader function);
* :class:`Context` — what a reader gets: the data root, the config, the IMAGES table built so far, and
  the collectors for annotations, quarantine rows and per-file accounting (strict mode lives here). Its
  :meth:`Context.read_csv` turns :mod:`imax.sources.files`' results into rows or quarantine rows: a
  wholly unreadable file becomes one ``*`` quarantine row.

Rows carry two private columns through every adapter: ``_file`` (file label) and ``_line`` (1-based file
line, header = line 1; for JSON the 0-based list index). Quarantine rows are built from them.
"""

from __future__ import annotations

import csv
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import polars as pl

from imax.schema.errors import InputError
from imax.sources.checks import Check, split_checks
from imax.sources.files import BLOCK, RawFile, csv_header, load_bytes, parse_csv, scan_file, stream_csv
from imax.sources.tables import ANNOTATION_SCHEMA, QUARANTINE_SCHEMA, VALUE_MAX_CHARS, InputFile

if TYPE_CHECKING:
    from imax.schema.config.sources import SourcesConfig


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
            src, head = raw.data, raw.data[:BLOCK]
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
            header = [(rename or {}).get(h, h) for h in csv_header(head)]
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
            df = parse_csv(src, header, wanted, lines)
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
        """:meth:`read_csv` of a plain file in batches (:func:`imax.sources.files.stream_csv`); None when
        it does not stream cleanly (the caller then reads it in one piece, which names any problem)."""
        got = stream_csv(path, required, optional, rename, batch)
        if got is None:
            return None
        df, scan = got
        return df.with_columns(_file=pl.lit(self.label(path))), RawFile(path, b"", scan.sha256)

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
