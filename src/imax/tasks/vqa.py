"""Visual question answering (MIMIC-Ext-MIMIC-CXR-VQA): question → answer set.

query ``{"question": str, "content_type": str, "semantic_type": str}`` → answer ``{"answers": [str]}``
(sorted, lower-case); response ``"left lung, right lung"``, ``"yes"``, or ``"none"`` for ``[]``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from imax.tasks.base import Payload, TaskSpec
from imax.tasks.text import normalise_phrase, required, split_list, squash

EMPTY = "none"


def _answers(values: list[str]) -> list[str]:
    return sorted({normalise_phrase(v) for v in values if normalise_phrase(v)})


def _query(text: str | None, image_size: tuple[int, int]) -> Payload:
    # A user's free question has no MIMIC-Ext-VQA template type; the type fields stay empty.
    return {"question": required("vqa", text, "the question"), "content_type": "", "semantic_type": ""}


def _format(query: Mapping[str, Any], answer: Mapping[str, Any]) -> str:
    answers = _answers(list(answer["answers"]))
    return ", ".join(answers) if answers else EMPTY


def _parse(text: str, query: Mapping[str, Any]) -> Payload | None:
    items = split_list(text)
    if not items:
        return None
    return {"answers": [] if items == [EMPTY] else _answers(items)}


def _canonical(query: Mapping[str, Any], answer: Mapping[str, Any]) -> Payload:
    return {"answers": _answers(list(answer["answers"]))}


SPEC = TaskSpec(
    name="vqa",
    token="[vqa]",
    instructions=(
        "{question}",
        "Answer the question about this chest X-ray: {question}",
        "Question: {question} Answer briefly.",
        "Based on the image, answer: {question}",
        "Look at the radiograph and answer: {question}",
    ),
    instruction_fields=lambda query: {"question": squash(query["question"])},
    format_answer=_format,
    parse_answer=_parse,
    canonical=_canonical,
    metrics=("accuracy",),
    max_new_tokens=24,
    query_from_argument=_query,
    argument_help="the question, e.g. is there cardiomegaly?",
    description="Template questions on anatomy, attributes, presence, abnormality, plane, gender, size.",
)
