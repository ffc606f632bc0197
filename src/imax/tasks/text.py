"""Small text normalisers and argument helpers shared by the task codecs (no task logic here)."""

from __future__ import annotations

import re
from collections.abc import Callable

from imax.schema.errors import ImaxError

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


def no_argument(task: str, query: dict) -> Callable[[str | None, tuple[int, int]], dict]:
    """``query_from_argument`` of a task that takes no TEXT: returns ``query``; any text is an error."""

    def build(text: str | None, image_size: tuple[int, int]) -> dict:
        if text is not None and text.strip():
            raise ImaxError(f"task {task!r} takes no argument, got {text!r}")
        return dict(query)

    return build


def required(task: str, text: str | None, what: str) -> str:
    """``text`` squashed; one-line error naming ``what`` when it is missing or blank."""
    if text is None or not text.strip():
        raise ImaxError(f"task {task!r} needs an argument: {what}")
    return squash(text)
