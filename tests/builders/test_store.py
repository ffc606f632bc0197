"""Store: join by dicom_id, orphans quarantined (or raised with strict), contract checks."""

from __future__ import annotations

import polars as pl
import pytest

from imax.builders import make_store, write_store
from imax.builders.store import ORPHAN_REASON
from imax.schema.errors import InputError
from imax.sources.base import SourceTables


def test_orphans_are_quarantined_with_file_and_line(synth_tables: SourceTables, tmp_path) -> None:
    store = make_store(synth_tables)
    assert store.annotations.height == synth_tables.annotations.height - 3
    q = store.quarantine.filter(pl.col("reason") == ORPHAN_REASON)
    assert q.height == 3 and set(q["file"]) == {"reports.csv"} and q["line"].min() >= 10_000
    assert store.orphans["n"].sum() == 3
    assert store.annotations["n_tasks"].min() >= 1
    write_store(store, tmp_path)
    assert pl.read_parquet(tmp_path / "annotations.parquet").height == store.annotations.height
    assert pl.read_csv(tmp_path / "quarantine.csv").height == store.quarantine.height


def test_strict_raises_on_orphan(synth_tables: SourceTables) -> None:
    with pytest.raises(InputError, match="dicom_id"):
        make_store(synth_tables, strict=True)


def test_duplicate_image_rows_are_a_contract_violation(synth_tables: SourceTables) -> None:
    bad = SourceTables(images=pl.concat([synth_tables.images, synth_tables.images.head(1)]),
                       annotations=synth_tables.annotations, quarantine=synth_tables.quarantine)
    with pytest.raises(ValueError, match="repeated dicom_id"):
        make_store(bad)


def test_missing_column_is_named(synth_tables: SourceTables) -> None:
    bad = SourceTables(images=synth_tables.images.drop("path"), annotations=synth_tables.annotations,
                       quarantine=synth_tables.quarantine)
    with pytest.raises(ValueError, match="path"):
        make_store(bad)
