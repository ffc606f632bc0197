"""Image-level bootstrap: deterministic under a seed, CI contains the point estimate, entries of one
image travel together."""

from __future__ import annotations

import numpy as np
import pytest

from imax.evaluate.bootstrap import bootstrap, draw_counts, percentile_ci, rows_for


def test_draw_counts_shape_and_determinism():
    a = draw_counts(10, 50, seed=7)
    assert a.shape == (50, 10) and (a.sum(axis=1) == 10).all()
    assert np.array_equal(a, draw_counts(10, 50, seed=7))
    assert not np.array_equal(a, draw_counts(10, 50, seed=8))


def test_rows_follow_their_image():
    image_of_row = np.array([0, 0, 1, 2, 2, 2])  # image 0 has 2 entries, image 2 has 3
    counts = np.array([2, 0, 1])
    assert rows_for(image_of_row, counts).tolist() == [0, 0, 1, 1, 3, 4, 5]


def test_bootstrap_mean_ci():
    rng = np.random.default_rng(0)
    values = rng.normal(0.6, 0.1, size=40)

    def stat(counts):
        idx = rows_for(np.arange(40), counts)
        return {"mean": float(values[idx].mean())}

    out = bootstrap(stat, 40, n_resamples=500, seed=1)
    lo, hi = out["mean"]["ci"]
    assert out["mean"]["value"] == pytest.approx(values.mean())
    assert lo < values.mean() < hi
    # Width close to the normal-theory 95% interval 2·1.96·sd/√n.
    assert (hi - lo) == pytest.approx(2 * 1.96 * values.std() / np.sqrt(40), rel=0.25)
    assert bootstrap(stat, 40, n_resamples=500, seed=1) == out


def test_percentile_ci_ignores_nan():
    assert percentile_ci(np.array([np.nan, 1.0, 1.0])) == (1.0, 1.0)
    assert all(np.isnan(percentile_ci(np.array([np.nan]))))
