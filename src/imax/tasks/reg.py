"""Referring expression generation: box → phrase naming what is inside it.

query ``{"box": [x1, y1, x2, y2], "size": [w, h]}`` → answer ``{"phrase": str}``; the instruction
shows the box on the 0–100 grid; the response is the phrase, lower-case.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from imax.schema.box import box_to_text
from imax.tasks.base import Payload, TaskSpec
from imax.tasks.rec import payload_box
from imax.tasks.text import normalise_phrase


def _format(query: Mapping[str, Any], answer: Mapping[str, Any]) -> str:
    return normalise_phrase(answer["phrase"])


def _parse(text: str, query: Mapping[str, Any]) -> Payload | None:
    phrase = normalise_phrase(text)
    return {"phrase": phrase} if phrase else None


def _canonical(query: Mapping[str, Any], answer: Mapping[str, Any]) -> Payload:
    return {"phrase": normalise_phrase(answer["phrase"])}


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
    description="Region names for CheXmask boxes (heart, left lung, right lung, both lungs).",
)
