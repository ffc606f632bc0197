"""Frontal anatomy as closed curves and polylines in normalised image units.

Coordinates are ``(u, v)`` with ``u = x / width`` (grows to the image right) and ``v = y / height``
(grows down); multiply by the pixel size to draw. The patient's right lung is on the image left.
Shapes come from smooth parametric curves with patient-level parameters (``ImageSpec.geometry``);
findings that change the anatomy (cardiomegaly, atelectasis volume loss, emphysema, tortuous aorta,
widened mediastinum) act here, so the masks always match the pixels.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from imax.phantom.cohort import Findings

Poly = np.ndarray
"""(K, 2) float array of (u, v) vertices."""


@dataclass
class Frontal:
    """The drawn anatomy of one frontal image."""

    right_lung: Poly
    """Patient's right lung field (image left), heart not yet removed."""
    left_lung: Poly
    heart: Poly
    x_c: float
    """Midline."""
    hila: tuple[tuple[float, float], tuple[float, float]]
    """(right, left) hilum points."""
    domes: tuple[float, float]
    """(right, left) hemidiaphragm peak v."""
    cps: tuple[tuple[float, float], tuple[float, float]]
    """(right, left) costophrenic angle points."""
    y_top: float
    carina: tuple[float, float]
    knob: tuple[float, float]
    """Aortic knob centre."""
    med_hw: float
    """Upper-mediastinum half-width."""


def _superellipse(c: tuple[float, float], a: float, b: float, t0: float, t1: float, n: float, k: int) -> Poly:
    t = np.linspace(t0, t1, k)
    ct, st = np.cos(t), np.sin(t)
    x = c[0] + a * np.sign(ct) * np.abs(ct) ** (2 / n)
    y = c[1] + b * np.sign(st) * np.abs(st) ** (2 / n)
    return np.stack([x, y], axis=1)


def lung(g: dict[str, float], sgn: int, dome: float, med_hw: float, knob: float, k: int = 28) -> Poly:
    """One lung field; ``sgn`` = -1 for the patient's right (image left), +1 for the left."""
    x_c, w, y_top = g["x_c"], g["w"], g["y_top"]
    y_cp = dome + g["cp_drop"]
    x_lat = x_c + sgn * w
    x_ap = x_c + sgn * g["apex_c"]
    # Apex to costophrenic angle: a superellipse quadrant gives a rounded apex and straight lateral wall.
    lat = _superellipse((x_ap, y_cp), abs(x_lat - x_ap), y_cp - y_top, -np.pi / 2, 0, 2.15, k)
    lat[:, 0] = x_ap + sgn * (lat[:, 0] - x_ap)
    # Diaphragm from the angle to the medial base: a dome peaking about 40% of the way in.
    t = np.linspace(1, 0, k)
    x_mb = x_c + sgn * 0.035
    y_mb = dome + 0.035
    tp = 0.42
    y_end = np.where(t > tp, y_cp, y_mb)
    span = np.where(t > tp, 1 - tp, tp)
    dia = np.stack([x_mb + (x_lat - x_mb) * t, dome + (y_end - dome) * ((t - tp) / span) ** 2], axis=1)
    # Medial border up the mediastinum, with the aortic knob bulge on the left.
    v = np.linspace(y_mb - 0.01, y_top + 0.09, k)
    x_med = med_hw + 0.006 * np.sin((v - y_top) * 9)
    if sgn > 0:
        x_med = x_med + knob * np.exp(-(((v - (y_top + 0.2)) / 0.035) ** 2))
    med = np.stack([x_c + sgn * x_med, v], axis=1)
    # Medial apex arc (quadratic Bezier) closing the loop from the mediastinum back to the apex.
    t = np.linspace(0, 1, k // 2)[:, None]
    p0 = np.array([x_c + sgn * med_hw, y_top + 0.09])
    p1 = np.array([x_c + sgn * med_hw, y_top])
    p2 = np.array([x_ap, y_top])
    top = (1 - t) ** 2 * p0 + 2 * (1 - t) * t * p1 + t**2 * p2
    return np.concatenate([lat, dia, med, top], axis=0)


def heart(g: dict[str, float], f: Findings, base_y: float, mag: float, k: int = 48) -> Poly:
    """Cardiac silhouette whose horizontal extent is exactly ``heart_ratio * mag`` of the lung union."""
    x_c, w = g["x_c"], g["w"]
    width = f.heart_ratio * 2 * w * mag
    top = g["heart_top"] - (0.02 if f.cardiomegaly else 0.0)
    h = base_y + 0.02 - top
    phi = np.linspace(0, 2 * np.pi, k, endpoint=False)
    # A tilted egg: fuller at the left-ventricular apex (image right, low), flattened on the diaphragm.
    x = np.cos(phi) * (1 + 0.12 * np.cos(phi) * (np.sin(phi) > 0))
    y = np.sin(phi) * np.where(np.sin(phi) < 0, 0.62, 0.45)
    x = x + g["heart_tilt"] * y
    y = np.minimum(y, 0.3)
    pts = np.stack([x, y], axis=1)
    # Normalise to the requested extent; 36% of the heart lies right of the midline.
    x0, x1 = pts[:, 0].min(), pts[:, 0].max()
    u = x_c - 0.36 * width + (pts[:, 0] - x0) / (x1 - x0) * width
    y0, y1 = pts[:, 1].min(), pts[:, 1].max()
    vv = top + (pts[:, 1] - y0) / (y1 - y0) * h
    return np.stack([u, vv], axis=1)


def frontal(g: dict[str, float], f: Findings) -> Frontal:
    """All frontal outlines for one image (image shift ``dx, dy`` already applied)."""
    g = dict(g)
    g["x_c"] += g.get("dx", 0.0)
    g["y_top"] += g.get("dy", 0.0)
    dy = g.get("dy", 0.0)
    dome_r = g["dome_r"] + dy
    dome_l = dome_r + g["dome_dl"]
    # Volume loss raises the hemidiaphragm on the atelectatic side.
    if f.atelectasis_side in ("right", "bilateral"):
        dome_r -= 0.03
    if f.atelectasis_side in ("left", "bilateral"):
        dome_l -= 0.03
    med_hw = g["m_top"] + (0.04 if f.enlarged_cm else 0.0)
    knob = g["knob"] + (0.03 if f.tortuous_aorta else 0.0)
    rl = lung(g, -1, dome_r, med_hw, knob)
    ll = lung(g, +1, dome_l, med_hw, knob)
    ht = heart(g, f, dome_l, g.get("mag", 1.0))
    x_c, y_top = g["x_c"], g["y_top"]
    hila_v = y_top + 0.27
    return Frontal(
        right_lung=rl,
        left_lung=ll,
        heart=ht,
        x_c=x_c,
        hila=((x_c - 0.09, hila_v), (x_c + 0.095, hila_v - 0.01)),
        domes=(dome_r, dome_l),
        cps=((x_c - g["w"], dome_r + g["cp_drop"]), (x_c + g["w"], dome_l + g["cp_drop"])),
        y_top=y_top,
        carina=(x_c, y_top + 0.2),
        knob=(x_c + med_hw + knob * 0.5, y_top + 0.2),
        med_hw=med_hw,
    )


def posterior_rib(g: dict[str, float], sgn: int, k: int, n: int = 10) -> Poly:
    """Posterior rib ``k`` (1-based): from the spine up-and-out, then down along the lateral wall."""
    x_c, w = g["x_c"] + g.get("dx", 0.0), g["w"]
    y0 = g["y_top"] + g.get("dy", 0.0) - 0.03 + (k - 1) * g["rib_gap"]
    t = np.linspace(0, 1, n)
    x = x_c + sgn * (0.03 + t * (w + 0.02))
    y = y0 - 0.035 * np.sin(np.pi * t * 0.9) + 0.09 * t**2.2 + 0.004 * k * t
    return np.stack([x, y], axis=1)


def anterior_rib(g: dict[str, float], sgn: int, k: int, n: int = 8) -> Poly:
    """Anterior rib ``k``: from the lateral wall down-and-in toward the sternum, fading medially."""
    x_c, w = g["x_c"] + g.get("dx", 0.0), g["w"]
    y0 = g["y_top"] + g.get("dy", 0.0) + 0.03 + (k - 1) * g["rib_gap"] * 1.05
    t = np.linspace(0, 1, n)
    x = x_c + sgn * (w + 0.01 - t * (w - 0.09))
    y = y0 + 0.05 * t + 0.03 * np.sin(np.pi * t)
    return np.stack([x, y], axis=1)


def clavicle(g: dict[str, float], sgn: int, ap: bool, n: int = 10) -> Poly:
    x_c = g["x_c"] + g.get("dx", 0.0)
    y = g["y_top"] + g.get("dy", 0.0) + (0.0 if ap else 0.04)
    t = np.linspace(0, 1, n)
    x = x_c + sgn * (0.04 + t * 0.3)
    yy = y + 0.025 - 0.05 * t + 0.012 * np.sin(2 * np.pi * t)
    return np.stack([x, yy], axis=1)


def scaled(poly: Poly, anchor: tuple[float, float], s: float) -> Poly:
    """``poly`` shrunk toward ``anchor`` by factor ``s`` (collapsed lung, pleural rind)."""
    a = np.asarray(anchor)
    return a + (poly - a) * s


def zone_centre(fr: Frontal, side: str, zone: str) -> tuple[float, float]:
    """Centre of a lung zone (upper/middle/lower third of the lung's height, mid-clavicular)."""
    poly = fr.left_lung if side == "left" else fr.right_lung
    x = poly[:, 0]
    xm = fr.x_c + (0.55 if side == "left" else -0.55) * (x.max() - x.min())
    top, dome = fr.y_top, fr.domes[1 if side == "left" else 0]
    frac = {"upper": 0.22, "middle": 0.5, "lower": 0.8}[zone]
    return float(xm), float(top + frac * (dome - top))


def pose_matrix(g: dict[str, float]) -> np.ndarray:
    """(2, 3) affine ``[A | b]`` taking canvas units to image units: ``p_img = A @ p + b``.

    The anatomy is drawn on a patient-centred canvas; the radiograph sees it through the acquisition's
    pose (``ImageSpec.geometry`` keys, all optional, identity when absent): ``scale`` (patient size
    against the field of view: > 1 fills more of the detector), ``rot`` (in-plane rotation in degrees,
    positive turns the patient's head toward the image right), ``tx, ty`` (centring error, image units).
    The canvas centre (0.5, 0.5) maps to ``(0.5 + tx, 0.5 + ty)``.
    """
    s = float(g.get("scale", 1.0))
    th = np.deg2rad(float(g.get("rot", 0.0)))
    a = s * np.array([[np.cos(th), -np.sin(th)], [np.sin(th), np.cos(th)]])
    c = np.array([0.5, 0.5])
    b = c + np.array([float(g.get("tx", 0.0)), float(g.get("ty", 0.0))]) - a @ c
    return np.concatenate([a, b[:, None]], axis=1)


def posed(poly: Poly, m: np.ndarray) -> Poly:
    """``poly`` (K, 2) in canvas units → image units under the pose ``m`` (:func:`pose_matrix`)."""
    return np.asarray(poly) @ m[:, :2].T + m[:, 2]


def posed_box(box: list[float], m: np.ndarray, size: int) -> list[float] | None:
    """A pixel xyxy ``box`` on the canvas → the pixel box enclosing its posed corners, clipped to the
    image; None when nothing of it is left inside the image."""
    x1, y1, x2, y2 = (c / size for c in box)
    pts = posed(np.array([[x1, y1], [x2, y1], [x2, y2], [x1, y2]]), m)
    lo, hi = np.clip(pts.min(axis=0), 0, 1) * size, np.clip(pts.max(axis=0), 0, 1) * size
    if hi[0] <= lo[0] or hi[1] <= lo[1]:
        return None
    return [float(lo[0]), float(lo[1]), float(hi[0]), float(hi[1])]


def posed_frontal(fr: Frontal, m: np.ndarray) -> Frontal:
    """The outlines of ``fr`` as the posed radiograph shows them (masks, landmarks and CTR use these)."""
    def pt(p: tuple[float, float]) -> tuple[float, float]:
        q = posed(np.array([p]), m)[0]
        return float(q[0]), float(q[1])

    return Frontal(
        right_lung=posed(fr.right_lung, m), left_lung=posed(fr.left_lung, m), heart=posed(fr.heart, m),
        x_c=pt((fr.x_c, 0.5))[0], hila=(pt(fr.hila[0]), pt(fr.hila[1])),
        domes=(pt((fr.x_c, fr.domes[0]))[1], pt((fr.x_c, fr.domes[1]))[1]),
        cps=(pt(fr.cps[0]), pt(fr.cps[1])), y_top=pt((fr.x_c, fr.y_top))[1], carina=pt(fr.carina),
        knob=pt(fr.knob), med_hw=fr.med_hw * float(np.sqrt(abs(np.linalg.det(m[:, :2])))),
    )
