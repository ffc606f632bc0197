"""Combine per-seed evaluations into the study's numbers: means with 95% CIs, relative gains, controls.

With one seed, CIs come from the paired bootstrap over test images (inside each evaluation and in
:func:`imax.evaluate.compare_runs`); with several seeds, from a Student-t interval over the per-seed
values (the run-to-run variation is then the larger source of uncertainty).

Differences that decide something — model − trivial baseline, real − shuffled image, DMAX − control,
IMAX − DMAX — use the paired bootstrap over test images with the seeds averaged inside every draw
(:func:`imax.evaluate.controls.paired_difference`); its standard error gives the minimum detectable
effect (2.8 SE: 80% power at α = 0.05, two-sided).
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from scipy import stats as st

from imax.evaluate import PRIMARY, compare_runs, score_tasks
from imax.evaluate.controls import minimum_detectable_effect, paired_difference, score_control

CONTROL_FILES: dict[str, str] = {
    "trivial_baseline": "baseline_predictions.jsonl",
    "shuffled_image": "shuffled_predictions.jsonl",
}
"""metrics.json block → the predictions file beside it (see :mod:`imax.evaluate.run`)."""


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
    if n_bootstrap > 0:
        out.update(difference(arm_preds, base_preds, n_bootstrap))
    if len(arm) == 1 and n_bootstrap > 0:
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


def _read_jsonl(path: Path) -> list[dict[str, Any]]:
    with Path(path).open() as f:
        return [json.loads(line) for line in f if line.strip()]


def difference(
    a_preds: Sequence[Sequence[Mapping[str, Any]]],
    b_preds: Sequence[Sequence[Mapping[str, Any]]],
    n_bootstrap: int,
) -> dict[str, Any]:
    """Absolute difference A − B of the multi-task average (seeds averaged) with its paired-bootstrap
    CI and SE, and the minimum detectable effect at this test-set size: ``{"difference": {value, ci,
    se}, "minimum_detectable_effect"}``."""
    pairs = [(score_tasks(a), score_tasks(b)) for a, b in zip(a_preds, b_preds, strict=True)]
    d = paired_difference(pairs, n_bootstrap, seed=0)["diff/multitask_average"]
    return {
        "difference": {"value": d["value"], "ci": d["ci"], "se": d["se"]},
        "minimum_detectable_effect": minimum_detectable_effect(d["se"]),
    }


def arm_controls(
    per_seed: Sequence[Mapping[str, Any]],
    eval_dirs: Sequence[Path],
    preds: Sequence[Sequence[Mapping[str, Any]]],
    n_bootstrap: int,
) -> dict[str, Any]:
    """One arm's ``trivial_baseline`` and ``shuffled_image`` blocks over seeds.

    One seed: the evaluation's own block (metrics.json). Several: the saved control predictions of
    every seed scored again and compared with the paired bootstrap, seeds averaged in each draw.
    A control the evaluation did not score is ``{"unavailable": reason}``.
    """
    out: dict[str, Any] = {}
    for key, filename in CONTROL_FILES.items():
        blocks = [m.get(key) for m in per_seed]
        if not all(isinstance(b, Mapping) and "tasks" in b for b in blocks):
            reason = next((b.get("unavailable") for b in blocks if isinstance(b, Mapping) and b.get("unavailable")),
                          "not scored by the evaluation")
            out[key] = {"unavailable": reason}
            continue
        if len(per_seed) == 1:
            out[key] = dict(blocks[0])  # type: ignore[arg-type]
            continue
        other = [_read_jsonl(Path(d) / filename) for d in eval_dirs]
        block = score_control(preds, other, n_bootstrap=n_bootstrap, seed=0)
        keep = ("rule", "train_data", "split", "n_train", "pairing", "seed", "n_images")
        block.update({k: blocks[0][k] for k in keep if k in blocks[0]})  # type: ignore[index]
        out[key] = block
    return out


def control_summary(
    arm: str,
    parent: str,
    parent_preds: Sequence[Sequence[Mapping[str, Any]]],
    control_preds: Sequence[Sequence[Mapping[str, Any]]],
    parent_stats: Mapping[str, Any],
    control_stats: Mapping[str, Any],
    volume: float,
    n_bootstrap: int,
) -> dict[str, Any]:
    """Was the positive control's known handicap detected?

    ``difference`` is parent − control on the multi-task average (seeds averaged) with its paired
    image-bootstrap CI; ``detected`` is True when that CI lies wholly above 0 (a CI wholly below 0 —
    the handicapped arm better — is not a detection, and ``direction`` says so).
    ``minimum_detectable_effect`` = 2.8 × the bootstrap SE of that paired difference.
    """
    diff = difference(parent_preds, control_preds, n_bootstrap)
    ci = diff["difference"]["ci"]
    finite = all(isinstance(v, (int, float)) and math.isfinite(v) for v in ci)
    detected = bool(finite and ci[0] > 0)
    direction = "parent better" if finite and ci[0] > 0 else "control better" if finite and ci[1] < 0 else "unclear"
    vol = {s: stats_volume(s_) for s, s_ in (("parent", parent_stats), ("control", control_stats))}
    total_p, total_c = sum(vol["parent"].values()), sum(vol["control"].values())
    return {
        "arm": arm,
        "parent": parent,
        "handicap": f"{parent.upper()} trained on {volume:.0%} of its per-task train volume",
        "held_equal": "base model, recipe (optimizer, learning rates, schedule, LoRA), epochs (passes over its "
                      "own train split), batch size, seed, test set and scorer; the control therefore takes "
                      f"about {volume:.0%} of its parent's optimizer steps",
        "train_volume": {"parent": vol["parent"], "control": vol["control"],
                         "ratio": total_c / total_p if total_p else None},
        **diff,
        "detected": detected,
        "direction": direction,
        "n_seeds": len(parent_preds),
    }


def stats_volume(stats: Mapping[str, Any]) -> dict[str, int]:
    """Per-task train entries from a build's stats.json."""
    return dict(stats.get("per_split", {}).get("train", {}).get("per_task_entries", {}))
