"""Free-text image descriptions: a caption kind of its own, written from the truth of one frontal image.

The tiny base's language model and projector are pretrained on these (``imax.train.pretrain``), the way
a LLaVA base is aligned on web image–caption pairs before it ever sees an instruction. They are therefore
deliberately *not* any of the seven tasks' data: no report sections (``FINDINGS:``/``IMPRESSION:``), no
report sentences (:mod:`imax.phantom.reports` has its own pools, none shared), no questions, no numbers
in an answer format (no ratio, no coordinates, no grade, no label list), never a task token. They are
plain prose that a reader of the image could write: projection and positioning, heart size in words,
what is seen where, devices. ``descriptions.csv`` (``dicom_id, description``) holds one per frontal image.
"""

from __future__ import annotations

import numpy as np

from imax.phantom.cohort import ImageSpec

ORDINAL = {1: "first", 2: "second", 3: "third", 4: "fourth", 5: "fifth", 6: "sixth", 7: "seventh", 8: "eighth",
           9: "ninth", 10: "tenth"}
AMOUNT = {1: ("a little", "a thin layer of", "a small amount of"), 2: ("a moderate amount of", "a fair amount of"),
          3: ("a large amount of", "a great deal of")}


def _pick(r: np.random.Generator, options: tuple[str, ...]) -> str:
    return str(options[int(r.integers(0, len(options)))])


def _side(side: str) -> str:
    return {"left": "left", "right": "right", "bilateral": "both"}[side]


def _heart_words(ctr: float | None, ap: bool, r: np.random.Generator) -> str:
    if ctr is None:
        return _pick(r, ("The cardiac outline is hard to assess.",))
    if ctr < 0.45:
        size = _pick(r, ("a normal-sized heart", "a heart of normal size", "a slim cardiac outline"))
    elif ctr < 0.5:
        size = _pick(r, ("a heart at the upper end of normal size", "a heart that is borderline in size"))
    elif ctr < 0.56:
        size = _pick(r, ("a slightly large heart (mild cardiomegaly)", "a mildly widened cardiac outline"))
    elif ctr < 0.62:
        size = _pick(r, ("a clearly enlarged heart (cardiomegaly)", "a heart that is moderately large"))
    else:
        size = _pick(r, ("a very large heart (marked cardiomegaly)", "a greatly enlarged cardiac outline"))
    tail = " (the bedside projection makes it look bigger)" if ap and ctr >= 0.5 and r.random() < 0.5 else ""
    return _pick(r, ("The picture shows {}{}.", "There is {}{}.", "One sees {}{}.")).format(size, tail)


def _pose_words(g: dict[str, float], r: np.random.Generator) -> list[str]:
    out = []
    rot = float(g.get("rot", 0.0))
    if abs(rot) > 3.5:
        way = "clockwise" if rot > 0 else "counter-clockwise"
        out.append(_pick(r, (f"The chest is tilted {way} on the film.", f"The patient is turned a little {way}.")))
    scale = float(g.get("scale", 1.0))
    if scale > 1.08:
        out.append(_pick(r, ("The chest fills most of the frame.", "A tight field that crops close to the ribs.")))
    elif scale < 0.93:
        out.append(_pick(r, ("A wide field with plenty of room around the chest.", "The chest looks small in a wide frame.")))
    tx, ty = float(g.get("tx", 0.0)), float(g.get("ty", 0.0))
    if abs(tx) > 0.04:
        out.append(f"The chest sits toward the {'right' if tx > 0 else 'left'} edge of the frame.")
    if abs(ty) > 0.04:
        out.append(f"The chest sits {'low' if ty > 0 else 'high'} in the frame.")
    if any(float(g.get(k, 0.0)) > 0 for k in ("col_l", "col_r", "col_t", "col_b")):
        out.append(_pick(r, ("Collimation leaves a bright unexposed band at the edge.",
                             "A collimator edge is visible.")))
    return out


def describe(spec: ImageSpec, ctr: float | None, r: np.random.Generator) -> str:
    """One free-text description of the frontal image ``spec`` (``ctr`` as measured on its masks)."""
    f, g = spec.findings, spec.geometry
    ap = spec.view == "AP"
    who = "woman" if spec.sex == "F" else "man"
    decade = f"in {'her' if spec.sex == 'F' else 'his'} {spec.age // 10 * 10}s"
    first = _pick(r, (
        f"{'Bedside AP' if ap else 'Upright PA'} picture of the chest of a {who} {decade}.",
        f"A {'portable front-to-back' if ap else 'standing back-to-front'} chest film of a {who}.",
        f"Frontal chest picture, {'taken at the bedside' if ap else 'taken standing'}, of a {who}.",
    ))
    parts = [first, *_pose_words(g, r), _heart_words(ctr, ap, r)]
    seen: list[str] = []
    for side in ("right", "left"):
        sev = f.effusion_right if side == "right" else f.effusion_left
        if sev:
            seen.append(f"{_pick(r, AMOUNT[sev]).capitalize()} fluid lies at the {side} base with a curved upper edge"
                        + _pick(r, (f", a {side} pleural effusion.", ", blunting the costophrenic angle.", ".")))
    if f.pneumothorax_side:
        big = {1: "narrow", 2: "wide", 3: "very wide"}[f.pneumothorax_size]
        seen.append(f"A {big} black rim without lung markings runs along the {f.pneumothorax_side} apex and side"
                    + _pick(r, (": a pneumothorax.", ", the pleural line of a pneumothorax.", ".")))
    if f.consolidation_side:
        zone = {"upper": "top", "middle": "middle", "lower": "bottom"}[f.consolidation_zone]
        seen.append(f"A fluffy white patch fills the {zone} part of the {f.consolidation_side} lung"
                    + (" (airspace consolidation" + (", perhaps pneumonia)" if f.pneumonia else ")") if r.random() < 0.6 else "")
                    + (", with dark branching airways inside." if r.random() < 0.6 else "."))
    grade = f.edema_grade
    if grade == 1:
        seen.append(_pick(r, ("The vessels look full, most of all toward the apices: vascular congestion.",
                              "Vessel shadows are plump and the hila a little hazy.")))
    elif grade == 2:
        seen.append(_pick(r, ("Fine horizontal lines reach the pleura at both bases and the vessels are blurred.",
                              "Thin septal lines at the bases and hazy vessel outlines, as in interstitial edema.")))
    elif grade == 3:
        seen.append(_pick(r, ("White cloud-like shadows spread out from both hila like wings (alveolar edema).",
                              "Confluent haze around both hila fading toward the periphery.")))
    for kind, side, zone, mm in (("round spot", f.nodule_side, f.nodule_zone, f.nodule_mm),
                                 ("round lump", f.mass_side, f.mass_zone, f.mass_mm)):
        if side:
            seen.append(f"A {'small ' if mm < 15 else ''}{kind} sits in the {zone} {side} lung"
                        + _pick(r, (f", a {'nodule' if kind == 'round spot' else 'mass'}.", ".")))
    if f.atelectasis_side:
        where = "both bases" if f.atelectasis_side == "bilateral" else f"the {f.atelectasis_side} base"
        seen.append(f"A band-like shadow lies across {where}, with the diaphragm pulled up a little"
                    + _pick(r, (" (atelectasis).", ".")))
    if f.infiltration_side:
        seen.append(f"Ill-defined streaky haze in the middle of the {f.infiltration_side} lung.")
    if f.fibrosis:
        seen.append("Coarse net-like lines crowd both lower lungs, a fibrotic pattern.")
    if f.emphysema:
        seen.append("The lungs look over-inflated and dark, with flat diaphragms, as in emphysema.")
    if f.pleural_thickening_side:
        seen.append(f"A thin pale rind lines the {f.pleural_thickening_side} chest wall.")
    if f.fracture_side:
        seen.append(f"The {ORDINAL.get(f.fracture_rib, str(f.fracture_rib))} {f.fracture_side} back rib shows a step, a rib fracture.")
    if f.enlarged_cm:
        seen.append("The central shadow above the heart is broad.")
    if f.tortuous_aorta:
        seen.append("The aortic arch bulges and winds.")
    if f.aortic_calcification:
        seen.append("A curved line of calcium outlines the aortic knob.")
    if f.hernia:
        seen.append("A gas-containing bubble sits behind the heart above the diaphragm.")
    if f.pneumomediastinum:
        seen.append("Thin dark streaks outline the central structures.")
    if f.pneumoperitoneum:
        seen.append("A dark crescent of gas sits under the right diaphragm.")
    if f.subcutaneous_emphysema_side:
        seen.append(f"Dark streaks of gas track through the soft tissues of the {f.subcutaneous_emphysema_side} chest wall.")
    devices = []
    if f.ett:
        devices.append("a breathing tube whose tip sits above the tracheal split")
    if f.ngt:
        devices.append("a feeding tube running down the middle into the stomach")
    if f.cvc:
        devices.append("a right-sided venous line ending over the upper heart")
    if f.pacemaker:
        devices.append("a pacemaker box high on the left with wires into the heart")
    if f.sternotomy:
        devices.append("loops of wire along the breastbone")
    order = r.permutation(len(seen)).tolist()
    parts += [seen[i] for i in order]
    if devices:
        parts.append(_pick(r, ("Hardware: ", "Also visible: ", "Support devices: ")) + "; ".join(devices) + ".")
    if not seen:
        parts.append(_pick(r, ("Both lungs look dark and even, with sharp angles at the bases.",
                               "The lung fields are dark and clean and the diaphragm outlines are crisp.",
                               "Nothing abnormal stands out in the lungs or around them.")))
        if r.random() < 0.5:
            parts.append(_pick(r, ("There is no sign of fluid, collapse or a pneumothorax.",
                                   "No effusion, consolidation or edema is to be seen.")))
    return " ".join(parts)


__all__ = ["describe"]
