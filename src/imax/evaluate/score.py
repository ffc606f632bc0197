"""Score predictions without a model: parse with the task table, compute metrics, bootstrap CIs.

A *prediction* is a dict with at least ``id``, ``dicom_id``, ``task``, ``query`` (payload or its JSON),
``reference`` (the ground-truth answer payload or its JSON) and ``output`` (the raw generated text).
Answers are always parsed again from ``output`` by ``tasks[task].parse_answer`` — a stored "parsed"
field is never trusted — and an unparseable answer is scored as wrong and counted in
``parse_failure_rate``; nothing is ever filled in from another sample.

References are compared in their canonical form (``spec.canonical``: rounded, snapped to the box grid),
so a model that writes the reference response exactly scores perfectly.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from imax.evaluate import aggregate, bootstrap, nlg
from imax.evaluate.plugins import ReportScorer
from imax.evaluate.scorers import LABEL_SPACES, METEOR_KINDS, ScoreContext, has_kind, scorer_for

__all__ = ["LABEL_SPACES", "compare_runs", "parse_predictions", "score_predictions", "score_tasks"]

PARSE_OK, PARSE_FAILED, PARSE_ERROR = "ok", "unparseable", "parser_error"


def _payload(value: Any) -> dict[str, Any]:
    if isinstance(value, str):
        return json.loads(value) if value else {}
    return dict(value or {})


def parse_prediction(pred: Mapping[str, Any], spec: Any) -> tuple[dict[str, Any] | None, str]:
    """``(parsed answer or None, status)``; status is ``ok``, ``unparseable`` or ``parser_error: ...``.

    A parser that raises is a parse failure too (the text could not be read), with the reason kept.
    """
    try:
        parsed = spec.parse_answer(str(pred.get("output") or ""), _payload(pred.get("query")))
    except Exception as exc:  # a crashing parser counts as a failure, not an abort
        return None, f"{PARSE_ERROR}: {type(exc).__name__}: {exc}"
    return (parsed, PARSE_OK) if parsed is not None else (None, PARSE_FAILED)


def parse_predictions(
    predictions: Sequence[Mapping[str, Any]], tasks: Mapping[str, Any] | None = None
) -> list[dict]:
    """Copies of ``predictions`` with ``parsed`` and ``parse_status`` filled in from ``output``."""
    tasks = _task_table(tasks)
    out = []
    for p in predictions:
        parsed, status = parse_prediction(p, tasks[p["task"]])
        out.append({**p, "parsed": parsed, "parse_status": status})
    return out


@dataclass
class TaskResult:
    """One task's scores plus what the bootstrap needs (rows, their images, the primary on rows)."""

    task: str
    metrics: dict[str, float | None]
    images: list[str]
    """dicom_id of each row (N,)."""
    primary_at: Callable[[np.ndarray], float]
    """Primary metric on row indices (with repeats), e.g. a bootstrap resample."""
    parse_failures: int
    details: dict[str, Any] = field(default_factory=dict)
    unavailable: dict[str, str] = field(default_factory=dict)


def _task_table(tasks: Mapping[str, Any] | None) -> Mapping[str, Any]:
    if tasks is None:
        from imax.tasks import TASKS

        return TASKS
    return tasks


def score_tasks(
    predictions: Sequence[Mapping[str, Any]],
    tasks: Mapping[str, Any] | None = None,
    *,
    meteor: nlg.Meteor | None = None,
    meteor_reason: str = "disabled",
    plugins: Sequence[ReportScorer] = (),
    plugin_unavailable: Mapping[str, str] | None = None,
) -> dict[str, TaskResult]:
    """Per-task results (in task-table order) of parsed-from-scratch predictions, each scored by its
    spec's scorer (:func:`imax.evaluate.scorers.scorer_for`)."""
    tasks = _task_table(tasks)
    by_task: dict[str, list[Mapping[str, Any]]] = {}
    for p in predictions:
        if p["task"] not in tasks:
            raise ValueError(f"prediction {p.get('id')!r}: unknown task {p['task']!r}")
        by_task.setdefault(p["task"], []).append(p)
    results: dict[str, TaskResult] = {}
    for task in [t for t in tasks if t in by_task]:
        rows, spec = by_task[task], tasks[task]
        queries = [_payload(r["query"]) for r in rows]
        refs = [spec.canonical(q, _payload(r["reference"])) for q, r in zip(queries, rows, strict=True)]
        parsed = [parse_prediction(r, spec)[0] for r in rows]
        ctx = ScoreContext(
            meteor,
            meteor_reason,
            plugins,
            dict(plugin_unavailable or {}),
            decision_thresholds=spec.decision_thresholds,
        )
        metrics, primary_at, details = scorer_for(spec)(queries, parsed, refs, ctx)
        results[task] = TaskResult(
            task=task,
            metrics=metrics,
            images=[str(r["dicom_id"]) for r in rows],
            primary_at=primary_at,
            parse_failures=sum(p is None for p in parsed),
            details=details,
            unavailable=ctx.unavailable,
        )
    return results


def _image_index(results: Mapping[str, TaskResult], images: list[str]) -> dict[str, np.ndarray]:
    pos = {d: i for i, d in enumerate(images)}
    return {t: np.array([pos[d] for d in r.images], dtype=int) for t, r in results.items()}


def _run_stat(results: Mapping[str, TaskResult], img_rows: Mapping[str, np.ndarray]) -> bootstrap.Stat:
    """Statistic of one run on a draw: every task primary, its score, and the multi-task average."""

    def stat(counts: np.ndarray) -> dict[str, float]:
        out: dict[str, float] = {}
        scores = {}
        for t, r in results.items():
            value = r.primary_at(bootstrap.rows_for(img_rows[t], counts))
            out[f"{t}/{aggregate.PRIMARY[t].metric}"] = value
            scores[t] = aggregate.to_score(t, value)
        out["multitask_average"] = aggregate.multitask_average(scores)
        return out

    return stat


def score_predictions(
    predictions: Sequence[Mapping[str, Any]],
    tasks: Mapping[str, Any] | None = None,
    *,
    meteor: bool | nlg.Meteor | None = True,
    plugins: Sequence[ReportScorer] = (),
    plugin_unavailable: Mapping[str, str] | None = None,
    n_bootstrap: int = 1000,
    seed: int = 0,
) -> dict[str, Any]:
    """The metrics.json content for ``predictions`` (see module docstring for the prediction dict).

    ``meteor``: True starts METEOR once if any report is present (unavailable without java); a running
    :class:`nlg.Meteor` is reused; False/None skips it. CIs come from ``n_bootstrap`` image resamples.
    """
    server, reason, own = None, "disabled (meteor=False)", False
    table = _task_table(tasks)
    wants_meteor = any(t in table and has_kind(table[t], METEOR_KINDS) for t in {p["task"] for p in predictions})
    if isinstance(meteor, nlg.Meteor):
        server, reason = meteor, ""
    elif meteor and wants_meteor:
        server, reason = nlg.start_meteor()
        own = server is not None
    try:
        results = score_tasks(
            predictions,
            tasks,
            meteor=server,
            meteor_reason=reason,
            plugins=plugins,
            plugin_unavailable=plugin_unavailable,
        )
    finally:
        if own and server is not None:
            server.close()
    return assemble(results, n_bootstrap=n_bootstrap, seed=seed)


def assemble(results: Mapping[str, TaskResult], n_bootstrap: int = 1000, seed: int = 0) -> dict[str, Any]:
    """metrics.json: ``{task: {metric: value, ..., parse_failure_rate, n, n_images}}`` plus
    ``multitask_average``, ``scores``, ``primary``, ``ci``, ``unavailable``, ``details``, ``bootstrap``."""
    out: dict[str, Any] = {}
    scores: dict[str, float] = {}
    primary: dict[str, Any] = {}
    unavailable: dict[str, str] = {}
    for t, r in results.items():
        n = len(r.images)
        out[t] = {
            **r.metrics,
            "parse_failure_rate": r.parse_failures / n if n else float("nan"),
            "parse_failures": r.parse_failures,
            "n": n,
            "n_images": len(set(r.images)),
        }
        p = aggregate.PRIMARY[t]
        value = r.metrics.get(p.metric)
        scores[t] = aggregate.to_score(t, float("nan") if value is None else float(value))
        primary[t] = {
            "metric": p.metric,
            "higher_is_better": p.higher_is_better,
            "value": value,
            "score": scores[t],
            "score_rule": p.score,
        }
        unavailable.update({f"{t}/{k}": v for k, v in r.unavailable.items()})
    out["multitask_average"] = aggregate.multitask_average(scores)
    out["scores"] = scores
    out["primary"] = primary
    images = sorted({d for r in results.values() for d in r.images})
    ci: dict[str, Any] = {}
    if n_bootstrap > 0 and images:
        boot = bootstrap.bootstrap(
            _run_stat(results, _image_index(results, images)), len(images), n_bootstrap, seed
        )
        for key, v in boot.items():
            if key == "multitask_average":
                ci[key] = v["ci"]
            else:
                task, metric = key.split("/", 1)
                ci.setdefault(task, {})[metric] = v["ci"]
    out["ci"] = ci
    out["bootstrap"] = {
        "n_resamples": n_bootstrap,
        "seed": seed,
        "unit": "image",
        "level": 0.95,
        "n_images": len(images),
    }
    out["unavailable"] = unavailable
    out["details"] = {t: r.details for t, r in results.items() if r.details}
    return out


def compare_runs(
    run_a: Sequence[Mapping[str, Any]],
    run_b: Sequence[Mapping[str, Any]],
    tasks: Mapping[str, Any] | None = None,
    *,
    n_bootstrap: int = 1000,
    seed: int = 0,
) -> dict[str, Any]:
    """Relative gain of run A over run B (both ways, see :mod:`.aggregate`) with paired bootstrap CIs.

    Both runs must cover the same tasks on the same test images; each draw resamples images once and
    scores both runs on it. Returns ``{name: {"value", "ci", "n_resamples"}}`` for ``a/multitask_average``,
    ``b/multitask_average``, ``a/<task>``, ``b/<task>`` (scores), ``diff/<task>`` (a − b), ``mean_of_relative_changes`` and
    ``relative_change_of_mean``. METEOR is not needed for primaries and is skipped.
    """
    ra = score_tasks(run_a, tasks)
    rb = score_tasks(run_b, tasks)
    if set(ra) != set(rb):
        raise ValueError(f"runs cover different tasks: {sorted(ra)} vs {sorted(rb)}")
    images = sorted({d for r in ra.values() for d in r.images})
    if images != sorted({d for r in rb.values() for d in r.images}):
        raise ValueError(
            "runs were evaluated on different images: a paired comparison needs the same test set"
        )
    ia, ib = _image_index(ra, images), _image_index(rb, images)

    def stat(counts: np.ndarray) -> dict[str, float]:
        out: dict[str, float] = {}
        sa = {
            t: aggregate.to_score(t, r.primary_at(bootstrap.rows_for(ia[t], counts))) for t, r in ra.items()
        }
        sb = {
            t: aggregate.to_score(t, r.primary_at(bootstrap.rows_for(ib[t], counts))) for t, r in rb.items()
        }
        out.update({f"a/{t}": v for t, v in sa.items()})
        out.update({f"b/{t}": v for t, v in sb.items()})
        out.update({f"diff/{t}": sa[t] - sb[t] for t in sa})
        out["a/multitask_average"] = aggregate.multitask_average(sa)
        out["b/multitask_average"] = aggregate.multitask_average(sb)
        out.update(aggregate.relative_gains(sa, sb))
        return out

    return bootstrap.bootstrap(stat, len(images), n_bootstrap, seed)
