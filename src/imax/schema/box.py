"""The one canonical box type and its lossless converters.

A :class:`Box` is an axis-aligned rectangle in **pixel xyxy** coordinates of an image of known size
(``width`` × ``height``; x grows to the image right, y grows down). Every other representation —
pixel xywh (COCO / MS-CXR / ChestX-ray14), normalised [0, 1] xyxy, the 0–100 integer grid used in
instruction text, and the text grammars of other toolkits — is produced and read here, so no other
module does coordinate arithmetic of its own.

Conversions between float forms are exact up to float rounding. The 0–100 grid is quantised by
design; ``Box.from_grid(b.to_grid(), w, h).to_grid() == b.to_grid()`` holds for every box.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

GRID = 100
"""Resolution of the integer grid used for boxes in instruction text (MiniGPT-v2 convention)."""


@dataclass(frozen=True)
class Box:
    """Pixel xyxy box on a ``width`` × ``height`` image. ``x1 <= x2``, ``y1 <= y2``."""

    x1: float
    y1: float
    x2: float
    y2: float
    width: int
    height: int

    def __post_init__(self) -> None:
        if self.width <= 0 or self.height <= 0:
            raise ValueError(f"Box image size must be positive, got {self.width}x{self.height}")
        vals = (self.x1, self.y1, self.x2, self.y2)
        if not all(math.isfinite(v) for v in vals):
            raise ValueError(f"Box coordinates must be finite, got {vals}")
        if self.x2 < self.x1 or self.y2 < self.y1:
            raise ValueError(f"Box must have x1<=x2 and y1<=y2, got {vals}")

    # ---- constructors -------------------------------------------------------------------------
    @classmethod
    def from_xywh(cls, x: float, y: float, w: float, h: float, width: int, height: int) -> Box:
        """From a top-left corner plus width/height in pixels (COCO, MS-CXR, ChestX-ray14)."""
        return cls(x, y, x + w, y + h, width, height)

    @classmethod
    def from_normalized(cls, nx1: float, ny1: float, nx2: float, ny2: float, width: int, height: int) -> Box:
        """From xyxy fractions of the image size in [0, 1]."""
        return cls(nx1 * width, ny1 * height, nx2 * width, ny2 * height, width, height)

    @classmethod
    def from_grid(cls, g: tuple[int, int, int, int], width: int, height: int, grid: int = GRID) -> Box:
        """From integer xyxy on a ``grid`` × ``grid`` lattice spanning the image."""
        gx1, gy1, gx2, gy2 = g
        return cls(gx1 / grid * width, gy1 / grid * height, gx2 / grid * width, gy2 / grid * height, width, height)

    @classmethod
    def from_mask(cls, mask: object) -> Box:
        """Tight pixel box (inclusive extent + 1) around the non-zero pixels of a 2-D array."""
        import numpy as np

        arr = np.asarray(mask)
        if arr.ndim != 2:
            raise ValueError(f"mask must be 2-D, got shape {arr.shape}")
        rows = np.flatnonzero(arr.any(axis=1))
        cols = np.flatnonzero(arr.any(axis=0))
        if rows.size == 0:
            raise ValueError("mask is empty: no box")
        h, w = arr.shape
        return cls(float(cols[0]), float(rows[0]), float(cols[-1] + 1), float(rows[-1] + 1), w, h)

    # ---- views --------------------------------------------------------------------------------
    def to_xyxy(self) -> tuple[float, float, float, float]:
        return (self.x1, self.y1, self.x2, self.y2)

    def to_xywh(self) -> tuple[float, float, float, float]:
        return (self.x1, self.y1, self.x2 - self.x1, self.y2 - self.y1)

    def to_normalized(self) -> tuple[float, float, float, float]:
        return (self.x1 / self.width, self.y1 / self.height, self.x2 / self.width, self.y2 / self.height)

    def to_grid(self, grid: int = GRID) -> tuple[int, int, int, int]:
        """Integer xyxy on the 0..grid lattice (rounded half away from zero, clamped)."""

        def q(v: float, size: int) -> int:
            return int(min(grid, max(0, math.floor(v / size * grid + 0.5 + 1e-9))))

        return (q(self.x1, self.width), q(self.y1, self.height), q(self.x2, self.width), q(self.y2, self.height))

    def snapped(self, grid: int = GRID) -> Box:
        """This box moved onto the grid lattice (what a model can say in text)."""
        return Box.from_grid(self.to_grid(grid), self.width, self.height, grid)

    def rescaled(self, width: int, height: int) -> Box:
        """The same region on an image resized to ``width`` × ``height``."""
        sx, sy = width / self.width, height / self.height
        return Box(self.x1 * sx, self.y1 * sy, self.x2 * sx, self.y2 * sy, width, height)

    @property
    def area(self) -> float:
        return (self.x2 - self.x1) * (self.y2 - self.y1)

    def iou(self, other: Box) -> float:
        """Intersection over union, computed in normalised coordinates (sizes may differ)."""
        a, b = self.to_normalized(), other.to_normalized()
        iw = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
        ih = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
        inter = iw * ih
        union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
        if union <= 0:
            # Two degenerate boxes: identical points/lines count as a match, anything else not.
            return 1.0 if a == b else 0.0
        return inter / union


# ---- text grammars -------------------------------------------------------------------------------
# Each grammar maps a grid box to text and back. imax's instruction text uses "minigpt"; the others let
# users import/export data written for those toolkits without touching coordinates by hand.
BOX_GRAMMARS: dict[str, tuple[str, str]] = {
    # name: (format string over gx1, gy1, gx2, gy2, regex with four int groups)
    "minigpt": ("{{<{0}><{1}><{2}><{3}>}}", r"\{\s*<(\d+)>\s*<(\d+)>\s*<(\d+)>\s*<(\d+)>\s*\}"),
    "m4cxr": ("[{0},{1},{2},{3}]", r"\[\s*(\d+)\s*,\s*(\d+)\s*,\s*(\d+)\s*,\s*(\d+)\s*\]"),
    "chexagent": (
        "<|box|>({0},{1}),({2},{3})<|/box|>",
        r"<\|box\|>\s*\(\s*(\d+)\s*,\s*(\d+)\s*\)\s*,\s*\(\s*(\d+)\s*,\s*(\d+)\s*\)\s*<\|/box\|>",
    ),
    "maira2": ("<box>{0} {1} {2} {3}</box>", r"<box>\s*(\d+)\s+(\d+)\s+(\d+)\s+(\d+)\s*</box>"),
}


def box_to_text(box: Box, grammar: str = "minigpt", grid: int = GRID) -> str:
    """Render ``box`` on the integer grid in a toolkit's text grammar."""
    fmt, _ = BOX_GRAMMARS[grammar]
    return fmt.format(*box.to_grid(grid))


def boxes_in_text(text: str, width: int, height: int, grammar: str = "minigpt", grid: int = GRID) -> list[Box]:
    """Every well-formed box in ``text`` (grid coordinates outside 0..grid or inverted are skipped)."""
    _, pattern = BOX_GRAMMARS[grammar]
    out: list[Box] = []
    for m in re.finditer(pattern, text):
        g = tuple(int(v) for v in m.groups())
        if max(g) > grid or g[2] < g[0] or g[3] < g[1]:
            continue
        out.append(Box.from_grid(g, width, height, grid))  # type: ignore[arg-type]
    return out
