"""Per-finding drawers of a frontal radiograph, one small function per finding, in draw-order tables.

The frame (:func:`imax.phantom.render._render_frontal`) builds a :class:`Canvas` and runs the tables in
order; each drawer returns at once when its finding is absent, otherwise writes into the canvas and
records the finding's unposed pixel box in ``Canvas.boxes``. The order inside each table is part of the
output: drawers that take random numbers share one generator, and PIL strokes overwrite earlier ones, so
reordering a table changes the pixels (``tests/phantom/test_determinism.py`` pins them).

Stages, in the frame's order:

* :data:`FIELDS` (low resolution ``lo``): fluid/airspace ``occ`` and attenuation ``extra`` fields;
* :func:`pneumothorax_air` (mid resolution ``m``): free pleural air, before the air is subtracted;
* :func:`fractured_rib`: called by the frame's rib loop, in place of one rib;
* :data:`LINES` (mid resolution): strokes into the positive (``dp``) and negative (``dn``) layers.

Support devices are metal on their own full-resolution layer: :mod:`imax.phantom.devices_draw`.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from PIL import ImageDraw
from scipy import ndimage, special

from imax.phantom import anatomy
from imax.phantom.canvas import Canvas
from imax.phantom.raster import (
    MM_PER_IMAGE,
    box_of,
    box_of_pts,
    circle_box,
    gauss,
    line,
    poly_mask,
)

Drawer = Callable[[Canvas], None]
"""A finding drawer: returns at once when its finding is absent, else writes into the canvas."""


# ---- low resolution: occupancy and attenuation fields -------------------------------------------

def effusion_fields(c: Canvas) -> None:
    """Pleural fluid: a meniscus rising laterally, plus haze from fluid layering behind the lung."""
    f, u, v, s = c.f, c.u, c.v, c.s
    lat_frac = np.clip(np.abs(u - c.xc) / c.g["w"], 0, 1)
    for side, sev, k in (("right", f.effusion_right, 0), ("left", f.effusion_left, 1)):
        if sev == 0:
            continue
        dome = c.fr.domes[k]
        base, rise = {1: (dome + 0.05, 0.06), 2: (dome - 0.05, 0.08), 3: (dome - 0.17, 0.1)}[sev]
        men = base - rise * lat_frac**2
        on_side = (u > c.xc) if side == "left" else (u < c.xc)
        eff = special.expit((v - men) / 0.008).astype(np.float32) * on_side
        # Layering fluid behind the lung adds a haze that fades upward from the meniscus.
        haze = 0.12 * sev * np.exp(-np.clip(men - v, 0, None) / 0.08) * on_side
        c.occ += eff + haze
        box = box_of((eff > 0.5) & (c.lungs_lo > 0), 4 * s / (4 * c.lo), s)
        if box:
            c.boxes[f"{side} pleural effusion"] = box


def consolidation_fields(c: Canvas) -> None:
    """Airspace opacity: four random blobs with fluffy, textured margins."""
    f, u, v, rng = c.f, c.u, c.v, c.rng
    if not f.consolidation_side:
        return
    cx, cy = anatomy.zone_centre(c.fr, f.consolidation_side, f.consolidation_zone)
    blob = sum(
        gauss(u, v, cx + rng.normal(0, 0.035), cy + rng.normal(0, 0.03), rng.uniform(0.03, 0.05),
              rng.uniform(0.03, 0.05))
        for _ in range(4)
    )
    # Fluffy margins: a soft ramp of the blob, modulated by texture, never a hard-edged plateau.
    cons = np.clip((blob - 0.2) / 0.6, 0, 1) ** 0.8 * np.clip(0.75 + 0.25 * c.tex, 0.4, 1) * c.depth
    c.occ += cons
    box = box_of(cons > 0.3, c.s / c.lo, c.s)
    if box:
        c.boxes["consolidation"] = box


def infiltration_fields(c: Canvas) -> None:
    """A faint, textured mid-zone patch."""
    if not c.f.infiltration_side:
        return
    cx, cy = anatomy.zone_centre(c.fr, c.f.infiltration_side, "middle")
    patch = gauss(c.u, c.v, cx, cy, 0.08, 0.12) * np.clip(c.tex + 0.6, 0, 1)
    c.occ += 0.45 * patch * (c.lungs_lo > 0)
    box = box_of(patch > 0.25, c.s / c.lo, c.s)
    if box:
        c.boxes["infiltration"] = box


def edema_fields(c: Canvas) -> None:
    """Edema by grade: hilar haze (>= 1), basal-weighted interstitial haze (>= 2), bat wings (>= 3)."""
    f, u, v, fr = c.f, c.u, c.v, c.fr
    if f.edema_grade >= 1:
        gr = f.edema_grade
        hil = sum(gauss(u, v, hx, hy, 0.05, 0.06) for hx, hy in fr.hila)
        c.occ += 0.12 * gr * hil
    if f.edema_grade >= 2:
        c.occ += 0.16 * (0.4 + (v - fr.y_top) * 1.2) * c.lungs_lo
    if f.edema_grade >= 3:
        bat = sum(gauss(u, v, hx + sd * 0.06, hy + 0.04, 0.11, 0.13) for sd, (hx, hy) in zip((-1, 1), fr.hila,
                                                                                            strict=True))
        c.occ += 0.55 * bat * np.clip(0.8 + 0.4 * c.tex, 0, 1.2)


def fibrosis_fields(c: Canvas) -> None:
    """Lower-zone reticular haze (the reticulation itself is in :func:`fibrosis_lines`)."""
    if c.f.fibrosis:
        c.occ += 0.18 * c.lungs_lo * np.clip((c.v - (c.fr.y_top + 0.3)) * 4, 0, 1)


def pleural_thickening_fields(c: Canvas) -> None:
    """A dense rind along one lung's outline above the base."""
    side = c.f.pleural_thickening_side
    if not side:
        return
    fr, lo = c.fr, c.lo
    poly = fr.left_lung if side == "left" else fr.right_lung
    hil = fr.hila[1 if side == "left" else 0]
    rind = (poly_mask([poly], lo) > 0) & ~(poly_mask([anatomy.scaled(poly, hil, 0.92)], lo) > 0)
    rind &= c.v < fr.domes[0] - 0.1
    c.occ += 0.55 * ndimage.gaussian_filter(rind.astype(np.float32), 0.6)
    box = box_of(rind, c.s / lo, c.s)
    if box:
        c.boxes["pleural thickening"] = box


def hernia_fields(c: Canvas) -> None:
    """Hiatus hernia: a retrocardiac mass with an air-fluid level."""
    if not c.f.hernia:
        return
    u, v, xc, dome = c.u, c.v, c.xc, c.fr.domes[1]
    c.extra += 0.18 * gauss(u, v, xc + 0.03, dome - 0.05, 0.045, 0.04)
    c.extra -= 0.15 * gauss(u, v, xc + 0.03, dome - 0.07, 0.035, 0.012)
    c.boxes["hernia"] = circle_box((xc + 0.03, dome - 0.05), 0.06, c.s)


FIELDS: tuple[tuple[str, Drawer], ...] = (
    ("effusion", effusion_fields),
    ("consolidation", consolidation_fields),
    ("infiltration", infiltration_fields),
    ("edema", edema_fields),
    ("fibrosis", fibrosis_fields),
    ("pleural thickening", pleural_thickening_fields),
    ("hernia", hernia_fields),
)
"""Low-resolution field drawers in draw order (consolidation draws random numbers)."""


# ---- mid resolution: pneumothorax air and rib fracture --------------------------------------------

def _ptx_inner(c: Canvas) -> tuple[np.ndarray, np.ndarray]:
    """(lung polygon, collapsed-lung polygon) on the pneumothorax side."""
    side, fr = c.f.pneumothorax_side, c.fr
    poly = fr.left_lung if side == "left" else fr.right_lung
    anchor = (c.xc + (0.06 if side == "left" else -0.06), fr.domes[1 if side == "left" else 0])
    return poly, anatomy.scaled(poly, anchor, {1: 0.9, 2: 0.8, 3: 0.64}[c.f.pneumothorax_size])


def pneumothorax_air(c: Canvas) -> None:
    """Free pleural air between the chest wall and the collapsed lung (sets ``ptx_mid``)."""
    if not c.f.pneumothorax_side:
        return
    assert c.air_mid is not None, "the frame sets air_mid before the pneumothorax"
    m = c.m
    poly, inner = _ptx_inner(c)
    region = (poly_mask([poly], m) > 0) & ~(poly_mask([inner], m) > 0)
    c.ptx_mid = region.astype(np.float32)
    # Free pleural air: no lung tissue beyond the visceral line, so blacker than lung.
    c.air_mid = c.air_mid + 0.22 * c.ptx_mid
    box = box_of(region, c.s / m, c.s)
    if box:
        c.boxes["pneumothorax"] = box


def fractured_rib(c: Canvas, dp: ImageDraw.ImageDraw, pr: np.ndarray, sgn: int, k: int) -> bool:
    """Draw posterior rib ``k`` on side ``sgn`` broken, if it is the fractured one; True if drawn."""
    f, m = c.f, c.m
    if not (f.fracture_side and k == f.fracture_rib and sgn == (1 if f.fracture_side == "left" else -1)):
        return False
    rib_w = c.g["rib_w"]
    # A break with a step: two pieces offset at 60% along the rib, plus callus.
    cut = 6
    line(dp, pr[:cut], m, rib_w, 95)
    line(dp, pr[cut:] + np.array([0.004, 0.012]), m, rib_w, 95)
    bx, by = pr[cut]
    dp.ellipse([(bx - 0.012) * m, (by - 0.006) * m, (bx + 0.012) * m, (by + 0.02) * m], fill=120)
    c.boxes["fracture"] = circle_box((float(bx), float(by) + 0.006), 0.035, c.s)
    return True


# ---- mid resolution: strokes ----------------------------------------------------------------------

def kerley_lines(c: Canvas) -> None:
    """Edema grade >= 2: Kerley B lines, short horizontal lines reaching the pleura at the lateral bases."""
    if c.f.edema_grade < 2:
        return
    dp = c.dp
    rng, fr, xc = c.rng, c.fr, c.xc
    for sgn, dome in ((-1, fr.domes[0]), (1, fr.domes[1])):
        for _ in range(7):
            y = dome - rng.uniform(0.0, 0.12)
            x0 = xc + sgn * (c.g["w"] - 0.005 - rng.uniform(0, 0.01))
            line(dp, np.array([[x0, y], [x0 - sgn * rng.uniform(0.025, 0.045), y]]), c.m, 0.003, 120)


def atelectasis_lines(c: Canvas) -> None:
    """Plate-like (discoid) atelectasis above the dome, on one or both sides."""
    if not c.f.atelectasis_side:
        return
    dp = c.dp
    xc = c.xc
    sides = ("left", "right") if c.f.atelectasis_side == "bilateral" else (c.f.atelectasis_side,)
    pts_all = []
    for side in sides:
        sgn = 1 if side == "left" else -1
        dome = c.fr.domes[1 if side == "left" else 0]
        pts = np.array([[xc + sgn * 0.1, dome - 0.055], [xc + sgn * 0.2, dome - 0.08],
                        [xc + sgn * 0.27, dome - 0.075]])
        line(dp, pts, c.m, 0.016, 110)
        pts_all.append(pts)
    c.boxes["atelectasis"] = box_of_pts(np.concatenate(pts_all), c.s, 0.012)


def fibrosis_lines(c: Canvas) -> None:
    """Lower-zone reticulation: 60 short random strokes."""
    if not c.f.fibrosis:
        return
    dp = c.dp
    rng, fr, xc = c.rng, c.fr, c.xc
    for _ in range(60):
        sgn = rng.choice([-1, 1])
        x0 = xc + sgn * rng.uniform(0.08, c.g["w"] - 0.02)
        y0 = rng.uniform(fr.y_top + 0.3, fr.domes[0] - 0.01)
        ang = rng.uniform(0, np.pi)
        line(dp, np.array([[x0, y0], [x0 + 0.02 * np.cos(ang), y0 + 0.02 * np.sin(ang)]]), c.m, 0.003, 90)
    lungs = np.concatenate([fr.right_lung, fr.left_lung])
    c.boxes["fibrosis"] = box_of_pts(lungs[lungs[:, 1] > fr.y_top + 0.28], c.s, 0.0)


def _round_lesion(c: Canvas, kind: str, side: str, zone: str, mm: float) -> None:
    """A nodule or mass: a dense disc of ``mm`` diameter in ``zone`` of the ``side`` lung."""
    if not side:
        return
    dp = c.dp
    m = c.m
    cx, cy = anatomy.zone_centre(c.fr, side, zone)
    cx += (0.03 if side == "left" else -0.03) * (kind == "nodule")
    r = mm / MM_PER_IMAGE / 2
    dp.ellipse([(cx - r) * m, (cy - r) * m, (cx + r) * m, (cy + r) * m], fill=230 if kind == "mass" else 210)
    c.boxes[kind] = circle_box((cx, cy), r, c.s)


def nodule_lines(c: Canvas) -> None:
    """A nodule (offset laterally from the zone centre so it never hides under a mass)."""
    _round_lesion(c, "nodule", c.f.nodule_side, c.f.nodule_zone, c.f.nodule_mm)


def mass_lines(c: Canvas) -> None:
    """A mass (denser than a nodule)."""
    _round_lesion(c, "mass", c.f.mass_side, c.f.mass_zone, c.f.mass_mm)


def consolidation_lines(c: Canvas) -> None:
    """Air bronchograms: dark branching tubes inside the consolidation's box."""
    if not c.f.consolidation_side:
        return
    dn = c.dn
    b = c.boxes.get("consolidation")
    if b:
        s = c.s
        cx, cy = (b[0] + b[2]) / 2 / s, (b[1] + b[3]) / 2 / s
        for ang in (-0.5, 0.0, 0.5):
            line(dn, np.array([[cx, cy - 0.03], [cx + 0.04 * np.sin(ang), cy + 0.03]]), c.m, 0.004, 90)


def aortic_calcification_lines(c: Canvas) -> None:
    """A calcified arc in the aortic knob."""
    if not c.f.aortic_calcification:
        return
    dp = c.dp
    m = c.m
    kx, ky = c.fr.knob
    dp.arc([(kx - 0.03) * m, (ky - 0.025) * m, (kx + 0.02) * m, (ky + 0.025) * m], 200, 340, fill=230,
           width=max(1, round(0.005 * m)))
    c.boxes["aortic calcification"] = circle_box((kx - 0.005, ky), 0.035, c.s)


def tortuous_aorta_lines(c: Canvas) -> None:
    """Box only: the anatomy (:func:`anatomy.frontal`) already bulges the knob."""
    if c.f.tortuous_aorta:
        c.boxes["tortuous aorta"] = circle_box(c.fr.knob, 0.05, c.s)


def enlarged_cm_lines(c: Canvas) -> None:
    """Box only: the anatomy already widens the mediastinum."""
    if not c.f.enlarged_cm:
        return
    fr, xc, s = c.fr, c.xc, c.s
    c.boxes["enlarged cardiomediastinum"] = [(xc - fr.med_hw - 0.02) * s, (fr.y_top + 0.05) * s,
                                             (xc + fr.med_hw + 0.02) * s, float(fr.heart[:, 1].min() * s)]


def pneumomediastinum_lines(c: Canvas) -> None:
    """Lucent stripes along both mediastinal borders."""
    if not c.f.pneumomediastinum:
        return
    dn = c.dn
    fr, xc, s = c.fr, c.xc, c.s
    for sgn in (-1, 1):
        line(dn, np.array([[xc + sgn * (fr.med_hw - 0.006), fr.y_top + 0.1],
                           [xc + sgn * (fr.med_hw - 0.004), fr.heart[:, 1].min() + 0.05]]), c.m, 0.004, 170)
    c.boxes["pneumomediastinum"] = [(xc - fr.med_hw - 0.01) * s, (fr.y_top + 0.1) * s,
                                    (xc + fr.med_hw + 0.01) * s, (fr.heart[:, 1].min() + 0.05) * s]


def pneumoperitoneum_lines(c: Canvas) -> None:
    """A lucent crescent of free air under the right hemidiaphragm."""
    if not c.f.pneumoperitoneum:
        return
    dn = c.dn
    dome, xc = c.fr.domes[0], c.xc
    x = np.linspace(xc - c.g["w"] + 0.03, xc - 0.06, 12)
    tp = (x - x.min()) / (x.max() - x.min())
    y = dome + 0.012 + 0.05 * (tp - 0.6) ** 2
    crescent = np.concatenate([np.stack([x, y], 1), np.stack([x[::-1], y[::-1] + 0.018], 1)])
    dn.polygon([tuple(p) for p in (crescent * c.m).tolist()], fill=200)
    c.boxes["pneumoperitoneum"] = box_of_pts(crescent, c.s, 0.004)


def subcutaneous_emphysema_lines(c: Canvas) -> None:
    """Lucent streaks in the lateral chest-wall soft tissue."""
    if not c.f.subcutaneous_emphysema_side:
        return
    dn = c.dn
    rng, fr, xc = c.rng, c.fr, c.xc
    sgn = 1 if c.f.subcutaneous_emphysema_side == "left" else -1
    pts_all = []
    for _ in range(14):
        x0 = xc + sgn * (c.g["w"] + rng.uniform(0.02, 0.08))
        y0 = rng.uniform(fr.y_top + 0.05, fr.domes[0])
        pts = np.array([[x0, y0], [x0 + rng.normal(0, 0.01), y0 + rng.uniform(0.02, 0.05)]])
        line(dn, pts, c.m, 0.005, 200)
        pts_all.append(pts)
    c.boxes["subcutaneous emphysema"] = box_of_pts(np.concatenate(pts_all), c.s, 0.006)


def pneumothorax_lines(c: Canvas) -> None:
    """The visceral pleural line: lateral arc and apex of the collapsed lung only."""
    if not (c.f.pneumothorax_side and c.ptx_mid is not None):
        return
    dp = c.dp
    poly, inner = _ptx_inner(c)
    k = (len(poly) - 14) // 3
    line(dp, np.concatenate([inner[-14:], inner[:k]]), c.m, 0.0035, 170)


LINES: tuple[tuple[str, Drawer], ...] = (
    ("edema", kerley_lines),
    ("atelectasis", atelectasis_lines),
    ("fibrosis", fibrosis_lines),
    ("nodule", nodule_lines),
    ("mass", mass_lines),
    ("consolidation", consolidation_lines),
    ("aortic calcification", aortic_calcification_lines),
    ("tortuous aorta", tortuous_aorta_lines),
    ("enlarged cardiomediastinum", enlarged_cm_lines),
    ("pneumomediastinum", pneumomediastinum_lines),
    ("pneumoperitoneum", pneumoperitoneum_lines),
    ("subcutaneous emphysema", subcutaneous_emphysema_lines),
    ("pneumothorax", pneumothorax_lines),
)
"""Mid-resolution stroke drawers in draw order (edema, fibrosis, subcutaneous emphysema draw random
numbers; bronchograms read the consolidation's box)."""
