"""Report labellers: what the CheXpert labeller, CXR-LT's labels and the edema regex read off a report.

Labels are derived from the report's recorded mentions (so they agree with the text), then corrupted
with probability ``label_noise`` per cell — the realistic gap between labels and truth.
"""

from __future__ import annotations

import re

import numpy as np

from imax.phantom.reports import Report
from imax.schema.records import CHEXPERT14, CXRLT26

NONE = float("nan")


def _collapse(mentions: list[tuple[str, float]]) -> dict[str, float]:
    """Per label: positive beats uncertain beats negative (the CheXpert aggregation rule)."""
    rank = {1.0: 3, -1.0: 2, 0.0: 1}
    out: dict[str, float] = {}
    for k, v in mentions:
        if k not in out or rank[v] > rank[out[k]]:
            out[k] = v
    return out


def chexpert_row(rep: Report, r: np.random.Generator, noise: float) -> list[float]:
    """The 14 CheXpert values (CHEXPERT14 order; NaN = blank) from the impression, else the findings."""
    vals = _collapse(rep.impression or rep.findings)
    row = {k: vals.get(k, NONE) for k in CHEXPERT14}
    for k in CHEXPERT14:
        if k == "No Finding" or r.random() >= noise:
            continue
        v = row[k]
        if v == 1.0:
            row[k] = NONE if r.random() < 0.6 else -1.0
        elif v == 0.0:
            row[k] = NONE if r.random() < 0.7 else 1.0
        elif v == -1.0:
            row[k] = 1.0 if r.random() < 0.5 else NONE
        elif r.random() < 0.3:
            row[k] = 1.0 if r.random() < 0.5 else -1.0
    findings = [k for k in CHEXPERT14 if k not in ("No Finding", "Support Devices")]
    row["No Finding"] = NONE if any(row[k] in (1.0, -1.0) for k in findings) else 1.0
    if r.random() < 0.01:  # the labeller found nothing to say: an all-blank row
        row = dict.fromkeys(CHEXPERT14, NONE)
    return [row[k] for k in CHEXPERT14]


def cxrlt_row(rep: Report, r: np.random.Generator, noise: float) -> list[int]:
    """The 26 CXR-LT 2023 values (0/1, CXRLT26 order) from every mention in the report."""
    vals = _collapse(rep.findings + rep.impression)
    row = {k: int(vals.get(k, 0.0) in (1.0, -1.0)) for k in CXRLT26}
    for k in CXRLT26:
        if k != "No Finding" and r.random() < noise / 2:
            row[k] = 1 - row[k]
    row["No Finding"] = int(not any(row[k] for k in CXRLT26 if k not in ("No Finding", "Support Devices")))
    return [row[k] for k in CXRLT26]


_NEGATED = re.compile(r"no (evidence of )?pulmonary edema")
_EDEMA_PATTERNS = (
    (3, re.compile(r"alveolar (pulmonary )?edema|severe pulmonary edema")),
    (2, re.compile(r"interstitial (pulmonary )?edema|pulmonary edema")),
    (1, re.compile(r"vascular congestion|vascular engorgement")),
)


def regex_edema_grade(text: str) -> int | None:
    """Most severe edema keyword in the report (the PE-severity regex labeller); None when no keyword."""
    low = " ".join(text.lower().split())
    rest = _NEGATED.sub(" ", low)
    for grade, pat in _EDEMA_PATTERNS:
        if pat.search(rest):
            return grade
    return 0 if rest != low else None
