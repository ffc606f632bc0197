"""Visual question answering (MIMIC-Ext-MIMIC-CXR-VQA): question → answer set.

query ``{"question": str, "content_type": str, "semantic_type": str}`` → answer ``{"answers": [str]}``
(sorted, lower-case); response ``"left lung, right lung"``, ``"yes"``, or ``"none"`` for ``[]``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from imax.tasks.base import Payload, TaskSpec
from imax.tasks.baselines import Pair, Predictor, group_majority, majority
from imax.tasks.text import normalise_phrase, required, split_list, squash

EMPTY = "none"


def _answers(values: list[str]) -> list[str]:
    return sorted({normalise_phrase(v) for v in values if normalise_phrase(v)})


def _query(text: str | None, image_size: tuple[int, int]) -> Payload:
    # A user's free question has no MIMIC-Ext-VQA template type; the type fields stay empty.
    return {"question": required("vqa", text, "the question"), "content_type": "", "semantic_type": ""}


def _question_key(query: Mapping[str, Any]) -> Payload:
    # Only the question identifies a VQA query; its content/semantic types are descriptive.
    return {"question": " ".join(str(query.get("question", "")).split()).lower()}


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


def _question_keys(query: Mapping[str, Any]) -> tuple[str, tuple[str, str]]:
    """(the question text, its (content type, semantic type) family)."""
    return normalise_phrase(str(query.get("question", ""))), (
        str(query.get("content_type", "")),
        str(query.get("semantic_type", "")),
    )


def _trivial(pairs: Sequence[Pair]) -> Predictor:
    # Questions are filled-in templates ("Is this patient male or female?"), so the same text recurs:
    # answer with the majority train answer of that question, backing off to its content/semantic
    # family, then to all questions. The prompt is read, the image never.
    keys = [_question_keys(q) for q, _ in pairs]
    answers = [tuple(_answers(list(a["answers"]))) for _, a in pairs]
    by_text = group_majority([k[0] for k in keys], answers)
    by_family = group_majority([k[1] for k in keys], answers)
    overall = majority(answers)

    def predict(query: Mapping[str, Any]) -> Payload | None:
        text, family = _question_keys(query)
        answer = by_text.get(text, by_family.get(family, overall))
        return None if answer is None else {"answers": list(answer)}

    return predict


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
    trivial_baseline=_trivial,
    trivial_rule="majority train answer per question (then per content/semantic type)",
    description="Template questions on anatomy, attributes, presence, abnormality, plane, gender, size.",
    scorer="answer_set",
    pseudo="ask_most_frequent",
    query_key=_question_key,
)
