"""Multi-class: pulmonary edema severity 0–3 (none, vascular congestion, interstitial, alveolar).

query ``{"label_space": "edema_severity"}`` → answer ``{"grade": int}``; response ``"2: interstitial edema"``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

from imax.schema.records import EDEMA_GRADES
from imax.tasks.base import Payload, TaskSpec
from imax.tasks.baselines import Pair, Predictor, majority
from imax.tasks.text import no_argument, normalise_phrase

_GRADE = re.compile(r"(?<![\d.])([0-3])(?![\d.])")
_BY_NAME = {name: grade for grade, name in EDEMA_GRADES.items()} | {"none": 0, "normal": 0}


def _format(query: Mapping[str, Any], answer: Mapping[str, Any]) -> str:
    grade = int(answer["grade"])
    return f"{grade}: {EDEMA_GRADES[grade]}"


def _parse(text: str, query: Mapping[str, Any]) -> Payload | None:
    m = _GRADE.search(text)
    if m:
        return {"grade": int(m.group(1))}
    # A model may answer with the name only; accept it when it is exactly one of the grade names.
    name = normalise_phrase(text)
    return {"grade": _BY_NAME[name]} if name in _BY_NAME else None


def _canonical(query: Mapping[str, Any], answer: Mapping[str, Any]) -> Payload:
    return {"grade": int(answer["grade"])}


def _trivial(pairs: Sequence[Pair]) -> Predictor:
    grade = majority(int(a["grade"]) for _, a in pairs)
    return lambda query: None if grade is None else {"grade": grade}


SPEC = TaskSpec(
    name="multiclass",
    token="[cls]",
    instructions=(
        "Grade the pulmonary edema severity on this chest X-ray.",
        "What is the pulmonary edema grade (0 none, 1 vascular congestion, 2 interstitial, 3 alveolar)?",
        "Classify the severity of pulmonary edema in this radiograph.",
        "How severe is the pulmonary edema here? Answer with a grade from 0 to 3.",
        "Assess pulmonary edema severity for this image.",
    ),
    instruction_fields=lambda query: {},
    format_answer=_format,
    parse_answer=_parse,
    canonical=_canonical,
    metrics=("accuracy", "macro_f1", "quadratic_kappa"),
    max_new_tokens=12,
    query_from_argument=no_argument("multiclass", {"label_space": "edema_severity"}),
    argument_help="",
    trivial_baseline=_trivial,
    trivial_rule="majority train edema grade",
    description="Edema severity grades of the MIMIC-CXR pulmonary edema severity dataset.",
    scorer="grade",
)
