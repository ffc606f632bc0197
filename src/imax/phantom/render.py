"""Attenuation-sum rendering of one radiograph from its :class:`ImageSpec`.

The detector sees ``exp(-Σ μ·t)``; the display is its inverted log, so pixel brightness is linear in
the attenuation sum ``A``. ``A`` is assembled at three resolutions to stay fast (no per-pixel Python):

* low (``L = S/4``): smooth fields — body chord, lung air depth, fluid/airspace occupancy, textures;
* mid (``M = S/2``): sharp-ish structure drawn with PIL — lung edges, ribs, vessels, lines, nodules;
* full (``S``): anatomy masks (for CheXmask/CTR), metal devices, quantum noise.

Findings replace lung air with fluid or tissue (``occupancy`` in [0, 1]) where they are, so they are
in the pixels at their location. Masks are drawn from the same polygons as the pixels.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field

import numpy as np
from PIL import Image, ImageDraw
from scipy import ndimage, special

from imax.phantom import anatomy, devices_draw, findings_draw
from imax.phantom.canvas import Canvas
from imax.phantom.cohort import Findings, ImageSpec
from imax.phantom.raster import MM_PER_IMAGE, box_of, gauss, grids, line, poly_mask, smooth_noise, up2


@dataclass
class Rendered:
    image: np.ndarray
    """(S, S) uint8 display image."""
    masks: dict[str, np.ndarray] = field(default_factory=dict)
    """Frontal only: "right_lung", "left_lung", "heart" as (S, S) bool (lungs exclude the heart)."""
    boxes: dict[str, list[float]] = field(default_factory=dict)
    """Finding name -> pixel xyxy box where the finding is drawn."""
    landmarks: np.ndarray | None = None
    """Frontal only: (120, 2) int contour points (44 right lung, 50 left lung, 26 heart)."""


@functools.cache
def _noise_tile(n: int) -> np.ndarray:
    """(2n, 2n) int16 quantum-noise tile in 1/16 grey levels (std 48 = 3 levels), fixed for every worker
    so that crops of it are reproducible; slightly correlated like a real detector's noise."""
    r = np.random.default_rng(20240411)
    t = r.standard_normal((2 * n, 2 * n), dtype=np.float32)
    t = 0.7 * t + 0.9 * ndimage.uniform_filter(t, 3)
    return np.rint(t / t.std() * 48).astype(np.int16)


def _body_chord(u: np.ndarray, v: np.ndarray, x_c: float, hw: float) -> np.ndarray:
    """Soft-tissue path length through a roughly cylindrical trunk, with neck and shoulders."""
    # Neck widening into rounded, sloping shoulders (smoothstep over the top fifth of the image).
    t = np.clip((v - 0.01) / 0.17, 0, 1)
    half = 0.12 + (hw - 0.12) * np.sqrt(t * t * (3 - 2 * t))
    return np.sqrt(np.clip(1 - ((u - x_c) / half) ** 2, 0, 1)).astype(np.float32)


def _vessels(d: ImageDraw.ImageDraw, rng: np.random.Generator, fr: anatomy.Frontal, n: int, f: Findings) -> None:
    """Branching vessel trees from both hila, thinning and fading outward (drawn into ``d``).

    Generated one generation at a time with array maths (every branch splits in two); only the PIL
    draw calls are per segment. Edema grade >= 1 widens the vessels, the upper-zone ones most
    (cephalisation); emphysema prunes the peripheral generation.
    """
    grow = 1.0 + 0.3 * min(f.edema_grade, 2)
    gens = 2 if f.emphysema else 3
    n0 = 7
    (rx, ry), (lx, ly) = fr.hila
    side = np.repeat([-1.0, 1.0], n0)
    x = np.repeat([rx, lx], n0)
    y = np.repeat([ry, ly], n0)
    a = np.tile(np.linspace(-1.3, 1.3, n0), 2) + rng.normal(0, 0.1, 2 * n0)  # 0 = lateral, < 0 = upward
    ln = 0.06 + rng.uniform(0, 0.025, 2 * n0)
    w = 0.011
    for gen in range(gens):
        a1 = a + rng.normal(0, 0.18, a.size)
        xm, ym = x + side * np.cos(a1) * ln * 0.5, y + np.sin(a1) * ln * 0.55
        x2, y2 = xm + side * np.cos(a) * ln * 0.5, ym + np.sin(a) * ln * 0.55
        width = w * grow * np.where((a < -0.4) & (f.edema_grade >= 1), 1.3, 1.0)
        px = np.maximum(1, np.rint(width * n)).astype(int).tolist()
        fill = int(255 * (0.6**gen))
        seg = (np.stack([x, y, xm, ym, x2, y2], axis=1) * n).tolist()
        for pts, wpx in zip(seg, px, strict=True):
            d.line(pts, fill=fill, width=wpx)
        # Two children per branch, rotated apart.
        x, y, side = np.repeat(x2, 2), np.repeat(y2, 2), np.repeat(side, 2)
        a = np.repeat(a, 2) + np.tile([-0.4, 0.4], a.size) + rng.normal(0, 0.12, 2 * a.size)
        ln = np.repeat(ln, 2) * 0.75
        w *= 0.65


def _landmarks(fr: anatomy.Frontal, s: int) -> np.ndarray:
    """120 contour points: 44 on the right lung, 50 on the left lung, 26 on the heart (CheXmask order)."""
    out = []
    for poly, n in ((fr.right_lung, 44), (fr.left_lung, 50), (fr.heart, 26)):
        seg = np.diff(np.vstack([poly, poly[:1]]), axis=0)
        cum = np.concatenate([[0], np.cumsum(np.hypot(seg[:, 0], seg[:, 1]))])
        t = np.linspace(0, cum[-1], n, endpoint=False)
        closed = np.vstack([poly, poly[:1]])
        out.append(np.stack([np.interp(t, cum, closed[:, 0]), np.interp(t, cum, closed[:, 1])], axis=1))
    return np.clip(np.rint(np.concatenate(out) * s), 0, s - 1).astype(np.int64)


def _to_display(a: np.ndarray, gamma: float) -> np.ndarray:
    """Attenuation → 8-bit display: window, gamma, partial histogram equalisation (as MIMIC-CXR-JPG)."""
    q = np.clip(a * (4095 / 1.45), 0, 4095).astype(np.uint16)
    hist = np.bincount(q[::2, ::2].ravel(), minlength=4096).astype(np.float64)
    cdf = np.cumsum(hist)
    cdf /= cdf[-1]
    lin = (np.arange(4096) / 4095.0) ** gamma
    lut = np.clip((0.45 * cdf + 0.55 * lin) * 255 + 0.5, 0, 255).astype(np.uint8)
    return lut[q]


def _warp(a: np.ndarray, m: np.ndarray, order: int, mode: str = "nearest", cval: float = 0.0) -> np.ndarray:
    """Resample the (n, n) canvas array ``a`` as the posed image sees it (pose ``m``, :func:`anatomy.pose_matrix`).

    Output pixel (r, c) with centre (u, v) = ((c + .5)/n, (r + .5)/n) reads the canvas at
    ``A⁻¹((u, v) − b)``; in (row, col) index space that is one affine map, done by scipy in one pass.
    ``mode="nearest"`` continues the canvas's (smooth) edge where the field of view is wider than it.
    """
    if np.allclose(m, [[1, 0, 0], [0, 1, 0]]):
        return a
    n = a.shape[0]
    inv = np.linalg.inv(m[:, :2])
    swap = np.array([[0, 1], [1, 0]])
    inv_rc = swap @ inv @ swap
    b_rc = swap @ m[:, 2]
    offset = inv_rc @ (np.full(2, 0.5) - n * b_rc) - 0.5
    return ndimage.affine_transform(a, inv_rc, offset=offset, order=order, mode=mode, cval=cval)


def _pose_and_collimate(a_mid: np.ndarray, dev: np.ndarray | None, g: dict[str, float]
                        ) -> tuple[np.ndarray, np.ndarray | None]:
    """Apply the acquisition pose to the mid-resolution attenuation and the full-resolution device layer,
    then the collimator: unexposed bands (``col_l, col_r, col_t, col_b``, image units) read as dense."""
    m = anatomy.pose_matrix(g)
    a_mid = _warp(a_mid, m, order=1)
    if dev is not None:
        dev = _warp(dev, m, order=1, mode="constant").astype(np.uint8)
    n = a_mid.shape[0]
    bands = [round(float(g.get(k, 0.0)) * n) for k in ("col_l", "col_r", "col_t", "col_b")]
    if any(bands):
        a_mid = a_mid.copy()
        hi = float(a_mid.max())
        left, right, top, bottom = bands
        if left:
            a_mid[:, :left] = hi
        if right:
            a_mid[:, n - right :] = hi
        if top:
            a_mid[:top] = hi
        if bottom:
            a_mid[n - bottom :] = hi
    return a_mid, dev


def _finish(a_mid: np.ndarray, dev: np.ndarray | None, rng: np.random.Generator, g: dict[str, float],
            s: int) -> np.ndarray:
    """(M, M) attenuation → (S, S) uint8: display mapping at mid resolution (everything there is smooth
    at full scale), one ×2 resize in uint8, then full-resolution metal and quantum noise in int16.
    Both layers are posed first (:func:`_pose_and_collimate`), so the noise is the detector's, unposed."""
    a_mid, dev = _pose_and_collimate(a_mid, dev, g)
    mid = _to_display(a_mid, g["gamma"])
    out = np.asarray(Image.fromarray(mid).resize((s, s), Image.Resampling.BILINEAR)).astype(np.int16)
    tile = _noise_tile(s)
    oy, ox = rng.integers(0, s, 2)
    k = round(16 * g["noise"])  # fixed-point noise level: (tile * k) >> 8 grey levels, no float pass
    out += (tile[oy : oy + s, ox : ox + s] * k) >> 8
    if dev is not None:
        out += (dev.astype(np.int16) * 3) // 4
    return np.clip(out, 0, 255).astype(np.uint8)


def render(spec: ImageSpec) -> Rendered:
    """Render ``spec`` (deterministic in ``spec.seed`` and ``spec.index``)."""
    rng = np.random.default_rng([spec.seed, 1, spec.index])
    if spec.frontal:
        return _render_frontal(spec, rng)
    return _render_lateral(spec, rng)


def _render_frontal(spec: ImageSpec, rng: np.random.Generator) -> Rendered:
    s, f, g = spec.size, spec.findings, spec.geometry
    m, lo = s // 2, s // 4
    fr = anatomy.frontal(g, f)
    # Everything below is drawn on the patient-centred canvas; the pose (size against the field of view,
    # rotation, centring) maps it to the radiograph: pixels by resampling in _finish, masks, landmarks
    # and boxes through the same affine map, so they always agree.
    pose = anatomy.pose_matrix(g)
    seen = anatomy.posed_frontal(fr, pose)

    # ---- full-resolution masks (CheXmask / CTR come from these) --------------------------------
    heart_full = poly_mask([seen.heart], s) > 0
    masks = {
        "right_lung": (poly_mask([seen.right_lung], s) > 0) & ~heart_full,
        "left_lung": (poly_mask([seen.left_lung], s) > 0) & ~heart_full,
        "heart": heart_full,
    }

    # ---- low resolution: smooth fields ----------------------------------------------------------
    u, v = grids(lo)
    xc = fr.x_c
    chord = _body_chord(u, v, xc, g["body_hw"])
    lungs_lo = poly_mask([fr.right_lung, fr.left_lung], lo).astype(np.float32) / 255
    # Lung thickness tapers toward the chest wall and diaphragm: a blurred field, not a step.
    depth = np.clip(ndimage.gaussian_filter(lungs_lo, 0.05 * lo, truncate=2.5) * 1.25, 0, 1) ** 1.3
    heart_lo = ndimage.gaussian_filter(poly_mask([fr.heart], lo).astype(np.float32) / 255, 0.008 * lo)
    occ = np.zeros_like(u)
    extra = np.zeros_like(u)
    # Spine behind the mediastinum; mediastinal fat; breasts; stomach bubble; tracheal air.
    # Column profiles (spine, trachea) are computed on one row and broadcast: they depend on u only.
    u1 = u[0]
    extra += 0.1 * np.exp(-(((u1 - xc) / 0.042) ** 4))[None, :] * (v > 0.02)
    extra += 0.32 * g["breast"] * sum(
        gauss(u, v, xc + sd * 0.22, fr.domes[0] + 0.02, 0.12, 0.07) for sd in (-1, 1)
    )
    extra -= 0.35 * gauss(u, v, xc + 0.17, fr.domes[1] + 0.07, 0.05, 0.03)
    extra -= 0.14 * np.exp(-(((u1 - xc) / 0.013) ** 2))[None, :] * ((v < fr.carina[1]) & (v > 0.03))
    tex = smooth_noise(rng, lo)
    extra += 0.03 * tex
    # Lung parenchyma mottling (small scale).
    occ += 0.06 * np.clip(ndimage.gaussian_filter(rng.standard_normal((lo, lo)).astype(np.float32), 0.8), 0, None)

    pos = Image.new("L", (m, m), 0)
    ant = Image.new("L", (m, m), 0)
    neg = Image.new("L", (m, m), 0)
    c = Canvas(f=f, g=g, fr=fr, rng=rng, s=s, m=m, lo=lo, u=u, v=v, lungs_lo=lungs_lo, depth=depth, tex=tex,
               occ=occ, extra=extra, dp=ImageDraw.Draw(pos), dn=ImageDraw.Draw(neg))
    for _name, draw in findings_draw.FIELDS:
        draw(c)
    occ = np.clip(c.occ, 0, 1)
    # Heart and mediastinum sit in front of part of the lung: less air along those rays.
    ves = Image.new("L", (lo, lo), 0)
    _vessels(ImageDraw.Draw(ves), rng, fr, lo, f)
    ves_lo = np.asarray(ves).astype(np.float32) / 255
    air = depth * g["lung_dark"] * (1 - 0.8 * heart_lo) * (1 - occ)

    # ---- mid resolution: sharp edges and drawn structures ---------------------------------------
    a_mid = up2(g["tissue_mu"] * chord + c.extra)
    # A 3×3 box filter anti-aliases PIL's hard polygon edge (no staircase after the ×2 resize).
    lungs_mid = ndimage.uniform_filter(poly_mask([fr.right_lung, fr.left_lung], m).astype(np.float32) / 255, 3)
    c.air_mid = up2(air) * lungs_mid
    findings_draw.pneumothorax_air(c)
    a_mid -= c.air_mid

    dp, dn, da = c.dp, c.dn, ImageDraw.Draw(ant)
    rib_w = g["rib_w"]
    for sgn in (-1, 1):
        for k in range(1, 11):
            pr = anatomy.posterior_rib(g, sgn, k)
            if not findings_draw.fractured_rib(c, dp, pr, sgn, k):
                line(dp, pr, m, rib_w, 95)
                line(dp, pr, m, rib_w * 0.45, 60)
            if k <= 7:
                line(da, anatomy.anterior_rib(g, sgn, k), m, rib_w * 0.8, 45)
        line(dp, anatomy.clavicle(g, sgn, spec.view == "AP"), m, 0.026, 230)
    # Vertebral end plates: faint dark lines across the spine column.
    for y in np.arange(fr.y_top - 0.06, 1.0, 0.045):
        line(dn, np.array([[xc - 0.03, y], [xc + 0.03, y + 0.003]]), m, 0.004, 60)
    for _name, draw in findings_draw.LINES:
        draw(c)
    ves_a = up2(ves_lo)
    if c.ptx_mid is not None:
        ves_a *= 1 - c.ptx_mid
    # Drawn layers are combined in int16 first: one float pass instead of three.
    drawn = (22 * np.asarray(pos, dtype=np.int16) + 20 * np.asarray(ant, dtype=np.int16)
             - 25 * np.asarray(neg, dtype=np.int16))
    a_mid += 0.16 * ves_a * (0.4 + 0.6 * lungs_mid) + drawn.astype(np.float32) * (0.01 / 255)

    # ---- full resolution: devices, quantum noise, display ---------------------------------------
    img = _finish(a_mid, devices_draw.device_layer(c), rng, g, s)
    posed_boxes = {k: anatomy.posed_box(b, pose, s) for k, b in c.boxes.items()}
    boxes = {k: b for k, b in posed_boxes.items() if b is not None}  # a finding posed out of view has no box
    if masks["heart"].any():
        boxes["cardiac silhouette"] = box_of(masks["heart"], 1, s) or []
    return Rendered(img, masks, boxes, _landmarks(seen, s))


def _render_lateral(spec: ImageSpec, rng: np.random.Generator) -> Rendered:
    """A lateral film: patient facing image left, spine at the back (image right), lungs superimposed."""
    s, f, g = spec.size, spec.findings, spec.geometry
    m, lo = s // 2, s // 4
    dx, dy = g.get("dx", 0.0), g.get("dy", 0.0)
    u, v = grids(lo)
    front, back = 0.12 + dx, 0.84 + dx
    top = g["y_top"] + dy
    dome = g["dome_r"] + dy + 0.02 - (0.03 if spec.view == "AP" else 0)
    # Trunk: a thick slab, narrower at the neck.
    tt = np.clip((v - 0.02) / 0.16, 0, 1)
    half = 0.2 + 0.22 * np.sqrt(tt * tt * (3 - 2 * tt))
    mid = (front + back) / 2
    chord = np.clip(1 - ((u - mid) / half) ** 2, 0, 1) ** 0.4 * 1.15
    # Lung field: from the retrosternal space to the posterior sulcus, domed diaphragm sloping backward.
    t = np.linspace(0, 1, 30)
    dia = np.stack([front + 0.08 + t * (back - front - 0.17), dome - 0.03 + 0.16 * t**2 - 0.05 * np.sin(np.pi * t)], 1)
    apex = np.stack([0.5 + dx + 0.22 * np.cos(np.linspace(0, np.pi, 20)),
                     top + 0.02 + 0.1 * (1 - np.sin(np.linspace(0, np.pi, 20)))], 1)
    lung = np.concatenate([dia, apex])
    size = f.heart_ratio / 0.45
    hc = (front + 0.2 + 0.03 * size, dome - 0.12)
    phi = np.linspace(0, 2 * np.pi, 40)
    heart = np.stack([hc[0] + 0.13 * size * np.cos(phi), np.minimum(hc[1] + 0.14 * size * np.sin(phi), dome)], 1)
    lung_lo = poly_mask([lung], lo).astype(np.float32) / 255
    depth = np.clip(ndimage.gaussian_filter(lung_lo, 0.06 * lo) * 1.3, 0, 1) ** 1.3
    heart_lo = ndimage.gaussian_filter(poly_mask([heart], lo).astype(np.float32) / 255, 0.025 * lo)
    occ = 0.06 * np.clip(ndimage.gaussian_filter(rng.standard_normal((lo, lo)).astype(np.float32), 0.8), 0, None)
    extra = np.zeros_like(u)
    tex = smooth_noise(rng, lo)
    extra += 0.03 * tex
    extra -= 0.12 * np.exp(-(((u - (0.5 + dx + (v - top) * 0.1)) / 0.018) ** 2)) * (v < top + 0.22)
    if f.effusion:
        sev = max(f.effusion_left, f.effusion_right)
        men = dome + 0.1 - 0.06 * sev - 0.08 * np.clip((u - 0.5) / 0.3, 0, 1)
        occ += special.expit((v - men) / 0.01).astype(np.float32) * (u > 0.45)
    if f.edema_grade:
        occ += 0.15 * f.edema_grade * gauss(u, v, 0.5 + dx, top + 0.3, 0.12, 0.1)
    if f.consolidation_side:
        cy = top + {"upper": 0.12, "middle": 0.28, "lower": 0.42}[f.consolidation_zone]
        occ += 0.8 * np.clip((gauss(u, v, 0.55 + dx, cy, 0.07, 0.06) - 0.3) / 0.4, 0, 1)
    occ = np.clip(occ, 0, 1)
    air = depth * g["lung_dark"] * (1 - 0.25 * heart_lo) * (1 - occ)
    a_mid = up2(g["tissue_mu"] * chord + extra - air)
    pos = Image.new("L", (m, m), 0)
    dp = ImageDraw.Draw(pos)
    # Vertebral bodies with disc spaces; sternum; posterior ribs.
    for y in np.arange(top - 0.08, 1.0, 0.05):
        x0 = back - 0.12 + 0.04 * (y - 0.5) ** 2
        dp.rectangle([x0 * m, y * m, (x0 + 0.08) * m, (y + 0.04) * m], fill=120)
    line(dp, np.array([[front + 0.04, top + 0.12], [front + 0.06, dome - 0.05]]), m, 0.02, 110)
    for k in range(8):
        y0 = top + 0.02 + k * 0.065
        line(dp, np.array([[back - 0.1, y0], [back - 0.3, y0 + 0.08], [0.45 + dx, y0 + 0.2]]), m, 0.012, 40)
    for _kind, side, mm in (("nodule", f.nodule_side, f.nodule_mm), ("mass", f.mass_side, f.mass_mm)):
        if side:
            r = mm / MM_PER_IMAGE / 2
            cx, cy = 0.58 + dx, top + 0.25
            dp.ellipse([(cx - r) * m, (cy - r) * m, (cx + r) * m, (cy + r) * m], fill=130)
    a_mid += np.asarray(pos).astype(np.float32) * (0.22 / 255)
    dev_arr = None
    if f.support_devices:
        dev = Image.new("L", (s, s), 0)
        dd = ImageDraw.Draw(dev)
        if f.ett or f.ngt:
            line(dd, np.array([[0.47 + dx, 0.0], [0.5 + dx, top + 0.2]]), s, 0.005, 190)
        if f.pacemaker:
            dd.rectangle([(front + 0.01) * s, (top + 0.04) * s, (front + 0.05) * s, (top + 0.1) * s], fill=255)
        if f.sternotomy:
            for y in np.linspace(top + 0.15, dome - 0.1, 5):
                dd.ellipse([(front + 0.03) * s, y * s, (front + 0.05) * s, (y + 0.012) * s], outline=255, width=2)
        if f.cvc:
            line(dd, np.array([[0.3 + dx, 0.05], [0.45 + dx, top + 0.22]]), s, 0.004, 180)
        dev_arr = np.asarray(dev)
    return Rendered(_finish(a_mid, dev_arr, rng, g, s))
