"""``--recipe``: caps fitted so the build's images, tasks per image and entries per image land on targets."""

from __future__ import annotations

from dataclasses import replace

import polars as pl
import pytest

from imax.builders import build_dataset, prepare_build
from imax.builders.recipe import PAPER, RECIPE_CAPS, Targets, compare, fit_recipe
from imax.schema.config.build import BuildConfig

NONE = {"max_entries_per_task": None}


def _fit(tables, cfg: BuildConfig, targets: Targets) -> dict:
    prep = prepare_build(tables, replace(cfg, recipe="none"))
    return fit_recipe(prep.prepared, prep.cfg, targets)


def test_fitted_caps_land_within_5_percent_of_the_targets(synth_tables, fake_tasks) -> None:
    # uncapped: 596 images, 3.61 tasks and 7.01 entries per image; ask for a smaller, sparser build
    # (entries per image moves in steps of the integer per-(image, task) cap: here k=1 gives 3.3, k=2 5.1)
    targets = Targets(images=400, tasks_per_image=3.3, entries_per_image=5.0)
    cfg = BuildConfig(mode="imax", **NONE)
    caps = _fit(synth_tables, cfg, targets)
    assert set(caps) == set(RECIPE_CAPS) and all(isinstance(v, int) for v in caps.values())
    r = build_dataset(synth_tables, replace(cfg, **caps), tasks=fake_tasks, write=False)
    got = compare(r.stats, targets)
    for key in ("images", "tasks_per_image", "entries_per_image"):
        assert abs(got[key]["deviation_pct"]) <= 5.0, (key, got[key], caps)
    # every image keeps >= min_tasks tasks, no task exceeds the images-per-task cap in train + val
    trainval = r.entries.filter(pl.col("split") != "test")
    per_image = trainval.group_by("dicom_id").agg(pl.col("task").n_unique().alias("t"))
    assert per_image["t"].min() >= cfg.min_tasks
    assert trainval.group_by("task").agg(pl.col("dicom_id").n_unique())["dicom_id"].max() <= caps["max_images_per_task"]
    per_pair = r.entries.group_by("dicom_id", "task").len()["len"]
    assert per_pair.max() <= caps["max_entries_per_image_task"]


def test_recipe_build_equals_its_caps_given_explicitly(synth_tables, fake_tasks, monkeypatch) -> None:
    from imax.builders import recipe

    targets = Targets(images=350, tasks_per_image=3.4, entries_per_image=5.0)
    monkeypatch.setitem(recipe.RECIPES, "paper", targets)  # the same code path as --recipe paper
    fitted = build_dataset(synth_tables, BuildConfig(mode="imax", recipe="paper", **NONE), tasks=fake_tasks,
                           write=False)
    caps = {k: fitted.stats["caps"][k] for k in RECIPE_CAPS}
    assert sorted(fitted.stats["caps"]["fitted"]) == sorted(RECIPE_CAPS)
    again = build_dataset(synth_tables, BuildConfig(mode="imax", **NONE, **caps), tasks=fake_tasks, write=False)
    assert fitted.entries.equals(again.entries)
    side = fitted.stats["recipe"]["vs_study"]
    assert side["images"]["study"] == 350 and side["images"]["build"] == fitted.stats["images"]


def test_a_cap_given_explicitly_is_kept(synth_tables) -> None:
    caps = _fit(synth_tables, BuildConfig(mode="imax", max_entries_per_image_task=1, **NONE),
                Targets(images=350, tasks_per_image=3.4, entries_per_image=5.0))
    assert caps["max_entries_per_image_task"] == 1


def test_paper_recipe_on_small_data_keeps_every_image_and_reports_the_gap(synth_tables, fake_tasks) -> None:
    r = build_dataset(synth_tables, BuildConfig(mode="imax", recipe="paper", **NONE),
                      tasks=fake_tasks, write=False)
    # far fewer images than the study's 47.5K: the image cap is not needed, the density caps still fit
    assert r.stats["caps"]["max_images"] is None
    side = r.stats["recipe"]["vs_study"]
    assert side["images"]["study"] == PAPER.images and side["images"]["deviation_pct"] < -90
    assert side["tasks_per_image"]["study"] == pytest.approx(4.10)


def test_dmax_matches_a_recipe_imax(synth_tables, fake_tasks, tmp_path) -> None:
    from imax.builders import build_arms

    got = build_arms(synth_tables, BuildConfig(out=tmp_path, max_images=300, max_images_per_task=200,
                                               max_entries_per_image_task=2), tasks=fake_tasks, write=False)
    imax, dmax = got["imax"].stats, got["dmax"].stats
    for split in ("train", "val", "test"):
        assert imax["per_split"][split]["per_task_entries"] == dmax["per_split"][split]["per_task_entries"]
    assert dmax["per_split"]["train"]["mean_tasks_per_image"] <= 1.2
    assert got["dmax"].entries.group_by("dicom_id", "task").len()["len"].max() <= 2
