"""The mutable state of one frontal render, shared by the frame (:mod:`imax.phantom.render`) and the
per-finding drawers (:mod:`imax.phantom.findings_draw`, :mod:`imax.phantom.devices_draw`)."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from PIL import ImageDraw

from imax.phantom import anatomy
from imax.phantom.cohort import Findings


@dataclass
class Canvas:
    """One frontal render's state that the drawers read and write (normalised, unposed canvas).

    ``g`` is the geometry (:mod:`imax.phantom.anatomy`); ``s`` the full image side (boxes are in these
    pixels), ``m = s // 2`` the mid and ``lo = s // 4`` the low resolution. Low-resolution (lo, lo)
    float32 arrays: ``u, v`` pixel-centre coordinates, ``lungs_lo`` lung fields and ``depth`` lung air
    depth in [0, 1], ``tex`` smooth texture noise, ``occ`` occupancy (the fraction of lung air replaced
    by fluid/tissue, clipped by the frame afterwards), ``extra`` attenuation added outside the air term.
    Mid resolution (m, m): ``air_mid`` lung air (set by the frame before :func:`pneumothorax_air`),
    ``ptx_mid`` the pneumothorax region or None, ``dp``/``dn`` the positive (denser) and negative
    (lucent) stroke layers. ``boxes``: finding name -> unposed pixel xyxy.
    """

    f: Findings
    g: dict[str, float]
    fr: anatomy.Frontal
    rng: np.random.Generator
    s: int
    m: int
    lo: int
    u: np.ndarray
    v: np.ndarray
    lungs_lo: np.ndarray
    depth: np.ndarray
    tex: np.ndarray
    occ: np.ndarray
    extra: np.ndarray
    dp: ImageDraw.ImageDraw
    dn: ImageDraw.ImageDraw
    boxes: dict[str, list[float]] = field(default_factory=dict)
    air_mid: np.ndarray | None = None
    ptx_mid: np.ndarray | None = None

    @property
    def xc(self) -> float:
        """Body midline x."""
        return self.fr.x_c
