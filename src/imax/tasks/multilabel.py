"""Multi-label: the findings present, in the CheXpert-14 or the CXR-LT-26 label space.

query ``{"label_space": "chexpert14" | "cxrlt26"}`` → answer ``{"labels": [str, ...]}`` (sorted);
response ``"Cardiomegaly, Pleural Effusion"`` or ``"none"`` for an empty set.

Parsing is lenient about case, separators and unknown items: labels outside the space are ignored
(a model inventing a finding loses recall/precision for the known ones, never crashes the scorer);
text with no known label and not ``"none"`` is unparseable.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from imax.schema.errors import ImaxError
from imax.schema.records import CHEXPERT14, CXRLT26
from imax.tasks.base import Payload, TaskSpec
from imax.tasks.baselines import Pair, Predictor, group_majority, majority
from imax.tasks.text import normalise_phrase, split_list

LABEL_SPACES: dict[str, tuple[str, ...]] = {"chexpert14": CHEXPERT14, "cxrlt26": CXRLT26}
SPACE_NAMES: dict[str, str] = {"chexpert14": "CheXpert", "cxrlt26": "CXR-LT"}
EMPTY = "none"
_LOOKUP = {space: {normalise_phrase(lbl): lbl for lbl in labels} for space, labels in LABEL_SPACES.items()}


def _fields(query: Mapping[str, Any]) -> dict[str, str]:
    return {"space": SPACE_NAMES[query["label_space"]]}


def _query(text: str | None, image_size: tuple[int, int]) -> Payload:
    space = (text or "chexpert14").strip().lower() or "chexpert14"
    if space not in LABEL_SPACES:
        raise ImaxError(f"task 'multilabel': unknown label space {text!r}; choose from {', '.join(LABEL_SPACES)}")
    return {"label_space": space}


def _sorted_labels(query: Mapping[str, Any], labels: list[str]) -> list[str]:
    order = {lbl: i for i, lbl in enumerate(LABEL_SPACES[query["label_space"]])}
    return sorted(set(labels), key=lambda lbl: order[lbl])


def _format(query: Mapping[str, Any], answer: Mapping[str, Any]) -> str:
    labels = _sorted_labels(query, list(answer["labels"]))
    return ", ".join(labels) if labels else EMPTY


def _parse(text: str, query: Mapping[str, Any]) -> Payload | None:
    items = split_list(text)
    if items == [EMPTY]:
        return {"labels": []}
    lookup = _LOOKUP[query["label_space"]]
    known = [lookup[i] for i in items if i in lookup]
    if not known:
        return None
    return {"labels": _sorted_labels(query, known)}


def _canonical(query: Mapping[str, Any], answer: Mapping[str, Any]) -> Payload:
    return {"labels": _sorted_labels(query, list(answer["labels"]))}


def _trivial(pairs: Sequence[Pair]) -> Predictor:
    # The most frequent whole finding set per label space (the prompt names the space).
    spaces = [str(q.get("label_space", "")) for q, _ in pairs]
    sets = [tuple(sorted(a["labels"])) for _, a in pairs]
    by_space, overall = group_majority(spaces, sets), majority(sets)

    def predict(query: Mapping[str, Any]) -> Payload | None:
        labels = by_space.get(str(query.get("label_space", "")), overall)
        return None if labels is None else {"labels": list(labels)}

    return predict


SPEC = TaskSpec(
    name="multilabel",
    token="[multilabel]",
    instructions=(
        "List all findings in this chest X-ray using {space} labels.",
        "Which {space} findings are present in this radiograph?",
        "Identify every abnormality on this image ({space} label set).",
        "What are the {space} labels for this chest X-ray?",
        "Classify this radiograph into all applicable {space} findings.",
    ),
    instruction_fields=_fields,
    format_answer=_format,
    parse_answer=_parse,
    canonical=_canonical,
    metrics=("macro_f1", "micro_f1"),
    max_new_tokens=48,
    query_from_argument=_query,
    argument_help="the label space: chexpert14 (default) or cxrlt26",
    trivial_baseline=_trivial,
    trivial_rule="most frequent train finding set per label space",
    description="Findings from CheXpert-labeler (14) or CXR-LT 2023 (26) labels.",
    scorer="label_set",
)
