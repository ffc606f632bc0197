"""Referring expression comprehension: phrase → box, as ``{<x1><y1><x2><y2>}`` on the 0–100 grid.

query ``{"phrase": str, "size"?: [w, h]}`` → answer ``{"box": [x1, y1, x2, y2], "size": [w, h]}``
(pixel xyxy). Text carries the box on the grid only, so the canonical answer is the box snapped to the
grid and expressed on the query's canvas: the image size when the query has one, else a 100 × 100
canvas. IoU is scale-invariant, so both canvases score the same.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from imax.schema.box import GRID, Box, box_to_text, boxes_in_text
from imax.schema.records import FRONTAL_VIEWS
from imax.tasks.base import Payload, TaskSpec
from imax.tasks.baselines import Pair, Predictor, box_on, mean_boxes, normalised_box
from imax.tasks.text import normalise_phrase, required


def canvas(query: Mapping[str, Any]) -> tuple[int, int]:
    """(width, height) the parsed box is expressed on."""
    size = query.get("size")
    return (int(size[0]), int(size[1])) if size else (GRID, GRID)


def payload_box(payload: Mapping[str, Any]) -> Box:
    """The Box of a ``{"box": [...], "size": [w, h]}`` payload."""
    x1, y1, x2, y2 = (float(v) for v in payload["box"])
    w, h = payload["size"]
    return Box(x1, y1, x2, y2, int(w), int(h))


def box_payload(box: Box) -> Payload:
    return {"box": [box.x1, box.y1, box.x2, box.y2], "size": [box.width, box.height]}


def _query(text: str | None, image_size: tuple[int, int]) -> Payload:
    # The image size makes the parsed box come back in the user's pixels (see ``canvas``).
    phrase = normalise_phrase(required("rec", text, "the region or phrase to locate, e.g. 'heart'"))
    return {"phrase": phrase, "size": [int(image_size[0]), int(image_size[1])]}


def _format(query: Mapping[str, Any], answer: Mapping[str, Any]) -> str:
    return box_to_text(payload_box(answer))


def _parse(text: str, query: Mapping[str, Any]) -> Payload | None:
    w, h = canvas(query)
    boxes = boxes_in_text(text, w, h)
    return box_payload(boxes[0]) if boxes else None


def _canonical(query: Mapping[str, Any], answer: Mapping[str, Any]) -> Payload:
    w, h = canvas(query)
    return box_payload(Box.from_grid(payload_box(answer).to_grid(), w, h))


def _trivial(pairs: Sequence[Pair]) -> Predictor:
    # The mean train box of the queried region, in fractions of the image side, drawn on the query's
    # canvas: what a model answers when it has learned where a region usually is, not where it is.
    phrases = [normalise_phrase(str(q.get("phrase", ""))) for q, _ in pairs]
    boxes = [normalised_box(a) for _, a in pairs]
    if not boxes:
        return lambda query: None
    means = mean_boxes(phrases, boxes)
    overall = np.mean(boxes, axis=0)

    def predict(query: Mapping[str, Any]) -> Payload:
        box = means.get(normalise_phrase(str(query.get("phrase", ""))), overall)
        return box_payload(box_on(box, canvas(query)))

    return predict


SPEC = TaskSpec(
    name="rec",
    token="[refer]",
    instructions=(
        "Where is the {phrase}?",
        "Locate the {phrase} in this image.",
        "Give the bounding box of the {phrase}.",
        "Find the {phrase} and output its box.",
        "Which region contains the {phrase}?",
        "Point out the {phrase} on this chest X-ray.",
    ),
    instruction_fields=lambda query: {"phrase": query["phrase"]},
    format_answer=_format,
    parse_answer=_parse,
    canonical=_canonical,
    metrics=("mean_iou", "acc_iou50", "acc_iou75"),
    max_new_tokens=24,
    query_from_argument=_query,
    argument_help="the region or phrase to locate, e.g. heart, left lung",
    trivial_baseline=_trivial,
    trivial_rule="mean train box of the queried region",
    description="Boxes of heart, left lung, right lung and both lungs (CheXmask).",
    scorer="box",
    views=FRONTAL_VIEWS,  # CheXmask segments frontal films only
    sized_query=True,
    answer_box=True,
)
