"""Offline rule-based CheXpert-14 labeler for report text (the default clinical-efficacy scorer).

A small, readable cousin of the CheXpert labeler (Irvin et al. 2019): no parser, no downloads.

1. Split the report into sentences (``. ! ?`` followed by space, newlines, ``;`` kept inside).
2. Find *mentions*: regexes of each observation and its synonyms ("enlarged heart" → Cardiomegaly,
   "PTX" → Pneumothorax). A few phrases are negative by construction ("heart size is normal").
3. Classify each mention by the *nearest* cue in its clause: pre-cues before it ("no", "without",
   "free of", "negative for", "possible", "cannot exclude", "likely", ...) and post-cues after it
   ("has resolved", "is not seen", "cannot be excluded", "?"). Clauses end at sentence ends and at
   scope breakers ("but", "however", "although", ";", ...), so "no effusion, but a small pneumothorax"
   negates only the effusion. Uncertainty wins over negation when both reach a mention; uncertainty
   cue spans also swallow the negation words inside them ("can not exclude" is uncertain).
4. Laterality (left / right / bilateral) of the nearest side word in the clause is kept as an attribute.
5. Per report: positive if any mention is positive, else uncertain if any is, else negative (CheXpert's
   aggregation). "No Finding" is positive when the report has text and no observation other than
   Support Devices is positive or uncertain.

Label values follow CheXpert: 1 positive, 0 negative, -1 uncertain; unmentioned labels are absent.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Final, Literal

from imax.schema.records import CHEXPERT14

Status = Literal["positive", "negative", "uncertain"]
Side = Literal["left", "right", "bilateral", ""]

_W = r"(?:(?!not\b)\w+\s+){0,3}?"  # up to three words in between (e.g. "heart is mildly enlarged")

# Observation → mention regexes. Ordered so the more specific phrases of one label come first; spans
# of the same label never count twice.
MENTIONS: Final[dict[str, tuple[str, ...]]] = {
    "Atelectasis": (r"atelecta\w*", r"(?:lobar|lobe|lung|segmental)\s+collapse", r"collapse\s+of\s+the"),
    "Cardiomegaly": (
        r"cardiomegaly",
        r"enlarged\s+(?:heart|cardiac\s+silhouette)",
        r"(?:heart|cardiac\s+silhouette|cardiac\s+size|heart\s+size)\s+(?:is|appears|remains)\s+"
        + _W
        + r"enlarged",
        r"cardiac\s+enlargement",
        r"enlargement\s+of\s+the\s+(?:heart|cardiac\s+silhouette)",
        r"(?:heart|cardiac)\s+size\s+(?:is\s+)?(?:increased|enlarged)",
    ),
    "Consolidation": (r"consolidat\w*",),
    "Edema": (
        r"(?<!subcutaneous\s)(?<!soft\stissue\s)edema",
        r"congestive\s+heart\s+failure",
        r"heart\s+failure",
        r"\bchf\b",
        r"(?:pulmonary\s+)?vascular\s+(?:congestion|engorgement)",
        r"pulmonary\s+congestion",
        r"kerley\s+b?\s*lines",
    ),
    "Enlarged Cardiomediastinum": (
        r"enlarged\s+cardiomediastin\w*",
        r"cardiomediastinal\s+(?:silhouette|contours?)\s+(?:is|are|appears?)\s+"
        + _W
        + r"(?:enlarged|widened)",
        r"widen(?:ed|ing)\s+(?:of\s+the\s+)?(?:superior\s+)?mediastin\w*",
        r"mediastinal\s+widening",
        r"mediastinum\s+(?:is\s+)?widened",
    ),
    "Fracture": (r"fractur\w*", r"\bfx\b"),
    "Lung Lesion": (
        r"nodul\w*",
        r"\bmass(?:es)?\b",
        r"(?<!soft\stissue\s)\blesions?\b",
        r"\btumou?rs?\b",
        r"neoplasm\w*",
        r"carcinoma",
        r"granuloma\w*",
        r"metasta\w*",
    ),
    "Lung Opacity": (
        r"opaci\w*",
        r"infiltrat\w*",
        r"\bdensit(?:y|ies)\b",
        r"airspace\s+disease",
        r"haziness",
        r"ground[-\s]glass",
    ),
    "Pleural Effusion": (
        r"(?<!pericardial\s)\beffusions?\b",
        r"pleural\s+fluid",
        r"hydrothorax",
        r"blunt\w*\s+(?:of\s+)?(?:the\s+)?(?:left\s+|right\s+|bilateral\s+)?costophrenic",
    ),
    "Pleural Other": (
        r"pleural\s+thickening",
        r"pleural\s+(?:plaques?|scarring)",
        r"fibrothorax",
        r"apical\s+(?:pleural\s+)?cap",
    ),
    "Pneumonia": (r"pneumoni\w*", r"\binfection\b", r"infectious\s+process", r"\baspiration\b"),
    "Pneumothorax": (r"\bpneumothora(?:x|ces)\b", r"\bhydropneumothorax\b", r"\bptx\b"),
    "Support Devices": (
        r"\b(?:endotracheal|et|nasogastric|ng|orogastric|og|enteric|feeding|chest|tracheostomy|dobhoff)\s+tubes?\b",
        r"\btubes?\b",
        r"\bpicc\b",
        r"\b(?:central|venous|arterial|jugular|subclavian|dialysis|midline)\s+(?:venous\s+)?(?:line|catheter)s?\b",
        r"\bcatheters?\b",
        r"\bpacemakers?\b",
        r"\bpacer\b",
        r"\bdefibrillator\b",
        r"\bicd\b",
        r"sternotomy\s+wires?",
        r"\bsternotomy\b",
        r"surgical\s+clips?",
        r"\bstents?\b",
        r"\bdrains?\b",
        r"\bport-?a-?cath\b",
        r"\bleads?\b",
        r"valve\s+replacement",
    ),
}

# Phrases that are negative mentions by construction (no cue word before them).
NEGATIVE_MENTIONS: Final[dict[str, tuple[str, ...]]] = {
    "Cardiomegaly": (
        r"(?:heart|cardiac)\s+size\s+(?:is\s+)?(?:normal|within\s+normal\s+limits)",
        r"normal\s+(?:heart|cardiac)\s+size",
        r"(?:heart|cardiac\s+silhouette)\s+(?:is\s+)?(?:normal\s+in\s+size|not\s+enlarged)",
    ),
    "Enlarged Cardiomediastinum": (
        r"(?:cardiomediastinal|mediastinal)\s+(?:silhouette|contours?)\s+(?:is|are|appears?)\s+"
        r"(?:normal|unremarkable|within\s+normal\s+limits)",
        r"normal\s+(?:cardiomediastinal|mediastinal)\s+(?:silhouette|contours?)",
    ),
}

NEGATION_PRE: Final[tuple[str, ...]] = (
    r"\bno\b",
    r"\bnot\b",
    r"\bwithout\b",
    r"\bfree\s+of\b",
    r"\bnegative\s+for\b",
    r"\babsence\s+of\b",
    r"\bresolution\s+of\b",
    r"\bresolved\b",
    r"\bclear\s+of\b",
    r"\bnor\b",
    r"\bnone\b",
)
NEGATION_POST: Final[tuple[str, ...]] = (
    r"\bnot\s+(?:seen|identified|present|appreciated|evident|visualized)\b",
    r"\bno\s+longer\s+(?:seen|present|visualized|evident)\b",
    r"\b(?:has|have)\s+(?:nearly\s+|almost\s+)?(?:resolved|cleared)\b",
    r"\bresolved\b",
    r"\b(?:is|are)\s+absent\b",
    r"\b(?:has|have)\s+been\s+removed\b",
    r"\bremoved\b",
)
UNCERTAIN_PRE: Final[tuple[str, ...]] = (
    r"\bpossib(?:le|ly)\b",
    r"\bprobab(?:le|ly)\b",
    r"\blikely\b",
    r"\bmay\s+(?:represent|be|reflect|indicate)\b",
    r"\bmight\b",
    r"\bcould\s+(?:represent|be|reflect)\b",
    r"\bcan\s*(?:no|')t\s+(?:be\s+)?(?:exclude|excluded|rule\s+out|ruled\s+out)\b",
    r"\bdifficult\s+to\s+exclude\b",
    r"\bsuspicious\s+for\b",
    r"\bconcerning\s+for\b",
    r"\bworrisome\s+for\b",
    r"\bsuggest(?:s|ive|ing)?(?:\s+of)?\b",
    r"\bquestion(?:able)?\b",
    r"\bversus\b",
    r"\bvs\.?\b",
    r"\bconsider\b",
    r"\brule\s+out\b",
    r"\br/o\b",
    r"\bborderline\b",
    r"\bequivocal\b",
    r"\bpresumabl[ey]\b",
    r"\bpotential\b",
    r"\bdifferential\b",
)
UNCERTAIN_POST: Final[tuple[str, ...]] = (
    r"\bcan\s*(?:no|')t\s+be\s+(?:excluded|ruled\s+out)\b",
    r"\b(?:is|are)\s+not\s+(?:excluded|ruled\s+out)\b",
    r"\bnot\s+(?:be\s+)?(?:excluded|ruled\s+out)\b",
    r"\b(?:is|are)\s+(?:possible|suspected|questioned|likely|not\s+excluded)\b",
    r"\bversus\b",
    r"\bvs\.?",
    r"\?",
)
SCOPE_BREAKERS: Final[tuple[str, ...]] = (
    r"\bbut\b",
    r"\bhowever\b",
    r"\balthough\b",
    r"\bthough\b",
    r"\bexcept\b",
    r"\bwhereas\b",
    r"\bwhile\b",
    r"\bwhich\b",
    r"\bthere\s+(?:is|are)\b",
    r";",
    r":",
)
_SIDES: Final[tuple[tuple[str, Side], ...]] = (
    (r"\b(?:bilateral(?:ly)?|both|bibasilar|bibasal|left\s+and\s+right|right\s+and\s+left)\b", "bilateral"),
    (r"\bleft\b", "left"),
    (r"\bright\b", "right"),
)


def _compile(patterns: tuple[str, ...]) -> re.Pattern[str]:
    return re.compile("|".join(f"(?:{p})" for p in patterns), re.IGNORECASE)


_MENTION_RE = {label: [re.compile(p, re.IGNORECASE) for p in pats] for label, pats in MENTIONS.items()}
_NEGATIVE_RE = {
    label: [re.compile(p, re.IGNORECASE) for p in pats] for label, pats in NEGATIVE_MENTIONS.items()
}
_NEG_PRE, _NEG_POST = _compile(NEGATION_PRE), _compile(NEGATION_POST)
_UNC_PRE, _UNC_POST = _compile(UNCERTAIN_PRE), _compile(UNCERTAIN_POST)
_BREAK = _compile(SCOPE_BREAKERS)
_SIDE_RE = [(re.compile(p, re.IGNORECASE), side) for p, side in _SIDES]
# Sentence ends: . ! ? followed by whitespace (not a decimal point "0.5"), or a line break.
_SENT_SPLIT = re.compile(r"(?<=[.!?])\s+|\n+")


@dataclass(frozen=True)
class Mention:
    """One observation mention in one sentence."""

    label: str
    """CheXpert observation name (a member of ``CHEXPERT14``)."""
    status: Status
    side: Side
    """Laterality in the mention's clause ("" when none is written)."""
    sentence: int
    """0-based sentence index in the report."""
    text: str
    """The matched phrase as written."""


def split_sentences(text: str) -> list[str]:
    """Sentences of ``text`` (decimal points such as "0.5 cm" do not end a sentence)."""
    return [s.strip() for s in _SENT_SPLIT.split(text) if s and s.strip()]


def _spans(pattern: re.Pattern[str], s: str) -> list[tuple[int, int]]:
    return [(m.start(), m.end()) for m in pattern.finditer(s) if m.end() > m.start()]


def _overlaps(a: tuple[int, int], spans: list[tuple[int, int]]) -> bool:
    return any(a[0] < b[1] and b[0] < a[1] for b in spans)


def _clause(s: str, start: int, end: int, breaks: list[tuple[int, int]]) -> tuple[int, int]:
    """The [lo, hi) span around a mention between the nearest scope breakers."""
    lo = max((b[1] for b in breaks if b[1] <= start), default=0)
    hi = min((b[0] for b in breaks if b[0] >= end), default=len(s))
    return lo, hi


def _side(s: str, lo: int, hi: int, start: int) -> Side:
    best: tuple[int, Side] = (10**9, "")
    both: list[tuple[int, int]] = []
    for pattern, side in _SIDE_RE:
        for m in pattern.finditer(s, lo, hi):
            if side == "bilateral":
                both.append((m.start(), m.end()))
            elif _overlaps((m.start(), m.end()), both):
                continue  # the "right" of "left and right" is part of a bilateral phrase
            dist = abs(m.start() - start)
            if dist < best[0]:
                best = (dist, side)
    return best[1]


def _sentence_mentions(s: str, k: int) -> list[Mention]:
    unc_pre, unc_post = _spans(_UNC_PRE, s), _spans(_UNC_POST, s)
    unc = unc_pre + unc_post
    # A negation word inside an uncertainty phrase ("can not exclude") is not a negation.
    neg_post = [sp for sp in _spans(_NEG_POST, s) if not _overlaps(sp, unc)]
    # ... and the "not" of "is not seen" belongs to that post-cue, not to the mentions after it.
    neg_pre = [sp for sp in _spans(_NEG_PRE, s) if not _overlaps(sp, unc + neg_post)]
    breaks = _spans(_BREAK, s)
    found: list[Mention] = []
    for label in CHEXPERT14:
        taken: list[tuple[int, int]] = []
        for pattern in _NEGATIVE_RE.get(label, ()):
            for m in pattern.finditer(s):
                if not _overlaps((m.start(), m.end()), taken):
                    taken.append((m.start(), m.end()))
                    lo, hi = _clause(s, m.start(), m.end(), breaks)
                    found.append(Mention(label, "negative", _side(s, lo, hi, m.start()), k, m.group()))
        for pattern in _MENTION_RE.get(label, ()):
            for m in pattern.finditer(s):
                span = (m.start(), m.end())
                if _overlaps(span, taken):
                    continue
                taken.append(span)
                lo, hi = _clause(s, *span, breaks)
                status = _status(s, span, lo, hi, unc_pre, unc_post, neg_pre, neg_post)
                found.append(Mention(label, status, _side(s, lo, hi, span[0]), k, m.group()))
    return found


def _status(
    s: str,
    span: tuple[int, int],
    lo: int,
    hi: int,
    unc_pre: list[tuple[int, int]],
    unc_post: list[tuple[int, int]],
    neg_pre: list[tuple[int, int]],
    neg_post: list[tuple[int, int]],
) -> Status:
    """Nearest pre-cue (before the mention) and nearest post-cue (after it) inside its clause."""
    pre = [(e, "uncertain") for b, e in unc_pre if lo <= b and e <= span[0]]
    pre += [(e, "negative") for b, e in neg_pre if lo <= b and e <= span[0]]
    # A post-cue reaches back over words but not over a comma: in "opacity, atelectasis versus
    # consolidation" the "versus" makes atelectasis uncertain, not the opacity.
    post = [(b, "uncertain") for b, e in unc_post if span[1] <= b and e <= hi and "," not in s[span[1] : b]]
    post += [(b, "negative") for b, e in neg_post if span[1] <= b and e <= hi and "," not in s[span[1] : b]]
    kinds = set()
    if pre:
        kinds.add(max(pre)[1])
    if post:
        kinds.add(min(post)[1])
    if "uncertain" in kinds:
        return "uncertain"
    return "negative" if "negative" in kinds else "positive"


def extract_mentions(text: str) -> list[Mention]:
    """Every observation mention of ``text`` with its status and laterality, in sentence order."""
    out: list[Mention] = []
    for k, sentence in enumerate(split_sentences(text)):
        out.extend(_sentence_mentions(sentence, k))
    return out


_VALUE = {"positive": 1, "uncertain": -1, "negative": 0}
_RANK = {1: 2, -1: 1, 0: 0}  # positive > uncertain > negative


def label_report(text: str) -> dict[str, int]:
    """CheXpert-style labels of one report: ``{observation: 1 | 0 | -1}``; unmentioned ones absent."""
    labels: dict[str, int] = {}
    for m in extract_mentions(text):
        v = _VALUE[m.status]
        if m.label not in labels or _RANK[v] > _RANK[labels[m.label]]:
            labels[m.label] = v
    labels.pop("No Finding", None)
    findings = [lab for lab, v in labels.items() if lab != "Support Devices" and v != 0]
    if text.strip() and not findings:
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
