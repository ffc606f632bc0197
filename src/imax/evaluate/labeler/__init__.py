"""Offline rule-based CheXpert-14 labeler for report text (the default clinical-efficacy labeler).

A re-expression of the public CheXpert labeler (Irvin et al. 2019; stanfordmlgroup/chexpert-labeler,
MIT) without a parser and without downloads:

- :mod:`.phrases` — the data: one :class:`~.phrases.ClassPhrases` table per observation (mention,
  unmention, context exclusions, uncertain/negative-by-construction phrases, anatomic anchors), the
  cue tables (pre-negation uncertainty, negation, uncertainty, pseudo-cues) and the clause terminators.
  Each class's table cites CheXpert's phrase list and marks imax's additions.
- :mod:`.scope` — the engine: sentence split, mention and cue detection, cue scope, and NegBio's rule
  order (pre-negation uncertainty, then negation, then uncertainty).
- here — report-level aggregation, CheXpert's ``stages/aggregate.py``: per class positive beats
  uncertain beats negative; "CHF"/"heart failure" (positive or uncertain) adds an uncertain
  Cardiomegaly; "No Finding" is 1 when no finding other than Support Devices — and none of CheXpert's
  other findings (emphysema, granuloma, scoliosis, ...) — is positive or uncertain, else absent.

Label values follow CheXpert: 1 positive, 0 negative, -1 uncertain; unmentioned labels are absent.
Metrics computed from these labels are attributed to :data:`LABELER_NAME`.
"""

from __future__ import annotations

from dataclasses import replace
from functools import lru_cache
from typing import Final

from imax.evaluate.labeler.scope import OTHER, Mention, Side, Status, sentence_mentions, split_sentences

__all__ = [
    "LABELER_NAME",
    "Mention",
    "Side",
    "Status",
    "extract_mentions",
    "label_report",
    "laterality",
    "positive_labels",
    "split_sentences",
]

LABELER_NAME: Final[str] = "imax-rules-chexpert"
"""Name recorded with every clinical-efficacy number computed from this labeler (metrics details)."""

_VALUE: Final[dict[str, int]] = {"positive": 1, "uncertain": -1, "negative": 0}
_RANK: Final[dict[int, int]] = {1: 2, -1: 1, 0: 0}  # positive > uncertain > negative (CheXpert)


@lru_cache(maxsize=65536)
def _cached_sentence(sentence: str) -> tuple[Mention, ...]:
    # Reports repeat sentences ("No pleural effusion or pneumothorax."); labels depend on the sentence only.
    return tuple(sentence_mentions(sentence, 0))


def _all_mentions(text: str) -> list[Mention]:
    out: list[Mention] = []
    for k, sentence in enumerate(split_sentences(text)):
        found = _cached_sentence(sentence)
        out.extend(found if k == 0 else [replace(m, sentence=k) for m in found])
    return out


def extract_mentions(text: str) -> list[Mention]:
    """Every CheXpert-class mention of ``text`` with its status and laterality, in sentence order."""
    return [m for m in _all_mentions(text) if m.label != OTHER]


def label_report(text: str) -> dict[str, int]:
    """CheXpert-style labels of one report: ``{observation: 1 | 0 | -1}``; unmentioned ones absent."""
    labels: dict[str, int] = {}
    no_finding = True
    for m in _all_mentions(text):
        v = _VALUE[m.status]
        if v != 0 and m.label != "Support Devices":
            no_finding = False
        if m.label == OTHER:
            continue
        found = [(m.label, v)]
        if (
            v != 0
            and m.label == "Edema"
            and m.text.lower() in ("chf", "heart failure", "congestive heart failure")
        ):
            found.append(("Cardiomegaly", -1))  # CheXpert's aggregate exception for CHF
        for label, value in found:
            if label not in labels or _RANK[value] > _RANK[labels[label]]:
                labels[label] = value
    if text.strip() and no_finding:
        labels["No Finding"] = 1
    return labels


def positive_labels(text: str, uncertain_as_positive: bool = False) -> frozenset[str]:
    """The observations counted as present in ``text`` (uncertain ones only if asked)."""
    keep = {1, -1} if uncertain_as_positive else {1}
    return frozenset(lab for lab, v in label_report(text).items() if v in keep)


def laterality(text: str) -> dict[str, set[str]]:
    """Sides written for each positive or uncertain observation: ``{label: {"left", ...}}``."""
    sides: dict[str, set[str]] = {}
    for m in extract_mentions(text):
        if m.status != "negative" and m.side:
            sides.setdefault(m.label, set()).add(m.side)
    return sides
