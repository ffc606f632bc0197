"""stats.json numbers on a hand-made set of entries (golden values)."""

from __future__ import annotations

import polars as pl
import pytest

from imax.builders.stats import dataset_stats, leaked_patients


def _entries() -> pl.DataFrame:
    rows = [  # (dicom_id, subject, split, task)
        ("a", 1, "train", "report"), ("a", 1, "train", "vqa"), ("a", 1, "train", "vqa"), ("a", 1, "train", "rec"),
        ("b", 2, "train", "report"),
        ("c", 3, "test", "report"), ("c", 3, "test", "rec"),
    ]
    return pl.DataFrame(rows, schema=["dicom_id", "subject_id", "split", "task"], orient="row")


def test_golden_stats() -> None:
    s = dataset_stats(_entries(), "imax")
    assert s["mode"] == "imax" and s["images"] == 3 and s["entries"] == 7
    assert s["per_task_entries"] == {"rec": 2, "report": 3, "vqa": 2}
    assert s["mean_tasks_per_image"] == pytest.approx((3 + 1 + 2) / 3)
    assert s["mean_entries_per_image"] == pytest.approx(7 / 3)
    train = s["per_split"]["train"]
    assert train["images"] == 2 and train["mean_tasks_per_image"] == 2.0 and train["mean_entries_per_image"] == 2.5
    assert s["per_split"]["val"] == {"images": 0, "entries": 0, "per_task_entries": {}, "mean_tasks_per_image": 0.0,
                                     "mean_entries_per_image": 0.0}
    assert s["test_patients_in_train"] == 0


def test_leak_counted() -> None:
    leaky = pl.concat([_entries(), pl.DataFrame([("d", 3, "val", "vqa")], schema=_entries().schema, orient="row")])
    assert leaked_patients(leaky) == {"train": [], "val": [3]}
    assert dataset_stats(leaky, "dmax")["test_patients_in_val"] == 1
