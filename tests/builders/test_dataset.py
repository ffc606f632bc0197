"""End to end on synthetic tables: the IMAX/DMAX contract of ``build_dataset``."""

from __future__ import annotations

import json
from typing import Any

import polars as pl

from imax.builders import build_dataset, check_leakage
from imax.builders.manifest import manifest_id
from imax.schema.config.build import BuildConfig
from imax.schema.records import ENTRY_COLUMNS


def test_per_task_volumes_equal_in_train_and_val(built: dict[str, Any]) -> None:
    for split in ("train", "val"):
        imax = built["imax"].stats["per_split"][split]["per_task_entries"]
        dmax = built["dmax"].stats["per_split"][split]["per_task_entries"]
        assert imax == dmax and sum(imax.values()) > 0


def test_tasks_per_image_imax_dense_dmax_sparse(built: dict[str, Any]) -> None:
    assert built["imax"].stats["per_split"]["train"]["mean_tasks_per_image"] >= 3.0
    assert built["dmax"].stats["per_split"]["train"]["mean_tasks_per_image"] <= 1.2
    # more images carry the same work in DMAX
    assert built["dmax"].stats["per_split"]["train"]["images"] > built["imax"].stats["per_split"]["train"]["images"]


def test_test_set_identical_across_modes(built: dict[str, Any]) -> None:
    tests = [r.entries.filter(pl.col("split") == "test") for r in built.values()]
    assert tests[0].height > 0 and tests[0].equals(tests[1])
    files = [(r.out / "hf" / "test.parquet").read_bytes() for r in built.values()]
    assert files[0] == files[1]
    llava = [(r.out / "llava" / "test.json").read_bytes() for r in built.values()]
    assert llava[0] == llava[1]


def test_no_test_patient_in_train_or_val(built: dict[str, Any]) -> None:
    for r in built.values():
        assert r.stats["test_patients_in_train"] == 0 and r.stats["test_patients_in_val"] == 0
        e = r.entries
        test = set(e.filter(pl.col("split") == "test")["subject_id"])
        assert not test & set(e.filter(pl.col("split") != "test")["subject_id"])
        assert check_leakage(r.out).ok
    # and across modes: no DMAX train patient is an IMAX test patient
    imax_test = set(built["imax"].entries.filter(pl.col("split") == "test")["subject_id"])
    assert not imax_test & set(built["dmax"].entries.filter(pl.col("split") != "test")["subject_id"])


def test_entries_follow_the_contract(built: dict[str, Any], fake_tasks) -> None:
    e = built["imax"].entries
    assert e.columns == list(ENTRY_COLUMNS)
    assert e["id"].n_unique() == e.height
    assert set(e["provenance"]) == {"real"}
    row = e.row(0, named=True)
    spec = fake_tasks[row["task"]]
    q, a = json.loads(row["query"]), json.loads(row["answer"])
    assert row["instruction"] in {spec.render_instruction(q, k) for k in range(len(spec.instructions))}
    assert row["response"] == spec.format_answer(q, a)
    assert row["image"].endswith(row["dicom_id"] + ".jpg")
    # the paraphrases are actually varied
    assert e.filter(pl.col("task") == "report")["instruction"].n_unique() > 1


def test_imax_images_have_min_tasks_and_all_annotations(built: dict[str, Any], synth_tables) -> None:
    e = built["imax"].entries.filter(pl.col("split") == "test")
    per_image = e.group_by("dicom_id").agg(pl.col("task").n_unique().alias("t"), pl.len().alias("n"))
    assert per_image["t"].min() >= 3
    all_ann = synth_tables.annotations.group_by("dicom_id").len("n_all")
    joined = per_image.join(all_ann, on="dicom_id")
    assert (joined["n"] == joined["n_all"]).all()  # test images carry every annotation they have


def test_every_annotation_accounted(built: dict[str, Any], synth_tables) -> None:
    for r in built.values():
        tasks = r.accounting["tasks"]
        total = synth_tables.annotations.height
        assert sum(t["annotations"] for t in tasks.values()) == total
        assert all(t["annotations"] == t["quarantined"] + t["entries"] + t["unused"] for t in tasks.values())
        assert all(t["unused"] >= 0 for t in tasks.values())
        assert sum(t["entries"] for t in tasks.values()) == r.entries.height
        assert r.accounting["orphan_annotations"] == 3
        q = pl.read_csv(r.out / "quarantine.csv")
        assert q.height == synth_tables.quarantine.height + 3


def test_stats_json_and_layout(built: dict[str, Any]) -> None:
    r = built["dmax"]
    for name in ("images.parquet", "annotations.parquet", "entries.parquet", "stats.json", "manifest.json",
                 "quarantine.csv", "tasks.json", "llava/train.json", "llava/val.json", "llava/test.json",
                 "llava/train.yaml", "llava/README.md", "hf/README.md",
                 "hf/train.parquet", "hf/val.parquet", "hf/test.parquet"):
        assert (r.out / name).is_file(), name
    stats = json.loads((r.out / "stats.json").read_text())
    assert stats["mode"] == "dmax"
    assert {"images", "entries", "per_task_entries", "mean_tasks_per_image", "mean_entries_per_image",
            "per_split", "test_patients_in_train"} <= set(stats)
    assert stats["entries"] == sum(stats["per_task_entries"].values()) == r.entries.height
    images = pl.read_parquet(r.out / "images.parquet")
    assert set(images["dicom_id"]) == set(r.entries["dicom_id"])
    assert pl.read_parquet(r.out / "annotations.parquet").height == r.entries.height


def test_manifest_id_and_determinism(built: dict[str, Any], synth_tables, fake_tasks, build_kw, tmp_path) -> None:
    m = json.loads((built["imax"].out / "manifest.json").read_text())
    assert m["id"] == manifest_id(m)
    assert {i["path"] for i in m["inputs"]} == {i.path for i in synth_tables.inputs}
    assert m["config"]["mode"] == "imax" and "polars" in m["versions"]
    again = build_dataset(synth_tables, BuildConfig(out=tmp_path / "again", mode="imax", **build_kw),
                          tasks=fake_tasks)
    assert again.manifest is not None and again.manifest["id"] == m["id"]  # same content, other folder
    assert m["id"] != json.loads((built["dmax"].out / "manifest.json").read_text())["id"]


def test_uncapped_imax_uses_every_eligible_image(synth_tables, fake_tasks) -> None:
    r = build_dataset(synth_tables, BuildConfig(mode="imax", max_entries_per_task=None), tasks=fake_tasks,
                      write=False)
    assert r.out is None
    n_tasks = synth_tables.annotations.group_by("dicom_id").agg(pl.col("task").n_unique().alias("t"))
    eligible = set(n_tasks.filter(pl.col("t") >= 3)["dicom_id"])
    assert set(r.entries["dicom_id"]) == eligible
    assert r.stats["mean_tasks_per_image"] >= 3.0


def test_a_build_with_no_entries_is_an_error_after_writing_its_accounting(tmp_path):
    from dataclasses import replace

    import pytest

    from imax.builders import build_dataset
    from imax.schema.config.build import BuildConfig
    from imax.schema.errors import ImaxError

    from ._build_synth import BUILD_KW, FAKE_TASKS, make_tables

    tables = make_tables(20, seed=1)
    empty = replace(tables, annotations=tables.annotations.clear())
    out = tmp_path / "imax"
    with pytest.raises(ImaxError, match=r"the imax build has no entries: .* row\(s\) read") as err:
        build_dataset(empty, BuildConfig(out=out, mode="imax", **BUILD_KW), tasks=FAKE_TASKS)
    assert "\n" not in str(err.value) and str(out / "quarantine.csv") in str(err.value)
    assert (out / "quarantine.csv").is_file() and (out / "stats.json").is_file()
