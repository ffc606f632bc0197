"""Selected annotations → instruction entries (ENTRY_COLUMNS).

``instruction = tasks[task].render_instruction(query, k)`` with the paraphrase ``k`` a seeded hash of
the entry id; ``response = tasks[task].format_answer(query, answer)``. The task table is arbitrary
Python, so rendering cannot be a polars string op; instead each task renders its *distinct*
(query, paraphrase) and (query, answer) pairs once in a list comprehension and joins them back. Many
entries share a query (calculation, report, multiclass, multilabel, VQA templates), so the cost is one
call per distinct pair: 2–6 µs for text tasks and 6–12 µs for the box tasks (rec/reg build a ``Box``),
measured on 2 busy cores by benchmarks/build.py (``render_us_per_call``). Real CheXmask boxes are
distinct per image, so at MIMIC size rec/reg rendering is the largest Python cost of the build
(~2 calls × 1M boxes ≈ 15–25 s); a vectorised per-task render hook in the task table would remove it.
"""

from __future__ import annotations

import json
from collections.abc import Mapping

import numpy as np
import polars as pl

from imax.build.hashing import seeded_unit, splitmix64, str_keys
from imax.schema.records import ENTRY_COLUMNS, TASK_NAMES, polars_schema
from imax.tasks.base import TaskSpec

PARAPHRASE_SALT = 0x9A2A_0003


def paraphrase_index(rows: pl.DataFrame, seed: int) -> np.ndarray:
    """Seeded int per entry from (dicom_id, task, k): a fixed function of the entry id and seed."""
    task_idx = rows["task"].replace_strict({t: i for i, t in enumerate(TASK_NAMES)}, default=len(TASK_NAMES),
                                           return_dtype=pl.UInt64).to_numpy()
    image_key = rows["_key"].to_numpy() if "_key" in rows.columns else str_keys(rows["dicom_id"])
    key = splitmix64(image_key, 0) ^ (task_idx.astype(np.uint64) << np.uint64(48))
    key = key ^ rows["k"].cast(pl.UInt64).to_numpy()
    u = seeded_unit(key, seed, PARAPHRASE_SALT)
    return (u * float(1 << 30)).astype(np.int64)


def make_entries(
    rows: pl.DataFrame,
    images: pl.DataFrame,
    tasks: Mapping[str, TaskSpec],
    seed: int,
    calls: dict[str, int] | None = None,
    extra_columns: tuple[str, ...] = (),
) -> pl.DataFrame:
    """Render ENTRY_COLUMNS for selected annotation ``rows`` (with split and k), sorted by split, image,
    task, k. ``rows`` from :func:`imax.build.select.prepare` carry ``image`` and ``_key``; otherwise the
    path is joined from ``images``. ``calls`` (optional) receives the task-table calls per task;
    ``extra_columns`` of ``rows`` (e.g. ``meta``) are kept after ENTRY_COLUMNS, in the same row order.
    """
    unknown = sorted(set(rows["task"].unique().to_list()) - set(tasks))
    if unknown:
        raise ValueError(f"annotations name tasks {unknown} that are not in the task table {sorted(tasks)}")
    if "image" not in rows.columns:
        rows = rows.join(images.select("dicom_id", pl.col("path").alias("image")), on="dicom_id", how="left")
    if "_key" not in rows.columns:
        rows = rows.with_columns(pl.Series("_key", str_keys(rows["dicom_id"])))
    pool = {t: len(spec.instructions) for t, spec in tasks.items()}
    # Exact integer codes of the strings (categorical), so dedup and joins never hash long text twice.
    rows = rows.with_columns(
        pl.Series("_para", paraphrase_index(rows, seed)) % pl.col("task").replace_strict(pool, return_dtype=pl.Int64),
        pl.col("task").cast(pl.Categorical).to_physical().alias("_t"),
        pl.col("query").cast(pl.Categorical).to_physical().alias("_q"),
        pl.col("answer").cast(pl.Categorical).to_physical().alias("_a"),
    )
    qp = rows.group_by("_t", "_q", "_para").agg(pl.col("task").first(), pl.col("query").first())
    qa = rows.group_by("_t", "_q", "_a").agg(pl.col("task").first(), pl.col("query").first(), pl.col("answer").first())
    instructions, responses = [], []
    for (task,), part in qp.partition_by("task", as_dict=True).items():
        spec, cache = tasks[str(task)], _JsonCache()
        text = [spec.render_instruction(cache(q), int(k)) for q, k in zip(part["query"].to_list(), part["_para"].to_list(), strict=True)]
        instructions.append(part.select("_t", "_q", "_para", pl.Series("instruction", text, pl.String)))
        if calls is not None:
            calls[spec.name] = part.height
    for (task,), part in qa.partition_by("task", as_dict=True).items():
        spec, cache = tasks[str(task)], _JsonCache()
        text = [spec.format_answer(cache(q), json.loads(a)) for q, a in zip(part["query"].to_list(), part["answer"].to_list(), strict=True)]
        responses.append(part.select("_t", "_q", "_a", pl.Series("response", text, pl.String)))
        if calls is not None:
            calls[spec.name] = calls.get(spec.name, 0) + part.height
    if not instructions:
        return pl.DataFrame(schema=polars_schema(ENTRY_COLUMNS)).with_columns(
            [pl.lit(None, rows.schema[c]).alias(c) for c in extra_columns])
    out = rows.join(pl.concat(instructions), on=["_t", "_q", "_para"], how="left").join(
        pl.concat(responses), on=["_t", "_q", "_a"], how="left"
    )
    out = out.with_columns(
        pl.concat_str([pl.col("dicom_id"), pl.col("task"), pl.col("k").cast(pl.String)], separator=":").alias("id"),
        pl.lit("real").alias("provenance"),
        pl.col("split").replace_strict({"train": 0, "val": 1, "test": 2}, return_dtype=pl.Int8).alias("_s"),
    )
    # integers lead the sort (fast); the order is split, image, task, k
    out = out.sort("_s", "_key", "dicom_id", "task", "k")
    schema = polars_schema(ENTRY_COLUMNS)
    return out.select([pl.col(c).cast(schema[c]) for c in ENTRY_COLUMNS] + list(extra_columns))  # type: ignore[arg-type]


class _JsonCache:
    """json.loads with memory: many distinct (query, paraphrase) pairs share one query."""

    def __init__(self) -> None:
        self._seen: dict[str, dict] = {}

    def __call__(self, text: str) -> dict:
        got = self._seen.get(text)
        if got is None:
            got = self._seen[text] = json.loads(text)
        return got
