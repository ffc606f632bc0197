"""Report sectioning compatible with MIT-LCP's ``txt/section_parser.py`` (source-formats.md §1.7).

Behaviour reproduced (so text answers match what ``mimic_cxr_sectioned.csv`` would hold):

* a header is ``\\n`` + one space + ``[A-Z ()/,-]+`` + ``:`` + whitespace — headers without the leading
  space do not section;
* text before the first header is ``preamble``; no header at all → one ``full report`` section;
* a section's text starts after its header but the next header is searched only after the end of the
  header's line (the MIT-LCP guard against bad parses);
* names are lower-cased and normalised (synonym/typo table, then "contains impression/findings/history/
  comparison/addendum", then view phrases → ``findings``);
* empty impression/findings sections are dropped; when neither exists and the last section holds a
  paragraph break (``\\n \\n``), the text after the first break becomes ``last_paragraph``.

The answer text of a report (:func:`report_answer`) is findings, else impression, else last_paragraph
(the **last** section of that name, as MIT-LCP's CSV keeps), with whitespace collapsed to single spaces
(report lines are hard-wrapped at 79 characters; the breaks carry no meaning).
"""

from __future__ import annotations

import functools
import re

HEADER_RE = re.compile(r"\n ([A-Z ()/,-]+):\s")

NAME_MAP: dict[str, str] = {
    "comparisons": "comparison",
    "clinical history": "history",
    "reason for examination": "indication",
    "reason for exam": "indication",
    "clinical information": "history",
    "exam": "examination",
    "clinical indication": "indication",
    "conclusion": "impression",
    "chest, two views": "findings",
    "recommendation(s)": "recommendations",
    "recommendation": "recommendations",
    "type of examination": "examination",
    "reference exam": "comparison",
    "patient history": "history",
    "comparison exam": "comparison",
    "findings and impression": "impression",
    "comparison film": "comparison",
    "findings/impression": "impression",
    "findings/ impression": "impression",
    "pfi": "history",
    "wetread": "wet read",
    "ndication": "impression",  # sic: MIT-LCP maps this typo to impression
    "impresson": "impression",
    "imprression": "impression",
    "imoression": "impression",
    "impressoin": "impression",
    "imprssion": "impression",
    "impresion": "impression",
    "imperssion": "impression",
    "mpression": "impression",
    "impession": "impression",
    "finding": "findings",
    "findins": "findings",
    "findindgs": "findings",
    "findgings": "findings",
    "findngs": "findings",
    "findnings": "findings",
    "finidngs": "findings",
    "idication": "indication",
    "reference findings": "findings",
    "comparision": "comparison",
    "comparsion": "comparison",
    "comparrison": "comparison",
    "comparisions": "comparison",
}
"""Section-name synonyms and typos seen in MIMIC-CXR (names not listed map to themselves)."""

_MAIN = ("impression", "findings", "history", "comparison", "addendum")
_VIEW_RE = re.compile(
    r"chest|portable|pa and lateral|lateral and pa|ap and lateral|lateral and ap|frontal and|two views|"
    r"frontal view|pa view|ap view|one view|lateral view|bone window|frontal upright|frontal semi-upright|"
    r"ribs|pa and lat"
)
_WS_RE = re.compile(r"\s+")


@functools.lru_cache(maxsize=4096)
def normalize_name(name: str) -> str:
    """Canonical section name (lower case; synonyms, typos and view phrases resolved)."""
    s = name.lower().strip()
    if s in NAME_MAP:
        return NAME_MAP[s]
    for m in _MAIN:
        if m in s:
            return m
    return "findings" if _VIEW_RE.search(s) else s


def section_text(text: str) -> list[tuple[str, str]]:
    """Split a report into ``(normalised name, text)`` sections in order (see module docstring)."""
    sections: list[tuple[str, str]] = []
    m = HEADER_RE.search(text)
    if m is None:
        sections.append(("full report", text))
    else:
        sections.append(("preamble", text[: m.start(1)]))
        while m is not None:
            name, start = m.group(1), m.end()
            skip = text.find("\n", start)
            nxt = HEADER_RE.search(text, skip if skip >= 0 else start)
            end = nxt.start() if nxt is not None else len(text)
            sections.append((normalize_name(name), text[start:end]))
            m = nxt
    sections = [(n, t) for n, t in sections if not (n in ("impression", "findings") and not t.strip())]
    names = {n for n, _ in sections}
    if "impression" not in names and "findings" not in names and "\n \n" in sections[-1][1]:
        name, last = sections[-1]
        head, _, tail = last.partition("\n \n")
        sections[-1] = (name, head)
        sections.append(("last_paragraph", tail))
    return sections


def report_answer(text: str) -> tuple[str, str] | None:
    """``(section name, text)`` used as the report answer, or None when there is nothing usable."""
    by_name: dict[str, str] = {}
    for name, body in section_text(text):
        by_name[name] = body  # the last section of a name wins, as in mimic_cxr_sectioned.csv
    for name in ("findings", "impression", "last_paragraph"):
        body = clean(by_name.get(name, ""))
        if body:
            return name, body
    return None


def clean(text: str | None) -> str:
    """Collapse runs of whitespace (hard line wraps, leading spaces) to single spaces."""
    return _WS_RE.sub(" ", text or "").strip()
