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

from dataclasses import dataclass, field

from imax.evaluate.labeler.tables import (
    COMPILED_ALL,
    COORD,
    CUES,
    EXCLUDE_WINDOW,
    KEY_PARTS,
    KEYS,
    KIND_NEG,
    KIND_PRE_NEG_UNC,
    KIND_UNC,
    LIST_JOIN,
    NEW_FINDING_START,
    PSEUDO_MATCHER,
    SENT_SPLIT,
    SIDE_RE,
    TERM_MATCHER,
    WORD,
    CompiledClass,
    CueAt,
    Side,
    Span,
    Status,
)
from imax.evaluate.labeler.tables import OTHER as OTHER  # re-exported: the engine's public names stay here


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
    return [s.strip() for s in SENT_SPLIT.split(text) if s and s.strip()]


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
    cues: list[CueAt]
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
                if NEW_FINDING_START.match(self.s, c + 1):
                    return False
                if not LIST_JOIN.search(self.s, c + 1, clause_hi):
                    return False
        return True

    def _list_gap(self, a: int, b: int) -> bool:
        """May a post cue reach back over s[a:b]? Not over a comma, unless s[a:b] is the rest of a list
        joined by and/or ("the heart, mediastinum, and hila are unremarkable")."""
        commas = [c for c in self.commas if a <= c < b]
        if not commas:
            return True
        return bool(LIST_JOIN.search(self.s, a, b)) and not any(
            NEW_FINDING_START.match(self.s, c + 1) for c in commas
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
                    (reach is None or len(WORD.findall(gap)) <= reach)
                    and self._comma_ok(b, span[0], hi)
                    and not (nearest and self._between(b, span[0]))
                ):
                    kinds.add(kind)
                    continue
            if direction in ("post", "both") and span[1] <= a and b <= hi:
                gap = self.s[span[1] : a]
                if (
                    (reach is None or len(WORD.findall(gap)) <= reach)
                    and self._list_gap(span[1], a)
                    and not (nearest and self._between(span[1], a))
                ):
                    kinds.add(kind)
        return kinds


def _cues(s: str, active: set[int]) -> list[CueAt]:
    found = [
        (a, b, kind, d, r, n)
        for pid, p, kind, d, r, n in CUES
        if pid in active
        for a, b in p.spans(s, active)
    ]
    if not found:
        return []
    pseudo = PSEUDO_MATCHER.spans(s, active)
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
            and o[2] != KIND_PRE_NEG_UNC
            and (o[3] == "both" or o[3] == c[3])
            for o in found
        ):
            continue
        kept.append(c)
    return kept


def _sides(s: str) -> list[tuple[int, int, Side]]:
    """Side words of the sentence; the "right" of "left and right" belongs to the bilateral phrase."""
    out: list[tuple[int, int, Side]] = []
    for pattern, side in SIDE_RE:
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


def _candidates(cls: CompiledClass, ctx: _Sentence) -> list[tuple[Span, str]]:
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
                lo, hi = max(lo, span[0] - EXCLUDE_WINDOW), min(hi, span[1] + EXCLUDE_WINDOW)
                if not cls.exclude_sentence:
                    # a coordinated finding is not context: "no pulmonary nodule or rib fracture"
                    for m in COORD.finditer(s, lo, hi):
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


def _read(cls: CompiledClass, ctx: _Sentence, cands: list[tuple[Span, str]], k: int) -> list[Mention]:
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
    if KIND_PRE_NEG_UNC in kinds:
        return "uncertain"
    if KIND_NEG in kinds:
        return "negative"
    if KIND_UNC in kinds or how == "uncertain":
        return "uncertain"
    return "positive"


def sentence_mentions(sentence: str, k: int = 0, prefilter: bool = True) -> list[Mention]:
    """The mentions of one sentence (index ``k`` in its report), CheXpert classes then "_other".

    ``prefilter=False`` runs every regex (the literal pre-filter only skips regexes that cannot match;
    the tests check both give the same mentions)."""
    s = sentence.lower()
    present = [key for key in KEYS if key in s] if prefilter else list(KEYS)
    classes = [c for c in COMPILED_ALL if not c.keys.isdisjoint(present)]
    if not classes:
        return []
    active = {pid for key in present for pid in KEY_PARTS[key]}
    ctx = _Sentence(
        s,
        sentence if len(sentence) == len(s) else s,
        active,
        _cues(s, active),
        TERM_MATCHER.spans(s, active),
        [i for i, ch in enumerate(s) if ch == ","],
        _sides(s),
    )
    cands = [(cls, _candidates(cls, ctx)) for cls in classes]
    ctx.mentions = sorted(span for _, cs in cands for span, _ in cs)
    out: list[Mention] = []
    for cls, cs in cands:
        out.extend(_read(cls, ctx, cs, k))
    return out
