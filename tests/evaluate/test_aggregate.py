"""Orientation of primaries, the multi-task average and the two relative-gain definitions."""

from __future__ import annotations

import math

import pytest

from imax.evaluate.aggregate import (
    PRIMARY,
    multitask_average,
    primary_table_markdown,
    relative_gains,
    to_score,
)
from imax.tasks import TASKS


def test_primary_table_matches_task_table():
    # The task table lists metric names primary first; aggregation must rank by the same metric.
    assert set(PRIMARY) == set(TASKS)
    for task, spec in TASKS.items():
        assert PRIMARY[task].metric == spec.metrics[0], task
        assert PRIMARY[task].higher_is_better == spec.primary_higher_is_better, task


def test_to_score_orientation():
    assert to_score("calculation", 0.08) == pytest.approx(0.92)  # MAE is lower-better → 1 − MAE
    assert to_score("calculation", 3.0) == 0.0  # clipped
    assert to_score("vqa", 0.7) == 0.7


def test_relative_gains_both_ways():
    a, b = {"x": 0.6, "y": 0.2}, {"x": 0.5, "y": 0.1}
    g = relative_gains(a, b)
    assert g["mean_of_relative_changes"] == pytest.approx((0.2 + 1.0) / 2)  # +20%, +100%
    assert g["relative_change_of_mean"] == pytest.approx((0.4 - 0.3) / 0.3)
    assert math.isnan(relative_gains({"x": 1.0}, {"x": 0.0})["mean_of_relative_changes"])
    with pytest.raises(ValueError):
        relative_gains({"x": 1.0}, {"y": 1.0})


def test_average_and_table():
    assert multitask_average({"a": 0.5, "b": 1.0}) == 0.75
    assert "1 − min(MAE, 1)" in primary_table_markdown()
