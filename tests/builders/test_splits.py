"""Patient splits: a fixed function of (subject_id, seed, fractions), patient-disjoint by construction."""

from __future__ import annotations

import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from imax.builders.splits import patient_splits, with_splits


def test_golden_values_are_stable() -> None:
    # pinned: a change here silently reshuffles every built dataset's test set
    got = patient_splits(pl.Series(range(10_000_000, 10_000_040)), 0, 0.05, 0.10).to_list()
    assert [i for i, s in enumerate(got) if s == "test"] == [18, 21, 25, 32]
    assert "val" not in got


def test_fractions_roughly_hold_and_seed_matters() -> None:
    ids = pl.Series(range(10_000_000, 10_020_000))
    a = patient_splits(ids, 0, 0.05, 0.10)
    share = a.value_counts(normalize=True).sort("split")
    assert share.filter(pl.col("split") == "test")["proportion"][0] == pytest.approx(0.10, abs=0.01)
    assert share.filter(pl.col("split") == "val")["proportion"][0] == pytest.approx(0.05, abs=0.01)
    b = patient_splits(ids, 1, 0.05, 0.10)
    assert (a != b).sum() > 1000


@settings(max_examples=25, deadline=None)
@given(st.lists(st.integers(10_000_000, 19_999_999), min_size=1, max_size=50), st.integers(0, 2**31))
def test_same_patient_same_split(subjects: list[int], seed: int) -> None:
    images = pl.DataFrame({"dicom_id": [f"d{i}" for i in range(len(subjects) * 2)],
                           "subject_id": subjects * 2, "split": ["train"] * (2 * len(subjects))})
    out = with_splits(images, seed, 0.2, 0.2)
    assert out.group_by("subject_id").agg(pl.col("split").n_unique())["split"].max() == 1


def test_bad_fractions_raise() -> None:
    with pytest.raises(ValueError, match="fractions"):
        patient_splits(pl.Series([1]), 0, 0.6, 0.5)


def _images(rows: list[tuple[str, int, str]]) -> pl.DataFrame:
    return pl.DataFrame(rows, schema=["dicom_id", "subject_id", "split"], orient="row")


def test_official_split_test_wins_and_unlisted_patients_never_go_to_test() -> None:
    from imax.builders.splits import assign_splits

    images = _images([
        ("a1", 10_000_001, "train"), ("a2", 10_000_001, "test"),      # several official splits: test wins
        ("b1", 10_000_002, "validate"), ("b2", 10_000_002, "train"),  # validate beats train
        ("c1", 10_000_003, "train"),
        ("d1", 10_000_004, "test"),
        *[(f"u{i}", 10_100_000 + i, "") for i in range(400)],       # no official row
    ])
    out, record = assign_splits(images, "auto", seed=0, val_fraction=0.2, test_fraction=0.1)
    got = dict(out.select("dicom_id", "split").iter_rows())
    assert got["a1"] == got["a2"] == "test" and got["b1"] == got["b2"] == "val" and got["c1"] == "train"
    assert got["d1"] == "test"
    assert record["kind"] == "official" and record["patients_in_several_official_splits"] == 2
    assert record["images_moved_by_precedence"] == 2  # a1 (train -> test), b2 (train -> val)
    assert record["unlisted_patients_hashed_to_train_val"] == 400
    assert record["official_test_patients_outside_test"] == 0
    unlisted = out.filter(pl.col("dicom_id").str.starts_with("u"))["split"]
    assert "test" not in unlisted.to_list() and 40 < (unlisted == "val").sum() < 130  # ~20% of 400
    assert record["counts"]["test"] == {"patients": 2, "images": 3}
    assert out.group_by("subject_id").agg(pl.col("split").n_unique())["split"].max() == 1


def test_auto_falls_back_to_hash_without_official_test_rows_and_official_insists() -> None:
    from imax.builders.splits import assign_splits
    from imax.schema.errors import ImaxError

    ids = list(range(10_000_000, 10_000_040))
    none = _images([(f"d{i}", s, "") for i, s in enumerate(ids)])
    out, record = assign_splits(none, "auto", 0, 0.05, 0.10)
    assert record["kind"] == "hash" and "absent" in record["reason"]
    assert out["split"].to_list() == patient_splits(pl.Series(ids), 0, 0.05, 0.10).to_list()  # today's split
    trains = _images([(f"d{i}", s, "train") for i, s in enumerate(ids)])
    assert assign_splits(trains, "auto", 0, 0.05, 0.10)[1]["reason"] == "the official split has no test images"
    with pytest.raises(ImaxError, match="--split hash"):
        assign_splits(trains, "official", 0, 0.05, 0.10)
    official = _images([(f"d{i}", s, "test" if i < 3 else "train") for i, s in enumerate(ids)])
    out, record = assign_splits(official, "hash", 0, 0.05, 0.10)
    assert record["kind"] == "hash"
    assert out["split"].to_list() == patient_splits(pl.Series(ids), 0, 0.05, 0.10).to_list()
