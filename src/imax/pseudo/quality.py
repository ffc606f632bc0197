"""Pseudo-label quality: each pseudo answer scored against held-out truth for the same question.

Truth is any ANNOTATIONS table holding labels the DMAX build did not use (the full canonical store read
from the same sources, or the phantom's sources). A pseudo row is matched on (dicom_id, task, query);
queries are compared by the task's ``query_key`` (without the image size, so a rec phrase matches however
the source sized it). Derived tasks (reg, from rec boxes) have their source's quality.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

import polars as pl

from imax.evaluate import score_predictions
from imax.tasks import TASKS


def query_key(task: str, query: str | Mapping[str, Any]) -> str:
    """Canonical JSON of a query for matching: the task's ``TaskSpec.query_key`` (the image size never
    identifies a question; vqa: only its normalised text does)."""
    payload = dict(json.loads(query) if isinstance(query, str) else query)
    spec = TASKS.get(task)
    payload = spec.query_key(payload) if spec is not None else {k: v for k, v in payload.items() if k != "size"}
    return json.dumps(payload, sort_keys=True)


def truth_index(truth: pl.DataFrame) -> dict[tuple[str, str, str], dict[str, Any]]:
    """(dicom_id, task, query key) → answer payload (first annotation wins on duplicates)."""
    index: dict[tuple[str, str, str], dict[str, Any]] = {}
    for r in truth.select("dicom_id", "task", "query", "answer").iter_rows(named=True):
        index.setdefault((r["dicom_id"], r["task"], query_key(r["task"], r["query"])), json.loads(r["answer"]))
    return index


def _predictions(rows: Sequence[Mapping[str, Any]], index: Mapping) -> list[dict[str, Any]]:
    preds = []
    for r in rows:
        ref = index.get((r["dicom_id"], r["task"], query_key(r["task"], r["query"])))
        if ref is None:
            continue
        query = json.loads(r["query"])
        preds.append({"id": r["id"], "dicom_id": r["dicom_id"], "task": r["task"], "query": query,
                      "reference": ref, "output": r["output"]})
    return preds


def pseudo_quality(
    generated: Sequence[Mapping[str, Any]],
    kept: Sequence[Mapping[str, Any]],
    truth: pl.DataFrame,
    thresholds: Mapping[str, float],
) -> dict[str, Any]:
    """Per task: the task's metrics on all generated answers with truth (before the filter) and on the
    kept ones (after), with counts, the kept fraction and the threshold used."""
    index = truth_index(truth)
    before = _predictions(generated, index)
    after = _predictions(kept, index)
    m_before = score_predictions(before, meteor=False, n_bootstrap=0) if before else {}
    m_after = score_predictions(after, meteor=False, n_bootstrap=0) if after else {}
    out: dict[str, Any] = {}
    tasks = sorted({r["task"] for r in generated})
    for task in tasks:
        n_gen = sum(r["task"] == task for r in generated)
        n_kept = sum(r["task"] == task for r in kept)
        out[task] = {
            "generated": n_gen,
            "kept": n_kept,
            "kept_fraction": n_kept / n_gen if n_gen else 0.0,
            "threshold": thresholds.get(task),
            "before_filter": _task_block(m_before, task, before),
            "after_filter": _task_block(m_after, task, after),
        }
    return out


def _task_block(metrics: Mapping[str, Any], task: str, preds: Sequence[Mapping]) -> dict[str, Any]:
    n = sum(p["task"] == task for p in preds)
    block = {"n": n}
    if n and task in metrics:
        primary = metrics.get("primary", {}).get(task, {})
        block |= {k: v for k, v in metrics[task].items() if isinstance(v, (int, float)) and "/" not in k}
        if primary:
            block["primary"] = primary.get("metric")
            block["score"] = primary.get("score")
    return block
