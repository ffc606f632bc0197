"""Combine per-seed evaluations into the study's numbers: means with 95% CIs and relative gains.

With one seed, CIs come from the paired bootstrap over test images (inside each evaluation and in
:func:`imax.evaluate.compare_runs`); with several seeds, from a Student-t interval over the per-seed
values (the run-to-run variation is then the larger source of uncertainty).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from scipy import stats as st

from imax.evaluate import PRIMARY, compare_runs


def t_interval(values: Sequence[float]) -> list[float] | None:
    """95% Student-t interval of the mean (None for fewer than two finite values)."""
    vals = np.asarray([v for v in values if v is not None and math.isfinite(v)], dtype=float)
    if vals.size < 2:
        return None
    half = st.t.ppf(0.975, vals.size - 1) * vals.std(ddof=1) / math.sqrt(vals.size)
    return [float(vals.mean() - half), float(vals.mean() + half)]


def _mean(values: Sequence[Any]) -> float | None:
    vals = [float(v) for v in values if isinstance(v, (int, float)) and math.isfinite(v)]
    return float(np.mean(vals)) if vals else None


def _nanmean(values: Sequence[float]) -> float:
    """Mean of the finite values (NaN when none: e.g. every baseline score is 0)."""
    vals = [v for v in values if math.isfinite(v)]
    return float(np.mean(vals)) if vals else math.nan


def combine_seeds(per_seed: Sequence[Mapping[str, Any]], seeds: Sequence[int]) -> dict[str, Any]:
    """One arm's metrics over seeds, in the report's ``runs.<arm>`` shape (fisher/loss added later)."""
    tasks = [t for t in PRIMARY if all(t in m for m in per_seed)]
    metrics: dict[str, dict[str, float | None]] = {}
    ci: dict[str, dict[str, list[float] | None]] = {}
    for task in tasks:
        names = sorted({k for m in per_seed for k, v in m[task].items() if isinstance(v, (int, float))})
        metrics[task] = {k: _mean([m[task].get(k) for m in per_seed]) for k in names}
        if len(per_seed) > 1:
            ci[task] = {k: t_interval([m[task].get(k) for m in per_seed]) for k in names}
        else:  # bootstrap CI of the primary from the evaluation itself
            ci[task] = {PRIMARY[task].metric: per_seed[0].get("ci", {}).get(task, {}).get("primary")}
    averages = [m.get("multitask_average") for m in per_seed]
    avg_ci = t_interval(averages) if len(per_seed) > 1 else per_seed[0].get("ci", {}).get("multitask_average")
    return {
        "metrics": metrics,
        "metrics_ci": ci,
        "multitask_average": _mean(averages),
        "multitask_average_ci": avg_ci,
        "parse_failure_rate": {t: _mean([m[t].get("parse_failure_rate") for m in per_seed]) for t in tasks},
        "per_seed": [
            {"seed": s, "metrics": {t: m[t] for t in tasks}, "multitask_average": m.get("multitask_average"),
             "scores": m.get("scores", {})}
            for s, m in zip(seeds, per_seed, strict=True)
        ],
    }


def gains(
    arm: Sequence[Mapping[str, Any]],
    baseline: Sequence[Mapping[str, Any]],
    arm_preds: Sequence[Sequence[Mapping[str, Any]]],
    base_preds: Sequence[Sequence[Mapping[str, Any]]],
    n_bootstrap: int,
) -> dict[str, Any]:
    """Relative gain of ``arm`` over ``baseline`` on per-task scores (fractions; positive = better).

    Args:
        arm, baseline: per-seed metrics.json dicts (same seeds, same order).
        arm_preds, base_preds: per-seed predictions (for the paired bootstrap when there is one seed).
    """
    tasks = [t for t in PRIMARY if all(t in m.get("scores", {}) for m in (*arm, *baseline))]
    per_seed_task = {t: [(a["scores"][t] - b["scores"][t]) / b["scores"][t] if b["scores"][t] else math.nan
                         for a, b in zip(arm, baseline, strict=True)] for t in tasks}
    mor = [_nanmean([per_seed_task[t][i] for t in tasks]) for i in range(len(arm))]
    rom = []
    for a, b in zip(arm, baseline, strict=True):
        ma, mb = np.mean([a["scores"][t] for t in tasks]), np.mean([b["scores"][t] for t in tasks])
        rom.append(float((ma - mb) / mb) if mb else math.nan)
    out: dict[str, Any] = {
        "per_task": {t: _mean(v) for t, v in per_seed_task.items()},
        "mean_of_relative": _mean(mor),
        "relative_of_mean": _mean(rom),
    }
    if len(arm) > 1:
        out["per_task_ci"] = {t: t_interval(v) for t, v in per_seed_task.items()}
        out["mean_of_relative_ci"] = t_interval(mor)
        out["relative_of_mean_ci"] = t_interval(rom)
    elif n_bootstrap > 0:
        cmp = compare_runs(arm_preds[0], base_preds[0], n_bootstrap=n_bootstrap, seed=0)
        out["mean_of_relative_ci"] = cmp["mean_of_relative_changes"]["ci"]
        out["relative_of_mean_ci"] = cmp["relative_change_of_mean"]["ci"]
        # per-task relative CI from the paired score draws is not returned by compare_runs; the
        # difference CI (a - b) is, and it carries the same sign information.
        out["per_task_diff_ci"] = {t: cmp[f"diff/{t}"]["ci"] for t in tasks if f"diff/{t}" in cmp}
    return out


def primary_metrics() -> dict[str, dict[str, Any]]:
    """``{task: {"name", "higher_is_better"}}`` for the report."""
    return {t: {"name": p.metric, "higher_is_better": p.higher_is_better} for t, p in PRIMARY.items()}
