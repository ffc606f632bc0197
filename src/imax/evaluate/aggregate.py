"""Primary metrics, their orientation, the multi-task average and relative gains between runs.

The task table decides how each task enters the multi-task average: its primary metric is
``TaskSpec.metrics[0]`` and its direction ``TaskSpec.primary_higher_is_better`` (:mod:`imax.tasks`).
Every task contributes a *score* in [0, 1] where higher is better; :data:`PRIMARY` is built from the
table, which at present gives:

| task        | primary metric | better | score in the average                                   |
|-------------|----------------|--------|--------------------------------------------------------|
| calculation | mae            | lower  | 1 − min(MAE, 1)  (ratios live in [0, 1])               |
| report      | ce_f1_micro    | higher | the metric                                             |
| multiclass  | accuracy       | higher | the metric                                             |
| multilabel  | macro_f1       | higher | the metric                                             |
| rec         | mean_iou       | higher | the metric                                             |
| reg         | accuracy       | higher | the metric                                             |
| vqa         | accuracy       | higher | the metric                                             |

Rec's primary is the mean IoU, not acc@0.5: one mean box per region reaches acc@0.5 of 0.92–0.99 on
real lungs (and 1.0 on a too-regular phantom), so acc@0.5 cannot tell a grounding model from a prior;
mean IoU is continuous (narrower CIs than a thresholded rate) and is reported with acc@0.5 and acc@0.75.

The multi-task average is the unweighted mean of the scores of the tasks evaluated (each task counts
once, however many entries it has). The relative gain of run A over run B is reported both ways a study
could have computed it, since they differ when tasks differ in scale:

* ``mean_of_relative_changes`` = mean_t (a_t − b_t) / b_t
* ``relative_change_of_mean``  = (mean_t a_t − mean_t b_t) / mean_t b_t
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass

import numpy as np

from imax.tasks import TASKS


@dataclass(frozen=True)
class Primary:
    metric: str
    higher_is_better: bool
    score: str
    """How the metric becomes a higher-is-better score in [0, 1] (documentation of :func:`to_score`)."""


def _primary(metric: str, higher_is_better: bool) -> Primary:
    return Primary(
        metric, higher_is_better, "metric" if higher_is_better else f"1 − min({metric.upper()}, 1)"
    )


class _PrimaryTable(Mapping[str, Primary]):
    """A live view of the task table: a task registered after import (``imax.tasks.register``) is in it."""

    def __getitem__(self, task: str) -> Primary:
        spec = TASKS[task]
        return _primary(spec.primary_metric, spec.primary_higher_is_better)

    def __iter__(self) -> Iterator[str]:
        return iter(list(TASKS))

    def __len__(self) -> int:
        return len(TASKS)


PRIMARY: Mapping[str, Primary] = _PrimaryTable()
"""Task → primary metric, orientation, transform, read from the task table (in its order)."""


def to_score(task: str, value: float) -> float:
    """The primary metric ``value`` of ``task`` as a higher-is-better score in [0, 1]."""
    if PRIMARY[task].higher_is_better:
        return float(value)
    return float(1.0 - np.clip(value, 0.0, 1.0))


def multitask_average(scores: Mapping[str, float]) -> float:
    """Unweighted mean of per-task scores (NaN if any task's score is NaN, or no task)."""
    vals = list(scores.values())
    return float(np.mean(vals)) if vals else float("nan")


def relative_gains(a: Mapping[str, float], b: Mapping[str, float]) -> dict[str, float]:
    """Relative gain of run A over run B from per-task scores (same task set in both).

    Returns ``mean_of_relative_changes`` and ``relative_change_of_mean`` (fractions: 0.05 = +5%).
    A task with a zero score in B has no relative change: the first is then NaN.
    """
    if set(a) != set(b):
        raise ValueError(f"runs cover different tasks: {sorted(a)} vs {sorted(b)}")
    tasks = sorted(a)
    with np.errstate(divide="ignore", invalid="ignore"):
        rel = [(a[t] - b[t]) / b[t] if b[t] != 0 else float("nan") for t in tasks]
    mb = multitask_average(b)
    return {
        "mean_of_relative_changes": float(np.mean(rel)) if rel else float("nan"),
        "relative_change_of_mean": (multitask_average(a) - mb) / mb if mb else float("nan"),
    }


def primary_table_markdown() -> str:
    """The orientation table as Markdown (written into every metrics.md)."""
    lines = ["| task | primary | better | score in the average |", "|---|---|---|---|"]
    for task, p in PRIMARY.items():
        lines.append(f"| {task} | {p.metric} | {'higher' if p.higher_is_better else 'lower'} | {p.score} |")
    return "\n".join(lines)
