"""Helpers for the tasks' trivial baselines (each task's rule lives in its own module).

A trivial baseline answers from the train split's answer distribution, optionally reading the prompt
(the query payload) but never the image. Each task module defines ``_trivial(pairs)``: train
``(query, answer)`` pairs → a :data:`Predictor` (query → answer payload, ``None`` when the train split
holds nothing to answer from). Every choice is deterministic: ties go to the smallest value in JSON
order, so the same train split always gives the same baseline.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable, Hashable, Iterable, Mapping, Sequence
from typing import Any

import numpy as np

from imax.schema.box import GRID, Box

Pair = tuple[Mapping[str, Any], Mapping[str, Any]]
"""One train example: (query payload, answer payload)."""
Predictor = Callable[[Mapping[str, Any]], "dict[str, Any] | None"]
"""A fitted baseline: test query payload → answer payload (``None``: nothing to answer from)."""


def majority(values: Iterable[Hashable]) -> Any:
    """The most frequent value; ties go to the smallest in JSON text order. ``None`` when empty."""
    counts = Counter(values)
    if not counts:
        return None
    top = max(counts.values())
    return min((v for v, c in counts.items() if c == top), key=lambda v: json.dumps(v, sort_keys=True))


def group_majority(keys: Sequence[Hashable], values: Sequence[Hashable]) -> dict[Hashable, Any]:
    """``{key: majority of the values with that key}``."""
    by: dict[Hashable, list[Hashable]] = {}
    for k, v in zip(keys, values, strict=True):
        by.setdefault(k, []).append(v)
    return {k: majority(vs) for k, vs in by.items()}


def normalised_box(payload: Mapping[str, Any]) -> np.ndarray:
    """A ``{"box": pixel xyxy, "size": [w, h]}`` payload as xyxy fractions of the image side, shape (4,)."""
    x1, y1, x2, y2 = (float(v) for v in payload["box"])
    w, h = (float(v) for v in payload["size"])
    return np.array([x1 / w, y1 / h, x2 / w, y2 / h])


def mean_boxes(keys: Sequence[str], boxes: Sequence[np.ndarray]) -> dict[str, np.ndarray]:
    """``{key: mean normalised xyxy box (4,)}`` over the boxes with that key (keys sorted)."""
    by: dict[str, list[np.ndarray]] = {}
    for k, b in zip(keys, boxes, strict=True):
        by.setdefault(k, []).append(b)
    return {k: np.mean(by[k], axis=0) for k in sorted(by)}


def box_on(normalised: np.ndarray, canvas: tuple[int, int] = (GRID, GRID)) -> Box:
    """A normalised xyxy box (4,) as a pixel Box on a (width, height) canvas."""
    w, h = canvas
    return Box.from_normalized(*(float(v) for v in normalised), w, h)
