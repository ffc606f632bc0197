"""Paired bootstrap over test images.

The resampling unit is the *image*: one image carries several entries (tasks, paraphrases) whose
errors are correlated, so resampling entries would understate the variance. A resample draws images
with replacement and takes every entry of each drawn image as many times as the image was drawn.
"Paired": every statistic of every run (and their differences) is computed on the same draws.

A statistic is any function of the per-image draw counts ``(n_images,) -> {name: value}``;
:func:`rows_for` turns counts into row indices of one task's arrays.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

Stat = Callable[[np.ndarray], dict[str, float]]


def draw_counts(n_images: int, n_resamples: int, seed: int) -> np.ndarray:
    """Per-image draw counts, shape (n_resamples, n_images), each row summing to n_images."""
    rng = np.random.default_rng(seed)
    draws = rng.integers(0, n_images, size=(n_resamples, n_images))
    return (
        np.stack([np.bincount(d, minlength=n_images) for d in draws])
        if n_resamples
        else np.zeros((0, n_images), int)
    )


def rows_for(image_of_row: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """Row indices (with repeats) of a task whose row r belongs to image ``image_of_row[r]``."""
    return np.repeat(np.arange(image_of_row.size), counts[image_of_row])


def percentile_ci(values: np.ndarray, level: float = 0.95) -> tuple[float, float]:
    """Percentile interval of bootstrap values, NaN draws ignored (a resample without any row of a task)."""
    v = np.asarray(values, dtype=float)
    v = v[~np.isnan(v)]
    if v.size == 0:
        return (float("nan"), float("nan"))
    a = (1 - level) / 2 * 100
    lo, hi = np.percentile(v, [a, 100 - a])
    return (float(lo), float(hi))


def standard_error(values: np.ndarray) -> float:
    """Bootstrap standard error: the sample standard deviation of the finite draws (NaN if < 2)."""
    v = np.asarray(values, dtype=float)
    v = v[np.isfinite(v)]
    return float(v.std(ddof=1)) if v.size > 1 else float("nan")


def bootstrap(
    stat: Stat, n_images: int, n_resamples: int = 1000, seed: int = 0, level: float = 0.95
) -> dict[str, dict]:
    """``{name: {"value": point estimate, "ci": [lo, hi], "se", "n_resamples": k}}`` for every statistic.

    The point estimate is ``stat`` on all images once (counts of 1); draws use ``default_rng(seed)``;
    ``se`` is the standard deviation of the finite draws (NaN with fewer than two).
    """
    point = stat(np.ones(n_images, dtype=int))
    samples: dict[str, list[float]] = {k: [] for k in point}
    for counts in draw_counts(n_images, n_resamples, seed):
        for k, v in stat(counts).items():
            samples[k].append(v)
    return {
        k: {
            "value": float(point[k]),
            "ci": list(percentile_ci(np.array(samples[k]), level)),
            "se": standard_error(np.array(samples[k])),
            "n_resamples": n_resamples,
        }
        for k in point
    }
