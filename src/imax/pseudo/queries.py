"""Which tasks each DMAX train image lacks, and what to ask it for each (stage 2, step 1).

A query is only asked where the real source could have answered it: calculation on PA views (the
cardiomegaly source covers PA only), rec on frontal views (CheXmask is frontal-only). Query payloads
come from the DMAX train pool itself (its measures, label spaces, region phrases and most frequent VQA
questions), so pseudo-IMAX never asks anything the real data does not contain.
"""

from __future__ import annotations

import json

import numpy as np
import polars as pl

from imax.schema.records import FRONTAL_VIEWS, TASK_NAMES

# Tasks answered by generation; reg is derived from the pseudo rec boxes (see label.derive_reg).
GENERATED_TASKS: tuple[str, ...] = ("calculation", "report", "multiclass", "multilabel", "rec", "vqa")


def pool_queries(train: pl.DataFrame, vqa_questions: int) -> dict[str, list[str]]:
    """Distinct query payloads per task in the DMAX train pool (JSON strings, sizes stripped).

    VQA keeps the ``vqa_questions`` most frequent questions; rec keeps region phrases.
    """
    out: dict[str, list[str]] = {}
    for task in GENERATED_TASKS:
        rows = train.filter(pl.col("task") == task)
        if rows.height == 0:
            continue
        queries = rows["query"].map_elements(_strip_size, return_dtype=pl.String)
        counts = queries.value_counts(sort=True)
        keep = counts.head(vqa_questions) if task == "vqa" else counts.sort("query")
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
        for task in GENERATED_TASKS:
            if task in present or task not in pool:
                continue
            if task == "calculation" and view != "PA":
                continue
            if task == "rec" and view not in FRONTAL_VIEWS:
                continue
            for q in pool[task]:
                payload = json.loads(q)
                if task == "rec":
                    payload["size"] = [int(r["width"]), int(r["height"])]
                rows.append({
                    "dicom_id": r["dicom_id"], "subject_id": r["subject_id"], "task": task,
                    "query": json.dumps(payload, sort_keys=True), "image": r["image"],
                })
    schema = {"dicom_id": pl.String, "subject_id": pl.Int64, "task": pl.String, "query": pl.String, "image": pl.String}
    out = pl.DataFrame(rows, schema=schema)
    order = {t: i for i, t in enumerate(TASK_NAMES)}
    return out.sort(["dicom_id", pl.col("task").replace_strict(order, return_dtype=pl.Int64), "query"])
