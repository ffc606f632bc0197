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
