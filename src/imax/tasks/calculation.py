"""Calculation: cardiothoracic ratio (CTR) and cardiopulmonary area ratio (CPAR), two decimals.

query ``{"measure": "ctr" | "cpar"}`` → answer ``{"value": float}``; response text ``"0.47"``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from imax.schema.errors import ImaxError
from imax.tasks.base import Payload, TaskSpec
from imax.tasks.baselines import Pair, Predictor
from imax.tasks.text import first_number

MEASURES: dict[str, str] = {
    "ctr": "cardiothoracic ratio (CTR)",
    "cpar": "cardiopulmonary area ratio (CPAR)",
}


def _query(text: str | None, image_size: tuple[int, int]) -> Payload:
    measure = (text or "ctr").strip().lower() or "ctr"
    if measure not in MEASURES:
        raise ImaxError(f"task 'calculation': unknown measure {text!r}; choose from {', '.join(MEASURES)}")
    return {"measure": measure}


def _fields(query: Mapping[str, Any]) -> dict[str, str]:
    return {"measure": MEASURES[query["measure"]]}


def _two_decimals(value: float) -> float:
    # Round through the same formatting the response uses so parse(format(x)) is exact.
    return float(f"{float(value):.2f}")


def _format(query: Mapping[str, Any], answer: Mapping[str, Any]) -> str:
    return f"{float(answer['value']):.2f}"


def _parse(text: str, query: Mapping[str, Any]) -> Payload | None:
    value = first_number(text)
    return None if value is None else {"value": _two_decimals(value)}


def _canonical(query: Mapping[str, Any], answer: Mapping[str, Any]) -> Payload:
    return {"value": _two_decimals(answer["value"])}


def _trivial(pairs: Sequence[Pair]) -> Predictor:
    # The median minimises the absolute error, and MAE is the primary metric; one per measure, since
    # CTR and CPAR have different distributions (the overall median for a measure train never saw).
    values: dict[str, list[float]] = {}
    for q, a in pairs:
        values.setdefault(str(q.get("measure", "")), []).append(float(a["value"]))
    if not values:
        return lambda query: None
    medians = {m: float(np.median(v)) for m, v in values.items()}
    overall = float(np.median([v for vs in values.values() for v in vs]))
    return lambda query: {"value": medians.get(str(query.get("measure", "")), overall)}


SPEC = TaskSpec(
    name="calculation",
    token="[calculate]",
    instructions=(
        "Calculate the {measure} of this chest X-ray.",
        "What is the {measure} in this radiograph?",
        "Measure the {measure} from the image.",
        "Estimate the {measure} shown in this chest radiograph.",
        "Compute the {measure} for this image, to two decimals.",
        "Report the {measure} of the heart on this film.",
    ),
    instruction_fields=_fields,
    format_answer=_format,
    parse_answer=_parse,
    canonical=_canonical,
    metrics=("mae", "rmse", "acc_within_0.05", "cardiomegaly_accuracy", "cardiomegaly_f1"),
    max_new_tokens=8,
    query_from_argument=_query,
    argument_help="the measure: ctr (default) or cpar",
    trivial_baseline=_trivial,
    trivial_rule="median train value per measure (CTR, CPAR)",
    description="CTR = heart box width / lung-union box width; CPAR = heart area / lung area.",
    primary_higher_is_better=False,
    decision_thresholds={"ctr": 0.5},
    scorer="measurement",
    views=frozenset({"PA"}),  # the cardiomegaly source (CTR/CPAR) measures PA films only
)
