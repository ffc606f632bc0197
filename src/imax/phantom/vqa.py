"""MIMIC-CXR-VQA-style questions answered from the image truth (fields: source-formats.md §5).

Template families mirror the real release's content types (anatomy, attribute, presence, abnormality,
plane, gender, size) and semantic types (verify, choose, query). Answers are sorted lower-case lists.
Size questions use the CTR measured on the rendered masks of *this* image (as the real builder used
Chest ImaGenome boxes), so an AP film can read "yes" where its PA sibling reads "no".
"""

from __future__ import annotations

from typing import Any

import numpy as np

from imax.phantom.cohort import Findings, ImageSpec

ATTRIBUTES = (
    "pleural effusion", "pneumothorax", "lung opacity", "consolidation", "atelectasis", "pneumonia",
    "pulmonary edema/hazy opacity", "vascular congestion", "enlarged cardiac silhouette",
    "mass/nodule (not otherwise specified)", "rib fracture",
)
ZONE_WORD = {"upper": "upper lung zone", "middle": "mid lung zone", "lower": "lower lung zone"}
OBJECTS = (
    "left lung", "right lung", "left upper lung zone", "right upper lung zone", "left mid lung zone",
    "right mid lung zone", "left lower lung zone", "right lower lung zone", "left costophrenic angle",
    "right costophrenic angle", "left apical zone", "right apical zone", "left hilar structures",
    "right hilar structures", "cardiac silhouette", "mediastinum", "trachea", "left chest wall", "right chest wall",
)


def locations(f: Findings) -> dict[str, set[str]]:
    """attribute -> anatomical objects where the truth places it."""
    loc: dict[str, set[str]] = {}

    def add(attr: str, *objs: str) -> None:
        loc.setdefault(attr, set()).update(objs)

    for side, sev in (("left", f.effusion_left), ("right", f.effusion_right)):
        if sev:
            add("pleural effusion", f"{side} lung", f"{side} lower lung zone", f"{side} costophrenic angle")
    if f.pneumothorax_side:
        s = f.pneumothorax_side
        add("pneumothorax", f"{s} lung", f"{s} apical zone")
    if f.consolidation_side:
        objs = (f"{f.consolidation_side} lung", f"{f.consolidation_side} {ZONE_WORD[f.consolidation_zone]}")
        add("consolidation", *objs)
        add("lung opacity", *objs)
        if f.pneumonia:
            add("pneumonia", *objs)
    if f.atelectasis_side:
        sides = ("left", "right") if f.atelectasis_side == "bilateral" else (f.atelectasis_side,)
        for s in sides:
            add("atelectasis", f"{s} lung", f"{s} lower lung zone")
            add("lung opacity", f"{s} lung", f"{s} lower lung zone")
    if f.infiltration_side:
        add("lung opacity", f"{f.infiltration_side} lung", f"{f.infiltration_side} mid lung zone")
    if f.edema_grade >= 1:
        add("vascular congestion", "left hilar structures", "right hilar structures")
    if f.edema_grade >= 2:
        add("pulmonary edema/hazy opacity", "left lung", "right lung", "left hilar structures", "right hilar structures")
        add("lung opacity", "left lung", "right lung")
    if f.cardiomegaly:
        add("enlarged cardiac silhouette", "cardiac silhouette")
    for side, zone in ((f.nodule_side, f.nodule_zone), (f.mass_side, f.mass_zone)):
        if side:
            add("mass/nodule (not otherwise specified)", f"{side} lung", f"{side} {ZONE_WORD[zone]}")
    if f.fracture_side:
        add("rib fracture", f"{f.fracture_side} chest wall")
    return loc


def _args(obj: list[str] | None = None, attr: list[str] | None = None, viewpos: list[str] | None = None,
          gender: list[str] | None = None) -> dict[str, dict[str, str]]:
    def d(xs: list[str] | None) -> dict[str, str]:
        return {str(i): x for i, x in enumerate(xs or [])}

    return {"object": d(obj), "attribute": d(attr), "category": {}, "viewpos": d(viewpos), "gender": d(gender)}


def questions(spec: ImageSpec, ctr: float | None, k: int, seed: int) -> list[dict[str, Any]]:
    """Up to ``k`` QA dicts (without split/idx/ids) for one frontal image, deterministic in (seed, index)."""
    r = np.random.default_rng([seed, 3, spec.index])
    f = spec.findings
    loc = locations(f)
    present = sorted(loc)
    absent = [a for a in ATTRIBUTES if a not in loc]
    out: list[dict[str, Any]] = []

    def pick(xs: list[str] | tuple[str, ...]) -> str:
        return str(xs[int(r.integers(0, len(xs)))])

    def presence() -> None:
        if present and r.random() < 0.5:
            attr = pick(present)
            obj = pick(sorted(loc[attr]))
        else:
            attr, obj = pick(absent or list(ATTRIBUTES)), pick(OBJECTS)
        ans = "yes" if obj in loc.get(attr, set()) else "no"
        t = "Is there any evidence of ${attribute} in the ${object}?"
        out.append(dict(q=t.replace("${attribute}", attr).replace("${object}", obj), st="verify", ct="presence",
                        t=t, p="program_1", a=_args([obj], [attr]), ans=[ans]))

    def abnormality_verify() -> None:
        obj = pick(OBJECTS)
        ans = "yes" if any(obj in objs for objs in loc.values()) else "no"
        t = "Are there any abnormalities in the ${object}?"
        out.append(dict(q=t.replace("${object}", obj), st="verify", ct="abnormality", t=t, p="program_11",
                        a=_args([obj]), ans=[ans]))

    def abnormality_query() -> None:
        obj = pick(sorted({o for objs in loc.values() for o in objs}) or list(OBJECTS))
        t = "List all abnormalities in the ${object}."
        out.append(dict(q=t.replace("${object}", obj), st="query", ct="abnormality", t=t, p="program_13",
                        a=_args([obj]), ans=sorted(a for a, objs in loc.items() if obj in objs)))

    def anatomy_query() -> None:
        attr = pick(present) if present else pick(ATTRIBUTES)
        t = "List all anatomical locations related to ${attribute}."
        out.append(dict(q=t.replace("${attribute}", attr), st="query", ct="anatomy", t=t, p="program_26",
                        a=_args(None, [attr]), ans=sorted(loc.get(attr, set()))))

    def attribute_verify() -> None:
        obj = pick(OBJECTS)
        a1, a2 = (str(x) for x in r.choice(ATTRIBUTES, 2, replace=False))
        ans = "yes" if obj in loc.get(a1, set()) and obj in loc.get(a2, set()) else "no"
        t = "Are there signs of both ${attribute_1} and ${attribute_2} in the ${object}?"
        out.append(dict(q=t.replace("${attribute_1}", a1).replace("${attribute_2}", a2).replace("${object}", obj),
                        st="verify", ct="attribute", t=t, p="program_5", a=_args([obj], [a1, a2]), ans=[ans]))

    def attribute_choose() -> None:
        obj = pick(sorted({o for objs in loc.values() for o in objs}) or list(OBJECTS))
        a1, a2 = (str(x) for x in r.choice(ATTRIBUTES, 2, replace=False))
        t = "Which finding is in the ${object}, ${attribute_1} or ${attribute_2}?"
        out.append(dict(q=t.replace("${attribute_1}", a1).replace("${attribute_2}", a2).replace("${object}", obj),
                        st="choose", ct="attribute", t=t, p="program_21", a=_args([obj], [a1, a2]),
                        ans=sorted(a for a in (a1, a2) if obj in loc.get(a, set()))))

    def plane() -> None:
        t = "Is this image taken in AP or PA view?"
        out.append(dict(q=t, st="choose", ct="plane", t=t, p="program_45", a=_args(None, None, ["ap", "pa"]),
                        ans=[spec.view.lower()]))

    def gender() -> None:
        t = "Is this patient male or female?"
        out.append(dict(q=t, st="choose", ct="gender", t=t, p="program_46", a=_args(None, None, None, ["m", "f"]),
                        ans=[spec.sex.lower()]))

    def size_heart() -> None:
        if ctr is None:
            return
        t = "Is the width of the cardiac silhouette wider than 1/2 of the thorax width?"
        out.append(dict(q=t, st="verify", ct="size", t=t, p="program_47", a=_args(["cardiac silhouette"]),
                        ans=["yes" if ctr > 0.5 else "no"]))

    def size_mediastinum() -> None:
        t = "Is the width of the upper mediastinum wider than 1/3 of the thorax width?"
        out.append(dict(q=t, st="verify", ct="size", t=t, p="program_48", a=_args(["upper mediastinum"]),
                        ans=["yes" if f.enlarged_cm else "no"]))

    families = [presence, abnormality_verify, abnormality_query, anatomy_query, attribute_verify,
                attribute_choose, plane, gender, size_heart, size_mediastinum]
    weights = np.array([3, 2, 2, 2, 1, 1, 1, 1, 1.5, 0.5])
    order = r.choice(len(families), size=min(k, len(families)), replace=False, p=weights / weights.sum())
    for i in sorted(int(j) for j in order):
        families[i]()
    return out
