"""MIMIC-style free-text reports written from the study truth, with the mentions they carry.

Each sentence is drawn from a small paraphrase pool and records the labels it expresses
(``1.0`` positive, ``0.0`` negated, ``-1.0`` uncertain), so the report labeller in :mod:`labels` reads
exactly what the text says. Small findings are sometimes left unmentioned or hedged — the realistic
source of blank and uncertain labels. Layout (reports.md, source-formats.md §1.6): every line starts with
one space, lines <= 79 characters, upper-case headers followed by ``:``, PHI as ``___``.
"""

from __future__ import annotations

import textwrap
from dataclasses import dataclass, field

import numpy as np

from imax.phantom.cohort import Findings, Study

SEV = {1: ("small", "trace", "small"), 2: ("moderate", "moderate", "moderate-sized"), 3: ("large", "large", "large")}
MILD = {1: ("mild", "minimal"), 2: ("moderate", "moderate"), 3: ("severe", "marked")}
EDEMA_TEXT = {
    1: ("mild pulmonary vascular congestion", "pulmonary vascular congestion", "mild vascular engorgement"),
    2: ("mild interstitial pulmonary edema", "interstitial edema", "mild pulmonary edema"),
    3: ("alveolar pulmonary edema", "severe pulmonary edema", "moderate to severe alveolar edema"),
}
EDEMA_WORDS = {1: "vascular congestion", 2: "interstitial edema", 3: "alveolar edema"}
"""The keyword the regex labeller keys on for each grade (most severe wins)."""

Mention = tuple[str, float]


@dataclass
class Report:
    text: str
    findings: list[Mention] = field(default_factory=list)
    """Mentions in the FINDINGS section (empty when the report has none)."""
    impression: list[Mention] = field(default_factory=list)
    edema_grade: int | None = None
    """Edema grade the text states (None: not mentioned)."""
    has_findings: bool = True
    addendum: bool = False


def _pick(r: np.random.Generator, options: tuple[str, ...] | list[str]) -> str:
    return str(options[int(r.integers(0, len(options)))])


def _lat(side: str) -> str:
    return {"left": "left", "right": "right", "bilateral": "bilateral"}[side]


def _positive_sentences(f: Findings, r: np.random.Generator, prior: Findings | None) -> list[tuple[str, list[Mention], bool]]:
    """(sentence, mentions, key) for each present finding; ``key`` = belongs in the impression."""
    out: list[tuple[str, list[Mention], bool]] = []

    def hedge(p: float) -> bool:
        return bool(r.random() < p)

    def change(attr_present: bool) -> str:
        if prior is None:
            return ""
        return _pick(r, ("unchanged ", "stable ", "")) if attr_present else _pick(r, ("new ", "new ", ""))

    if f.cardiomegaly:
        sev = 1 if f.heart_ratio < 0.57 else (2 if f.heart_ratio < 0.63 else 3)
        if hedge(0.1):
            out.append((_pick(r, ("The heart size is top normal to mildly enlarged.",
                                  "Borderline cardiomegaly is possible.")), [("Cardiomegaly", -1.0)], True))
        else:
            w = MILD[sev][0]
            out.append((_pick(r, (f"{w.capitalize()} cardiomegaly.", f"The heart is {w}ly enlarged.",
                                  f"{w.capitalize()} enlargement of the cardiac silhouette.")),
                        [("Cardiomegaly", 1.0)], True))
    if f.enlarged_cm:
        out.append((_pick(r, ("The mediastinum is widened.", "Widening of the superior mediastinum.",
                              "Enlarged cardiomediastinal silhouette.")), [("Enlarged Cardiomediastinum", 1.0)], True))
    eff = [(s, v) for s, v in (("right", f.effusion_right), ("left", f.effusion_left)) if v]
    if eff:
        hedged = all(v == 1 for _, v in eff) and hedge(0.25)
        if len(eff) == 2:
            sev = SEV[max(v for _, v in eff)][0]
            txt = _pick(r, (f"{sev.capitalize()} bilateral pleural effusions.", f"Bilateral {sev} pleural effusions.",
                            f"There are {sev} bilateral pleural effusions."))
        else:
            side, v = eff[0]
            sev = _pick(r, SEV[v])
            txt = _pick(r, (f"{change(prior is not None and prior.effusion).capitalize()}{sev} {side} pleural effusion.",
                            f"There is a {sev} {side} pleural effusion.",
                            f"{sev.capitalize()} {side} effusion with blunting of the costophrenic angle."))
        if hedged:
            txt = _pick(r, ("Possible small pleural effusion.", "Blunting of the costophrenic angle may reflect a "
                            "small effusion."))
        out.append((_cap(" ".join(txt.split())),
                    [("Pleural Effusion", -1.0 if hedged else 1.0)], True))
    if f.edema_grade:
        t = _pick(r, EDEMA_TEXT[f.edema_grade])
        lab = [("Edema", 1.0)] if f.edema_grade >= 2 else []
        out.append((_pick(r, (f"There is {t}.", f"{t.capitalize()}.", f"Findings consistent with {t}.")), lab, True))
    if f.pneumothorax_side:
        sev = SEV[f.pneumothorax_size][0]
        where = _pick(r, ("apical ", "", "apicolateral "))
        out.append((_pick(r, (f"{sev.capitalize()} {f.pneumothorax_side} {where}pneumothorax.",
                              f"There is a {sev} {f.pneumothorax_side} {where}pneumothorax.")),
                    [("Pneumothorax", 1.0)], True))
    if f.consolidation_side:
        z = f.consolidation_zone
        loc = f"{f.consolidation_side} {'lung base' if z == 'lower' else z + ' lobe' if z != 'middle' else 'mid lung'}"
        if f.pneumonia:
            if hedge(0.35):
                txt, lab = (_pick(r, (f"Opacity in the {loc}, cannot exclude pneumonia.",
                                      f"Consolidation in the {loc} may represent pneumonia.")),
                            [("Consolidation", 1.0), ("Lung Opacity", 1.0), ("Pneumonia", -1.0)])
            else:
                txt, lab = (_pick(r, (f"Consolidation in the {loc} consistent with pneumonia.",
                                      f"{loc.capitalize()} pneumonia.")),
                            [("Consolidation", 1.0), ("Pneumonia", 1.0), ("Lung Opacity", 1.0)])
        else:
            txt, lab = (_pick(r, (f"Focal consolidation in the {loc}.", f"Airspace consolidation at the {loc}.")),
                        [("Consolidation", 1.0), ("Lung Opacity", 1.0)])
        out.append((txt, lab, True))
    if f.atelectasis_side:
        where = "bibasilar" if f.atelectasis_side == "bilateral" else f"{f.atelectasis_side} basilar"
        if hedge(0.2):
            out.append((f"{where.capitalize()} opacities likely reflect atelectasis.", [("Atelectasis", -1.0),
                                                                                       ("Lung Opacity", 1.0)], True))
        else:
            base = "both lung bases" if f.atelectasis_side == "bilateral" else f"the {f.atelectasis_side} lung base"
            out.append((_pick(r, (f"{_cap(where)} atelectasis.", f"Plate-like atelectasis at {base}.",
                                  f"Linear {where} atelectasis.")), [("Atelectasis", 1.0)], True))
    if f.infiltration_side:
        out.append((f"Patchy infiltrate in the {f.infiltration_side} mid lung.", [("Infiltration", 1.0),
                                                                                 ("Lung Opacity", 1.0)], True))
    if f.nodule_side:
        out.append((_pick(r, (f"A {f.nodule_mm / 10:.1f} cm nodule projects over the {f.nodule_side} {f.nodule_zone} lung.",
                              f"{f.nodule_side.capitalize()} {f.nodule_zone} lung nodule measuring "
                              f"{round(f.nodule_mm)} mm.")), [("Nodule", 1.0), ("Lung Lesion", 1.0)], True))
    if f.mass_side:
        out.append((f"{f.mass_mm / 10:.1f} cm mass in the {f.mass_side} {f.mass_zone} lung zone.",
                    [("Mass", 1.0), ("Lung Lesion", 1.0)], True))
    if f.fracture_side:
        out.append((_pick(r, (f"Fracture of the {f.fracture_side} {_ordinal(f.fracture_rib)} posterior rib.",
                              f"Displaced {f.fracture_side} {_ordinal(f.fracture_rib)} rib fracture.")),
                    [("Fracture", 1.0)], True))
    if f.emphysema:
        out.append(("The lungs are hyperinflated with flattening of the diaphragms, consistent with emphysema.",
                    [("Emphysema", 1.0)], False))
    if f.fibrosis:
        out.append(("Reticular opacities at the lung bases compatible with pulmonary fibrosis.",
                    [("Fibrosis", 1.0), ("Lung Opacity", 1.0)], False))
    if f.pleural_thickening_side:
        out.append((f"{f.pleural_thickening_side.capitalize()} apical pleural thickening.",
                    [("Pleural Thickening", 1.0), ("Pleural Other", 1.0)], False))
    if f.aortic_calcification:
        out.append(("Calcification of the aortic knob.", [("Calcification of the Aorta", 1.0)], False))
    if f.tortuous_aorta:
        out.append(("The thoracic aorta is tortuous.", [("Tortuous Aorta", 1.0)], False))
    if f.hernia:
        out.append(("Retrocardiac opacity consistent with a hiatal hernia.", [("Hernia", 1.0)], False))
    if f.pneumomediastinum:
        out.append(("Lucency along the mediastinal contours consistent with pneumomediastinum.",
                    [("Pneumomediastinum", 1.0)], True))
    if f.pneumoperitoneum:
        out.append(("Free air beneath the right hemidiaphragm, concerning for pneumoperitoneum.",
                    [("Pneumoperitoneum", 1.0)], True))
    if f.subcutaneous_emphysema_side:
        out.append((f"Subcutaneous emphysema along the {f.subcutaneous_emphysema_side} chest wall.",
                    [("Subcutaneous Emphysema", 1.0)], True))
    dev = []
    if f.ett:
        dev.append(_pick(r, ("endotracheal tube terminates about 4 cm above the carina",
                             "ET tube in standard position")))
    if f.ngt:
        dev.append(_pick(r, ("nasogastric tube courses below the diaphragm", "enteric tube tip in the stomach")))
    if f.cvc:
        dev.append(_pick(r, ("right internal jugular line ends in the SVC", "right-sided central venous catheter "
                             "tip in the mid SVC")))
    if f.pacemaker:
        dev.append("left-sided pacemaker with leads in the right atrium and ventricle")
    if f.sternotomy:
        dev.append("median sternotomy wires are intact")
    if dev:
        out.append((_cap("; ".join(dev)) + ".", [("Support Devices", 1.0)], len(dev) > 0 and r.random() < 0.6))
    return out


def _cap(text: str) -> str:
    """Upper-case the first letter only (``str.capitalize`` would turn "ET tube" into "Et tube")."""
    return text[:1].upper() + text[1:]


def _ordinal(k: int) -> str:
    return {1: "first", 2: "second", 3: "third", 4: "fourth", 5: "fifth", 6: "sixth", 7: "seventh", 8: "eighth",
            9: "ninth", 10: "tenth"}[k]


def _negatives(f: Findings, r: np.random.Generator) -> list[tuple[str, list[Mention]]]:
    neg: list[tuple[str, list[Mention]]] = []
    if not f.consolidation_side and not f.lung_opacity:
        neg.append((_pick(r, ("The lungs are clear.", "No focal consolidation.", "Lungs are well expanded and clear.")),
                    [("Consolidation", 0.0)]))
    if not f.effusion and not f.pneumothorax_side:
        neg.append((_pick(r, ("No pleural effusion or pneumothorax.", "There is no pleural effusion or pneumothorax.",
                              "No effusion or pneumothorax is seen.")), [("Pleural Effusion", 0.0),
                                                                         ("Pneumothorax", 0.0)]))
    elif not f.pneumothorax_side:
        neg.append(("No pneumothorax.", [("Pneumothorax", 0.0)]))
    elif not f.effusion:
        neg.append(("No pleural effusion.", [("Pleural Effusion", 0.0)]))
    if not f.cardiomegaly and not f.enlarged_cm:
        neg.append((_pick(r, ("Heart size is normal.", "The cardiomediastinal silhouette is normal.",
                              "Normal heart size.")), [("Cardiomegaly", 0.0)]))
    if f.edema_grade == 0 and r.random() < 0.5:
        neg.append((_pick(r, ("No pulmonary edema.", "There is no evidence of pulmonary edema.")), [("Edema", 0.0)]))
    if not f.fracture_side and r.random() < 0.2:
        neg.append(("No acute osseous abnormality.", [("Fracture", 0.0)]))
    return neg


def _wrap(text: str) -> list[str]:
    return textwrap.wrap(text, width=77, break_on_hyphens=False) or [""]


def write_report(study: Study, prior: Study | None, r: np.random.Generator, with_findings: bool,
                 addendum: bool, sex: str, age: int) -> Report:
    """The report of ``study`` (``prior``: the patient's previous study, for comparison language)."""
    f = study.findings
    views = [im.view for im in study.images]
    exam = "CHEST (PORTABLE AP)" if "AP" in views else ("CHEST (PA AND LAT)" if len(views) > 1 else "CHEST (PA)")
    technique = {"CHEST (PORTABLE AP)": "Portable AP chest radiograph.", "CHEST (PA AND LAT)": "Chest PA and lateral",
                 "CHEST (PA)": "Single frontal view of the chest."}[exam]
    indication = _pick(r, (
        f"___ year old {'woman' if sex == 'F' else 'man'} with shortness of breath.  // eval for pneumonia",
        f"___{sex} with chest pain  // r/o acute process",
        "History: ___ with dyspnea and cough",
        f"___ year old {'female' if sex == 'F' else 'male'} with fever, evaluate for infiltrate",
        "___ with CHF, evaluate for fluid overload" if study.chf else "___ s/p fall, evaluate for fracture",
    ))
    comparison = "None." if prior is None else _pick(r, ("___", "Chest radiograph from ___.", "Prior study of ___."))
    pos = _positive_sentences(f, r, prior.findings if prior else None)
    negs = _negatives(f, r)
    rep = Report(text="", has_findings=with_findings, addendum=addendum)
    rep.edema_grade = f.edema_grade if f.edema_grade else None
    body: list[str] = []
    if with_findings:
        sents = [(s, m) for s, m, _ in pos] + negs
        order = r.permutation(len(sents))
        body_sents = []
        for i in order:
            s, mm = sents[int(i)]
            body_sents.append(s)
            rep.findings.extend(mm)
        if any(m[0] == "Edema" and m[1] == 0.0 for m in rep.findings) and rep.edema_grade is None:
            rep.edema_grade = 0
        body = _wrap("  ".join(body_sents))
    key = [(s, m) for s, m, k in pos if k]
    if key:
        imp_sents = [s for s, _ in key]
        for _, m in key:
            rep.impression.extend(m)
        if not f.pneumothorax_side and r.random() < 0.4:
            imp_sents.append("No pneumothorax.")
            rep.impression.append(("Pneumothorax", 0.0))
    else:
        imp_sents = [_pick(r, ("No acute cardiopulmonary process.", "No acute intrathoracic abnormality.",
                               "Normal chest radiograph." if not f.support_devices else "No acute cardiopulmonary "
                               "process."))]
        rep.impression.append(("No Finding", 1.0))
        for s, m, _ in pos:  # non-key positives (chronic) still noted in passing
            imp_sents.append(s)
            rep.impression.extend(m)
        if rep.impression and any(v == 1.0 and k not in ("No Finding", "Support Devices") for k, v in rep.impression):
            rep.impression = [mm for mm in rep.impression if mm[0] != "No Finding"]
    lines = ["                                 FINAL REPORT"]
    lines += [f"EXAMINATION:  {exam}", "", f"INDICATION:  {indication}", "", f"TECHNIQUE:  {technique}", "",
              f"COMPARISON:  {comparison}", ""]
    if with_findings:
        lines += ["FINDINGS: ", "", *body, ""]
    lines += ["IMPRESSION: ", "", *_wrap("  ".join(imp_sents))]
    if addendum:
        add = ["                                 FINAL ADDENDUM", "ADDENDUM:", "",
               *_wrap(_pick(r, ("Findings were discussed with Dr. ___ by telephone at ___.",
                                "The impression was communicated to the referring team on ___."))),
               "", "_" * 78, ""]
        lines = add + lines
    # One leading space per line (the section parser keys on "\n HEADER:"); the banner keeps its own.
    wrapped = [w for ln in lines for w in ([ln] if len(ln) <= 78 else _wrap(ln))]
    rep.text = "\n".join(ln if ln.startswith("        ") else " " + ln for ln in wrapped) + "\n"
    return rep
