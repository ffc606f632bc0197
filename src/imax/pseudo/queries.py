"""Which tasks each DMAX train image lacks, and what to ask it for each (stage 2, step 1).

A query is only asked where the real source could have answered it: on the image views the task's spec
names (``TaskSpec.views``: calculation on PA, the cardiomegaly source covers PA only; rec on frontal
views, CheXmask is frontal-only). Which tasks are asked, and how, is the spec's ``pseudo`` rule: ``ask``
every distinct query of the pool, ``ask_most_frequent`` its most frequent ones (vqa), ``derived`` tasks
are made from another task's answers (reg from rec boxes, :func:`imax.pseudo.label.derive`). Query
payloads come from the DMAX train pool itself (its measures, label spaces, region phrases and most
frequent VQA questions), so pseudo-IMAX never asks anything the real data does not contain.
"""

from __future__ import annotations

import json
from collections.abc import Mapping

import numpy as np
import polars as pl

from imax.tasks import TASKS
from imax.tasks.base import TaskSpec


def generated_tasks(tasks: Mapping[str, TaskSpec] = TASKS) -> tuple[str, ...]:
    """Tasks answered by generation (pseudo rule ``ask`` or ``ask_most_frequent``), in table order."""
    return tuple(name for name, spec in tasks.items() if spec.pseudo in ("ask", "ask_most_frequent"))


def pool_queries(train: pl.DataFrame, vqa_questions: int, tasks: Mapping[str, TaskSpec] = TASKS) -> dict[str, list[str]]:
    """Distinct query payloads per generated task in the DMAX train pool (JSON strings, sizes stripped).

    A task whose rule is ``ask_most_frequent`` (vqa) keeps the ``vqa_questions`` most frequent queries
    (the config's name for it); the others keep every distinct query, sorted (rec: region phrases).
    """
    out: dict[str, list[str]] = {}
    for task in generated_tasks(tasks):
        rows = train.filter(pl.col("task") == task)
        if rows.height == 0:
            continue
        queries = rows["query"].map_elements(_strip_size, return_dtype=pl.String)
        counts = queries.value_counts(sort=True)
        top = tasks[task].pseudo == "ask_most_frequent"
        keep = counts.head(vqa_questions) if top else counts.sort("query")
        out[task] = keep["query"].to_list()
    return out


def _strip_size(query: str) -> str:
    payload = json.loads(query)
    payload.pop("size", None)
    return json.dumps(payload, sort_keys=True)


def missing_queries(
    train: pl.DataFrame,
    images: pl.DataFrame,
    pool: dict[str, list[str]],
    max_images: int | None,
    seed: int,
    tasks: Mapping[str, TaskSpec] = TASKS,
) -> pl.DataFrame:
    """One row per (image, task, query) to pseudo-label: ``dicom_id, subject_id, task, query, image``.

    Args:
        train: DMAX train entries (ENTRY_COLUMNS).
        images: IMAGES rows of those entries (for view and size).
        pool: output of :func:`pool_queries`.
        max_images: sub-sample this many train images (seeded), None for all.
    """
    have = train.group_by("dicom_id").agg(pl.col("task").unique().alias("tasks"))
    info = (
        train.select("dicom_id", "subject_id", "image").unique("dicom_id")
        .join(images.select("dicom_id", "view", "width", "height"), on="dicom_id", how="left")
        .join(have, on="dicom_id")
        .sort("dicom_id")
    )
    if max_images is not None and info.height > max_images:
        pick = np.sort(np.random.default_rng(seed).permutation(info.height)[:max_images])
        info = info[pick]
    rows: list[dict] = []
    for r in info.iter_rows(named=True):
        present = set(r["tasks"])
        view = r["view"] or ""
        for task in generated_tasks(tasks):
            spec = tasks[task]
            if task in present or task not in pool:
                continue
            if spec.views is not None and view not in spec.views:
                continue
            for q in pool[task]:
                payload = json.loads(q)
                if spec.sized_query:
                    payload["size"] = [int(r["width"]), int(r["height"])]
                rows.append({
                    "dicom_id": r["dicom_id"], "subject_id": r["subject_id"], "task": task,
                    "query": json.dumps(payload, sort_keys=True), "image": r["image"],
                })
    schema = {"dicom_id": pl.String, "subject_id": pl.Int64, "task": pl.String, "query": pl.String, "image": pl.String}
    out = pl.DataFrame(rows, schema=schema)
    order = {t: i for i, t in enumerate(tasks)}
    return out.sort(["dicom_id", pl.col("task").replace_strict(order, return_dtype=pl.Int64), "query"])
