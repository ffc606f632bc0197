"""Stage 2: generate answers for the missing queries, score their confidence, keep the confident ones.

Confidence is the mean token log-likelihood the stage-1 model gives its own (greedy) answer, end-of-
sequence token included, measured with the training collator's labels (answer tokens only). A pseudo
entry is kept when its confidence reaches the task's threshold and its text parses with the task table;
unparseable answers are dropped and counted, never repaired.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import polars as pl
import torch

from imax.data import PromptCollator, TrainCollator
from imax.evaluate.generate import encode_images, generate_predictions
from imax.model.vision_cache import VisionFeatureCache
from imax.tasks import TASKS
from imax.tasks.base import TaskSpec
from imax.train.loop import answer_losses, per_row_sums


def query_entries(queries: pl.DataFrame, seed: int, tasks: Mapping[str, TaskSpec] = TASKS) -> list[dict[str, Any]]:
    """Entry dicts (ENTRY_COLUMNS minus answer/response) for the rows of ``missing_queries``."""
    out = []
    for i, r in enumerate(queries.iter_rows(named=True)):
        query = json.loads(r["query"])
        k = (seed * 7919 + i) % len(tasks[r["task"]].instructions)
        out.append({
            "id": f"{r['dicom_id']}:{r['task']}:pseudo{i}",
            "dicom_id": r["dicom_id"],
            "subject_id": r["subject_id"],
            "split": "train",
            "task": r["task"],
            "source": "pseudo",
            "query": r["query"],
            "answer": "",
            "instruction": tasks[r["task"]].render_instruction(query, k),
            "response": "",
            "image": r["image"],
            "provenance": "pseudo",
        })
    return out


@torch.inference_mode()
def answer_loglik(model: torch.nn.Module, collate: TrainCollator, entries: Sequence[Mapping[str, Any]],
                  batch_size: int, vision_cache: VisionFeatureCache | None = None) -> list[float]:
    """Mean log-likelihood per entry of its ``response`` (+ EOS) given image and instruction
    (``vision_cache``: the images' features, instead of running the vision tower per batch)."""
    model.eval()
    out: list[float] = []
    for k in range(0, len(entries), batch_size):
        batch = collate(entries[k : k + batch_size])
        features = vision_cache.lookup(batch["image"]) if vision_cache is not None else None
        losses = answer_losses(model, batch, image_features=features)
        sums, counts = per_row_sums(*losses, len(batch["input_ids"]))
        out += (-(sums / counts.clamp(min=1))).float().tolist()
    return out


def pseudo_label(
    model: torch.nn.Module,
    tokenizer: Any,
    entries: list[dict[str, Any]],
    prompt_collate: PromptCollator,
    train_collate: TrainCollator,
    batch_size: int,
    tasks: Mapping[str, TaskSpec] = TASKS,
    vision_cache_gb: float = 0.0,
) -> list[dict[str, Any]]:
    """Generate, parse and score every entry; returns them with ``output``, ``parsed`` (payload or None),
    ``confidence`` (None when unparseable), and ``answer``/``response`` filled for parseable ones.
    ``vision_cache_gb`` > 0: each image is encoded once for all its queries and both passes
    (:func:`imax.evaluate.generate.encode_images`), when its features fit."""
    cache, _ = encode_images(model, entries, prompt_collate, batch_size, vision_cache_gb)
    preds = generate_predictions(model, tokenizer, entries, prompt_collate, tasks, batch_size=batch_size,
                                 vision_cache=cache)
    labelled: list[dict[str, Any]] = []
    for entry, pred in zip(entries, preds, strict=True):
        spec = tasks[entry["task"]]
        query = json.loads(entry["query"])
        try:
            parsed = spec.parse_answer(pred["output"], query)
        except Exception:  # a parser bug must not pass a bad label through; count it as unparseable
            parsed = None
        row = dict(entry, output=pred["output"], parsed=parsed, confidence=None)
        if parsed is not None:
            row["answer"] = json.dumps(parsed, sort_keys=True)
            row["response"] = spec.format_answer(query, parsed)
        labelled.append(row)
    scorable = [r for r in labelled if r["parsed"] is not None]
    for r, c in zip(scorable, answer_loglik(model, train_collate, scorable, batch_size, cache), strict=True):
        r["confidence"] = c
    return labelled


def derive(rows: Sequence[Mapping[str, Any]], seed: int, tasks: Mapping[str, TaskSpec] = TASKS) -> list[dict]:
    """Entries of the ``derived`` tasks (``TaskSpec.derived_from``) made from the kept pseudo rows of their
    source task: reg from rec, the predicted box becoming the query and the phrase the answer.

    The source row's confidence carries over: the pair is as trustworthy as the answer it came from.
    """
    out = []
    for name, spec in tasks.items():
        rule = spec.derived_from
        if spec.pseudo != "derived" or rule is None:
            continue
        source = [r for r in rows if r["task"] == rule.source]
        for i, r in enumerate(source):
            query, answer = rule.make(json.loads(r["query"]), r["parsed"])
            text = spec.format_answer(query, answer)
            out.append(dict(
                r,
                id=r["id"].replace(f":{rule.source}:", f":{name}:"),
                task=name,
                query=json.dumps(query, sort_keys=True),
                answer=json.dumps(answer, sort_keys=True),
                instruction=spec.render_instruction(query, (seed * 7919 + i) % len(spec.instructions)),
                response=text,
                output=text,
                parsed=answer,
            ))
    return out


def confidence_thresholds(
    rows: Sequence[Mapping[str, Any]], min_confidence: Mapping[str, float], keep_fraction: float
) -> dict[str, float]:
    """Per task: the explicit threshold if given, else the (1 - keep_fraction) quantile of the task's
    confidences (so roughly ``keep_fraction`` of its parseable answers pass)."""
    if not 0.0 < keep_fraction <= 1.0:
        raise ValueError(f"keep_fraction must be in (0, 1], got {keep_fraction}")
    out: dict[str, float] = {}
    for task in sorted({r["task"] for r in rows}):
        if task in min_confidence:
            out[task] = float(min_confidence[task])
            continue
        conf = [r["confidence"] for r in rows if r["task"] == task and r["confidence"] is not None]
        if conf:
            out[task] = float(np.quantile(np.asarray(conf), 1.0 - keep_fraction, method="higher"))
    return out


def keep_confident(rows: Sequence[Mapping[str, Any]], min_confidence: Mapping[str, float]) -> list[dict]:
    """Rows whose answer parsed and whose confidence reaches the task threshold (tasks without a
    threshold keep nothing: no confidence was measured for them)."""
    return [
        dict(r) for r in rows
        if r["parsed"] is not None and r["confidence"] is not None
        and r["task"] in min_confidence and r["confidence"] >= min_confidence[r["task"]]
    ]
