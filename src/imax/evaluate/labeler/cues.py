"""The labeler's cue tables: negation, uncertainty and pseudo-cue phrases, clause terminators, sides.

Split from phrases.py (the per-class phrase tables); provenance as documented there: the cue words follow
the public CheXpert labeler's ``patterns/negation.txt``, ``patterns/pre_negation_uncertainty.txt`` and
``patterns/post_negation_uncertainty.txt`` (Irvin et al. 2019, commit 44ddeb3, MIT licence, Copyright (c)
2018 Stanford Machine Learning Group), re-expressed as surface cues with a scope (see scope.py); additions
are marked ``imax:`` with the reason. All regexes are matched on the lower-cased sentence.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final, Literal

Direction = Literal["pre", "post", "both"]

# --- cues ---------------------------------------------------------------------------------------------
# Each cue: (regex, direction, reach in words). "pre" cues govern mentions after them up to the end of
# the clause (reach None) or within `reach` words; "post" cues govern mentions just before them.


@dataclass(frozen=True)
class Cue:
    pattern: str
    direction: Direction
    reach: int | None = None
    """Largest number of words between cue and mention (None: the whole clause)."""
    nearest: bool = False
    """Govern only the nearest mention on its side (a coordinator: "aspiration or pneumonia")."""


# Uncertainty that beats negation (CheXpert's pre_negation_uncertainty.txt): "cannot exclude X",
# "X is not excluded", "no new X", "cannot rule out X", "no evidence to rule out X".
PRE_NEGATION_UNCERTAINTY: Final[tuple[Cue, ...]] = (
    Cue(r"\b(?:cannot|can\s*not|can't|could\s+not|couldn't)\s+(?:be\s+)?(?:entirely\s+|completely\s+|definitely\s+)?"
        r"(?:exclude[ds]?|ruled?\s+out)\b", "both", 8),
    Cue(r"\b(?:(?:is|are|was|were)\s+)?not\s+(?:entirely\s+|completely\s+|definitely\s+)?(?:excluded|ruled\s+out)\b",
        "post", 6),
    Cue(r"\bno\s+(?:evidence\s+)?to\s+rule\s+out\b", "pre"),
    Cue(r"\bno\s+(?:definite\s+|obvious\s+)?new\b", "pre", 2),
    Cue(r"\bwithout\s+(?:definite\s+|obvious\s+)?new\b", "pre", 2),
    # imax: "heart size is top normal to mildly enlarged" is borderline, not normal
    Cue(r"\b(?:(?:is|are)\s+)?(?:top[-\s])?normal\s+(?:to|or)\s+(?:slightly\s+|mildly\s+|minimally\s+)?"
        r"(?:enlarged|increased|large|prominent)\b", "post", 5),
)  # fmt: skip

NEGATION: Final[tuple[Cue, ...]] = (
    Cue(r"\bno\b", "pre"),
    Cue(r"\bnot\b", "pre", 3),
    Cue(r"\bnor\b", "pre"),
    Cue(r"\bwithout\b", "pre"),
    Cue(r"\bfree\s+of\b", "pre"),
    Cue(r"\bclear\s+of\b", "pre"),
    Cue(r"\bnegative\s+for\b", "pre"),
    Cue(r"\babsen(?:ce|t)\s+of\b", "pre"),
    Cue(r"\brather\s+than\b", "pre", 4),
    Cue(r"\b(?:interval\s+|complete\s+|with\s+)?(?:resolution|disappearance|removal|clearing)\s+of\b", "pre"),
    Cue(r"\bresolved\b", "pre", 4),
    Cue(r"\bcleared\b", "pre", 4),
    Cue(r"\bhistory\s+of\b", "pre", 4),
    Cue(r"\b(?:to\s+)?(?:exclude|rule\s+out)\b", "pre", 4),
    # normal / unremarkable / within normal limits, either side ("normal heart size", "heart is normal")
    Cue(r"\b(?:normal|unremarkable)\b", "pre", 3),
    Cue(r"\b(?:(?:is|are|appears?|remains?|was|were)\s+)?(?:otherwise\s+|again\s+|now\s+|stably\s+)?"
        r"(?:top[-\s])?(?:normal|unremarkable)\b", "post", 5),
    Cue(r"\b(?:at\s+the\s+upper\s+limits?\s+of|within|upper\s+limits?\s+of)\s+normal(?:\s+limits)?\b", "post", 6),
    Cue(r"\bnot\s+(?!well\b|clearly\b)(?:\w+\s+)?(?:enlarged|widened|dilated|increased|seen|identified|present|evident|visuali[sz]ed|"
        r"demonstrated|appreciated|noted|detected|apparent|visible)\b", "post", 5),
    Cue(r"\bno\s+longer\s+(?:\w+\s+)?(?:seen|present|visuali[sz]ed|evident|identified|apparent|visible|noted|"
        r"appreciated|demonstrated|in\s+place)\b", "post", 5),
    Cue(r"\b(?:has|have|had)\s+(?:\w+\s+)?(?:resolved|cleared|disappeared)\b", "post", 6),
    Cue(r"\b(?:is|are|was|were)\s+(?:now\s+)?(?:resolved|absent|gone|cleared)\b", "post", 6),
    Cue(r"\bresolved\b", "post", 2),
    Cue(r"\b(?:has|have|had|was|were)\s+(?:\w+\s+)?(?:been\s+)?removed\b", "post", 6),
    Cue(r"\bremoved\b", "pre", 3),
    Cue(r"\bremoval\b", "post", 0),  # "chest tube removal"
    # "nonenlarged cardiomediastinal silhouette" (the word itself is no mention: left word boundary)
    Cue(r"\bnon-?(?:enlarged|dilated|widened|distended)\b", "pre", 2),
)  # fmt: skip

# Words that contain a cue but are not one: they remove the cues they overlap ("no change in the
# effusion" does not negate the effusion; "not completely resolved" is still present).
PSEUDO: Final[tuple[str, ...]] = (
    r"\bno\s+(?:significant\s+|substantial\s+|appreciable\s+|definite\s+|other\s+|interval\s+|major\s+|"
    r"gross\s+|further\s+)*(?:change|increase|decrease|progression|worsening|improvement|enlargement|"
    r"growth|shift)s?\b",
    r"\bnot\s+(?:significantly\s+|substantially\s+|much\s+)?(?:changed|increased|decreased|improved|worsened)\b",
    r"\bwithout\s+(?:significant\s+|substantial\s+|interval\s+)*(?:change|increase|progression|worsening)\b",
    r"\bnot\s+(?:completely|fully|entirely|totally)\s+(?:resolved|cleared|removed)\b",
    r"\b(?:partial(?:ly)?|partly|incomplete(?:ly)?|near(?:ly)?|almost|largely|mostly|slowly|not\s+yet)\s+"
    r"(?:complete\s+)?(?:resolved|resolution|cleared|clearing|resolving)\b",
    r"\bresolving\b",
    r"\bnot\s+only\b",
    r"\bgram[-\s]negative\b",
)  # fmt: skip

UNCERTAINTY: Final[tuple[Cue, ...]] = (
    Cue(r"\b(?:possib(?:le|ly)|probab(?:le|ly)|(?:most\s+|more\s+|less\s+)?likely|unlikely)\b", "pre"),
    Cue(r"\b(?:presum(?:ed|ably|ptive)|perhaps|maybe|potential(?:ly)?|questionabl[ey]|suspect(?:ed)?)\b", "pre"),
    Cue(r"\b(?:suspicio(?:us|n)|concern(?:ing)?|worrisome|question)\s+(?:for|of)\b", "pre"),
    Cue(r"\braises?\s+(?:the\s+)?(?:concern|question|possibility)\b", "pre"),
    Cue(r"\bsuggest(?:s|ive|ing|ion)?\b", "pre"),
    Cue(r"\b(?:consider(?:ed)?|favou?r(?:ed|s)?|borderline|equivocal|indeterminate|atypical\s+for)\b", "pre"),
    Cue(r"\bdifferential(?:\s+diagnosis)?(?:\s+(?:includes?|considerations?))?\b", "pre"),
    Cue(r"\b(?:difficult|hard|impossible)\s+to\s+(?:exclude|rule\s+out)\b", "pre"),
    Cue(r"\b(?:may|might|could|would|can\s+represent)\b", "pre"),
    Cue(r"\b(?:clinical(?:ly)?\s+)?correlat\w*\s+(?:clinically\s+)?(?:for|with)\b", "pre"),
    Cue(r"\bevaluate\s+for\b", "pre"),
    Cue(r"\b(?:is|are|remains?)?\s*(?:also\s+)?(?:in|within)\s+the\s+differential\b", "both", 6),
    Cue(r"\b(?:is|are|was|were)\s+(?:also\s+|less\s+|more\s+|not\s+)?(?:possible|suspected|questioned|likely|"
        r"unlikely|favou?red|considered|difficult\s+to\s+exclude|a\s+consideration|not\s+clearly\s+seen|"
        r"uncertain|equivocal|questionable)\b"
        # "cardiomegaly is likely accentuated by technique": the finding is stated, its cause hedged
        r"(?!\s+(?:accentuated|exaggerated|magnified|due|related|secondary|from|because|given|reflect\w*|"
        r"represent\w*|caused|chronic|unchanged|stable))", "post", 6),
    Cue(r"\b(?:may|might|could|can)\s+(?:also\s+)?(?:be\s+present|have\s+this\s+appearance|be\s+considered)\b",
        "post", 6),
    Cue(r"\b(?:poorly|incompletely|not\s+well)\s+(?:seen|visuali[sz]ed|evaluated|assessed)\b", "post", 6),
    Cue(r"\b(?:difficult|hard)\s+to\s+(?:exclude|assess|evaluate)\b", "post", 6),
    Cue(r"\?", "both", 2),
    Cue(r"\b(?:versus|vs\.?|and/or)(?=\s|$)", "both", 4, nearest=True),
    Cue(r"\bor\b", "both", 4, nearest=True),
)  # fmt: skip

# Clause ends: a cue's scope never crosses these (NegBio reads the same boundaries from the parse).
TERMINATORS: Final[tuple[str, ...]] = (
    r"\b(?:but|however|although|though|except|whereas|while|which|who|whose|otherwise|given|since|because)\b",
    r"\b(?:aside|apart)\s+from\b",
    r"\bother\s+than\b",
    r"\bstatus\s+post\b",
    r"\bs/p\b",
    r"\b(?:after|following)\b",
    r"[;:()]",
    # "with" opens a new finding ("no effusion with ...") unless it is part of "consistent with" etc.
    r"(?<!consistent\s)(?<!compatible\s)(?<!keeping\s)(?<!associated\s)\bwith\b(?!\s+(?:or|no)\b)",
    # "and" followed by a new clause or a new qualified finding ("no effusion and mild edema")
    r"\band\s+(?=(?:there|the|a|an|mild(?:ly)?|moderate(?:ly)?|severe|small|large|new|increased|increasing|"
    r"decreased|persistent|stable|unchanged|interval|slight(?:ly)?|minimal|trace|possible|probable|likely|"
    r"residual|patchy|focal|worsening|improving|enlarged|heart|cardiac|old|healed|chronic|"
    r"degenerative|multiple|no|is|are)\b)",
)  # fmt: skip
SIDES: Final[tuple[tuple[str, str], ...]] = (
    (r"\b(?:bilateral(?:ly)?|both|bibasilar|bibasal|left\s+and\s+right|right\s+and\s+left)\b", "bilateral"),
    (r"\bleft\b", "left"),
    (r"\bright\b", "right"),
)
