"""What every source adapter returns, and the bookkeeping that accounts for each input row."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import polars as pl


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
    data_root: Path | None = None
    """Root that image paths are relative to (the folder holding ``files/``)."""
