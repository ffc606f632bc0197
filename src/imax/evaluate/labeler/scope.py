"""The scope engine: sentence split, mention and cue detection, cue scope, NegBio's rule order.

Per sentence (lower-cased):

1. Mentions: every class's mention regexes (left word boundary added here), minus mentions overlapping
   the class's *unmention* phrases or near its *context_exclude* words; anchors ("heart size") only with
   a size/stability word or a cue in their clause.
2. Cues: pre-negation uncertainty, negation, uncertainty (phrases.py), minus any cue overlapping a
   *pseudo* cue ("no change in") or strictly inside a longer cue ("not" inside "not excluded").
3. Scope. A clause runs between terminators ("but", "however", "which", ";", ...). A *pre* cue governs the
   mentions after it in its clause (within its reach in words, when it has one); a comma stops it unless
   the clause goes on as a list joined by "or"/"nor"/"and" ("no effusion, pneumothorax, or edema") and the
   word after the comma does not start a new finding ("no effusion, small pneumothorax"). A *post* cue
   governs the mentions just before it (within its reach; across a comma only along an and/or list:
   "the heart, mediastinum, and hila are unremarkable"). Coordinators ("or", "versus") govern only the
   nearest mention on each side ("opacity may reflect aspiration or pneumonia").
4. Status, in NegBio/CheXpert's order: pre-negation uncertainty → uncertain; else negation → negative;
   else uncertainty (a cue, an uncertain-by-construction phrase, an anchor whose only state is
   "stable") → uncertain; else positive. So a governing "no" beats a nearer hedge ("no focal opacity to
   suggest pneumonia" is negative), while "cannot exclude" beats the "not"/"exclude" inside it.

The engine is pure Python ``re``; the compiled tables are built once at import.
"""

from __future__ import annotations

import re
import re._constants as _sc  # the regex parser's opcodes: used only to derive literal pre-filters
import re._parser as _sp
from dataclasses import dataclass, field
from typing import Any, Final, Literal

from imax.evaluate.labeler.phrases import (
    CLASSES,
    NEGATION,
    OTHER_FINDINGS,
    PRE_NEGATION_UNCERTAINTY,
    PSEUDO,
    SIDES,
    TERMINATORS,
    UNCERTAINTY,
    ClassPhrases,
)

Status = Literal["positive", "negative", "uncertain"]
Side = Literal["left", "right", "bilateral", ""]
Span = tuple[int, int]

OTHER: Final[str] = "_other"
"""Pseudo-class of CheXpert's no_finding.txt phrases (other findings that rule out "No Finding")."""

_LB = r"(?<![\w-])"  # left word boundary; a hyphen counts as part of the word ("non-enlarged")
_EXCLUDE_WINDOW = 48  # characters either side of a mention searched for context_exclude words


def _required(seq: Any) -> set[str] | None:
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
            r = _required(av[-1])
        elif op is _sc.BRANCH:
            subs = [_required(b) for b in av[1]]
            r = None if any(x is None for x in subs) else set().union(*subs)  # type: ignore[arg-type]
        elif op in (_sc.MAX_REPEAT, _sc.MIN_REPEAT) and av[0] >= 1:
            r = _required(av[2])
        if r:
            cands.append(r)
    flush()
    return max(cands, key=lambda c: min(len(x) for x in c), default=None)


_KEY_PARTS: dict[str, list[int]] = {}
"""Required literal → ids of the regex parts that need it (filled as the tables compile)."""


class _Matcher:
    """Regex alternatives, each run only when one of its required literals is in the sentence.

    Python's ``re`` tries every alternative at every position; finding the sentence's literals once
    (:func:`_active`) and running only the parts they admit makes a 40-phrase table nearly free on a
    sentence that names none of them.
    """

    _next_id = 0

    def __init__(self, patterns: tuple[str, ...], boundary: bool = True) -> None:
        lb = _LB if boundary else ""
        self.parts: list[tuple[int, re.Pattern[str]]] = []
        self.keys: set[str] = set()
        for p in patterns:
            req = _required(_sp.parse(p)) or {""}
            pid = _Matcher._next_id
            _Matcher._next_id += 1
            for k in req:
                _KEY_PARTS.setdefault(k, []).append(pid)
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
class _Compiled:
    name: str
    mention: _Matcher
    uncertain: _Matcher
    negative: _Matcher
    anchor: _Matcher
    unmention: _Matcher
    exclude: re.Pattern[str] | None
    state_positive: re.Pattern[str] | None
    state_stable: re.Pattern[str] | None
    exclude_sentence: bool
    keys: frozenset[str]
    """Literals of which one must be in a sentence for any of the class's phrases to match."""


def _compile_class(name: str, c: ClassPhrases) -> _Compiled:
    mention, uncertain = _Matcher(c.mention), _Matcher(c.uncertain)
    negative, anchor = _Matcher(c.negative), _Matcher(c.anchor)
    keys = frozenset(mention.keys | uncertain.keys | negative.keys | anchor.keys)
    return _Compiled(
        name=name,
        mention=mention,
        uncertain=uncertain,
        negative=negative,
        anchor=anchor,
        unmention=_Matcher(c.unmention, boundary=False),
        exclude=re.compile(c.context_exclude) if c.context_exclude else None,
        state_positive=re.compile(c.state_positive) if c.state_positive else None,
        state_stable=re.compile(c.state_stable) if c.state_stable else None,
        exclude_sentence=c.exclude_in_sentence,
        keys=keys,
    )


_CLASSES: Final[list[_Compiled]] = [_compile_class(n, c) for n, c in CLASSES.items()]
_OTHER: Final[_Compiled] = _compile_class(OTHER, ClassPhrases(mention=OTHER_FINDINGS))
_ALL: Final[tuple[_Compiled, ...]] = (*_CLASSES, _OTHER)

_KIND_PRE_NEG_UNC, _KIND_NEG, _KIND_UNC = 0, 1, 2
_CueAt = tuple[int, int, int, str, "int | None", bool]
"""A cue found in a sentence: start, end, kind, direction, reach, nearest."""
_CUES: Final[list[tuple[int, _Matcher, int, str, int | None, bool]]] = [
    (m.parts[0][0], m, kind, c.direction, c.reach, c.nearest)
    for kind, table in (
        (_KIND_PRE_NEG_UNC, PRE_NEGATION_UNCERTAINTY),
        (_KIND_NEG, NEGATION),
        (_KIND_UNC, UNCERTAINTY),
    )
    for c in table
    for m in [_Matcher((c.pattern,), boundary=False)]
]
_PSEUDO: Final[_Matcher] = _Matcher(PSEUDO, boundary=False)
_TERM: Final[_Matcher] = _Matcher(TERMINATORS, boundary=False)
_WORD: Final[re.Pattern[str]] = re.compile(r"[\w/'-]+")
# A comma continues a list ("no A, B, or C") only when no new finding starts after it.
_LIST_JOIN: Final[re.Pattern[str]] = re.compile(r"\b(?:or|nor|and)\b")
_COORD: Final[re.Pattern[str]] = _LIST_JOIN
_NEW_FINDING_START: Final[re.Pattern[str]] = re.compile(
    r"\s*(?:there|the|a|an|small|moderate|large|mild|severe|trace|minimal|new|increased|decreased|stable|"
    r"persistent|unchanged|left|right|bilateral|bibasilar|possible|probable|likely|but|however|although|"
    r"is|are|with|otherwise|mildly|moderately|slightly|improved|worsened|known|chronic|residual)\b"
)
_SIDE_RE: Final[list[tuple[re.Pattern[str], Side]]] = [(re.compile(p), s) for p, s in SIDES]  # type: ignore[misc]
# Sentence ends: . ! ? followed by whitespace (not a decimal point "0.5"), or a line break.
_SENT_SPLIT: Final[re.Pattern[str]] = re.compile(r"(?<=[.!?])\s+|\n+")
_KEYS: Final[tuple[str, ...]] = tuple(_KEY_PARTS)  # every table is compiled above this line


@dataclass(frozen=True)
class Mention:
    """One observation mention in one sentence."""

    label: str
    """CheXpert observation name (a member of ``CHEXPERT14``), or ``"_other"`` (a No-Finding blocker)."""
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


def _overlaps(a: Span, spans: list[Span]) -> bool:
    return any(a[0] < b[1] and b[0] < a[1] for b in spans)


@dataclass
class _Sentence:
    """Per-sentence context shared by all mentions: cues, terminators, commas."""

    s: str
    original: str
    """The sentence as written (for the mention text), same length as ``s``."""
    active: set[int]
    """Ids of the regex parts whose required literals occur in ``s``."""
    cues: list[_CueAt]
    terms: list[Span]
    commas: list[int]
    sides: list[tuple[int, int, Side]]
    mentions: list[Span] = field(default_factory=list)
    """Every candidate mention span of the sentence (all classes), for cues that take the nearest."""

    def clause(self, start: int, end: int) -> Span:
        lo, hi = 0, len(self.s)
        for a, b in self.terms:
            if b <= start:
                lo = b
            elif a >= end:
                hi = a
                break
        return lo, hi

    def subclause(self, start: int, end: int) -> Span:
        lo, hi = self.clause(start, end)
        lo = max([lo, *(c + 1 for c in self.commas if c < start)])
        hi = min([hi, *(c for c in self.commas if c >= end)])
        return lo, hi

    def _comma_ok(self, a: int, b: int, clause_hi: int) -> bool:
        """May a pre cue's scope cross the commas in s[a:b]? Only along a list joined by or/nor/and."""
        for c in self.commas:
            if a <= c < b:
                if _NEW_FINDING_START.match(self.s, c + 1):
                    return False
                if not _LIST_JOIN.search(self.s, c + 1, clause_hi):
                    return False
        return True

    def _list_gap(self, a: int, b: int) -> bool:
        """May a post cue reach back over s[a:b]? Not over a comma, unless s[a:b] is the rest of a list
        joined by and/or ("the heart, mediastinum, and hila are unremarkable")."""
        commas = [c for c in self.commas if a <= c < b]
        if not commas:
            return True
        return bool(_LIST_JOIN.search(self.s, a, b)) and not any(
            _NEW_FINDING_START.match(self.s, c + 1) for c in commas
        )

    def _between(self, a: int, b: int) -> bool:
        """Is another mention wholly inside s[a:b]? ("opacity may reflect aspiration or pneumonia": the
        "or" joins aspiration and pneumonia, not the opacity)."""
        return any(a <= x and y <= b for x, y in self.mentions)

    def governing(self, span: Span) -> set[int]:
        """Kinds of the cues whose scope covers the mention ``span``."""
        kinds: set[int] = set()
        lo, hi = self.clause(*span)
        for a, b, kind, direction, reach, nearest in self.cues:
            if direction in ("pre", "both") and lo <= a and b <= span[0]:
                gap = self.s[b : span[0]]
                if (
                    (reach is None or len(_WORD.findall(gap)) <= reach)
                    and self._comma_ok(b, span[0], hi)
                    and not (nearest and self._between(b, span[0]))
                ):
                    kinds.add(kind)
                    continue
            if direction in ("post", "both") and span[1] <= a and b <= hi:
                gap = self.s[span[1] : a]
                if (
                    (reach is None or len(_WORD.findall(gap)) <= reach)
                    and self._list_gap(span[1], a)
                    and not (nearest and self._between(span[1], a))
                ):
                    kinds.add(kind)
        return kinds


def _cues(s: str, active: set[int]) -> list[_CueAt]:
    found = [
        (a, b, kind, d, r, n)
        for pid, p, kind, d, r, n in _CUES
        if pid in active
        for a, b in p.spans(s, active)
    ]
    if not found:
        return []
    pseudo = _PSEUDO.spans(s, active)
    kept = []
    for c in found:
        if pseudo and _overlaps((c[0], c[1]), pseudo):
            continue
        # drop a cue strictly inside a longer one ("no" in "no longer seen", "exclude" in "difficult to
        # exclude"), except inside a pre-negation uncertainty cue: that one wins while it reaches, and
        # past its short reach the inner negation still governs ("no new opacity to suggest pneumonia")
        # A pre cue inside a post cue keeps its own side ("there is likely a small effusion").
        if any(
            o[0] <= c[0]
            and c[1] <= o[1]
            and (o[1] - o[0]) > (c[1] - c[0])
            and o[2] != _KIND_PRE_NEG_UNC
            and (o[3] == "both" or o[3] == c[3])
            for o in found
        ):
            continue
        kept.append(c)
    return kept


def _sides(s: str) -> list[tuple[int, int, Side]]:
    """Side words of the sentence; the "right" of "left and right" belongs to the bilateral phrase."""
    out: list[tuple[int, int, Side]] = []
    for pattern, side in _SIDE_RE:
        for m in pattern.finditer(s):
            if side != "bilateral" and any(a < m.end() and m.start() < b for a, b, _ in out):
                continue
            out.append((m.start(), m.end(), side))
    return out


def _side(sides: list[tuple[int, int, Side]], lo: int, hi: int, start: int) -> Side:
    """The side word nearest to ``start`` inside [lo, hi) ("" when none)."""
    best: tuple[int, Side] = (10**9, "")
    for a, b, side in sides:
        if lo <= a and b <= hi and abs(a - start) < best[0]:
            best = (abs(a - start), side)
    return best[1]


def _candidates(cls: _Compiled, ctx: _Sentence) -> list[tuple[Span, str]]:
    """The class's mention spans and how each is read, after unmentions and context exclusions."""
    s = ctx.s
    unmention = cls.unmention.spans(s, ctx.active) if cls.unmention else []
    taken: list[Span] = []
    out: list[tuple[Span, str]] = []
    # explicit mentions first, so an anchor ("heart size") never double-counts "enlarged heart"
    for pattern, how in (
        (cls.negative, "negative"),
        (cls.uncertain, "uncertain"),
        (cls.mention, "mention"),
        (cls.anchor, "anchor"),
    ):
        if not pattern:
            continue
        for span in pattern.spans(s, ctx.active):
            if _overlaps(span, taken) or _overlaps(span, unmention):
                continue
            if cls.exclude is not None:
                lo, hi = (0, len(s)) if cls.exclude_sentence else ctx.subclause(*span)
                lo, hi = max(lo, span[0] - _EXCLUDE_WINDOW), min(hi, span[1] + _EXCLUDE_WINDOW)
                if not cls.exclude_sentence:
                    # a coordinated finding is not context: "no pulmonary nodule or rib fracture"
                    for m in _COORD.finditer(s, lo, hi):
                        if m.end() <= span[0]:
                            lo = m.end()
                        elif m.start() >= span[1]:
                            hi = m.start()
                            break
                if cls.exclude.search(s, lo, hi):
                    continue
            taken.append(span)
            out.append((span, how))
    return out


def _read(cls: _Compiled, ctx: _Sentence, cands: list[tuple[Span, str]], k: int) -> list[Mention]:
    """Status and side of each candidate mention of one class."""
    s = ctx.s
    out: list[Mention] = []
    for span, how in sorted(cands):
        status = _status(ctx.governing(span), how)
        if how == "anchor" and status == "positive":
            lo, hi = ctx.subclause(*span)
            if not (cls.state_positive is not None and cls.state_positive.search(s, lo, hi)):
                if cls.state_stable is not None and cls.state_stable.search(s, lo, hi):
                    status = "uncertain"  # CheXpert: "heart size is stable" is uncertain
                else:
                    continue  # "the heart" with nothing said about its size is no mention
        lo, hi = ctx.clause(*span)
        out.append(
            Mention(cls.name, status, _side(ctx.sides, lo, hi, span[0]), k, ctx.original[span[0] : span[1]])
        )
    return out


def _status(kinds: set[int], how: str) -> Status:
    if how == "negative":
        return "negative"
    if _KIND_PRE_NEG_UNC in kinds:
        return "uncertain"
    if _KIND_NEG in kinds:
        return "negative"
    if _KIND_UNC in kinds or how == "uncertain":
        return "uncertain"
    return "positive"


def sentence_mentions(sentence: str, k: int = 0, prefilter: bool = True) -> list[Mention]:
    """The mentions of one sentence (index ``k`` in its report), CheXpert classes then "_other".

    ``prefilter=False`` runs every regex (the literal pre-filter only skips regexes that cannot match;
    the tests check both give the same mentions)."""
    s = sentence.lower()
    present = [key for key in _KEYS if key in s] if prefilter else list(_KEYS)
    classes = [c for c in _ALL if not c.keys.isdisjoint(present)]
    if not classes:
        return []
    active = {pid for key in present for pid in _KEY_PARTS[key]}
    ctx = _Sentence(
        s,
        sentence if len(sentence) == len(s) else s,
        active,
        _cues(s, active),
        _TERM.spans(s, active),
        [i for i, ch in enumerate(s) if ch == ","],
        _sides(s),
    )
    cands = [(cls, _candidates(cls, ctx)) for cls in classes]
    ctx.mentions = sorted(span for _, cs in cands for span, _ in cs)
    out: list[Mention] = []
    for cls, cs in cands:
        out.extend(_read(cls, ctx, cs, k))
    return out
