"""The canonical image-centric store: images joined with their annotations by ``dicom_id``.

An annotation whose ``dicom_id`` has no image row cannot be placed on a patient, a split or a path:
it goes to quarantine with a reason (or raises with ``strict``), never silently away.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import polars as pl

from imax.schema.errors import InputError
from imax.schema.records import ANNOTATION_COLUMNS, IMAGE_COLUMNS, QUARANTINE_COLUMNS, polars_schema
from imax.sources.base import SourceTables

ORPHAN_REASON = "dicom_id has no row in the image metadata (annotation cannot be placed on an image)"


@dataclass
class Store:
    """Images (one row per ``dicom_id``) and the annotations that join them, plus what was rejected."""

    images: pl.DataFrame
    """IMAGE_COLUMNS; ``split`` is still the official split here."""
    annotations: pl.DataFrame
    """ANNOTATION_COLUMNS plus ``subject_id`` and ``n_tasks`` (distinct tasks of the image)."""
    quarantine: pl.DataFrame
    """QUARANTINE_COLUMNS: the reader's rows followed by the build's orphan annotations."""
    orphans: pl.DataFrame
    """Per (source, task): annotations dropped as orphans (columns source, task, n)."""


def _conform(df: pl.DataFrame, columns: dict[str, str], what: str) -> pl.DataFrame:
    """Select the contract's columns in order with their dtypes; a missing column is a bug upstream."""
    missing = [c for c in columns if c not in df.columns]
    if missing:
        raise ValueError(f"{what} table lacks columns {missing} (see imax.schema.records)")
    schema = polars_schema(columns)
    return df.select([pl.col(c).cast(schema[c]) for c in columns])  # type: ignore[arg-type]


def empty_quarantine() -> pl.DataFrame:
    return pl.DataFrame(schema={c: (pl.Int64 if c == "line" else pl.String) for c in QUARANTINE_COLUMNS})


def make_store(tables: SourceTables, strict: bool = False) -> Store:
    """Join ``tables.annotations`` to ``tables.images`` by dicom_id; quarantine orphans.

    Raises the one-line :meth:`SourceTables.no_images_error` when there is no image row at all (the
    metadata file is missing, unreadable or wholly invalid): nothing could be built."""
    if tables.images.height == 0:
        raise tables.no_images_error()
    images = _conform(tables.images, IMAGE_COLUMNS, "images")
    dup = images.filter(pl.col("dicom_id").is_duplicated())
    if dup.height:
        raise ValueError(f"images has {dup.height} rows with a repeated dicom_id, e.g. {dup['dicom_id'][0]}")
    annotations = _conform(tables.annotations, ANNOTATION_COLUMNS, "annotations")
    known = images.select("dicom_id", "subject_id")
    joined = annotations.join(known, on="dicom_id", how="left")
    is_orphan = pl.col("subject_id").is_null()
    orphans = joined.filter(is_orphan)
    if orphans.height and strict:
        row = orphans.row(0, named=True)
        file, line = _meta_file_line(orphans.head(1))
        raise InputError(file[0] or row["source"], line[0], "dicom_id", f"{ORPHAN_REASON}: {row['dicom_id']}")
    kept = joined.filter(~is_orphan)
    # n_tasks drives IMAX eligibility: distinct tasks over ALL the image's annotations, all sources.
    # (a window keeps the row order and costs half a group_by + join back)
    kept = kept.with_columns(pl.col("task").n_unique().over("dicom_id").alias("n_tasks"))
    quarantine = _conform_quarantine(tables.quarantine)
    if orphans.height:
        file, line = _meta_file_line(orphans)
        rows = pl.DataFrame(
            {
                "file": file,
                "line": line,
                "field": ["dicom_id"] * orphans.height,
                "reason": [ORPHAN_REASON] * orphans.height,
                "value": orphans["dicom_id"],
            },
            schema=quarantine.schema,
        )
        quarantine = pl.concat([quarantine, rows])
    counts = orphans.group_by("source", "task").len("n").sort("source", "task")
    return Store(images=images, annotations=kept, quarantine=quarantine, orphans=counts)


def _meta_file_line(df: pl.DataFrame) -> tuple[pl.Series, pl.Series]:
    """Input file and line of each annotation, from its meta JSON (``file``/``line`` keys when present)."""
    meta = df.select(
        pl.col("meta").str.json_path_match("$.file").fill_null(pl.col("source")).alias("file"),
        pl.col("meta").str.json_path_match("$.line").cast(pl.Int64, strict=False).alias("line"),
    )
    return meta["file"], meta["line"]


def _conform_quarantine(q: pl.DataFrame | None) -> pl.DataFrame:
    base = empty_quarantine()
    if q is None or q.height == 0:
        return base
    cols = [pl.col(c).cast(base.schema[c], strict=False) if c in q.columns else pl.lit(None, base.schema[c]).alias(c)
            for c in QUARANTINE_COLUMNS]
    return q.select(cols)


def write_store(store: Store, out: Path) -> None:
    """Write the full store (images.parquet, annotations.parquet, quarantine.csv) under ``out``."""
    out.mkdir(parents=True, exist_ok=True)
    store.images.write_parquet(out / "images.parquet")
    store.annotations.select(list(ANNOTATION_COLUMNS)).write_parquet(out / "annotations.parquet")
    store.quarantine.write_csv(out / "quarantine.csv")
