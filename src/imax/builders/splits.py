"""Patient-disjoint train/val/test splits, a fixed function of (subject_id, seed, fractions).

The split never looks at the mode, the tasks or the other patients: IMAX and DMAX built with the same
seed put every patient in the same split, so both are scored on one test set and neither trains on a
test patient.
"""

from __future__ import annotations

import polars as pl

from imax.builders.hashing import seeded_unit

SPLIT_SALT = 0x5EED_5B17
"""Salt of the patient hash (keeps it independent of the other seeded draws)."""


def patient_splits(subject_ids: pl.Series, seed: int, val_fraction: float, test_fraction: float) -> pl.Series:
    """``split`` ("train" | "val" | "test") of each subject id: test if u < test_fraction, val if
    u < test_fraction + val_fraction, else train, with u = seeded hash of the patient in [0, 1)."""
    if min(val_fraction, test_fraction) < 0.0 or val_fraction + test_fraction >= 1.0:
        raise ValueError(f"split fractions val={val_fraction} test={test_fraction} must be >= 0 and sum < 1")
    u = seeded_unit(subject_ids.cast(pl.UInt64).to_numpy(), seed, SPLIT_SALT)
    u_s = pl.Series(u)
    return (
        pl.select(
            pl.when(u_s < test_fraction)
            .then(pl.lit("test"))
            .when(u_s < test_fraction + val_fraction)
            .then(pl.lit("val"))
            .otherwise(pl.lit("train"))
        )
        .to_series()
        .alias("split")
    )


def with_splits(images: pl.DataFrame, seed: int, val_fraction: float, test_fraction: float) -> pl.DataFrame:
    """``images`` with ``split`` replaced by the imax patient split."""
    return images.with_columns(patient_splits(images["subject_id"], seed, val_fraction, test_fraction))


OFFICIAL_TO_IMAX = {"train": "train", "validate": "val", "test": "test"}
"""MIMIC-CXR's split names → imax's."""
PRECEDENCE = ("test", "validate", "train")
"""A patient whose images carry several official splits goes to the first of these that it has
(test wins, then validate): imax splits stay patient-disjoint and no official-test image is trained on."""


def assign_splits(
    images: pl.DataFrame, split: str, seed: int, val_fraction: float, test_fraction: float,
) -> tuple[pl.DataFrame, dict[str, object]]:
    """``images`` with ``split`` set to the imax split, and the split record for stats.json.

    ``images.split`` holds the official split as read (``train``/``validate``/``test``, ``""`` unknown).
    ``split``: ``"official"`` — every patient takes its official split (rule :data:`PRECEDENCE`), so the
    official test patients are exactly imax's test patients; patients without any official row (no line
    in the split file) are never put in test: they go to val or train by the seeded patient hash
    (val when u < val_fraction). ``"hash"`` — the seeded patient hash of :func:`patient_splits`.
    ``"auto"`` — official when the official split has at least one test image, else hash (the reason is
    recorded). Raises ``ImaxError`` for ``"official"`` without an official test split.
    """
    from imax.schema.errors import ImaxError

    # anything but the three official names counts as "no split row" (the reader quarantines such rows)
    official = images["split"].fill_null("").str.strip_chars()
    official = official.set(~official.is_in(list(PRECEDENCE)), "")
    has_test = bool((official == "test").any())
    record: dict[str, object] = {}
    if split == "auto":
        if has_test:
            split = "official"
        else:
            record["reason"] = ("no official split (mimic-cxr-2.0.0-split.csv.gz absent or empty)"
                                if not bool((official != "").any()) else "the official split has no test images")
            split = "hash"
    if split == "hash":
        out = with_splits(images, seed, val_fraction, test_fraction)
        record.update(kind="hash", seed=seed, val_fraction=val_fraction, test_fraction=test_fraction)
    elif split == "official":
        if not has_test:
            raise ImaxError("--split official: no image has an official test split (is "
                            "mimic-cxr-2.0.0-split.csv.gz in the sources, with 'test' rows?); use --split hash")
        out, extra = _official(images.with_columns(official.alias("split")), seed, val_fraction)
        record.update(kind="official", **extra)
    else:
        raise ImaxError(f"split must be one of auto, official, hash; got {split!r}")
    per = out.group_by("split").agg(pl.col("subject_id").n_unique().alias("patients"), pl.len().alias("images"))
    got = {s: {"patients": int(p), "images": int(n)} for s, p, n in per.iter_rows()}
    record["counts"] = {s: got.get(s, {"patients": 0, "images": 0}) for s in ("train", "val", "test")}
    record["val_cap_ratio"] = val_cap_ratio(record, val_fraction, test_fraction)
    return out, record


def configured_val_ratio(val_fraction: float, test_fraction: float) -> float:
    """val : train size the configured fractions give (the hash split's)."""
    return val_fraction / (1.0 - val_fraction - test_fraction)


def val_cap_ratio(record: dict[str, object], val_fraction: float, test_fraction: float) -> float:
    """val : train size of the split in use, the factor from the train cap to the val cap
    (``max_entries_per_task`` keeps the two splits in proportion, so DMAX can match val as it matches train).

    Hash split: the configured fractions, ``val_fraction / (1 - val_fraction - test_fraction)``. Official
    split: its realised patient counts (MIMIC-CXR's validate split is ~0.8 % of patients, not
    ``val_fraction``: the configured ratio there asks val for ~7x its share, more than a one-task-per-image
    DMAX can draw from so few images)."""
    if record["kind"] == "hash":
        return configured_val_ratio(val_fraction, test_fraction)
    counts: dict[str, dict[str, int]] = record["counts"]  # type: ignore[assignment]
    return counts["val"]["patients"] / max(counts["train"]["patients"], 1)


def _official(images: pl.DataFrame, seed: int, val_fraction: float) -> tuple[pl.DataFrame, dict[str, object]]:
    """Official split per patient (test > validate > train); unlisted patients hashed into val/train."""
    rank = {name: i for i, name in enumerate(PRECEDENCE)}
    listed = images.filter(pl.col("split").is_in(PRECEDENCE)).with_columns(
        pl.col("split").replace_strict(rank, return_dtype=pl.Int64).alias("_rank"))
    per_patient = listed.group_by("subject_id").agg(
        pl.col("_rank").min().alias("_rank"), pl.col("split").n_unique().alias("_n"))
    conflicting = per_patient.filter(pl.col("_n") > 1)
    names = {i: OFFICIAL_TO_IMAX[name] for name, i in rank.items()}
    per_patient = per_patient.select("subject_id", pl.col("_rank").replace_strict(names, return_dtype=pl.String)
                                     .alias("_imax"))
    out = images.join(per_patient, on="subject_id", how="left")
    unlisted = out.filter(pl.col("_imax").is_null())["subject_id"].unique()
    if unlisted.len():
        # never test: the official test set stays exactly the official one
        hashed = patient_splits(unlisted, seed, val_fraction, 0.0)
        fill = pl.DataFrame({"subject_id": unlisted, "_hash": hashed})
        out = out.join(fill, on="subject_id", how="left").with_columns(pl.coalesce("_imax", "_hash").alias("_imax"))
        out = out.drop("_hash")
    out = out.with_columns(pl.col("_imax").alias("split")).drop("_imax")
    return out, {
        "precedence": "test > validate > train (a patient in several official splits goes to the first)",
        "patients_in_several_official_splits": conflicting.height,
        "images_moved_by_precedence": int(
            images.join(out.select("dicom_id", pl.col("split").alias("_new")), on="dicom_id")
            .filter((pl.col("split") != "")
                    & (pl.col("split").replace_strict(OFFICIAL_TO_IMAX, default="") != pl.col("_new"))).height),
        "unlisted_patients_hashed_to_train_val": int(unlisted.len()),
        # 0 by construction; counted from the result so stats.json shows it was checked
        "official_test_patients_outside_test": int(
            out.filter(pl.col("subject_id").is_in(listed.filter(pl.col("split") == "test")["subject_id"].implode())
                       & (pl.col("split") != "test"))["subject_id"].n_unique()),
    }
