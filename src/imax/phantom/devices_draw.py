"""Support devices of a frontal radiograph: one small drawer per device, in a draw-order table.

Devices are metal or radiopaque lines drawn at full resolution on their own uint8 layer, which the frame
poses like the rest and adds over the display image (so they stay sharp and bright). PIL strokes
overwrite earlier ones, so the order of :data:`DEVICES` is part of the output.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from PIL import Image, ImageDraw

from imax.phantom.canvas import Canvas
from imax.phantom.raster import box_of_pts, line

DeviceDrawer = Callable[[Canvas, ImageDraw.ImageDraw], None]
"""Draws one device into the (s, s) device layer if present and records its box in ``Canvas.boxes``."""


def ett(c: Canvas, d: ImageDraw.ImageDraw) -> None:
    """Endotracheal tube: two parallel walls down the trachea, tip above the carina."""
    if not c.f.ett:
        return
    s, xc, cy = c.s, c.xc, c.fr.carina[1]
    for off in (-0.006, 0.006):
        line(d, np.array([[xc + off, 0.0], [xc + off + 0.004, cy - 0.05]]), s, 0.004, 200)
    c.boxes["endotracheal tube"] = [(xc - 0.012) * s, 0.0, (xc + 0.014) * s, (cy - 0.05) * s]


def ngt(c: Canvas, d: ImageDraw.ImageDraw) -> None:
    """Nasogastric tube: down the oesophagus, below the left dome, curling in the stomach."""
    if not c.f.ngt:
        return
    xc, cy, dome_l = c.xc, c.fr.carina[1], c.fr.domes[1]
    pts = np.array([[xc - 0.01, 0.0], [xc, cy], [xc + 0.02, dome_l], [xc + 0.09, dome_l + 0.07],
                    [xc + 0.14, dome_l + 0.05], [xc + 0.12, dome_l + 0.02]])
    line(d, pts, c.s, 0.005, 170)
    c.boxes["nasogastric tube"] = box_of_pts(pts, c.s, 0.006)


def cvc(c: Canvas, d: ImageDraw.ImageDraw) -> None:
    """Right subclavian central venous catheter, tip in the SVC."""
    if not c.f.cvc:
        return
    xc, yt = c.xc, c.fr.y_top
    pts = np.array([[xc - 0.3, yt + 0.02], [xc - 0.16, yt + 0.07], [xc - 0.05, yt + 0.11],
                    [xc - 0.035, yt + 0.22]])
    line(d, pts, c.s, 0.004, 190)
    c.boxes["central venous catheter"] = box_of_pts(pts, c.s, 0.005)


def pacemaker(c: Canvas, d: ImageDraw.ImageDraw) -> None:
    """Left pectoral generator with two leads into the right heart."""
    if not c.f.pacemaker:
        return
    s, xc, yt, fr = c.s, c.xc, c.fr.y_top, c.fr
    g0 = (xc + 0.24, yt + 0.06)
    d.rounded_rectangle([(g0[0] - 0.035) * s, (g0[1] - 0.025) * s, (g0[0] + 0.035) * s, (g0[1] + 0.025) * s],
                        radius=0.01 * s, fill=255)
    hx, hy = fr.heart[:, 0].mean(), fr.heart[:, 1].max() - 0.04
    for k in (0.0, 0.03):
        pts = np.array([[g0[0] - 0.02, g0[1]], [xc + 0.02, yt + 0.1], [xc - 0.01 + k, yt + 0.25],
                        [hx - 0.02 + k, hy]])
        line(d, pts, s, 0.003, 230)
    c.boxes["pacemaker"] = [(g0[0] - 0.035) * s, (g0[1] - 0.025) * s, (g0[0] + 0.035) * s, (g0[1] + 0.025) * s]


def sternotomy(c: Canvas, d: ImageDraw.ImageDraw) -> None:
    """Six sternotomy wire loops down the midline."""
    if not c.f.sternotomy:
        return
    s, xc = c.s, c.xc
    ys = np.linspace(c.fr.y_top + 0.17, c.fr.heart[:, 1].max() - 0.06, 6)
    for y in ys:
        d.ellipse([(xc - 0.012) * s, (y - 0.01) * s, (xc + 0.012) * s, (y + 0.01) * s], outline=255,
                  width=max(1, round(0.004 * s)))
    c.boxes["sternotomy wires"] = [(xc - 0.013) * s, (ys[0] - 0.011) * s, (xc + 0.013) * s, (ys[-1] + 0.011) * s]


DEVICES: tuple[tuple[str, DeviceDrawer], ...] = (
    ("endotracheal tube", ett),
    ("nasogastric tube", ngt),
    ("central venous catheter", cvc),
    ("pacemaker", pacemaker),
    ("sternotomy wires", sternotomy),
)
"""Device drawers in draw order."""


def device_layer(c: Canvas) -> np.ndarray | None:
    """(s, s) uint8 layer of metal/radiopaque devices, or None when there are none."""
    if not c.f.support_devices:
        return None
    img = Image.new("L", (c.s, c.s), 0)
    d = ImageDraw.Draw(img)
    for _name, draw in DEVICES:
        draw(c, d)
    return np.asarray(img)
