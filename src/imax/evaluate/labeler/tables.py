"""The scope engine's compiled tables: phrase and cue regexes with literal pre-filters, built once at import.

A :class:`Matcher` runs a regex alternative only when one of the literals every match of it must contain
(:func:`required_literals`, read off ``re``'s parse tree) is in the sentence; ``KEY_PARTS`` maps each
literal to the parts that need it. Split from scope.py, which reads sentences with these tables.
"""

from __future__ import annotations

import re
import re._constants as _sc  # the regex parser's opcodes: used only to derive literal pre-filters
import re._parser as _sp
from dataclasses import dataclass
from typing import Any, Final, Literal

from imax.evaluate.labeler import cues
from imax.evaluate.labeler.phrases import CLASSES, OTHER_FINDINGS, ClassPhrases

Status = Literal["positive", "negative", "uncertain"]
Side = Literal["left", "right", "bilateral", ""]
Span = tuple[int, int]

OTHER: Final[str] = "_other"
"""Pseudo-class of CheXpert's no_finding.txt phrases (other findings that rule out "No Finding")."""

LB = r"(?<![\w-])"  # left word boundary; a hyphen counts as part of the word ("non-enlarged")
EXCLUDE_WINDOW = 48  # characters either side of a mention searched for context_exclude words


def required_literals(seq: Any) -> set[str] | None:
    """Literals of which at least one occurs in every match of the parsed pattern ``seq`` (None: unknown)."""
    cands: list[set[str]] = []
    run: list[str] = []

    def flush() -> None:
        if run:
            cands.append({"".join(run)})
            run.clear()

    for op, av in seq:
        if op is _sc.LITERAL:
            run.append(chr(av))
            continue
        flush()
        r: set[str] | None = None
        if op is _sc.SUBPATTERN:
            r = required_literals(av[-1])
        elif op is _sc.BRANCH:
            subs = [required_literals(b) for b in av[1]]
            r = None if any(x is None for x in subs) else set().union(*subs)  # type: ignore[arg-type]
        elif op in (_sc.MAX_REPEAT, _sc.MIN_REPEAT) and av[0] >= 1:
            r = required_literals(av[2])
        if r:
            cands.append(r)
    flush()
    return max(cands, key=lambda c: min(len(x) for x in c), default=None)


KEY_PARTS: dict[str, list[int]] = {}
"""Required literal → ids of the regex parts that need it (filled as the tables compile)."""


class Matcher:
    """Regex alternatives, each run only when one of its required literals is in the sentence.

    Python's ``re`` tries every alternative at every position; finding the sentence's literals once
    (:func:`_active`) and running only the parts they admit makes a 40-phrase table nearly free on a
    sentence that names none of them.
    """

    _next_id = 0

    def __init__(self, patterns: tuple[str, ...], boundary: bool = True) -> None:
        lb = LB if boundary else ""
        self.parts: list[tuple[int, re.Pattern[str]]] = []
        self.keys: set[str] = set()
        for p in patterns:
            req = required_literals(_sp.parse(p)) or {""}
            pid = Matcher._next_id
            Matcher._next_id += 1
            for k in req:
                KEY_PARTS.setdefault(k, []).append(pid)
            self.keys |= req
            self.parts.append((pid, re.compile(f"{lb}(?:{p})")))

    def __bool__(self) -> bool:
        return bool(self.parts)

    def spans(self, s: str, active: set[int]) -> list[Span]:
        """Non-overlapping matches (start, end), earliest first and the longest at one start."""
        found = [
            (m.start(), m.end())
            for pid, rx in self.parts
            if pid in active
            for m in rx.finditer(s)
            if m.end() > m.start()
        ]
        if len(found) < 2:
            return found
        found.sort(key=lambda x: (x[0], x[0] - x[1]))
        out = [found[0]]
        for a, b in found[1:]:
            if a >= out[-1][1]:
                out.append((a, b))
        return out


@dataclass(frozen=True)
class CompiledClass:
    name: str
    mention: Matcher
    uncertain: Matcher
    negative: Matcher
    anchor: Matcher
    unmention: Matcher
    exclude: re.Pattern[str] | None
    state_positive: re.Pattern[str] | None
    state_stable: re.Pattern[str] | None
    exclude_sentence: bool
    keys: frozenset[str]
    """Literals of which one must be in a sentence for any of the class's phrases to match."""


def compile_class(name: str, c: ClassPhrases) -> CompiledClass:
    mention, uncertain = Matcher(c.mention), Matcher(c.uncertain)
    negative, anchor = Matcher(c.negative), Matcher(c.anchor)
    keys = frozenset(mention.keys | uncertain.keys | negative.keys | anchor.keys)
    return CompiledClass(
        name=name,
        mention=mention,
        uncertain=uncertain,
        negative=negative,
        anchor=anchor,
        unmention=Matcher(c.unmention, boundary=False),
        exclude=re.compile(c.context_exclude) if c.context_exclude else None,
        state_positive=re.compile(c.state_positive) if c.state_positive else None,
        state_stable=re.compile(c.state_stable) if c.state_stable else None,
        exclude_sentence=c.exclude_in_sentence,
        keys=keys,
    )


COMPILED_CLASSES: Final[list[CompiledClass]] = [compile_class(n, c) for n, c in CLASSES.items()]
COMPILED_OTHER: Final[CompiledClass] = compile_class(OTHER, ClassPhrases(mention=OTHER_FINDINGS))
COMPILED_ALL: Final[tuple[CompiledClass, ...]] = (*COMPILED_CLASSES, COMPILED_OTHER)

KIND_PRE_NEG_UNC, KIND_NEG, KIND_UNC = 0, 1, 2
CueAt = tuple[int, int, int, str, "int | None", bool]
"""A cue found in a sentence: start, end, kind, direction, reach, nearest."""
CUES: Final[list[tuple[int, Matcher, int, str, int | None, bool]]] = [
    (m.parts[0][0], m, kind, c.direction, c.reach, c.nearest)
    for kind, table in (
        (KIND_PRE_NEG_UNC, cues.PRE_NEGATION_UNCERTAINTY),
        (KIND_NEG, cues.NEGATION),
        (KIND_UNC, cues.UNCERTAINTY),
    )
    for c in table
    for m in [Matcher((c.pattern,), boundary=False)]
]
PSEUDO_MATCHER: Final[Matcher] = Matcher(cues.PSEUDO, boundary=False)
TERM_MATCHER: Final[Matcher] = Matcher(cues.TERMINATORS, boundary=False)
WORD: Final[re.Pattern[str]] = re.compile(r"[\w/'-]+")
# A comma continues a list ("no A, B, or C") only when no new finding starts after it.
LIST_JOIN: Final[re.Pattern[str]] = re.compile(r"\b(?:or|nor|and)\b")
COORD: Final[re.Pattern[str]] = LIST_JOIN
NEW_FINDING_START: Final[re.Pattern[str]] = re.compile(
    r"\s*(?:there|the|a|an|small|moderate|large|mild|severe|trace|minimal|new|increased|decreased|stable|"
    r"persistent|unchanged|left|right|bilateral|bibasilar|possible|probable|likely|but|however|although|"
    r"is|are|with|otherwise|mildly|moderately|slightly|improved|worsened|known|chronic|residual)\b"
)
SIDE_RE: Final[list[tuple[re.Pattern[str], Side]]] = [(re.compile(p), s) for p, s in cues.SIDES]  # type: ignore[misc]
# Sentence ends: . ! ? followed by whitespace (not a decimal point "0.5"), or a line break.
SENT_SPLIT: Final[re.Pattern[str]] = re.compile(r"(?<=[.!?])\s+|\n+")
KEYS: Final[tuple[str, ...]] = tuple(KEY_PARTS)  # every table is compiled above this line
