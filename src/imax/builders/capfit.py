"""The largest IMAX whose volumes a decentralized DMAX can match.

Real and phantom data are image-centric at the source: nearly every frontal image carries 3+ tasks, so an
uncapped IMAX uses almost every image and leaves DMAX (one task per image) too few images to reach the
same per-task volumes. ``fit_entry_cap`` finds, by bisection, the largest ``max_entries_per_task`` for
which DMAX selection succeeds under ``dmax_tasks_per_image``. Both builds of a study then use that cap,
so their per-task volumes are equal by construction and only the spread over images differs.
"""

from __future__ import annotations

from dataclasses import replace

import polars as pl

from imax.builders.select import DmaxPoolError, select_dmax, select_imax
from imax.schema.config.build import BuildConfig
from imax.sources.base import SourceTables


def fit_entry_cap(tables: SourceTables, cfg: BuildConfig) -> int | None:
    """Largest per-task train cap (entries) for which DMAX can match IMAX; None if uncapped works.

    ``cfg``'s split, recipe and other caps apply as in the build. Raises DmaxPoolError when even a cap of
    one entry per task cannot be matched.
    """
    from imax.builders.dataset import prepare_build

    prep = prepare_build(tables, replace(cfg, max_entries_per_task=None), strict=False)
    return fit_cap_prepared(prep.prepared, prep.cfg, prep.split["val_cap_ratio"])


def fit_cap_prepared(prepared: pl.DataFrame, cfg: BuildConfig, val_ratio: float | None = None) -> int | None:
    """:func:`fit_entry_cap` on annotations already prepared (split, recipe caps applied); ``val_ratio``:
    the split's val : train ratio (:func:`imax.builders.select.select_imax`)."""

    def feasible(cap: int | None) -> bool:
        trial = replace(cfg, max_entries_per_task=cap)
        try:
            select_dmax(prepared, select_imax(prepared, trial, val_ratio), trial)
        except DmaxPoolError:
            return False
        return True

    if feasible(None):
        return None
    uncapped = select_imax(prepared, replace(cfg, max_entries_per_task=None), val_ratio)
    hi = int(uncapped.filter(pl.col("split") == "train").group_by("task").len("n")["n"].max() or 1)
    lo = 1
    if not feasible(lo):
        raise DmaxPoolError(
            f"no per-task cap lets DMAX match IMAX under dmax_tasks_per_image={cfg.dmax_tasks_per_image}: "
            "raise --dmax-tasks-per-image")
    while lo < hi - 1:  # invariant: feasible(lo), not feasible(hi)
        mid = (lo + hi) // 2
        lo, hi = (mid, hi) if feasible(mid) else (lo, mid)
    return lo
