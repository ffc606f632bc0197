"""Referring expression generation: box → phrase naming what is inside it.

query ``{"box": [x1, y1, x2, y2], "size": [w, h]}`` → answer ``{"phrase": str}``; the instruction
shows the box on the 0–100 grid; the response is the phrase, lower-case.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

from imax.schema.box import Box, box_to_text
from imax.schema.errors import ImaxError
from imax.schema.records import FRONTAL_VIEWS
from imax.tasks.base import Derivation, Payload, TaskSpec
from imax.tasks.baselines import Pair, Predictor, box_on, mean_boxes, normalised_box
from imax.tasks.rec import box_payload, payload_box
from imax.tasks.text import normalise_phrase, required


def _query(text: str | None, image_size: tuple[int, int]) -> Payload:
    raw = required("reg", text, "a box x1,y1,x2,y2 in pixels of the image")
    w, h = int(image_size[0]), int(image_size[1])
    try:
        x1, y1, x2, y2 = (float(v) for v in re.split(r"[,\s]+", raw.strip("()[] ")))
    except ValueError:
        raise ImaxError(f"task 'reg': box {text!r} is not four numbers x1,y1,x2,y2 (pixels)") from None
    if not (x1 < x2 and y1 < y2):
        raise ImaxError(f"task 'reg': box {text!r} is empty or inverted (need x1 < x2 and y1 < y2)")
    if x1 < 0 or y1 < 0 or x2 > w or y2 > h:
        raise ImaxError(
            f"task 'reg': box {text!r} is outside the {w}x{h} image (need 0 <= x1 < x2 <= {w}, 0 <= y1 < y2 <= {h})"
        )
    return box_payload(Box(x1, y1, x2, y2, w, h))


def _format(query: Mapping[str, Any], answer: Mapping[str, Any]) -> str:
    return normalise_phrase(answer["phrase"])


def _parse(text: str, query: Mapping[str, Any]) -> Payload | None:
    phrase = normalise_phrase(text)
    return {"phrase": phrase} if phrase else None


def _canonical(query: Mapping[str, Any], answer: Mapping[str, Any]) -> Payload:
    return {"phrase": normalise_phrase(answer["phrase"])}


def _from_rec(query: Mapping[str, Any], answer: Mapping[str, Any]) -> tuple[Payload, Payload]:
    """(rec query, rec answer box) → (reg query, reg answer): the box becomes the question, the phrase the
    answer. rec parses onto the query canvas; the reg query is expressed on the real image size."""
    box = payload_box(answer)
    size = query.get("size")
    if size:
        box = box.rescaled(int(size[0]), int(size[1]))
    return box_payload(box), {"phrase": query["phrase"]}


def _trivial(pairs: Sequence[Pair]) -> Predictor:
    # A box's region name is readable from its coordinates alone, so the baseline reads the prompt:
    # the region whose mean train box overlaps the query box most (ties: nearest corners, then name).
    phrases = [normalise_phrase(str(a["phrase"])) for _, a in pairs]
    means = mean_boxes(phrases, [normalised_box(q) for q, _ in pairs])
    if not means:
        return lambda query: None
    regions = {name: box_on(box) for name, box in means.items()}

    def predict(query: Mapping[str, Any]) -> Payload:
        target = normalised_box(query)
        box = box_on(target)

        def rank(name: str) -> tuple[float, float, str]:
            return (-box.iou(regions[name]), float(abs(means[name] - target).sum()), name)

        return {"phrase": min(regions, key=rank)}

    return predict


SPEC = TaskSpec(
    name="reg",
    token="[identify]",
    instructions=(
        "What is in the region {box}?",
        "Identify the structure at {box}.",
        "Name the anatomy inside {box}.",
        "What does the area {box} show?",
        "Describe the region {box} in a few words.",
    ),
    instruction_fields=lambda query: {"box": box_to_text(payload_box(query))},
    format_answer=_format,
    parse_answer=_parse,
    canonical=_canonical,
    metrics=("accuracy", "bleu_4", "rouge_l"),
    max_new_tokens=12,
    query_from_argument=_query,
    argument_help="a box x1,y1,x2,y2 in pixels of the image",
    trivial_baseline=_trivial,
    trivial_rule="region whose mean train box best overlaps the query box",
    description="Region names for CheXmask boxes (heart, left lung, right lung, both lungs).",
    scorer="region_name",
    views=FRONTAL_VIEWS,
    pseudo="derived",
    derived_from=Derivation("rec", _from_rec),
    query_box=True,
)
