"""Entries: paraphrase choice is a function of (seed, entry id) only; the real task table renders."""

from __future__ import annotations

import polars as pl

from imax.builders import build_dataset, make_store
from imax.builders.entries import make_entries
from imax.builders.select import prepare
from imax.builders.splits import with_splits
from imax.schema.config.build import BuildConfig


def _rows(tables):
    store = make_store(tables)
    images = with_splits(store.images, 0, 0.05, 0.1)
    return prepare(store.annotations, images, 0), images


def test_paraphrase_independent_of_the_other_rows(synth_tables, fake_tasks) -> None:
    rows, images = _rows(synth_tables)
    full = make_entries(rows, images, fake_tasks, seed=5)
    some = make_entries(rows.sample(fraction=0.3, seed=1), images, fake_tasks, seed=5)
    joined = some.join(full, on="id", suffix="_full")
    assert joined.height == some.height
    assert (joined["instruction"] == joined["instruction_full"]).all()
    other_seed = make_entries(rows, images, fake_tasks, seed=6)
    assert (other_seed["instruction"] != full["instruction"]).sum() > 0
    assert set(full["split"].unique()) == {"train", "val", "test"}


def test_real_task_table_renders_every_task(synth_tables) -> None:
    result = build_dataset(synth_tables, BuildConfig(mode="imax"), write=False)  # default: imax.tasks.TASKS
    from imax.tasks import TASKS

    e = result.entries
    assert set(e["task"].unique()) == set(TASKS)
    for task, spec in TASKS.items():
        part = e.filter(pl.col("task") == task)
        assert part["instruction"].str.starts_with(spec.token + " ").all(), task
        assert (part["response"].str.len_chars() > 0).all(), task


def test_wide_keys_fall_back_to_struct_joins(synth_tables, fake_tasks, monkeypatch) -> None:
    """When codes do not fit one 64-bit key the render joins use struct keys: same entries."""
    from imax.builders import entries

    rows, images = _rows(synth_tables)
    packed = make_entries(rows, images, fake_tasks, seed=5)
    monkeypatch.setattr(entries, "_pack", lambda rows, columns: pl.struct(columns))
    assert make_entries(rows, images, fake_tasks, seed=5).equals(packed)
