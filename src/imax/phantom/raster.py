"""Raster primitives shared by the radiograph frame (:mod:`imax.phantom.render`) and the finding drawers
(:mod:`imax.phantom.findings_draw`): pixel grids, upsampling, polygon masks, lines, blobs and boxes.

Coordinates are normalised image units (``[0, 1]`` across the image); ``n`` is the raster's side in pixels.
"""

from __future__ import annotations

import functools

import numpy as np
from PIL import Image, ImageDraw

MM_PER_IMAGE = 430.0
"""Physical width the image spans (a 43 cm detector), for nodule/mass sizes in mm."""


@functools.cache
def grids(n: int) -> tuple[np.ndarray, np.ndarray]:
    """(n, n) float32 pixel-centre coordinates (u, v) in [0, 1]; cached per worker and size."""
    c = (np.arange(n, dtype=np.float32) + 0.5) / n
    return np.meshgrid(c, c)


def up2(a: np.ndarray) -> np.ndarray:
    """Bilinear ×2 upsampling of a 2-D array (pixel-centre aligned), pure numpy."""
    def axis0(x: np.ndarray) -> np.ndarray:
        prev = np.concatenate([x[:1], x[:-1]], axis=0)
        nxt = np.concatenate([x[1:], x[-1:]], axis=0)
        out = np.empty((2 * x.shape[0], *x.shape[1:]), dtype=np.float32)
        out[0::2] = 0.75 * x + 0.25 * prev
        out[1::2] = 0.75 * x + 0.25 * nxt
        return out

    return axis0(axis0(a).T).T


def smooth_noise(rng: np.random.Generator, n: int) -> np.ndarray:
    """(n, n) float32 smooth random field: (n/8)² normals upsampled ×8 (n divisible by 8)."""
    t = rng.standard_normal((n // 8, n // 8)).astype(np.float32)
    return up2(up2(up2(t)))


def poly_mask(polys: list[np.ndarray], n: int) -> np.ndarray:
    """(n, n) uint8 0/255 filled polygons given in normalised units."""
    img = Image.new("L", (n, n), 0)
    d = ImageDraw.Draw(img)
    for p in polys:
        d.polygon([tuple(xy) for xy in (p * n).tolist()], fill=255)
    return np.asarray(img)


def line(d: ImageDraw.ImageDraw, pts: np.ndarray, n: int, width: float, fill: int) -> None:
    """Draw the (k, 2) polyline ``pts`` into ``d`` (an n×n raster), ``width`` in image units."""
    px = max(1, round(width * n))
    # Rounded joints only matter (and only cost) for wide lines.
    d.line((np.asarray(pts) * n).ravel().tolist(), fill=fill, width=px, joint="curve" if px >= 8 else None)


def gauss(u: np.ndarray, v: np.ndarray, cx: float, cy: float, sx: float, sy: float) -> np.ndarray:
    """Axis-aligned Gaussian blob (peak 1) on the (n, n) grids ``u, v``, as float32."""
    return np.exp(-(((u - cx) / sx) ** 2 + ((v - cy) / sy) ** 2) / 2).astype(np.float32)


def box_of(mask: np.ndarray, scale: float, size: int) -> list[float] | None:
    """Pixel xyxy box (in a ``size`` image) around a boolean mask ``scale`` times smaller; None if empty."""
    rows = np.flatnonzero(mask.any(axis=1))
    cols = np.flatnonzero(mask.any(axis=0))
    if rows.size == 0:
        return None
    return [
        float(max(0, cols[0] * scale)), float(max(0, rows[0] * scale)),
        float(min(size, (cols[-1] + 1) * scale)), float(min(size, (rows[-1] + 1) * scale)),
    ]


def circle_box(c: tuple[float, float], r: float, size: int) -> list[float]:
    """Pixel xyxy box of the circle (centre ``c``, radius ``r``, image units), clipped to the image."""
    return [
        float(np.clip((c[0] - r) * size, 0, size)), float(np.clip((c[1] - r) * size, 0, size)),
        float(np.clip((c[0] + r) * size, 0, size)), float(np.clip((c[1] + r) * size, 0, size)),
    ]


def box_of_pts(pts: np.ndarray, s: int, pad: float) -> list[float]:
    """Pixel xyxy box around the (k, 2) points ``pts`` padded by ``pad`` image units, clipped."""
    lo = np.clip(pts.min(axis=0) - pad, 0, 1) * s
    hi = np.clip(pts.max(axis=0) + pad, 0, 1) * s
    return [float(lo[0]), float(lo[1]), float(hi[0]), float(hi[1])]
