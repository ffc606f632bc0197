"""Selected annotations → instruction entries (ENTRY_COLUMNS).

``instruction = tasks[task].render_instruction(query, k)`` with the paraphrase ``k`` a seeded hash of
the entry id; ``response = tasks[task].format_answer(query, answer)``. The task table is arbitrary
Python, so rendering is not a polars string op; instead each task renders its *distinct*
(query, paraphrase) and (query, answer) pairs once and joins them back (one packed integer key per
pair). Many entries share a query (calculation, report, multiclass, multilabel, VQA templates), so the
cost is one call per distinct pair: 2–6 µs for text tasks, measured on 2 busy cores by
benchmarks/build.py (``render_us_per_call``). Real CheXmask boxes are distinct per image (~1M per task
at MIMIC size), so the box texts — rec responses and reg instructions — are rendered vectorised
(:mod:`imax.builders.render`, checked against the task table) instead of 6–12 µs Python calls."""

from __future__ import annotations

import json
from collections.abc import Mapping

import numpy as np
import polars as pl

from imax.builders import render
from imax.builders.hashing import seeded_unit, splitmix64, str_keys
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
    task, k. ``rows`` from :func:`imax.builders.select.prepare` carry ``image`` and ``_key``; otherwise the
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
    # Exact integer codes of the strings (categorical), so dedup and joins never hash long text twice;
    # each distinct (task, query, paraphrase) and (task, query, answer) then gets one integer key.
    rows = rows.with_columns(
        pl.Series("_para", paraphrase_index(rows, seed)) % pl.col("task").replace_strict(pool, return_dtype=pl.Int64),
        pl.col("task").cast(pl.Categorical).to_physical().alias("_t"),
        pl.col("query").cast(pl.Categorical).to_physical().alias("_q"),
        pl.col("answer").cast(pl.Categorical).to_physical().alias("_a"),
    )
    rows = rows.with_columns(_pack(rows, ["_t", "_q", "_para"]).alias("_kp"), _pack(rows, ["_t", "_q", "_a"]).alias("_ka"))
    qp = rows.group_by("_kp").agg(pl.col("task", "query", "_para").first())
    qa = rows.group_by("_ka").agg(pl.col("task", "query", "answer").first())
    instructions, responses = [], []
    for (task,), part in qp.partition_by("task", as_dict=True).items():
        spec = tasks[str(task)]
        text = render.instructions(spec, part["query"], part["_para"])
        if text is None:
            cache = _JsonCache()
            text = pl.Series([spec.render_instruction(cache(q), int(k)) for q, k in zip(part["query"].to_list(), part["_para"].to_list(), strict=True)], dtype=pl.String)
        instructions.append(part.select("_kp", text.alias("instruction")))
        if calls is not None:
            calls[spec.name] = part.height
    for (task,), part in qa.partition_by("task", as_dict=True).items():
        spec = tasks[str(task)]
        text = render.responses(spec, part["query"], part["answer"])
        if text is None:
            cache = _JsonCache()
            text = pl.Series([spec.format_answer(cache(q), json.loads(a)) for q, a in zip(part["query"].to_list(), part["answer"].to_list(), strict=True)], dtype=pl.String)
        responses.append(part.select("_ka", text.alias("response")))
        if calls is not None:
            calls[spec.name] = calls.get(spec.name, 0) + part.height
    if not instructions:
        return pl.DataFrame(schema=polars_schema(ENTRY_COLUMNS)).with_columns(
            [pl.lit(None, rows.schema[c]).alias(c) for c in extra_columns])
    out = rows.join(pl.concat(instructions), on="_kp", how="left", maintain_order="left").join(
        pl.concat(responses), on="_ka", how="left", maintain_order="left"
    )
    out = out.with_columns(
        pl.concat_str([pl.col("dicom_id"), pl.col("task"), pl.col("k").cast(pl.String)], separator=":").alias("id"),
        pl.lit("real").alias("provenance"),
        pl.col("split").replace_strict({"train": 0, "val": 1, "test": 2}, return_dtype=pl.Int8).alias("_s"),
    )
    out = _in_entry_order(out)
    schema = polars_schema(ENTRY_COLUMNS)
    return out.select([pl.col(c).cast(schema[c]) for c in ENTRY_COLUMNS] + list(extra_columns))  # type: ignore[arg-type]


def _in_entry_order(out: pl.DataFrame) -> pl.DataFrame:
    """Rows sorted by split, image, task, k.

    Rows from :func:`imax.builders.select.prepare` carry ``_row``, their place in (image, task, k) order: the
    order is then (split, _row), a check away for IMAX (whose selection keeps that order) and an integer
    sort for DMAX; other rows are sorted on the columns themselves (integers lead: fast)."""
    if "_row" not in out.columns:
        return out.sort("_s", "_key", "dicom_id", "task", "k")
    key = out["_s"].cast(pl.UInt64) * (1 << 40) + out["_row"].cast(pl.UInt64)
    if key.len() < 2 or bool((key.diff().drop_nulls() > 0).all()):
        return out
    return out[key.to_frame("key").select(pl.arg_sort_by("key")).to_series()]


def _pack(rows: pl.DataFrame, columns: list[str]) -> pl.Expr:
    """One join key for several non-negative integer columns: packed into a UInt64 when their ranges
    fit in 64 bits (a single-column join/group_by is ~2x faster), else a struct of them."""
    bits = [max(1, int(rows[c].max() or 0).bit_length()) for c in columns]
    if sum(bits) > 64 or any(rows[c].null_count() for c in columns):
        return pl.struct(columns)
    key = pl.col(columns[0]).cast(pl.UInt64)
    for c, b in zip(columns[1:], bits[1:], strict=True):
        key = key * (1 << b) + pl.col(c).cast(pl.UInt64)
    return key


class _JsonCache:
    """json.loads with memory: many distinct (query, paraphrase) pairs share one query."""

    def __init__(self) -> None:
        self._seen: dict[str, dict] = {}

    def __call__(self, text: str) -> dict:
        got = self._seen.get(text)
        if got is None:
            got = self._seen[text] = json.loads(text)
        return got
