"""Report generation: the FINDINGS section (IMPRESSION, then last paragraph, as fallbacks).

query ``{}`` → answer ``{"text": str}``; the response is the text with whitespace collapsed.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from imax.tasks.base import Payload, TaskSpec
from imax.tasks.baselines import Pair, Predictor, majority
from imax.tasks.text import no_argument, squash


def _format(query: Mapping[str, Any], answer: Mapping[str, Any]) -> str:
    return squash(answer["text"])


def _parse(text: str, query: Mapping[str, Any]) -> Payload | None:
    text = squash(text)
    return {"text": text} if text else None


def _canonical(query: Mapping[str, Any], answer: Mapping[str, Any]) -> Payload:
    return {"text": squash(answer["text"])}


def _trivial(pairs: Sequence[Pair]) -> Predictor:
    text = majority(squash(a["text"]) for _, a in pairs)
    return lambda query: None if text is None else {"text": text}


SPEC = TaskSpec(
    name="report",
    token="[caption]",
    instructions=(
        "Describe the findings of this chest X-ray.",
        "Write the findings section of a radiology report for this image.",
        "Generate a radiology report for this chest radiograph.",
        "What does this chest X-ray show? Write the report.",
        "Provide a detailed report of this radiograph.",
        "Act as a radiologist and report the findings of this study.",
    ),
    instruction_fields=lambda query: {},
    format_answer=_format,
    parse_answer=_parse,
    canonical=_canonical,
    metrics=("ce_f1_micro", "ce_f1_macro", "bleu_1", "bleu_2", "bleu_3", "bleu_4", "meteor", "rouge_l", "cider"),
    max_new_tokens=128,
    query_from_argument=no_argument("report", {}),
    argument_help="",
    trivial_baseline=_trivial,
    trivial_rule="most frequent train report",
    description="Findings text of the MIMIC-CXR report (impression fallback).",
    scorer="free_text",
)
