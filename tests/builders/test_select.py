"""DMAX selection rule: exact volumes, cap, loud failure, target overlap; IMAX caps; test set."""

from __future__ import annotations

import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from imax.builders import DmaxPoolError, build_dataset
from imax.schema.config.build import BuildConfig


def _train(result) -> dict:
    return result.stats["per_split"]["train"]


def test_dmax_fails_loudly_with_numbers_when_the_pool_is_short(synth_tables, fake_tasks) -> None:
    # uncapped: nearly every CheXmask image is IMAX-eligible, so rec + reg cannot be served one task per image
    with pytest.raises(DmaxPoolError, match=r"needs \d+ entries .* only \d+ annotations"):
        build_dataset(synth_tables, BuildConfig(mode="dmax", max_entries_per_task=None), tasks=fake_tasks,
                      write=False)


def test_dmax_reuse_allowed_by_raising_the_cap(synth_tables, fake_tasks) -> None:
    imax = build_dataset(synth_tables, BuildConfig(mode="imax", max_entries_per_task=None), tasks=fake_tasks,
                         write=False)
    dmax = build_dataset(synth_tables, BuildConfig(mode="dmax", dmax_tasks_per_image=3, max_entries_per_task=None),
                         tasks=fake_tasks, write=False)
    assert _train(dmax)["per_task_entries"] == _train(imax)["per_task_entries"]
    per_image = dmax.entries.filter(pl.col("split") == "train").group_by("dicom_id").agg(pl.col("task").n_unique())
    assert per_image["task"].max() <= 3
    assert _train(dmax)["mean_tasks_per_image"] < _train(imax)["mean_tasks_per_image"]


def test_target_overlap_moves_the_mean(synth_tables, fake_tasks, build_kw) -> None:
    low = build_dataset(synth_tables, BuildConfig(mode="dmax", **build_kw), tasks=fake_tasks, write=False)
    high = build_dataset(
        synth_tables, BuildConfig(mode="dmax", dmax_tasks_per_image=3, dmax_target_overlap=2.0, **build_kw),
        tasks=fake_tasks, write=False,
    )
    assert _train(high)["per_task_entries"] == _train(low)["per_task_entries"]
    assert _train(low)["mean_tasks_per_image"] == 1.0
    assert 1.5 <= _train(high)["mean_tasks_per_image"] <= 2.5


def test_target_overlap_needs_a_cap_that_allows_it(synth_tables, fake_tasks) -> None:
    with pytest.raises(ValueError, match="dmax_target_overlap"):
        build_dataset(synth_tables, BuildConfig(mode="dmax", dmax_target_overlap=2.0), tasks=fake_tasks,
                      write=False)


def test_dmax_draws_each_task_from_images_that_have_it(built, synth_tables) -> None:
    e = built["dmax"].entries.select("dicom_id", "task").unique()
    have = synth_tables.annotations.select("dicom_id", "task").unique()
    assert e.join(have, on=["dicom_id", "task"], how="anti").height == 0


def test_cap_bounds_every_task_and_keeps_images_whole(built, build_kw, synth_tables) -> None:
    train = built["imax"].entries.filter(pl.col("split") == "train")
    cap = build_kw["max_entries_per_task"]
    per_task = train.group_by("task").len()
    assert per_task["len"].max() == cap  # the first task to fill stops the draw at exactly the cap
    # all but at most one kept image keep every annotation they have
    n_kept = train.group_by("dicom_id").len("kept")
    n_all = synth_tables.annotations.group_by("dicom_id").len("all")
    partial = n_kept.join(n_all, on="dicom_id").filter(pl.col("kept") != pl.col("all"))
    assert partial.height <= 1


def test_max_test_images_is_mode_independent(synth_tables, fake_tasks, build_kw) -> None:
    results = [
        build_dataset(synth_tables, BuildConfig(mode=m, max_test_images=10, **build_kw), tasks=fake_tasks,
                      write=False)
        for m in ("imax", "dmax")
    ]
    tests = [r.entries.filter(pl.col("split") == "test") for r in results]
    assert tests[0]["dicom_id"].n_unique() == 10 and tests[0].equals(tests[1])


def test_min_tasks_changes_eligibility(synth_tables, fake_tasks) -> None:
    r = build_dataset(synth_tables, BuildConfig(mode="imax", min_tasks=4), tasks=fake_tasks, write=False)
    per_image = r.entries.group_by("dicom_id").agg(pl.col("task").n_unique().alias("t"))
    assert per_image["t"].min() >= 4


@settings(max_examples=10, deadline=None)
@given(st.integers(0, 10_000), st.integers(1, 3), st.sampled_from([None, 40, 80]))
def test_dmax_volumes_exact_or_loud(seed: int, cap: int, max_entries: int | None) -> None:
    """Property: DMAX either matches IMAX's per-split, per-task volumes exactly under the cap, or raises."""
    from ._build_synth import FAKE_TASKS, make_tables  # session fixtures cannot feed hypothesis examples

    tables = make_tables(60, seed=seed)
    cfg = {"seed": seed, "max_entries_per_task": max_entries}
    imax = build_dataset(tables, BuildConfig(mode="imax", **cfg), tasks=FAKE_TASKS, write=False)
    try:
        dmax = build_dataset(tables, BuildConfig(mode="dmax", dmax_tasks_per_image=cap, **cfg), tasks=FAKE_TASKS,
                             write=False)
    except DmaxPoolError:
        return
    for split in ("train", "val"):
        assert imax.stats["per_split"][split]["per_task_entries"] == dmax.stats["per_split"][split]["per_task_entries"]
    per_image = dmax.entries.filter(pl.col("split") != "test").group_by("dicom_id").agg(pl.col("task").n_unique())
    assert per_image.height == 0 or per_image["task"].max() <= cap
    assert dmax.entries.filter(pl.col("split") == "test").equals(imax.entries.filter(pl.col("split") == "test"))


def test_prepare_order_is_the_string_sort(synth_tables, monkeypatch) -> None:
    """Integer ranks (packed or not) order rows exactly as sorting on the strings does."""
    from imax.builders import select
    from imax.builders.splits import with_splits
    from imax.builders.store import make_store

    store = make_store(synth_tables)
    images = with_splits(store.images, 0, 0.05, 0.1)
    ann = store.annotations.sample(fraction=1.0, shuffle=True, seed=3)  # reader order must not matter
    got = select.prepare(ann, images, 0)
    keys = ["dicom_id", "task", "source", "query"]
    want = got.sort("_key", *keys, maintain_order=True)
    assert got.select(keys).equals(want.select(keys))
    monkeypatch.setattr(select, "_sort_order", lambda df: df.select(pl.arg_sort_by(
        "_img", "task", "source", "query", maintain_order=True)).to_series())
    assert select.prepare(ann, images, 0).equals(got)  # the plain multi-column sort agrees


def test_sort_order_fallbacks() -> None:
    from imax.builders.select import _sort_order

    df = pl.DataFrame({"_img": [1, 0, 1, 0], "task": ["b", "a", "a", "a"], "source": ["s"] * 4,
                       "query": ["q2", "q1", "q1", "q0"]})
    assert _sort_order(df).to_list() == [3, 1, 2, 0]
    wide = df.with_columns(pl.col("_img") * 2**62)  # ranks no longer fit 64 bits: multi-key sort
    assert _sort_order(wide).to_list() == [3, 1, 2, 0]
    with_null = df.with_columns(pl.Series("task", ["a"] * 4), pl.Series("query", [None, "q1", "q1", "q0"]))
    assert _sort_order(with_null).to_list() == [3, 1, 0, 2]


def test_sort_order_empty_and_single_distinct() -> None:
    """No annotations (every source unreadable) or one distinct value per column: an order, not a
    polars InvalidOperationError (issue 13: replace_strict gave a str column to add to the ranks)."""
    from imax.builders.select import _sort_order

    schema = {"_img": pl.Int64, "task": pl.String, "source": pl.String, "query": pl.String}
    assert _sort_order(pl.DataFrame(schema=schema)).to_list() == []
    one = pl.DataFrame({"_img": [0, 0], "task": ["a", "a"], "source": ["s", "s"], "query": ["q", "q"]})
    assert _sort_order(one).to_list() == [0, 1]


def _official_split(tables, val_every: int):
    """``tables`` with an official split: every 10th patient test, every ``val_every``-th validate (MIMIC's
    validate split is ~0.8 % of patients, far below the hash split's val_fraction)."""
    from dataclasses import replace

    patient = (pl.col("subject_id") - 10_000_000) // 37
    split = (pl.when(patient % 10 == 0).then(pl.lit("test"))
             .when(patient % val_every == 1).then(pl.lit("validate")).otherwise(pl.lit("train")))
    return replace(tables, images=tables.images.with_columns(split=split))


def test_val_cap_follows_the_official_split_so_dmax_matches_val(synth_tables, fake_tasks, build_kw) -> None:
    # Regression: the val cap was cap * val_fraction / train_fraction (the hash split's 5/85) under the
    # official split too, where val is ~2 % of patients here (~0.8 % in MIMIC): IMAX val took a far larger
    # share of its split than train did, and DMAX val (one task per image) failed ("DMAX val: task ... needs").
    tables = _official_split(synth_tables, val_every=50)
    imax = build_dataset(tables, BuildConfig(mode="imax", **build_kw), tasks=fake_tasks, write=False)
    dmax = build_dataset(tables, BuildConfig(mode="dmax", **build_kw), tasks=fake_tasks, write=False)
    split = imax.stats["split"]
    assert split["kind"] == "official"
    counts = split["counts"]
    assert split["val_cap_ratio"] == counts["val"]["patients"] / counts["train"]["patients"] < 0.05 / 0.85
    val_cap = -(-build_kw["max_entries_per_task"] * split["val_cap_ratio"] // 1)
    per_task = imax.stats["per_split"]["val"]["per_task_entries"]
    assert per_task and max(per_task.values()) == val_cap  # the val stop rule ran at the split's own ratio
    for s in ("train", "val"):
        assert dmax.stats["per_split"][s]["per_task_entries"] == imax.stats["per_split"][s]["per_task_entries"]
    assert dmax.stats["per_split"]["val"]["mean_tasks_per_image"] == 1.0


def test_hash_split_val_cap_ratio_is_the_configured_fractions(built) -> None:
    split = built["imax"].stats["split"]
    assert split["kind"] == "hash" and split["val_cap_ratio"] == 0.05 / (1 - 0.05 - 0.10)


def test_release_drops_the_prepared_annotations_once(synth_tables, fake_tasks, build_kw, tmp_path) -> None:
    # build_dataset releases the prepared annotations before rendering (peak memory); the build is unchanged
    from imax.builders import build_prepared, prepare_build

    cfg = BuildConfig(mode="imax", **build_kw)
    kept = build_prepared(prepare_build(synth_tables, cfg, tasks=fake_tasks), synth_tables, "imax", tmp_path / "a",
                          tasks=fake_tasks, write=False)
    prep = prepare_build(synth_tables, cfg, tasks=fake_tasks)
    released = build_prepared(prep, synth_tables, "imax", tmp_path / "b", tasks=fake_tasks, write=False,
                              release=True)
    assert released.entries.equals(kept.entries) and released.stats == kept.stats
    assert prep.released and prep.prepared.height == 0
    with pytest.raises(ValueError, match="released"):
        build_prepared(prep, synth_tables, "dmax", tmp_path / "c", tasks=fake_tasks, write=False)
