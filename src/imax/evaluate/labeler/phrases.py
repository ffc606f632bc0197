"""The labeler's data: one phrase table per CheXpert class (the scope engine's cue tables: cues.py).

Provenance. The mention / unmention phrases and the cue words follow the public CheXpert labeler
(Irvin et al. 2019, github.com/stanfordmlgroup/chexpert-labeler, commit 44ddeb3, MIT licence,
Copyright (c) 2018 Stanford Machine Learning Group): ``phrases/mention/*.txt``,
``phrases/unmention/*.txt``, ``patterns/negation.txt``, ``patterns/pre_negation_uncertainty.txt`` and
``patterns/post_negation_uncertainty.txt``. The CheXpert phrases are quoted in each class's comment
(``cx:``); the regexes here re-express them with a left word boundary (CheXpert matches substrings,
which made "nonenlarged" a mention) and add what CheXpert's dependency patterns express through the
parse (e.g. "heart size" needs a size word to be a Cardiomegaly mention). Additions beyond CheXpert's
lists are marked ``imax:`` with the reason. The NegBio/CheXpert dependency patterns themselves
(Semgrex) are not used: their intent is re-expressed as surface cues with a scope (see scope.py).

All regexes are matched on the lower-cased sentence. Mention regexes get a left boundary
``(?<![\\w-])`` from the engine; their right edge is as written (a stem such as ``atelecta\\w*`` is
open on purpose, like CheXpert's substring match).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

# The cue tables live in cues.py; re-exported so every labeler table is importable from here as before.
from imax.evaluate.labeler.cues import (
    NEGATION,
    PRE_NEGATION_UNCERTAINTY,
    PSEUDO,
    SIDES,
    TERMINATORS,
    UNCERTAINTY,
    Cue,
    Direction,
)

__all__ = [
    "CLASSES",
    "NEGATION",
    "OTHER_FINDINGS",
    "PRE_NEGATION_UNCERTAINTY",
    "PSEUDO",
    "SIDES",
    "TERMINATORS",
    "UNCERTAINTY",
    "ClassPhrases",
    "Cue",
    "Direction",
]


@dataclass(frozen=True)
class ClassPhrases:
    """Everything that decides whether a sentence mentions one class, in one place.

    ``mention``: phrases that name the observation; the scope engine then reads negation/uncertainty.
    ``unmention``: phrases that contain a mention but do not name the observation (the mention is
    dropped when it overlaps one), e.g. "pericardial effusion" for Pleural Effusion.
    ``context_exclude``: words that, within a few words of the mention, show it is about something else
    (a rib "density"), so the mention is dropped.
    ``uncertain``: mentions that are uncertain by construction unless negated (CheXpert reads
    "vascular congestion" as uncertain Edema).
    ``negative``: mentions that are negative by construction ("extubated": the tube is gone).
    ``anchor`` / ``state_*``: a generic anatomic phrase ("heart size", "cardiac silhouette") that is a
    mention only when its clause says something about size: ``state_positive`` (enlarged) makes it
    positive, ``state_stable`` (unchanged, stable; CheXpert's post-negation rule) uncertain; normal-size
    words are ordinary negation cues. An anchor without any state word is not a mention.
    """

    mention: tuple[str, ...] = ()
    unmention: tuple[str, ...] = ()
    context_exclude: str = ""
    uncertain: tuple[str, ...] = ()
    negative: tuple[str, ...] = ()
    anchor: tuple[str, ...] = ()
    state_positive: str = ""
    state_stable: str = ""
    exclude_in_sentence: bool = False
    """Search ``context_exclude`` in the whole sentence (else the mention's comma-bounded clause)."""


# Positional phrases that make a heart/mediastinum word a location, not an observation. CheXpert builds
# these ("over the heart", "in the left cardiac silhouette", ...) in Extractor.add_unmention_phrases.
_POSITIONAL = (
    r"(?:over(?:lying|lies|ly)?|projects?\s+over|projecting\s+over|in|into|within|behind|through|along|at|"
    r"obscur\w*|overlap\w*|tip\s+\w+)\s+the\s+(?:superior\s+|left\s+|right\s+|lower\s+|upper\s+)?"
)
_SIZE_UP = (
    r"(?<![\w-])(?:enlarg\w*|large|larger|increas\w*|prominen\w*|widen\w*|wide|dilat\w*|big|cardiomegaly|"
    r"globular|hypertroph\w*)"
)
_STABLE = (
    r"\bstable\b|unchang\w*|\bsimilar\b|no\s+(?:significant\s+|substantial\s+|appreciable\s+|interval\s+)*change|"
    r"not\s+(?:significantly\s+)?changed|without\s+(?:significant\s+|interval\s+)*change|\bremains?\b|"
    r"grossly\s+(?:stable|unchanged)"
)

# --- the 13 findings + Support Devices. Keys are CheXpert observation names. ---------------------------
CLASSES: Final[dict[str, ClassPhrases]] = {
    # cx: atelecta, collapse
    "Atelectasis": ClassPhrases(
        mention=(r"atelecta\w*", r"(?:lobar\s+|lobe\s+|lung\s+|segmental\s+|partial\s+)?collaps\w*"),
        # "collapse" of a vertebral body is a spine finding, not atelectasis.
        context_exclude=r"vertebr\w*|\bspine\b|spinal|compression|\bt\d{1,2}\b|\bl\d\b|body\s+height",
        exclude_in_sentence=True,
    ),
    # cx: cardiomegaly, the heart, heart size, cardiac enlargement, cardiac size, cardiac shadow,
    #     cardiac contour, cardiac silhouette, enlarged heart (+ positional unmentions)
    "Cardiomegaly": ClassPhrases(
        mention=(
            r"cardiomegaly",
            r"cardiac\s+enlargement",
            r"enlarg\w*\s+(?:of\s+the\s+)?(?:heart|cardiac\s+(?:silhouette|size|shadow|contour))",
            r"enlarged\s+heart",
        ),
        anchor=(
            r"(?:the\s+)?heart(?:\s+size)?",
            r"cardiac\s+(?:size|shadow|contours?|silhouette)",
            r"cardiac\s+and\s+mediastinal\s+(?:contours?|silhouettes?)",
        ),
        unmention=(
            _POSITIONAL + r"(?:heart|cardiac\s+(?:size|shadow|contours?|silhouette))",
            r"heart\s+failure",
            r"heart\s+(?:valve|border)s?",
            r"(?:left|right)\s+heart\s+border",
        ),
        state_positive=_SIZE_UP,
        state_stable=_STABLE + r"|\bborderline\b",
    ),
    # cx: consolidat
    "Consolidation": ClassPhrases(mention=(r"consolidat\w*",)),
    # cx: edema, heart failure, chf, vascular congestion, pulmonary congestion, indistinctness,
    #     vascular prominence; post-negation rule: the four vascular phrases are uncertain.
    "Edema": ClassPhrases(
        mention=(r"edema\w*", r"(?:congestive\s+)?heart\s+failure", r"chf\b", r"fluid\s+overload"),
        uncertain=(
            r"(?:pulmonary\s+)?(?:vascular|venous)\s+(?:congestion|engorgement)",
            r"pulmonary\s+congestion",
            r"(?:central\s+|pulmonary\s+|hilar\s+)?vascular\s+(?:prominence|indistinctness)",
            # imax: pulmonary venous hypertension is the congestion stage before interstitial edema;
            # read like CheXpert's "vascular congestion" (uncertain Edema).
            r"(?:pulmonary\s+)?venous\s+hypertension",
            r"(?:vascular\s+)?indistinctness\s+of\s+the\s+(?:pulmonary\s+)?vessels",
            r"indistinct\s+(?:pulmonary\s+)?vessels",
        ),
        # Not pulmonary: soft-tissue / chest-wall / extremity edema.
        unmention=(
            r"(?:subcutaneous|soft[-\s]tissue|chest\s+wall|scalp|facial|peripheral|anasarca)\s+edema",
        ),
    ),
    # cx: _mediastinum, cardiomediastinum, contour, mediastinal configuration, mediastinal silhouette,
    #     pericardial silhouette, cardiac silhouette and vascularity (+ positional unmentions)
    "Enlarged Cardiomediastinum": ClassPhrases(
        mention=(
            r"(?:enlarged|widened|widening\s+of\s+the)\s+(?:superior\s+)?(?:cardio)?mediastin\w*",
            r"(?:superior\s+)?mediastinal\s+(?:widening|enlargement)",
            r"prominen\w*\s+of\s+the\s+(?:superior\s+)?mediastin\w*",
            # imax: a prominent right paratracheal stripe is widening of the superior mediastinum.
            r"(?:right\s+)?paratracheal\s+(?:prominence|widening|fullness|stripe\s+(?:widening|thickening))",
        ),
        anchor=(
            r"(?:superior\s+)?mediastinum",
            r"cardiomediastinum",
            r"(?:cardio)?mediastinal\s+(?:and\s+hilar\s+)?(?:silhouette|contours?|configuration|width|shadow)s?",
            r"pericardial\s+silhouette",
            r"cardiac\s+silhouette\s+and\s+vascularity",
        ),
        unmention=(
            _POSITIONAL + r"(?:superior\s+)?(?:cardio)?mediastin\w*",
            r"pneumomediastinum",
        ),
        state_positive=_SIZE_UP + r"|fullness",
        state_stable=_STABLE + r"|\bborderline\b",
    ),
    # cx: fracture
    "Fracture": ClassPhrases(mention=(r"fractur\w*", r"fx\b")),
    # cx: mass, nodular density/densities/opacity/opacities/opacification, nodule, lump, cavitary lesion,
    #     carcinoma, neoplasm, tumor; unmention: calcified nodul, massive, massengale
    "Lung Lesion": ClassPhrases(
        mention=(
            r"mass(?:es)?\b",
            r"nodular\s+(?:densit(?:y|ies)|opacit(?:y|ies)|opacification)",
            r"(?:micro)?nodules?\b",
            r"lump\w*",
            r"cavitary\s+lesions?",
            # imax: "lung/pulmonary lesion" and lung metastases name a lung lesion outright.
            r"(?:lung|pulmonary|parenchymal|spiculated)\s+lesions?",
            r"(?:pulmonary|lung)\s+metasta\w*",
            r"carcinoma\w*",
            r"neoplasm\w*",
            r"tumou?r\w*",
        ),
        unmention=(
            r"calcified\s+(?:\w+\s+)?nodul\w*",
            r"massive",
            r"massengale",
            r"mass\s+effect",
            r"(?:soft\s+tissue|body)\s+mass",
        ),
        # A nodular shadow explained by a nipple or a bone is not a lung lesion.
        context_exclude=r"nipple|\bribs?\b|osseous|\bbone|bony|costochondral|breast",
    ),
    # cx: opaci, decreased translucency, increased density, airspace disease (3 spellings), infiltrate,
    #     infiltration, interstitial marking, interstitial pattern, interstitial lung, reticular pattern,
    #     reticular marking, reticulation, parenchymal scarring, peribronchial thickening, wall thickening,
    #     scar; unmention: pleural scar
    "Lung Opacity": ClassPhrases(
        mention=(
            r"opaci\w*",
            r"decreased\s+translucency",
            r"increased\s+densit(?:y|ies)",
            r"air[-\s]?space\s+(?:disease|process)",
            r"infiltrat\w*",
            r"interstitial\s+(?:markings?|pattern|lung|abnormalit\w*|prominence|opacit\w*)",
            r"reticular\s+(?:pattern|markings?)",
            r"reticulation",
            r"reticulonodular",
            r"parenchymal\s+scarring",
            r"peribronchial\s+(?:thickening|cuffing)",
            r"(?:bronchial\s+)?wall\s+thickening",
            r"scar\w*",
            # imax: CheXpert has no bare "density" (it only blocks No Finding); a density placed in the
            # lung or described as airspace is a lung opacity, one on a rib or a hernia is not.
            r"(?:retrocardiac|basilar|bibasilar|basal|perihilar|parenchymal|air[-\s]?space|patchy|hazy|"
            r"streaky|linear|confluent|ill[-\s]defined|alveolar|pulmonary|lung|lobar|focal|new|"
            r"(?:upper|lower|middle)\s+lobe)\s+(?:\w+\s+)?densit(?:y|ies)",
            r"densit(?:y|ies)\s+(?:\w+\s+){0,2}(?:in|at|within|involving)\s+(?:the\s+)?(?:\w+\s+){0,3}"
            r"(?:lungs?|lobes?|bases?|apex|apices|lingula|hil(?:um|a)|retrocardiac|perihilar)\b",
            r"ground[-\s]glass",
            r"haziness",
        ),
        unmention=(r"pleural\s+(?:\w+\s+)?scar\w*", r"pleur(?:o|al)-?(?:parenchymal|pericardial)\s+scar\w*"),
        context_exclude=(
            r"\bribs?\b|osseous|\bbone|bony|nipple|breast|soft[-\s]tissue|hernia|sclero\w*|vertebr\w*|"
            r"\bspine\b|costochondral|cartilage|artifact|clavic\w*|calcified\s+granuloma|granuloma|"
            r"(?:skin|surgical|sternotomy)\s+\w*\s*scar|skin\s+fold"
        ),
    ),
    # cx: pleural fluid, effusion; unmention: pericardial effusion
    "Pleural Effusion": ClassPhrases(
        mention=(
            r"pleural\s+fluid",
            r"effusions?\b",
            r"hydrothora\w*",
            r"hemothora\w*",
            r"fluid\s+in\s+the\s+fissure",
        ),
        unmention=(r"pericardial\s+effusions?", r"(?:joint|knee|shoulder|pericardial)\s+effusions?"),
        # imax: CheXpert reads blunting only as a No-Finding blocker; blunting may be fluid or
        # thickening, so it is an uncertain effusion here.
        uncertain=(
            r"blunt\w*\s+(?:of\s+)?(?:the\s+)?(?:\w+\s+){0,2}costophrenic\s+(?:angles?|sulc\w*|recess\w*)",
            r"costophrenic\s+(?:angle|sulcus)\s+blunting",
        ),
    ),
    # cx: pleural thickening, fibrosis, fibrothorax, pleural scar, pleural parenchymal scar,
    #     pleuro-parenchymal scar, pleuro-pericardial scar
    "Pleural Other": ClassPhrases(
        mention=(
            r"pleural\s+(?:\w+\s+)?thickening",
            r"fibrosis",
            r"fibrothorax",
            r"pleural\s+(?:\w+\s+)?scar\w*",
            r"pleur(?:o|al)-?(?:parenchymal|pericardial)\s+scar\w*",
            # imax: pleural plaques and apical caps are pleural abnormalities other than effusion.
            r"(?:calcified\s+)?pleural\s+plaques?",
            r"apical\s+(?:pleural\s+)?caps?",
        ),
    ),
    # cx: pneumonia, infection, infectious process, infectious
    "Pneumonia": ClassPhrases(
        mention=(r"(?:broncho)?pneumoni\w*", r"infecti\w*"),
        unmention=(r"(?:urinary|uti|skin|wound|line|catheter|abdominal|c\.?\s*diff)\s+infection",),
    ),
    # cx: pneumothorax, pneumothoraces
    "Pneumothorax": ClassPhrases(
        mention=(r"(?:hydro)?pneumothora(?:x|ces)\b", r"ptx\b"),
    ),
    # cx: pacer, _line_, lines, picc, tube, valve, catheter, pacemaker, hardware, arthroplast, marker, icd,
    #     defib, device, drain_, plate, screw, cannula, apparatus, coil, support, equipment, mediport
    # Not in CheXpert's list and so not a device here: "sternotomy" and sternotomy/sternal wires (the
    # issue-17 defect "sternotomy alone -> device" is fixed by following the list; wires are not listed).
    "Support Devices": ClassPhrases(
        mention=(
            r"pacers?\b",
            r"(?:pacing|ecg|ekg|monitoring|epicardial)\s+(?:wires?|leads?)",
            r"leads?\b(?!\s+to\b)",
            r"lines?\b",
            r"picc\w*",
            r"(?:feeding\s+)?tubes?\b",
            r"(?:prosthetic|mechanical|bioprosthetic|replacement)\s+(?:\w+\s+)?valves?",
            r"valves?\b",
            r"catheters?",
            r"pacemakers?",
            r"hardware",
            r"arthroplast\w*",
            r"markers?\b",
            r"a?icd\b",
            r"defib\w*",
            r"devices?\b",
            r"drains?\b",
            r"plates?\b(?!-?like)",
            r"screws?\b",
            r"cannula\w*",
            r"apparatus",
            r"coils?\b",
            r"equipment",
            r"mediport\w*",
            # imax (issue 17): bare clips, ports, stimulators are devices.
            r"(?:surgical\s+)?clips?\b",
            r"port(?:-?a-?cath)?s?\b",
            r"stimulators?",
            r"intubat\w*",  # an intubated patient has an endotracheal tube
            r"stents?\b",
            r"(?:introducer\s+)?sheaths?\b",
            r"(?:balloon\s+pump|iabp|lvad|impella)\b",
            r"swan[-\s]ganz",
            r"(?:et|ng|og|dobhoff)\b(?=\s+(?:tube|tip|in|terminat|is|ends))",
        ),
        unmention=(
            r"(?:kerley\s+(?:b\s+)?|septal\s+|pleural\s+|fissur\w*\s+|azygo\w*\s+|paraspinal\s+|skin\s+fold\s+|"
            r"junction\s+|(?:visceral\s+)?pleural\s+)lines?",
            r"(?:air|tubular|linear)\s+lucenc\w*",
            r"(?:aortic|mitral|tricuspid|pulmonic)\s+valve\s+(?:calcif\w*|annul\w*|sclerosis|stenosis|disease|"
            r"regurgitation|area)",
            r"(?:calcified|calcification\s+of\s+the)\s+(?:aortic|mitral)\s+(?:valve|annulus)",
            # imax: nipple/skin markers are positioning aids, not support devices
            r"(?:nipple|skin)\s+markers?",
        ),
        negative=(
            r"extubat\w*",
            r"decannulat\w*",
            r"interval\s+removal\s+of\s+(?:all\s+)?(?:lines|tubes|support\s+devices)",
        ),
    ),
}

# CheXpert's phrases/mention/no_finding.txt: other findings whose positive or uncertain mention means the
# report is not "No Finding". imax: "tracheostomy" and "defib" are dropped (devices never block No
# Finding), "density" is kept.
OTHER_FINDINGS: Final[tuple[str, ...]] = (
    r"emphysema", r"blunt\w*", r"densit(?:y|ies)", r"elevat\w*", r"eventration", r"scoliosis", r"degenera\w*",
    r"calcifi\w*", r"hyperinflat\w*", r"bronchospasm", r"asthma", r"hernia\w*", r"copd", r"plaques?",
    r"osteophyt\w*", r"aortic\s+disease", r"bronchiolitis", r"airways?\s+disease", r"thickening",
    r"cephalization", r"aspiration", r"bullae", r"bulla\b", r"contusion", r"atherosclero\w*", r"osteopenia",
    r"metasta\w*", r"granuloma\w*", r"pneumomediastinum", r"pneumoperitoneum", r"osteodystrophy", r"cuffing",
    r"irregular\s+lucency", r"inflam\w*", r"fissure", r"hypertension", r"prominen\w*", r"kyphosis",
    r"hyperexpan\w*", r"bullet", r"reticula\w*", r"thoracentesis", r"bronchitis", r"volume\s+loss",
    r"deformity", r"hemorrhage", r"hematoma", r"radiopaque", r"aerophagia", r"arthropathy",
    # imax: a pericardial effusion is a finding (CheXpert only unmentions it from Pleural Effusion)
    r"pericardial\s+effusions?",
)  # fmt: skip
