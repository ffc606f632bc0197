"""Vectorised renders of the box texts: responses of tasks whose answer is a box (rec) and instructions
of tasks whose query is a box (reg; ``TaskSpec.answer_box`` / ``query_box``), in numpy + polars.

Why: real CheXmask boxes are distinct per image, so at MIMIC size rec and reg have ~1M distinct boxes
each; rendering them through the task table costs 5–9 µs a call in Python (~10–20 s of the build).
Both texts are the box on the 0–100 grid (``imax.schema.box.box_to_text(payload_box(payload))``):
``{<gx1><gy1><gx2><gy2>}`` with ``g = min(100, max(0, floor(v / size * 100 + 0.5 + 1e-9)))`` — the
same float operations in the same order, so the result is bit-for-bit the Python one.

The task table stays the authority: a vectorised render is used only when it reproduces the task's own
``format_answer`` / ``render_instruction`` on a sample of rows (so a changed formatter falls back to the
Python path by itself), and only when every payload is well formed (anything the Python path would
reject — a bad size, an inverted box — goes through it and fails the same way).
"""

from __future__ import annotations

import json
import string
from collections.abc import Callable, Mapping

import numpy as np
import polars as pl

from imax.schema.box import BOX_GRAMMARS, GRID
from imax.tasks.base import TaskSpec

_BOX = pl.Struct({"box": pl.List(pl.Float64), "size": pl.List(pl.Int64)})
_CHECKS = 64
"""Rows compared with the task table before a vectorised render is trusted (spread over the part)."""


def instructions(spec: TaskSpec, queries: pl.Series, k: pl.Series) -> pl.Series | None:
    """``spec.render_instruction(query, k)`` for every row, or None (use the task table)."""
    if not spec.query_box or queries.len() == 0:
        return None
    box, pieces = box_texts(queries), _template_pieces(spec)
    if box is None or pieces is None:
        return None
    idx = (k % len(spec.instructions)).cast(pl.Int64)
    head = pl.Series([f"{spec.token} {h}" for h, _ in pieces]).gather(idx)
    tail = pl.Series([t for _, t in pieces]).gather(idx)
    out = pl.DataFrame({"h": head, "b": box, "t": tail}).select(pl.concat_str("h", "b", "t")).to_series()
    picks = _picks(out.len())
    want = [
        spec.render_instruction(json.loads(q), int(i))
        for q, i in zip(queries.gather(picks), k.gather(picks), strict=True)
    ]
    return out if out.gather(picks).to_list() == want else None


def responses(spec: TaskSpec, queries: pl.Series, answers: pl.Series) -> pl.Series | None:
    """``spec.format_answer(query, answer)`` for every row, or None (use the task table)."""
    if not spec.answer_box or answers.len() == 0:
        return None
    out = box_texts(answers)
    if out is None:
        return None
    picks = _picks(out.len())
    pairs = zip(queries.gather(picks), answers.gather(picks), strict=True)
    want = [spec.format_answer(json.loads(q), json.loads(a)) for q, a in pairs]
    return out if out.gather(picks).to_list() == want else None


def box_texts(payloads: pl.Series) -> pl.Series | None:
    """``{<gx1><gy1><gx2><gy2>}`` of ``{"box": [x1, y1, x2, y2], "size": [w, h]}`` JSON payloads, or
    None when any payload is not a valid box (the task table then renders, or raises, row by row)."""
    try:
        got = payloads.str.json_decode(_BOX)
    except Exception:  # not JSON of that shape
        return None
    box, size = got.struct.field("box"), got.struct.field("size")
    if box.null_count() or size.null_count() or (box.list.len() != 4).any() or (size.list.len() != 2).any():
        return None
    xy, wh = box.explode(), size.explode()
    if xy.null_count() or wh.null_count():
        return None
    xy, wh = xy.to_numpy().reshape(-1, 4), wh.to_numpy().reshape(-1, 2)
    valid = (
        (wh > 0).all(axis=1) & np.isfinite(xy).all(axis=1) & (xy[:, 2] >= xy[:, 0]) & (xy[:, 3] >= xy[:, 1])
    )
    if not valid.all():  # Box() raises for these: let the task table do it
        return None
    scale = wh.astype(np.float64)[:, [0, 1, 0, 1]]  # x by the width, y by the height
    grid = np.minimum(GRID, np.maximum(0, np.floor(xy / scale * GRID + 0.5 + 1e-9))).astype(np.int64)
    g = {f"g{i}": grid[:, i] for i in range(4)}
    return pl.DataFrame(g).select(pl.concat_str(_grammar_parts())).to_series()


def _grammar_parts() -> list[pl.Expr]:
    """The default box grammar's format string (``BOX_GRAMMARS``, what ``box_to_text`` uses) as
    concat_str parts: its literal text, and columns ``g0..g3`` for its four fields."""
    parts: list[pl.Expr] = []
    for literal, field, _, _ in string.Formatter().parse(BOX_GRAMMARS["minigpt"][0]):
        if literal:
            parts.append(pl.lit(literal))
        if field is not None:
            parts.append(pl.col(f"g{field}"))
    return parts


def _template_pieces(spec: TaskSpec) -> list[tuple[str, str]] | None:
    """(text before, text after) ``{box}`` of each template, or None when a template has anything
    else to format (other fields, escaped braces, format specs)."""
    out = []
    for template in spec.instructions:
        parsed = list(string.Formatter().parse(template))
        fields = [(name, fmt, conv) for _, name, fmt, conv in parsed if name is not None]
        if fields != [("box", "", None)] or "{{" in template or "}}" in template:
            return None
        head, _, tail = template.partition("{box}")
        out.append((head, tail))
    return out


def _picks(n: int) -> list[int]:
    """Up to ``_CHECKS`` row indices spread over ``n`` rows (first and last included)."""
    return np.unique(np.linspace(0, n - 1, min(_CHECKS, n)).astype(np.int64)).tolist()


RenderFn = Callable[[TaskSpec, pl.Series, pl.Series], pl.Series | None]
VECTOR: Mapping[str, RenderFn] = {"instruction": instructions, "response": responses}
