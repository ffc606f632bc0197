"""What reading the sources returns: result types, the canonical frame schemas and empty tables.

Owns :class:`SourceTables` (IMAGES, ANNOTATIONS, quarantine, per-file accounting), :class:`InputFile`
(one native file and what became of its rows, for manifest.json) and :class:`NotFound` (a missing source
and how to map it), plus the polars schemas every adapter's output is cast to.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

import polars as pl

from imax.schema.errors import ImaxError, InputError, MissingPathError
from imax.schema.records import ANNOTATION_COLUMNS, IMAGE_COLUMNS, QUARANTINE_COLUMNS, polars_schema

_METADATA = re.compile(r"mimic-cxr-2\.\d\.\d-metadata\.csv(?:\.gz)?$")
"""The MIMIC-CXR metadata file name (IMAGES comes from it)."""


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


def empty_quarantine() -> pl.DataFrame:
    return pl.DataFrame(schema=QUARANTINE_SCHEMA)


def empty_images() -> pl.DataFrame:
    return pl.DataFrame(schema=IMAGE_SCHEMA)  # type: ignore[arg-type]


def empty_annotations() -> pl.DataFrame:
    return pl.DataFrame(schema=ANNOTATION_SCHEMA)  # type: ignore[arg-type]
