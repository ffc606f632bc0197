"""Vectorised box renders equal the task table's texts exactly, and step aside when they cannot."""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import polars as pl

from imax.builders import render
from imax.tasks import TASKS


def _payloads(rng: np.random.Generator, n: int) -> list[str]:
    """Boxes on assorted canvases: integer and float corners, on grid half-steps, outside the canvas."""
    out = []
    for i in range(n):
        w, h = int(rng.integers(1, 5000)), int(rng.integers(1, 5000))
        if i % 4 == 0:  # corners exactly on (or a hair off) a half grid step: the rounding edge
            g = rng.integers(0, 100, 4).astype(float) + 0.5
            xy = [g[0] * w / 100, g[1] * h / 100, g[2] * w / 100, g[3] * h / 100]
            xy = [v + float(rng.choice([0.0, 1e-12, -1e-12])) for v in xy]
        elif i % 4 == 1:  # integers, sometimes past the canvas (clamped to 0..100)
            xy = [int(v) for v in rng.integers(-50, 5500, 4)]
        else:
            xy = [float(v) for v in rng.uniform(0, max(w, h), 4)]
        x1, x2 = sorted(xy[0::2])
        y1, y2 = sorted(xy[1::2])
        out.append(json.dumps({"box": [x1, y1, x2, y2], "size": [w, h]}))
    return out


def test_rec_responses_and_reg_instructions_match_the_task_table() -> None:
    rng = np.random.default_rng(0)
    payloads = pl.Series(_payloads(rng, 4000))
    rec, reg = TASKS["rec"], TASKS["reg"]
    queries = pl.Series([json.dumps({"phrase": "heart"})] * payloads.len())
    got = render.responses(rec, queries, payloads)
    assert got is not None
    assert got.to_list() == [
        rec.format_answer(json.loads(q), json.loads(a)) for q, a in zip(queries, payloads, strict=True)
    ]
    k = pl.Series(rng.integers(0, 1000, payloads.len()))
    got = render.instructions(reg, payloads, k)
    assert got is not None
    assert got.to_list() == [
        reg.render_instruction(json.loads(q), int(i)) for q, i in zip(payloads, k, strict=True)
    ]


def test_other_tasks_and_bad_payloads_use_the_task_table() -> None:
    rec = TASKS["rec"]
    q = pl.Series(['{"phrase": "heart"}'])
    assert render.responses(TASKS["reg"], q, q) is None  # not a box task
    assert render.instructions(TASKS["rec"], q, pl.Series([0])) is None
    bad = [
        '{"box": [1, 2, 3], "size": [10, 10]}',  # three corners
        '{"box": [5, 2, 3, 4], "size": [10, 10]}',  # inverted: Box() raises, the task table must too
        '{"box": [1, 2, 3, 4], "size": [0, 10]}',  # empty canvas
        '{"box": [1, 2, 3, 4]}',  # no size
        '{"box": [1, null, 3, 4], "size": [10, 10]}',
        "not json",
    ]
    for payload in bad:
        assert render.responses(rec, q, pl.Series([payload])) is None, payload


def test_a_changed_formatter_falls_back() -> None:
    """The sample check notices a task table whose texts differ from the vectorised ones."""
    rec = dataclasses.replace(TASKS["rec"], format_answer=lambda q, a: "box: " + json.dumps(a["box"]))
    answers = pl.Series(['{"box": [1, 2, 3, 4], "size": [10, 10]}'] * 3)
    assert render.responses(rec, pl.Series(["{}"] * 3), answers) is None
    reg = dataclasses.replace(TASKS["reg"], instructions=("Region {box} of {box}?",) * 5)
    assert render.instructions(reg, answers, pl.Series([0, 1, 2])) is None  # two fields: not vectorised
