"""Read numbers out of an experiment's ``results.json`` without ever raising on a missing piece.

Every accessor returns ``None`` for absent or non-numeric values, so the page shows "—" or "not run"
instead of crashing. Conventions the report relies on (set by :mod:`imax.experiment`):

* ``gains.*.per_task`` and ``relative_of_mean`` are **relative fractions** (0.05 = +5 %) oriented so
  that a positive gain means *better than DMAX* (for lower-is-better metrics the sign is flipped).
* ``runs.*.metrics[task][metric]`` are means over seeds; ``metrics_ci`` the matching 95 % intervals.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from imax.report.assets import RUN_ORDER, run_label
from imax.schema.records import TASK_NAMES
from imax.tasks import TASKS


def num(value: Any) -> float | None:
    """``value`` as a finite float, else ``None`` (bools, strings, NaN and missing all give ``None``)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    value = float(value)
    return value if math.isfinite(value) else None


def interval(value: Any) -> tuple[float, float] | None:
    """A ``[lo, hi]`` pair as floats, else ``None``."""
    if not isinstance(value, list | tuple) or len(value) != 2:
        return None
    lo, hi = num(value[0]), num(value[1])
    return None if lo is None or hi is None else (lo, hi)


def get(data: Any, *keys: Any) -> Any:
    """``data[k1][k2]...`` or ``None`` as soon as a level is missing or not a mapping/list."""
    for key in keys:
        if isinstance(data, Mapping):
            data = data.get(key)
        elif isinstance(data, list) and isinstance(key, int) and -len(data) <= key < len(data):
            data = data[key]
        else:
            return None
    return data


def runs(results: Mapping[str, Any]) -> list[str]:
    """Run names present in the results, in report order (known runs first, then others sorted)."""
    present = get(results, "runs")
    if not isinstance(present, Mapping):
        return []
    known = [r for r in RUN_ORDER if isinstance(present.get(r), Mapping)]
    extra = sorted(r for r in present if r not in RUN_ORDER and isinstance(present[r], Mapping))
    return known + extra


def tasks(results: Mapping[str, Any]) -> list[str]:
    """Tasks named anywhere in primary metrics or run metrics, in the task table's order."""
    seen: set[str] = set()
    pm = get(results, "primary_metrics")
    if isinstance(pm, Mapping):
        seen |= set(pm)
    for run in runs(results):
        metrics = get(results, "runs", run, "metrics")
        if isinstance(metrics, Mapping):
            seen |= set(metrics)
    return [t for t in TASK_NAMES if t in seen] + sorted(seen - set(TASK_NAMES))


def primary(results: Mapping[str, Any], task: str) -> tuple[str, bool]:
    """(metric name, higher_is_better) of ``task``'s primary metric."""
    spec = get(results, "primary_metrics", task)
    if isinstance(spec, Mapping) and isinstance(spec.get("name"), str):
        return spec["name"], bool(spec.get("higher_is_better", True))
    if task in TASKS:  # the task table knows the direction (calculation's MAE: lower)
        return TASKS[task].primary_metric, TASKS[task].primary_higher_is_better
    return "?", True


def score(results: Mapping[str, Any], run: str, task: str, metric: str | None = None) -> float | None:
    """Mean of ``metric`` (default: the primary one) for ``run`` on ``task``."""
    metric = metric or primary(results, task)[0]
    return num(get(results, "runs", run, "metrics", task, metric))


def score_ci(results: Mapping[str, Any], run: str, task: str, metric: str | None = None) -> tuple[float, float] | None:
    metric = metric or primary(results, task)[0]
    return interval(get(results, "runs", run, "metrics_ci", task, metric))


def better(a: float, b: float, higher_is_better: bool) -> bool:
    """Strictly better (a tie is not a win)."""
    return a > b if higher_is_better else a < b


def relative_gain(a: float, b: float, higher_is_better: bool) -> float | None:
    """Oriented relative gain of ``a`` over baseline ``b`` (fraction); ``None`` when ``b`` is 0."""
    if b == 0:
        return None
    g = (a - b) / abs(b)
    return g if higher_is_better else -g


def gain(results: Mapping[str, Any], run: str, task: str) -> tuple[float | None, tuple[float, float] | None, bool]:
    """(gain, CI, computed_here) of ``run`` vs DMAX on ``task``.

    Taken from ``gains[run_vs_dmax]`` when the experiment wrote it; otherwise computed here from the
    two means (no CI then), flagged by ``computed_here`` so the page can say so.
    """
    key = f"{run}_vs_dmax"
    g = num(get(results, "gains", key, "per_task", task))
    if g is not None:
        return g, interval(get(results, "gains", key, "per_task_ci", task)), False
    a, b = score(results, run, task), score(results, "dmax", task)
    if a is None or b is None:
        return None, None, False
    return relative_gain(a, b, primary(results, task)[1]), None, True


def average_gain(results: Mapping[str, Any], run: str) -> tuple[float | None, tuple[float, float] | None, bool]:
    """(relative gain of the multi-task average, CI, computed_here) of ``run`` vs DMAX."""
    key = f"{run}_vs_dmax"
    g = num(get(results, "gains", key, "relative_of_mean"))
    if g is not None:
        return g, interval(get(results, "gains", key, "relative_of_mean_ci")), False
    a = num(get(results, "runs", run, "multitask_average"))
    b = num(get(results, "runs", "dmax", "multitask_average"))
    if a is None or b is None:
        return None, None, False
    return relative_gain(a, b, True), None, True


def wins(results: Mapping[str, Any], run: str, baseline: str = "dmax") -> tuple[int, int]:
    """(tasks where ``run`` is strictly better than ``baseline`` on the primary metric, tasks compared)."""
    n = m = 0
    for task in tasks(results):
        a, b = score(results, run, task), score(results, baseline, task)
        if a is None or b is None:
            continue
        m += 1
        n += better(a, b, primary(results, task)[1])
    return n, m


def fmt(value: Any, digits: int = 3) -> str:
    """A number for a table cell: fixed decimals, "—" when missing."""
    v = num(value)
    if v is None:
        return "—"
    if abs(v) >= 1000:
        return f"{v:,.0f}"
    return f"{v:.{digits}f}"


def pct(value: float | None, digits: int = 1) -> str:
    """A relative fraction as a signed percentage: 0.0532 → "+5.3%"."""
    return "—" if value is None else f"{value * 100:+.{digits}f}%"


def pct_ci(ci: tuple[float, float] | None, digits: int = 1) -> str:
    return "" if ci is None else f"[{pct(ci[0], digits)}, {pct(ci[1], digits)}]"


def plain_answer(results: Mapping[str, Any], run: str = "imax") -> str:
    """The one-sentence answer, from the numbers only.

    "IMAX beats DMAX on N of 7 tasks; multi-task average X vs Y (gain Z%, 95% CI [a, b])."
    """
    name, base = run_label(run), run_label("dmax")
    present = runs(results)
    missing = [r for r in (run, "dmax") if r not in present]
    if missing:
        return f"{name} vs {base}: not run (missing run: {', '.join(missing)})."
    n, m = wins(results, run)
    x = num(get(results, "runs", run, "multitask_average"))
    y = num(get(results, "runs", "dmax", "multitask_average"))
    g, ci, computed = average_gain(results, run)
    gain_text = f"gain {pct(g)}"
    if ci is not None:
        gain_text += f", 95% CI {pct_ci(ci)}"
    elif g is not None:
        gain_text += ", no CI" + (" (computed from the two averages)" if computed else "")
    return f"{name} beats {base} on {n} of {m} tasks; multi-task average {fmt(x)} vs {fmt(y)} ({gain_text})."


def wall_time(seconds: Any) -> str:
    """Seconds as "1 h 02 min" / "4 min 05 s" / "12.3 s"; "—" when missing."""
    s = num(seconds)
    if s is None:
        return "—"
    if s < 60:
        return f"{s:.1f} s"
    m, sec = divmod(round(s), 60)
    if m < 60:
        return f"{m} min {sec:02d} s"
    h, m = divmod(m, 60)
    return f"{h} h {m:02d} min"
