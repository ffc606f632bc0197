"""Small text normalisers shared by the task codecs (no task logic here)."""

from __future__ import annotations

import re

_WS = re.compile(r"\s+")
_EDGE_PUNCT = re.compile(r"^[\s\"'`.,;:!?()\[\]]+|[\s\"'`.,;:!?()\[\]]+$")
_NUMBER = re.compile(r"[-+]?\d*\.?\d+")


def squash(text: str) -> str:
    """Collapse every run of whitespace to one space and strip the ends."""
    return _WS.sub(" ", text).strip()


def normalise_phrase(text: str) -> str:
    """Lower-case, single-spaced, without surrounding quotes/brackets/punctuation."""
    return _EDGE_PUNCT.sub("", squash(text).lower())


def first_number(text: str) -> float | None:
    """The first decimal number written in ``text`` (``None`` if there is none)."""
    m = _NUMBER.search(text)
    return float(m.group()) if m else None


def split_list(text: str) -> list[str]:
    """Split a comma/semicolon separated answer into normalised, non-empty items."""
    return [p for p in (normalise_phrase(x) for x in re.split(r"[,;\n]", text)) if p]
